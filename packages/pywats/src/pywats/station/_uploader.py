"""The uploader: drains the report queue into WATS, classifying every outcome.

Each ready report is leased, checked (a stored payload that is no longer a JSON object
cannot succeed later), and POSTed as the stored bytes. Then:

* 2xx: done.
* network errors, timeouts, an open circuit, 408, 429 and 5xx: retry_wait with an
  exponential back-off with jitter (:meth:`corekit.retry.RetryPolicy.backoff`), or the
  server's ``Retry-After`` when it gave one.
* 400, 413, 422 (the server's validation refused it) or a corrupt payload: dead, with the
  server's message or a ``parse`` reason.
* 401 and 403: retry_wait for ``auth_delay`` with an "auth problem" alarm; the attempt does
  not count toward dead (nothing is wrong with the report; the credentials may be fixed).
* any other answer: retry_wait with the back-off (it counts; the report goes dead when its
  attempts are used up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from corekit.errors import (
    AuthenticationError,
    CircuitOpenError,
    HTTPStatusError,
    TransportError,
)
from corekit.retry import RetryPolicy
from pywats.errors import ReportValidationError, WATSStatusError
from pywats.station._errors import ConversionError, StationError
from pywats.station._queue import Claim, ReportQueue

if TYPE_CHECKING:
    from pywats._client import AsyncWATS

logger = logging.getLogger(__name__)

__all__ = ["Outcome", "Uploader"]

PERMANENT_STATUSES = frozenset({400, 413, 422})
"""Statuses that send a report to dead: the server will refuse it again."""

AUTH_STATUSES = frozenset({401, 403})
"""Statuses that mean the credentials are wrong: wait long, raise the alarm, never dead."""

MIN_IDLE = 0.05
"""Shortest wait of the idle loop, in seconds."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one upload attempt is classified.

    Attributes:
        kind: ``"done"``, ``"retry"``, ``"auth"`` or ``"dead"``.
        message: the error (the server's message where it gave one), or ``""``.
        status_code: the HTTP status, if the server answered.
        retry_after: seconds the server asked to wait, if it did.
    """

    kind: str
    message: str = ""
    status_code: int | None = None
    retry_after: float | None = None


def check_json(data: bytes) -> None:
    """Raise :class:`ConversionError` (reason ``parse: ...``) unless ``data`` is a JSON object.

    The full WATS rules were checked when the report was converted, before it was queued;
    this catches a payload damaged since (the server would refuse it with a vaguer message).
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConversionError(f"parse: the stored WSJF is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ConversionError("parse: the stored WSJF is not a report object")


def classify(exc: BaseException) -> Outcome:
    """Classify the exception an upload raised (see the module docstring)."""
    if isinstance(exc, ReportValidationError | ConversionError):
        text = exc.reason if isinstance(exc, ConversionError) else str(exc)
        return Outcome("dead", text if text.startswith("parse") else f"parse: {text}")
    if isinstance(exc, HTTPStatusError):
        status = exc.status_code
        message = (exc.wats_message if isinstance(exc, WATSStatusError) else "") or str(exc)
        if status in AUTH_STATUSES or isinstance(exc, AuthenticationError):
            return Outcome("auth", message, status)
        if status in PERMANENT_STATUSES:
            return Outcome("dead", message, status)
        return Outcome("retry", message, status, exc.retry_after)
    if isinstance(exc, TransportError | CircuitOpenError):
        return Outcome("retry", str(exc) or type(exc).__name__)
    return Outcome("retry", f"{type(exc).__name__}: {exc}")


class Uploader:
    """Uploads queued reports with ``concurrency`` requests at a time.

    Args:
        queue: the report queue.
        client: the async WATS client (its own retries are best switched off: the queue
            retries, durably).
        concurrency: most uploads at once.
        base_delay: the first back-off, seconds.
        max_delay: the longest back-off, seconds.
        auth_delay: the wait after a 401/403, seconds.
        lease_time: seconds an upload may take before its lease expires and another
            attempt may start (after a crash, the report is tried again).
        grace: seconds running uploads may take to finish once ``run`` is stopped;
            unfinished ones are cancelled and their leases returned.
        idle_poll: longest wait between two looks at the queue when idle (another process,
            such as the desktop client, may requeue reports without a nudge).
    """

    def __init__(
        self,
        queue: ReportQueue,
        client: AsyncWATS,
        *,
        concurrency: int = 8,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        auth_delay: float = 900.0,
        lease_time: float = 120.0,
        grace: float = 10.0,
        idle_poll: float = 5.0,
    ) -> None:
        if concurrency < 1:
            msg = f"concurrency must be at least 1, got {concurrency}"
            raise StationError(msg)
        self.queue = queue
        self.client = client
        self.concurrency = concurrency
        self.auth_delay = auth_delay
        self.lease_time = lease_time
        self.grace = grace
        self.idle_poll = idle_poll
        self._policy = RetryPolicy(
            attempts=1_000_000,
            timeout=None,
            wait_initial=base_delay,
            wait_max=max_delay,
            wait_jitter=base_delay,
        )
        self.connected: bool | None = None
        self.last_error: str | None = None
        self.auth_problem = False
        self.submitted = 0
        self._wake = asyncio.Event()
        self._stopping = False

    def nudge(self) -> None:
        """Wake the run loop (call it after an enqueue); safe from the event loop's thread."""
        self._wake.set()

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try of a report that failed ``attempts`` times."""
        return self._policy.backoff(max(attempts, 1))

    async def drain(self) -> int:
        """Upload every report that is ready now; returns how many were delivered."""
        delivered = 0
        while not self._stopping:
            claims = await asyncio.to_thread(
                self.queue.claim, self.concurrency, lease_time=self.lease_time
            )
            if not claims:
                return delivered
            results = await asyncio.gather(*(self._upload(claim) for claim in claims))
            delivered += sum(results)
        return delivered

    async def run(self, stop: asyncio.Event) -> None:
        """Upload until ``stop`` is set; then let running uploads finish (up to ``grace``).

        Between batches it sleeps until the next report is due, a :meth:`nudge`, ``stop``
        or ``idle_poll`` seconds, whichever comes first.
        """
        self._stopping = False
        stop_task: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                self._wake.clear()
                batch: asyncio.Future[Any] = asyncio.ensure_future(self.drain())
                await asyncio.wait({batch, stop_task}, return_when=asyncio.FIRST_COMPLETED)
                if not batch.done():
                    await self._finish(batch)
                    return
                try:
                    batch.result()
                except StationError as exc:  # the queue file failed: say so, try again later
                    self.last_error = str(exc)
                    logger.error("uploads paused: %s", exc)
                await self._idle(stop_task)
        finally:
            self._stopping = False
            stop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stop_task

    async def _finish(self, batch: asyncio.Future[Any]) -> None:
        """Stopping: give the running batch ``grace`` seconds, then cancel it."""
        self._stopping = True  # no new batch starts
        done, _ = await asyncio.wait({batch}, timeout=self.grace)
        if not done:
            logger.warning("stopping: uploads still running after %.0f s, cancelling", self.grace)
            batch.cancel()
        with contextlib.suppress(asyncio.CancelledError, StationError):
            await batch

    async def _idle(self, stop_task: asyncio.Future[Any]) -> None:
        timeout = self.idle_poll
        with contextlib.suppress(StationError):
            ready_at = await asyncio.to_thread(self.queue.next_ready_at)
            if ready_at is not None:
                timeout = min(timeout, ready_at - self.queue.clock.time())
        # At least a moment: a report due now may be leased by another process.
        timeout = max(timeout, MIN_IDLE)
        wake: asyncio.Future[Any] = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait(
                {wake, stop_task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            wake.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await wake

    async def _upload(self, claim: Claim) -> bool:
        started = time.perf_counter()
        try:
            try:
                data = claim.payload()
                check_json(data)
                await self.client.report.submit_wsjf(data)
            except asyncio.CancelledError:
                with contextlib.suppress(StationError):  # the lease then expires instead
                    await asyncio.shield(self._give_back(claim))
                raise
            except Exception as exc:  # every failure is classified, none lost
                latency = time.perf_counter() - started
                await asyncio.to_thread(self._failed, claim, classify(exc), latency)
                return False
            latency = time.perf_counter() - started
            await asyncio.to_thread(self._succeeded, claim, latency)
            return True
        except StationError:
            logger.exception("report %s: the queue could not record the outcome", claim.report_id)
            return False

    async def _give_back(self, claim: Claim) -> None:
        reason = "the station stopped during the upload; it is tried again"
        await asyncio.to_thread(self.queue.give_back, claim, reason=reason)

    def _succeeded(self, claim: Claim, latency: float) -> None:
        was_connected = self.connected
        self.queue.complete(claim, status_code=200, latency_s=latency)
        self.connected = True
        self.submitted += 1
        if self.auth_problem:
            logger.info("WATS accepts the credentials again")
        self.auth_problem = False
        logger.info(
            "report %s submitted (attempt %d, %.3f s)", claim.report_id, claim.attempts, latency
        )
        if was_connected is False:
            # Connectivity is back: the reports backing off after network errors go now.
            woken = self.queue.retry_now()
            if woken:
                logger.info("WATS is reachable again; %d waiting reports retried now", woken)

    def _failed(self, claim: Claim, outcome: Outcome, latency: float) -> None:
        self.last_error = outcome.message
        if outcome.status_code is not None:
            self.connected = True
        elif outcome.kind == "retry":
            self.connected = False
        log = (
            "report %s attempt %d failed (%s, HTTP %s, %.3f s): %s",
            claim.report_id,
            claim.attempts,
            outcome.kind,
            outcome.status_code,
            latency,
            outcome.message,
        )
        if outcome.kind == "dead":
            logger.error(*log)
            self.queue.fail(
                claim, reason=outcome.message, status_code=outcome.status_code, latency_s=latency
            )
        elif outcome.kind == "auth":
            self.auth_problem = True
            logger.error(
                "AUTH PROBLEM: WATS refused the station's credentials (HTTP %s) for report %s; "
                "fix [server] username / the stored password (`pywats station login`). "
                "Reports wait %.0f s and are not dropped.",
                outcome.status_code,
                claim.report_id,
                self.auth_delay,
            )
            self.queue.retry_later(
                claim,
                delay=self.auth_delay,
                error=outcome.message,
                status_code=outcome.status_code,
                latency_s=latency,
                counted=False,
            )
        else:
            logger.warning(*log)
            delay = self.backoff(claim.attempts)
            if outcome.retry_after is not None:
                delay = max(outcome.retry_after, 0.0)
            self.queue.retry_later(
                claim,
                delay=delay,
                error=outcome.message,
                status_code=outcome.status_code,
                latency_s=latency,
            )

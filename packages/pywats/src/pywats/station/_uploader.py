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
from collections import deque
from collections.abc import Callable
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

__all__ = ["Outcome", "UploadResult", "Uploader"]

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


@dataclass(frozen=True, slots=True)
class UploadResult:
    """What became of one upload attempt, as given to the uploader's ``on_result`` hook.

    Attributes:
        report_id: the report's id.
        outcome: ``"done"`` (recorded as delivered), ``"retry"``, ``"auth"`` or ``"dead"``.
        attempts: the report's attempts including this one.
        latency_s: seconds the upload took.
        status_code: the HTTP status, if the server answered (200 when done).
        message: the error, or ``""``.
    """

    report_id: str
    outcome: str
    attempts: int
    latency_s: float
    status_code: int | None = None
    message: str = ""


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


@dataclass(frozen=True, slots=True)
class _Books:
    """What one bookkeeping step did: successes committed, reports leased, how many asked."""

    acked: list[tuple[Claim, float]]
    claims: list[Claim]
    wanted: int
    error: StationError | None = None


class Uploader:
    """Uploads queued reports, keeping ``concurrency`` uploads in flight.

    A sliding window: as soon as one upload finishes the next starts, from a buffer of
    up to ``2 * concurrency`` reports leased ahead. Delivered reports are marked done in
    batches: a background step records every success that arrived since the previous one
    and tops the buffer up, in one transaction, so the disk sees one fsync for many
    reports and the window never waits for it. A crash between an upload and its commit
    only means the report is sent again under the same id after its lease expires, which
    WATS overwrites: exactly once in effect.

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
        on_result: called on the event loop's thread with an :class:`UploadResult` once
            each attempt's outcome is recorded (e.g. to feed a latency histogram); keep it
            cheap. Its exceptions are logged.
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
        on_result: Callable[[UploadResult], None] | None = None,
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
        self.on_result = on_result
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
        self._acks: list[tuple[Claim, float]] = []
        self._rescan = False
        self._committing = 0
        self._kick: asyncio.Future[None] | None = None

    def nudge(self) -> None:
        """Wake the run loop (call it after an enqueue); safe from the event loop's thread."""
        self._wake.set()

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try of a report that failed ``attempts`` times."""
        return self._policy.backoff(max(attempts, 1))

    async def drain(self) -> int:
        """Upload every report that is ready now; returns how many were delivered."""
        ready: deque[Claim] = deque()
        running: set[asyncio.Task[None]] = set()
        books: asyncio.Task[_Books] | None = None
        exhausted = False
        delivered = 0
        # Leased ahead: up to 2 x concurrency reports wait beside the running uploads, so the
        # window stays full while a bookkeeping commit (an fsync) is under way.
        ahead = 3 * self.concurrency
        try:
            while True:
                if books is not None and books.done():
                    done = books.result()
                    books = None
                    delivered += self._record(done.acked)
                    if done.error is not None:
                        raise done.error
                    ready.extend(done.claims)
                    exhausted = exhausted or len(done.claims) < done.wanted
                await self._fill(ready, running)
                if self._rescan:  # reports were made ready meanwhile: lease again
                    exhausted, self._rescan = False, False
                if books is None:
                    want = 0
                    if not (exhausted or self._stopping):
                        want = max(ahead - len(ready) - len(running), 0)
                    # Successes are committed as soon as the previous commit is done, with
                    # a top-up lease in the same transaction; a lease alone costs a commit
                    # of its own, so it waits until the buffer runs low.
                    if self._acks or (want and len(ready) <= self.concurrency):
                        books = asyncio.create_task(self._keep_books(want))
                waiting: set[asyncio.Future[Any]] = set(running)
                if books is not None:
                    waiting.add(books)
                if not waiting:
                    return delivered
                # Woken by a finished slot or commit, or by a slot's finished upload (its
                # success waits for the next commit).
                kick = self._kick = asyncio.get_running_loop().create_future()
                waiting.add(kick)
                try:
                    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    kick.cancel()
                running.difference_update([task for task in running if task.done()])
        finally:
            await self._wind_down(ready, running, books)

    async def _wind_down(
        self,
        ready: deque[Claim],
        running: set[asyncio.Task[None]],
        books: asyncio.Task[_Books] | None,
    ) -> None:
        """Leaving ``drain`` (done, stopped, cancelled or failed): leave nothing behind.

        Running uploads are cancelled (they return their leases), the commit under way
        finishes, the successes not yet committed are committed, and reports leased ahead
        but never started go back to pending, uncounted.
        """
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        if books is not None:
            await asyncio.wait({books})
            if not books.cancelled() and books.exception() is None:
                done = books.result()
                self._record(done.acked)
                ready.extend(done.claims)
        if self._acks:
            with contextlib.suppress(StationError):
                self._record((await asyncio.shield(self._keep_books(0))).acked)
        while ready:
            claim = ready.popleft()
            with contextlib.suppress(StationError):
                await asyncio.shield(self._give_back(claim))

    async def _fill(self, ready: deque[Claim], running: set[asyncio.Task[None]]) -> None:
        """Start uploads from ``ready`` while there is room (not when stopping)."""
        stale: list[Claim] = []
        while ready and self._room(len(running)) and not self._stopping:
            claim = ready.popleft()
            if self._stale(claim):
                stale.append(claim)
            else:
                running.add(asyncio.create_task(self._slot(claim, ready, running)))
        if stale:
            await asyncio.to_thread(self._give_back_stale, stale)
            self._rescan = True  # they are pending again: lease them anew

    async def _slot(
        self, claim: Claim, ready: deque[Claim], running: set[asyncio.Task[None]]
    ) -> None:
        """One place of the window: upload ``claim``, then the next ready ones in turn.

        Taking the next report in the same task starts its upload at once, without a
        round through the event loop to the ``drain`` loop. The slot ends when nothing is
        ready (or the next is stale, for ``_fill`` to give back), on stopping, or when the
        unconfirmed uploads reach their bound.
        """
        while True:
            await self._upload(claim)
            kick = self._kick
            if kick is not None and not kick.done():
                kick.set_result(None)
            # This slot is idle now: the others are len(running) - 1.
            if not ready or self._stopping or not self._room(len(running) - 1):
                return
            if self._stale(ready[0]):
                return
            claim = ready.popleft()

    def _room(self, running: int) -> bool:
        """Whether another upload may start.

        At most ``concurrency`` run at once, and at most ``4 * concurrency`` are unconfirmed
        (running, or delivered and waiting for their commit): a crash re-sends no more.
        """
        unconfirmed = running + len(self._acks) + self._committing
        return running < self.concurrency and unconfirmed < 4 * self.concurrency

    def _stale(self, claim: Claim) -> bool:
        """A report leased ahead whose lease is half gone: not started, given back."""
        expires = claim.item.lease_expires_at
        return expires is not None and self.queue.clock.time() > expires - self.lease_time / 2

    def _give_back_stale(self, claims: list[Claim]) -> None:
        for claim in claims:
            with contextlib.suppress(StationError):
                self.queue.give_back(claim, reason="leased ahead but not started in time")

    async def _keep_books(self, want: int) -> _Books:
        """Commit the successes so far (one transaction) and lease ``want`` more reports."""
        acks, self._acks = self._acks, []
        self._committing = len(acks)
        try:
            return await asyncio.to_thread(self._books, acks, want)
        finally:
            self._committing = 0

    def _books(self, acks: list[tuple[Claim, float]], want: int) -> _Books:
        claims: list[Claim] = []
        acked: list[tuple[Claim, float]] = []
        if acks:
            try:  # one transaction, one fsync: the successes so far and the next leases
                lost, claims = self.queue.complete_and_claim(
                    [claim for claim, _ in acks],
                    want,
                    lease_time=self.lease_time,
                    status_code=200,
                    latencies=[latency for _, latency in acks],
                )
            except StationError:
                # Not recorded: the leases expire and the reports are sent again (same ids).
                logger.exception("the queue could not record %d delivered reports", len(acks))
            else:
                gone = {id(claim) for claim in lost}
                for claim in lost:
                    logger.warning(
                        "report %s was delivered, but its lease had expired and another "
                        "attempt took it; WATS keeps one report per id",
                        claim.report_id,
                    )
                acked = [(claim, latency) for claim, latency in acks if id(claim) not in gone]
                return _Books(acked, claims, want)
        try:
            claims = self.queue.claim(want, lease_time=self.lease_time) if want > 0 else []
        except StationError as exc:  # drain raises it once the successes are counted
            return _Books(acked, [], want, exc)
        return _Books(acked, claims, want)

    def _record(self, acked: list[tuple[Claim, float]]) -> int:
        """Count and report committed successes (on the event loop's thread)."""
        for claim, latency in acked:
            self.submitted += 1
            logger.info(
                "report %s submitted (attempt %d, %.3f s)", claim.report_id, claim.attempts, latency
            )
            self._result(UploadResult(claim.report_id, "done", claim.attempts, latency, 200))
        return len(acked)

    def _result(self, result: UploadResult) -> None:
        if self.on_result is None:
            return
        try:
            self.on_result(result)
        except Exception:
            logger.exception("uploader: the on_result hook failed for %s", result.report_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Upload until ``stop`` is set; then let running uploads finish (up to ``grace``).

        When nothing is ready it sleeps until the next report is due, a :meth:`nudge`,
        ``stop`` or ``idle_poll`` seconds, whichever comes first.
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
        """Stopping: no new upload starts; running ones get ``grace`` seconds, then cancel."""
        self._stopping = True
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

    async def _upload(self, claim: Claim) -> None:
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
                outcome = classify(exc)
                await asyncio.to_thread(self._failed, claim, outcome, latency)
                self._result(
                    UploadResult(
                        claim.report_id,
                        outcome.kind,
                        claim.attempts,
                        latency,
                        outcome.status_code,
                        outcome.message,
                    )
                )
                return
            self._acks.append((claim, time.perf_counter() - started))
            if self.connected is False:
                # Connectivity is back: the reports backing off after network errors go now.
                self.connected = True
                await asyncio.to_thread(self._wake_waiting)
            self.connected = True
            if self.auth_problem:
                logger.info("WATS accepts the credentials again")
            self.auth_problem = False
        except StationError:
            logger.exception("report %s: the queue could not record the outcome", claim.report_id)

    def _wake_waiting(self) -> None:
        woken = self.queue.retry_now()
        if woken:
            self._rescan = True
            logger.info("WATS is reachable again; %d waiting reports retried now", woken)

    async def _give_back(self, claim: Claim) -> None:
        reason = "the station stopped during the upload; it is tried again"
        await asyncio.to_thread(self.queue.give_back, claim, reason=reason)

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

"""Signed webhook deliveries through corekit's durable SQLite queue, and the worker sending them.

A delivery is put on the queue under the key ``<rule_id>:<event_id>`` (a second put is a no-op),
so a rule calls its webhook at most once per event however often it is asked to. The queue
item carries the delivery id, the tenant, the rule and the exact body; the worker reads the
rule's URL, secret and headers from the database when it sends, so the queue file holds no
secret and an edited URL applies to pending retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from corekit.errors import OperationError
from corekit.http import AsyncClient, Response, Timeout
from corekit.queue import AsyncSQLiteQueue, QueueItem
from corekit.retry import parse_retry_after
from timeline.errors import TimelineError
from timeline.workflows import _log
from timeline.workflows._models import WorkflowRule
from timeline.workflows._rules import UnresolvableHostError, check_url_target

if TYPE_CHECKING:
    from timeline._context import Context
    from timeline._models import Event

logger = logging.getLogger(__name__)

QUEUE_NAME = "webhooks"
SIGNATURE_HEADER = "X-Timeline-Signature"
TIMESTAMP_HEADER = "X-Timeline-Timestamp"
DELIVERY_HEADER = "X-Timeline-Delivery"
RESPONSE_EXCERPT = 300
MAX_RETRY_AFTER = 3600.0
PURGE_INTERVAL = 3600.0
_RETRY_STATUSES = {408, 429}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Timeline-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of ``<ts>.<body>``.

    Args:
        secret: the rule's signing secret (``whsec_...``).
        timestamp: unix seconds, as sent in ``X-Timeline-Timestamp``.
        body: the exact request body bytes.

    Returns:
        The header value.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def delivery_key(rule_id: str, event_id: str) -> str:
    """The queue's deduplication key of a rule's delivery for an event."""
    return f"{rule_id}:{event_id}"


def delivery_body(delivery_id: str, rule_id: str, tenant_id: str, event: Event) -> str:
    """The JSON body POSTed to the receiver (the exact text that is signed).

    Args:
        delivery_id: the delivery's id (its execution log id).
        rule_id: the rule that fired.
        tenant_id: the tenant.
        event: the triggering event.

    Returns:
        Compact JSON text.
    """
    body = {
        "delivery_id": delivery_id,
        "rule_id": rule_id,
        "tenant_id": tenant_id,
        "event": {
            "id": event.id,
            "subject_id": event.subject_id,
            "seq": event.seq,
            "event_type": event.event_type,
            "schema_version": event.schema_version,
            "event_time": event.event_time.isoformat(),
            "payload": json.loads(event.payload),
            "hash": event.hash,
        },
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def queue_payload(delivery_id: str, rule_id: str, tenant_id: str, body: str) -> dict[str, Any]:
    """The queue item's payload for one delivery."""
    return {"delivery_id": delivery_id, "rule_id": rule_id, "tenant_id": tenant_id, "body": body}


class DeliveryQueue:
    """The service's delivery queue, opened on first use, and the worker's wake-up signal.

    Args:
        ctx: the service context (settings give the file and the attempt budget).
    """

    def __init__(self, ctx: Context) -> None:
        self._settings = ctx.settings
        self._queue: AsyncSQLiteQueue | None = None
        self.wake = asyncio.Event()

    @property
    def lease_time(self) -> float:
        """Seconds a delivery's lease lasts: longer than any attempt can take."""
        return 4 * self._settings.webhook_timeout + 30.0

    def get(self) -> AsyncSQLiteQueue:
        """The open queue (opening the file first if needed)."""
        if self._queue is None or self._queue.closed:
            path = self._settings.webhook_queue_file
            path.parent.mkdir(parents=True, exist_ok=True)
            self._queue = AsyncSQLiteQueue(
                path,
                name=QUEUE_NAME,
                max_attempts=self._settings.webhook_max_attempts,
                lease_time=self.lease_time,
            )
        return self._queue

    async def put(self, payload: dict[str, Any], key: str) -> QueueItem:
        """Queue a delivery (idempotent by ``key``) and wake this process's worker.

        Args:
            payload: from :func:`queue_payload`.
            key: from :func:`delivery_key`.

        Returns:
            The stored item (the existing one when ``key`` was queued before).

        Raises:
            QueueError: the queue file cannot be written.
        """
        meta = {k: payload[k] for k in ("delivery_id", "rule_id", "tenant_id")}
        item = await self.get().put(payload, key=key, meta=meta)
        self.wake.set()
        return item

    async def aclose(self) -> None:
        """Close the queue file (it reopens on next use)."""
        if self._queue is not None:
            await self._queue.aclose()
            self._queue = None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """How one attempt ended: ``ok``, ``retry`` or ``dead``, with what to record."""

    kind: str
    error: str | None = None
    status: int | None = None
    retry_after: float | None = None
    excerpt: str | None = None


class DeliveryWorker:
    """Leases deliveries, POSTs them signed, and acks, retries or dead-letters them.

    Several processes may run one on the same queue file; leases keep each delivery with one
    sender at a time. :meth:`stop` lets sends in flight end as "not attempted" (nacked back
    without counting, ready at once), so a restart loses nothing.

    Args:
        ctx: the service context.
        queue: the shared delivery queue.
    """

    def __init__(self, ctx: Context, queue: DeliveryQueue) -> None:
        self._ctx = ctx
        self._settings = ctx.settings
        self._queue = queue
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._sends: set[asyncio.Task[Response]] = set()
        self._client: AsyncClient | None = None
        self._next_purge = 0.0

    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (a call, so type checkers do not narrow it)."""
        return self._stopping

    async def start(self) -> None:
        """Open the queue and start ``webhook_concurrency`` sending loops."""
        self._stopping = False
        self._queue.get()
        self._client = AsyncClient(
            timeout=Timeout(self._settings.webhook_timeout),
            retry=None,
            follow_redirects=False,
            max_response_bytes=1_048_576,
            trust_env=False,
            request_id_header=None,
            user_agent="timeline-webhooks",
            name="timeline-webhooks",
        )
        self._tasks = [
            asyncio.create_task(self._loop(), name=f"timeline-webhooks-{n}")
            for n in range(self._settings.webhook_concurrency)
        ]

    async def stop(self) -> None:
        """Stop leasing, hand back sends in flight, close the client and the queue."""
        self._stopping = True
        self._queue.wake.set()
        for send in list(self._sends):
            send.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await self._queue.aclose()

    async def _loop(self) -> None:
        poll = self._settings.webhook_poll_interval
        while not self._stopping:
            self._queue.wake.clear()
            try:
                wait = await self._step()
            except Exception:
                # The queue file or the database failed; a leased item comes back on expiry.
                logger.exception("webhook worker step failed; trying again in %.1f s", poll)
                wait = poll
            if wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queue.wake.wait(), wait)
        self._queue.wake.set()  # let sibling loops see the stop at once

    async def _step(self) -> float:
        """Lease and deliver one item; the seconds to wait when there was none."""
        queue = self._queue.get()
        items = await queue.lease(1, lease_time=self._queue.lease_time)
        if self.stopping():
            for item in items:
                await queue.nack(item, error="worker stopped", delay=0, count=False)
            return 0.0
        if items:
            await self._deliver(queue, items[0])
            return 0.0
        if time.monotonic() >= self._next_purge:  # idle: a good moment to trim the file
            self._next_purge = time.monotonic() + PURGE_INTERVAL
            purged = await queue.purge_done(self._settings.webhook_done_retention)
            if purged:
                logger.info("purged %d delivered webhooks from the queue", purged)
        poll = self._settings.webhook_poll_interval
        ready = await queue.next_ready_at()
        return poll if ready is None else min(poll, max(0.05, ready - time.time()))

    async def _deliver(self, queue: AsyncSQLiteQueue, item: QueueItem) -> None:
        payload = item.payload
        delivery_id = str(payload["delivery_id"])
        outcome = await self._attempt(payload)
        if outcome is None:  # stopped mid-send: not the receiver's fault, try again at once
            await queue.nack(item, error="worker stopped", delay=0, count=False)
            return
        retries = self._settings.append_retries
        detail: dict[str, Any] = {"error": outcome.error, "response": outcome.excerpt}
        history = {"status": outcome.status}
        if outcome.kind == "ok":
            await queue.ack(item, detail=history)
            await _log.record(
                self._ctx.db,
                delivery_id,
                status=_log.DELIVERED,
                attempts=item.attempts,
                last_status=outcome.status,
                detail=detail,
                retries=retries,
            )
            return
        dead = outcome.kind == "dead" or item.attempts >= item.max_attempts
        delay = None if outcome.retry_after is None else min(outcome.retry_after, MAX_RETRY_AFTER)
        await queue.nack(item, error=outcome.error, delay=delay, dead=dead, detail=history)
        if not dead:
            stored = await queue.get(item.id)
            if stored is not None:
                detail["next_attempt_at"] = stored.not_before
        await _log.record(
            self._ctx.db,
            delivery_id,
            status=_log.DEAD if dead else _log.RETRYING,
            attempts=item.attempts,
            last_status=outcome.status,
            detail=detail,
            retries=retries,
        )
        log = logger.warning if dead else logger.info
        log(
            "webhook delivery %s %s: %s", delivery_id, "dead" if dead else "retrying", outcome.error
        )

    async def _attempt(self, payload: dict[str, Any]) -> _Outcome | None:
        """One attempt; ``None`` when the worker stopped before or during the send."""
        prepared = await self._request(payload)
        if isinstance(prepared, _Outcome):
            return prepared
        url, headers, body = prepared
        if self.stopping() or self._client is None:  # stop() came while we read the rule
            return None
        send = asyncio.create_task(
            self._client.post(url, content=body, headers=headers, raise_for_status=False)
        )
        self._sends.add(send)
        try:
            response = await asyncio.shield(send)
        except asyncio.CancelledError:
            if self.stopping() and send.cancelled():
                return None
            raise
        except OperationError as exc:  # refused, timed out, reset, too large an answer
            return _Outcome("retry", error=str(exc)[:500])
        finally:
            self._sends.discard(send)
        return _classify(response)

    async def _request(
        self, payload: dict[str, Any]
    ) -> tuple[str, dict[str, str], bytes] | _Outcome:
        """The URL, signed headers and body of an attempt, or why there is none."""
        async with self._ctx.db.single() as session:
            rule = (
                await session.execute(
                    select(WorkflowRule).where(
                        WorkflowRule.id == payload["rule_id"],
                        WorkflowRule.tenant_id == payload["tenant_id"],
                    )
                )
            ).scalar_one_or_none()
        if rule is None or rule.action_type != "webhook" or rule.secret_encrypted is None:
            return _Outcome("dead", error="the rule was deleted or no longer calls a webhook")
        url = str(rule.action["url"])
        try:
            await check_url_target(url, allow_private=self._settings.webhook_allow_private)
            cipher = self._settings.secret_cipher()
            secret = cipher.decrypt(rule.secret_encrypted).decode()
            extra: dict[str, str] = (
                json.loads(cipher.decrypt(rule.headers_encrypted)) if rule.headers_encrypted else {}
            )
        except UnresolvableHostError as exc:  # DNS may be back by the next attempt
            return _Outcome("retry", error=str(exc))
        except TimelineError as exc:
            return _Outcome("dead", error=str(exc))
        body = str(payload["body"]).encode()
        timestamp = int(time.time())
        headers = {
            **extra,
            "Content-Type": "application/json",
            DELIVERY_HEADER: str(payload["delivery_id"]),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        return url, headers, body


def _classify(response: Response) -> _Outcome:
    code = response.status_code
    excerpt = response.text[:RESPONSE_EXCERPT] if response.content else None
    if 200 <= code < 300:
        return _Outcome("ok", status=code)
    error = f"the receiver answered HTTP {code}"
    if code >= 500 or code in _RETRY_STATUSES:
        header = response.headers.get("Retry-After")
        retry_after = None if header is None else parse_retry_after(header, now=time.time())
        return _Outcome("retry", error=error, status=code, retry_after=retry_after, excerpt=excerpt)
    if 300 <= code < 400:
        error += " (redirects are not followed; point the rule at the final URL)"
    return _Outcome("dead", error=error, status=code, excerpt=excerpt)

"""The in-memory queue: the SQLite queue's semantics without durability.

For tests and for processes that can afford to lose their queue on exit. Payloads are kept
as JSON text, so a caller mutating its object after ``put`` does not change the queued item
and leased payloads look exactly like those of a SQLite queue.

Pending items sit in one heap per priority, ordered by ``(not_before, id)``, so a lease pops
the due items of the highest priorities without scanning the queue.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import logging
import secrets
from dataclasses import dataclass

from corekit.clock import Clock, system_clock
from corekit.queue._base import QueueBase, full_error
from corekit.queue._model import (
    EXPIRED_ON_LAST_ATTEMPT,
    Backoff,
    QueueItem,
    check_lease,
    log_recovery,
    nack_outcome,
)
from corekit.queue._status import QueueItemStatus

logger = logging.getLogger(__name__)

_PENDING = QueueItemStatus.PENDING
_LEASED = QueueItemStatus.LEASED
_DONE = QueueItemStatus.DONE
_DEAD = QueueItemStatus.DEAD


@dataclass(slots=True)
class _Row:
    id: int
    payload: str
    key: str | None
    priority: int
    status: QueueItemStatus
    attempts: int
    max_attempts: int
    not_before: float
    created_at: float
    updated_at: float
    lease_expires_at: float | None = None
    lease_token: str | None = None
    last_error: str | None = None

    def snapshot(self) -> QueueItem:
        return QueueItem(
            self.id,
            self.payload,
            self.key,
            self.priority,
            self.status,
            self.attempts,
            self.max_attempts,
            self.not_before,
            self.created_at,
            self.updated_at,
            self.lease_expires_at,
            self.lease_token,
            self.last_error,
        )


class MemoryQueue(QueueBase):
    """A thread-safe queue in memory with the same behaviour as :class:`SQLiteQueue`.

    Args:
        clock: source of wall-clock time and of sleeps.
        max_attempts: default number of leases before a nack dead-letters an item.
        lease_time: default seconds a lease lasts.
        capacity: most items pending or leased at once; ``None`` for no limit.
        backoff: seconds before a nacked item is leasable again, from its attempts so far;
            default ``min(2 ** (attempts - 1), 300)``.
        name: the queue's name, used in messages.
    """

    def __init__(
        self,
        *,
        clock: Clock = system_clock,
        max_attempts: int = 5,
        lease_time: float = 60.0,
        capacity: int | None = None,
        backoff: Backoff | None = None,
        name: str = "queue",
    ) -> None:
        super().__init__(
            clock=clock,
            max_attempts=max_attempts,
            lease_time=lease_time,
            capacity=capacity,
            backoff=backoff,
            name=name,
        )
        self._rows: dict[int, _Row] = {}
        self._keys: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._by_status = dict.fromkeys(QueueItemStatus, 0)
        # One heap of (not_before, id) per priority; _priorities holds the negated
        # priorities in ascending order, so the highest priority comes first.
        self._heaps: dict[int, list[tuple[float, int]]] = {}
        self._priorities: list[int] = []
        self._leased: set[int] = set()

    def __repr__(self) -> str:
        return f"MemoryQueue(name={self.name!r}, items={len(self._rows)})"

    def _set_status(self, row: _Row, status: QueueItemStatus) -> None:
        self._by_status[row.status] -= 1
        if row.status is _LEASED:
            self._leased.discard(row.id)
        row.status = status
        self._index(row)

    def _index(self, row: _Row) -> None:
        status = row.status
        self._by_status[status] += 1
        if status is _PENDING:
            heap = self._heaps.get(row.priority)
            if heap is None:
                heap = self._heaps[row.priority] = []
                bisect.insort(self._priorities, -row.priority)
            heapq.heappush(heap, (row.not_before, row.id))
        elif status is _LEASED:
            self._leased.add(row.id)

    def _row_for(self, item: QueueItem, action: str) -> _Row:
        row = self._rows.get(item.id)
        if row is None:
            check_lease(self.name, item, None, None, action)
        assert row is not None
        check_lease(self.name, item, row.status, row.lease_token, action)
        return row

    # --- primitives -----------------------------------------------------------------------

    def _put(
        self, payload: str, key: str | None, priority: int, delay: float, max_attempts: int
    ) -> QueueItem:
        if key is not None and key in self._keys:
            return self._rows[self._keys[key]].snapshot()
        if self.capacity is not None:
            waiting = self._by_status[_PENDING] + self._by_status[_LEASED]
            if waiting >= self.capacity:
                raise full_error(self.name, self.capacity, waiting)
        now = self.clock.time()
        row = _Row(
            next(self._ids),
            payload,
            key,
            priority,
            _PENDING,
            0,
            max_attempts,
            now + delay,
            now,
            now,
        )
        self._rows[row.id] = row
        if key is not None:
            self._keys[key] = row.id
        self._index(row)
        return row.snapshot()

    def _lease(self, n: int, lease_time: float) -> list[QueueItem]:
        self._recover_expired()
        now = self.clock.time()
        token = secrets.token_hex(16)
        leased: list[QueueItem] = []
        for negated in list(self._priorities):
            heap = self._heaps[-negated]
            while heap and heap[0][0] <= now and len(leased) < n:
                row = self._rows[heapq.heappop(heap)[1]]
                row.attempts += 1
                row.lease_token = token
                row.lease_expires_at = now + lease_time
                row.updated_at = now
                self._set_status(row, _LEASED)
                leased.append(row.snapshot())
            if not heap:
                del self._heaps[-negated]
                self._priorities.remove(negated)
            if len(leased) == n:
                break
        return leased

    def _ack(self, item: QueueItem) -> None:
        row = self._row_for(item, "ack")
        row.lease_expires_at = None
        row.updated_at = self.clock.time()
        self._set_status(row, _DONE)

    def _nack(self, item: QueueItem, error: str | None, delay: float | None, dead: bool) -> None:
        row = self._row_for(item, "nack")
        now = self.clock.time()
        status, not_before = nack_outcome(
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            dead=dead,
            delay=delay,
            backoff=self._backoff,
            now=now,
        )
        if error is not None:
            row.last_error = error
        if not_before is not None:
            row.not_before = not_before
        row.lease_token = None
        row.lease_expires_at = None
        row.updated_at = now
        self._set_status(row, status)
        if status is _DEAD:
            logger.warning(
                "queue %r dead-lettered item %d after %d attempts",
                self.name,
                row.id,
                row.attempts,
            )

    def _extend(self, item: QueueItem, lease_time: float) -> QueueItem:
        row = self._row_for(item, "extend")
        now = self.clock.time()
        row.lease_expires_at = now + lease_time
        row.updated_at = now
        return row.snapshot()

    def _requeue(self, ids: list[int], extra_attempts: int) -> int:
        now = self.clock.time()
        count = 0
        for item_id in ids:
            row = self._rows.get(item_id)
            if row is None or row.status is not _DEAD:
                continue
            row.max_attempts = row.attempts + extra_attempts
            row.not_before = now
            row.updated_at = now
            self._set_status(row, _PENDING)
            count += 1
        return count

    def _recover_expired(self) -> int:
        if not self._leased:
            return 0
        now = self.clock.time()
        expired = [
            row
            for row in map(self._rows.__getitem__, self._leased)
            if row.lease_expires_at is not None and row.lease_expires_at <= now
        ]
        dead = 0
        for row in sorted(expired, key=lambda r: r.id):
            row.lease_token = None
            row.lease_expires_at = None
            row.updated_at = now
            if row.attempts >= row.max_attempts:  # see SQLiteQueue: no endless crash loop
                row.last_error = EXPIRED_ON_LAST_ATTEMPT
                self._set_status(row, _DEAD)
                dead += 1
            else:
                self._set_status(row, _PENDING)
        log_recovery(self.name, dead, len(expired) - dead)
        return len(expired)

    def _purge_done(self, older_than: float) -> int:
        cutoff = self.clock.time() - older_than
        # Like the SQLite queue, keep the newest item (there it keeps ids from being reused).
        newest = max(self._rows, default=None)
        doomed = [
            row
            for row in self._rows.values()
            if row.status is _DONE and row.updated_at <= cutoff and row.id != newest
        ]
        for row in doomed:
            del self._rows[row.id]
            if row.key is not None:
                del self._keys[row.key]
        self._by_status[_DONE] -= len(doomed)
        return len(doomed)

    def _get(self, item_id: int) -> QueueItem | None:
        row = self._rows.get(item_id)
        return None if row is None else row.snapshot()

    def _counts(self) -> dict[QueueItemStatus, int]:
        return dict(self._by_status)

    def _items(self, status: QueueItemStatus | None, limit: int | None) -> list[QueueItem]:
        rows = (r for r in self._rows.values() if status is None or r.status is status)
        return [r.snapshot() for r in itertools.islice(rows, limit)]

    def _next_ready_at(self) -> float | None:
        candidates = [heap[0][0] for heap in self._heaps.values() if heap]
        candidates.extend(
            expires
            for expires in (self._rows[i].lease_expires_at for i in self._leased)
            if expires is not None
        )
        return min(candidates, default=None)

    def _close(self) -> None:
        self._rows.clear()
        self._keys.clear()
        self._heaps.clear()
        self._priorities.clear()
        self._leased.clear()

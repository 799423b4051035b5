"""The in-memory queue: the SQLite queue's semantics without durability.

For tests and for processes that can afford to lose their queue on exit. Payloads are kept
as JSON text, so a caller mutating its object after ``put`` does not change the queued item
and leased payloads look exactly like those of a SQLite queue.

Pending items sit in one heap per priority, ordered by ``(not_before, id)``, so a lease pops
the due items of the highest priorities without scanning the queue. An entry whose item has
left pending (held) or changed its ``not_before`` (retry_now) is stale and skipped.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import logging
import secrets
from dataclasses import dataclass

from corekit.clock import Clock, system_clock
from corekit.errors import LeaseError
from corekit.queue._base import NewEntry, QueueBase, full_error, new_count
from corekit.queue._model import (
    EXPIRED,
    EXPIRED_ON_LAST_ATTEMPT,
    Backoff,
    DeadHook,
    HistoryEntry,
    QueueItem,
    check_lease,
    decode_object,
    log_recovery,
    nack_outcome,
)
from corekit.queue._status import QueueItemStatus

logger = logging.getLogger(__name__)

_PENDING = QueueItemStatus.PENDING
_LEASED = QueueItemStatus.LEASED
_DONE = QueueItemStatus.DONE
_DEAD = QueueItemStatus.DEAD
_HELD = QueueItemStatus.HELD


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
    meta: str | None = None

    def snapshot(self, *, payload: bool = True) -> QueueItem:
        return QueueItem(
            self.id,
            self.payload if payload else None,
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
            decode_object(self.meta),
        )


class MemoryQueue(QueueBase):
    """A thread-safe queue in memory with the same behaviour as :class:`SQLiteQueue`.

    Args:
        clock: source of wall-clock time and of sleeps.
        max_attempts: default number of leases before a nack dead-letters an item.
        lease_time: default seconds a lease lasts.
        capacity: most items pending, leased or held at once; ``None`` for no limit.
        backoff: seconds before a nacked item is leasable again, from its attempts so far;
            default ``min(2 ** (attempts - 1), 300)``.
        name: the queue's name, used in messages.
        on_dead: called with each item that goes dead (see :class:`QueueBase`).
        capacity_includes_dead: count dead items against ``capacity`` too.
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
        on_dead: DeadHook | None = None,
        capacity_includes_dead: bool = False,
    ) -> None:
        super().__init__(
            clock=clock,
            max_attempts=max_attempts,
            lease_time=lease_time,
            capacity=capacity,
            backoff=backoff,
            name=name,
            on_dead=on_dead,
            capacity_includes_dead=capacity_includes_dead,
        )
        self._log: dict[int, list[HistoryEntry]] = {}
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

    def _record(
        self, row: _Row, action: str, now: float, error: str | None, detail: str | None
    ) -> None:
        entry = HistoryEntry(
            row.id, now, action, row.status, row.attempts, error, decode_object(detail)
        )
        self._log.setdefault(row.id, []).append(entry)
        if row.status is _DEAD and action in ("nack", "expired"):
            self._newly_dead.append(row.snapshot())

    def _waiting(self) -> int:
        statuses = [_PENDING, _LEASED, _HELD]
        if self.capacity_includes_dead:
            statuses.append(_DEAD)
        return sum(self._by_status[s] for s in statuses)

    def _live(self, entry: tuple[float, int]) -> _Row | None:
        """The row of a heap entry, or ``None`` when the entry is stale."""
        row = self._rows.get(entry[1])
        if row is None or row.status is not _PENDING or row.not_before != entry[0]:
            return None
        return row

    def _heap_top(self, heap: list[tuple[float, int]]) -> tuple[float, int] | None:
        while heap and self._live(heap[0]) is None:
            heapq.heappop(heap)
        return heap[0] if heap else None

    def _row_for(self, item: QueueItem, action: str) -> _Row:
        row = self._rows.get(item.id)
        if row is None:
            check_lease(self.name, item, None, None, action)
        assert row is not None
        check_lease(self.name, item, row.status, row.lease_token, action)
        return row

    # --- primitives -----------------------------------------------------------------------

    def _put(
        self,
        payload: str,
        key: str | None,
        *,
        priority: int,
        delay: float,
        max_attempts: int,
        meta: str | None,
    ) -> QueueItem:
        if key is not None and key in self._keys:
            return self._rows[self._keys[key]].snapshot()
        if self.capacity is not None:
            waiting = self._waiting()
            if waiting >= self.capacity:
                raise full_error(
                    self.name, self.capacity, waiting, with_dead=self.capacity_includes_dead
                )
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
            meta=meta,
        )
        self._rows[row.id] = row
        if key is not None:
            self._keys[key] = row.id
        self._index(row)
        return row.snapshot()

    def _put_many(
        self,
        entries: list[NewEntry],
        *,
        priority: int,
        delay: float,
        max_attempts: int,
    ) -> list[QueueItem]:
        if self.capacity is not None:
            adding = new_count(entries, self._keys.__contains__)
            waiting = self._waiting()
            if adding and waiting + adding > self.capacity:
                raise full_error(
                    self.name,
                    self.capacity,
                    waiting,
                    with_dead=self.capacity_includes_dead,
                    adding=adding,
                )
        return [
            self._put(
                entry.payload,
                entry.key,
                priority=priority,
                delay=delay,
                max_attempts=max_attempts,
                meta=entry.meta,
            )
            for entry in entries
        ]

    def _lease(self, n: int, lease_time: float) -> list[QueueItem]:
        self._recover_expired()
        now = self.clock.time()
        token = secrets.token_hex(16)
        leased: list[QueueItem] = []
        for negated in list(self._priorities):
            heap = self._heaps[-negated]
            while len(leased) < n:
                top = self._heap_top(heap)
                if top is None or top[0] > now:
                    break
                heapq.heappop(heap)
                row = self._rows[top[1]]
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

    def _ack(self, item: QueueItem, detail: str | None) -> None:
        row = self._row_for(item, "ack")
        row.lease_expires_at = None
        row.updated_at = now = self.clock.time()
        self._set_status(row, _DONE)
        self._record(row, "ack", now, None, detail)

    def _ack_many(self, items: list[QueueItem], details: list[str | None]) -> list[QueueItem]:
        refused: list[QueueItem] = []
        for item, detail in zip(items, details, strict=True):
            try:
                self._ack(item, detail)
            except LeaseError:
                refused.append(item)
        return refused

    def _nack(
        self,
        item: QueueItem,
        *,
        error: str | None,
        delay: float | None,
        dead: bool,
        count: bool,
        detail: str | None,
    ) -> None:
        row = self._row_for(item, "nack")
        now = self.clock.time()
        status, not_before = nack_outcome(
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            dead=dead,
            count=count,
            delay=delay,
            backoff=self._backoff,
            now=now,
        )
        if not count:
            row.max_attempts += 1
        if error is not None:
            row.last_error = error
        if not_before is not None:
            row.not_before = not_before
        row.lease_token = None
        row.lease_expires_at = None
        row.updated_at = now
        self._set_status(row, status)
        self._record(row, "nack", now, error, detail)
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
            self._record(row, "requeue", now, None, None)
            count += 1
        return count

    def _retry_now(self, ids: list[int] | None) -> int:
        now = self.clock.time()
        rows = self._rows.values() if ids is None else map(self._rows.get, ids)
        count = 0
        for row in list(rows):
            if row is None or row.status is not _PENDING or row.not_before <= now:
                continue
            row.not_before = now  # the old heap entry is stale now
            row.updated_at = now
            heapq.heappush(self._heaps[row.priority], (now, row.id))
            count += 1
        return count

    def _hold(self, ids: list[int]) -> int:
        now = self.clock.time()
        count = 0
        for item_id in ids:
            row = self._rows.get(item_id)
            if row is None or row.status is not _PENDING:
                continue
            row.updated_at = now
            self._set_status(row, _HELD)  # its heap entry is stale now
            self._record(row, "hold", now, None, None)
            count += 1
        return count

    def _release(self, ids: list[int]) -> int:
        now = self.clock.time()
        count = 0
        for item_id in ids:
            row = self._rows.get(item_id)
            if row is None or row.status is not _HELD:
                continue
            row.not_before = now
            row.updated_at = now
            self._set_status(row, _PENDING)
            self._record(row, "release", now, None, None)
            count += 1
        return count

    def _get_by_key(self, key: str) -> QueueItem | None:
        item_id = self._keys.get(key)
        return None if item_id is None else self._rows[item_id].snapshot()

    def _waiting_count(self) -> int:
        now = self.clock.time()
        return sum(
            1 for row in self._rows.values() if row.status is _PENDING and row.not_before > now
        )

    def _history(self, item_id: int) -> list[HistoryEntry]:
        return list(self._log.get(item_id, ()))

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
            self._record(
                row,
                "expired",
                now,
                EXPIRED if row.status is _PENDING else EXPIRED_ON_LAST_ATTEMPT,
                None,
            )
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
            self._log.pop(row.id, None)
            if row.key is not None:
                del self._keys[row.key]
        self._by_status[_DONE] -= len(doomed)
        return len(doomed)

    def _get(self, item_id: int) -> QueueItem | None:
        row = self._rows.get(item_id)
        return None if row is None else row.snapshot()

    def _counts(self) -> dict[QueueItemStatus, int]:
        return dict(self._by_status)

    def _items(
        self,
        status: QueueItemStatus | None,
        limit: int | None,
        waiting: bool | None,
        payloads: bool,
    ) -> list[QueueItem]:
        now = self.clock.time()
        rows = (
            r
            for r in self._rows.values()
            if (status is None or r.status is status)
            and (waiting is None or (r.status is _PENDING and r.not_before > now) is waiting)
        )
        return [r.snapshot(payload=payloads) for r in itertools.islice(rows, limit)]

    def _next_ready_at(self) -> float | None:
        tops = (self._heap_top(heap) for heap in self._heaps.values())
        candidates = [top[0] for top in tops if top is not None]
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
        self._log.clear()

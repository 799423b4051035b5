"""Async faces of the queues: the same methods as coroutines over the one sync implementation.

SQLite calls run in a worker thread through :func:`anyio.to_thread.run_sync`, one at a time
per queue (a capacity limiter of 1 keeps them in call order and off the event loop); the
memory queue never blocks, so it is called directly.

A cancelled call into the SQLite queue still finishes in its thread: a lease granted to a
cancelled ``lease()`` is not lost, it expires and is recovered like any other.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Generic, Literal, ParamSpec, Self, TypeVar

import anyio
import anyio.to_thread

from corekit.clock import Clock, system_clock
from corekit.queue._base import QueueBase, next_wait
from corekit.queue._memory import MemoryQueue
from corekit.queue._model import Backoff, DeadHook, HistoryEntry, QueueItem, check_seconds
from corekit.queue._sqlite import SQLiteQueue
from corekit.queue._status import QueueItemStatus

_P = ParamSpec("_P")
_T = TypeVar("_T")
_Q = TypeVar("_Q", bound=QueueBase)


class AsyncQueue(Generic[_Q]):
    """The coroutine methods shared by both async queues (use it in type annotations).

    Args:
        queue: the sync queue to drive.
        offload: run each call in a worker thread (needed when the queue blocks on I/O).
    """

    def __init__(self, queue: _Q, *, offload: bool) -> None:
        self._queue = queue
        self._limiter = anyio.CapacityLimiter(1) if offload else None

    async def _call(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if self._limiter is None:
            return fn(*args, **kwargs)
        return await anyio.to_thread.run_sync(
            functools.partial(fn, *args, **kwargs), limiter=self._limiter
        )

    @property
    def sync(self) -> _Q:
        """The sync queue underneath (share it with threads that do not run an event loop)."""
        return self._queue

    @property
    def name(self) -> str:
        """The queue's name."""
        return self._queue.name

    @property
    def clock(self) -> Clock:
        """The queue's clock."""
        return self._queue.clock

    @property
    def closed(self) -> bool:
        """Whether the queue was closed."""
        return self._queue.closed

    async def put(
        self,
        payload: object,
        *,
        key: str | None = None,
        priority: int = 0,
        delay: float = 0.0,
        max_attempts: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> QueueItem:
        """Store an item; see :meth:`~corekit.queue.QueueBase.put`."""
        return await self._call(
            self._queue.put,
            payload,
            key=key,
            priority=priority,
            delay=delay,
            max_attempts=max_attempts,
            meta=meta,
        )

    async def put_many(
        self,
        payloads: Sequence[object],
        *,
        keys: Sequence[str | None] | None = None,
        metas: Sequence[dict[str, Any] | None] | None = None,
        priority: int = 0,
        delay: float = 0.0,
        max_attempts: int | None = None,
    ) -> list[QueueItem]:
        """Store several items in one atomic step; see :meth:`~corekit.queue.QueueBase.put_many`."""
        return await self._call(
            self._queue.put_many,
            payloads,
            keys=keys,
            metas=metas,
            priority=priority,
            delay=delay,
            max_attempts=max_attempts,
        )

    async def lease(self, n: int = 1, *, lease_time: float | None = None) -> list[QueueItem]:
        """Lease up to ``n`` items; see :meth:`~corekit.queue.QueueBase.lease`."""
        return await self._call(self._queue.lease, n, lease_time=lease_time)

    async def lease_wait(
        self,
        n: int = 1,
        *,
        lease_time: float | None = None,
        poll_interval: float = 0.5,
        timeout: float | None = None,  # noqa: ASYNC109 (measured on the queue's clock, not real time)
    ) -> list[QueueItem]:
        """Lease, sleeping on the clock until something is leasable.

        See :meth:`~corekit.queue.QueueBase.lease_wait`; the sleeps are the clock's ``asleep``.

        Returns:
            The leased items, or an empty list when ``timeout`` passed.
        """
        poll = check_seconds("poll_interval", poll_interval, positive=True)
        limit = None if timeout is None else check_seconds("timeout", timeout, positive=False)
        clock = self._queue.clock
        start = clock.monotonic()
        while True:
            items = await self.lease(n, lease_time=lease_time)
            if items:
                return items
            wait = next_wait(poll, await self.next_ready_at(), clock.time())
            if limit is not None:
                left = limit - (clock.monotonic() - start)
                if left <= 0:
                    return []
                wait = min(wait, left)
            await clock.asleep(wait)

    async def ack(self, item: QueueItem, *, detail: dict[str, Any] | None = None) -> None:
        """Mark a leased item done; see :meth:`~corekit.queue.QueueBase.ack`."""
        await self._call(self._queue.ack, item, detail=detail)

    async def ack_many(
        self,
        items: Sequence[QueueItem],
        *,
        details: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[QueueItem]:
        """Mark several leased items done at once; see :meth:`~corekit.queue.QueueBase.ack_many`."""
        return await self._call(self._queue.ack_many, items, details=details)

    async def ack_and_lease(
        self,
        item: QueueItem,
        n: int = 1,
        *,
        lease_time: float | None = None,
        detail: dict[str, Any] | None = None,
    ) -> list[QueueItem]:
        """Mark a leased item done and lease the next ones, in one atomic step.

        See :meth:`~corekit.queue.QueueBase.ack_and_lease`.
        """
        return await self._call(
            self._queue.ack_and_lease, item, n, lease_time=lease_time, detail=detail
        )

    async def ack_many_and_lease(
        self,
        items: Sequence[QueueItem],
        n: int = 1,
        *,
        lease_time: float | None = None,
        details: Sequence[dict[str, Any] | None] | None = None,
    ) -> tuple[list[QueueItem], list[QueueItem]]:
        """Mark several leased items done and lease up to ``n`` more, in one atomic step.

        See :meth:`~corekit.queue.QueueBase.ack_many_and_lease`.
        """
        return await self._call(
            self._queue.ack_many_and_lease, items, n, lease_time=lease_time, details=details
        )

    async def nack(
        self,
        item: QueueItem,
        *,
        error: str | None = None,
        delay: float | None = None,
        dead: bool = False,
        count: bool = True,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Give a leased item back or dead-letter it.

        See :meth:`~corekit.queue.QueueBase.nack`.
        """
        await self._call(
            self._queue.nack,
            item,
            error=error,
            delay=delay,
            dead=dead,
            count=count,
            detail=detail,
        )

    async def extend(self, item: QueueItem, lease_time: float | None = None) -> QueueItem:
        """Renew a held lease; see :meth:`~corekit.queue.QueueBase.extend`."""
        return await self._call(self._queue.extend, item, lease_time)

    async def requeue(
        self,
        item_ids: int | QueueItem | Iterable[int | QueueItem],
        *,
        extra_attempts: int | None = None,
    ) -> int:
        """Move dead-lettered items back to pending.

        See :meth:`~corekit.queue.QueueBase.requeue`.
        """
        return await self._call(self._queue.requeue, item_ids, extra_attempts=extra_attempts)

    async def recover_expired(self) -> int:
        """Return expired leases to pending.

        See :meth:`~corekit.queue.QueueBase.recover_expired`.
        """
        return await self._call(self._queue.recover_expired)

    async def retry_now(
        self, item_ids: int | QueueItem | Iterable[int | QueueItem] | None = None
    ) -> int:
        """Make backing-off items leasable now; see :meth:`~corekit.queue.QueueBase.retry_now`."""
        return await self._call(self._queue.retry_now, item_ids)

    async def hold(self, item_ids: int | QueueItem | Iterable[int | QueueItem]) -> int:
        """Pause pending items; see :meth:`~corekit.queue.QueueBase.hold`."""
        return await self._call(self._queue.hold, item_ids)

    async def release(self, item_ids: int | QueueItem | Iterable[int | QueueItem]) -> int:
        """Make held items pending again; see :meth:`~corekit.queue.QueueBase.release`."""
        return await self._call(self._queue.release, item_ids)

    async def get_by_key(self, key: str) -> QueueItem | None:
        """Return the item stored under a deduplication key, or ``None``."""
        return await self._call(self._queue.get_by_key, key)

    async def waiting_count(self) -> int:
        """Pending items still backing off; see :meth:`~corekit.queue.QueueBase.waiting_count`."""
        return await self._call(self._queue.waiting_count)

    async def history(self, item_id: int) -> list[HistoryEntry]:
        """Return an item's recorded steps; see :meth:`~corekit.queue.QueueBase.history`."""
        return await self._call(self._queue.history, item_id)

    async def purge_done(self, older_than: float = 0.0) -> int:
        """Delete old done items; see :meth:`~corekit.queue.QueueBase.purge_done`."""
        return await self._call(self._queue.purge_done, older_than)

    async def get(self, item_id: int) -> QueueItem | None:
        """Return a snapshot of one item, or ``None``."""
        return await self._call(self._queue.get, item_id)

    async def counts(self) -> dict[QueueItemStatus, int]:
        """Return how many items are in each status."""
        return await self._call(self._queue.counts)

    async def items(
        self,
        status: QueueItemStatus | str | None = None,
        *,
        limit: int | None = 100,
        waiting: bool | None = None,
        payloads: bool = True,
    ) -> list[QueueItem]:
        """Return up to ``limit`` items, oldest id first.

        See :meth:`~corekit.queue.QueueBase.items`.
        """
        return await self._call(
            self._queue.items, status, limit=limit, waiting=waiting, payloads=payloads
        )

    async def dead_letters(self, *, limit: int | None = 100) -> list[QueueItem]:
        """Return up to ``limit`` dead-lettered items, oldest id first."""
        return await self._call(self._queue.dead_letters, limit=limit)

    async def next_ready_at(self) -> float | None:
        """Wall-clock time when something is next leasable; see the sync queue."""
        return await self._call(self._queue.next_ready_at)

    async def size(self) -> int:
        """Items counted against ``capacity``, like ``len()`` of the sync queue."""
        return await self._call(self._queue.__len__)

    async def aclose(self) -> None:
        """Close the queue (after the calls already running); closing twice is harmless."""
        await self._call(self._queue.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncSQLiteQueue(AsyncQueue[SQLiteQueue]):
    """:class:`SQLiteQueue` with coroutine methods; blocking work runs in a worker thread.

    The constructor opens the file in the calling thread (a short schema check and lease
    recovery). The arguments are those of :class:`SQLiteQueue`. To share one open queue
    between sync and async code, use :meth:`wrap`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock = system_clock,
        max_attempts: int = 5,
        lease_time: float = 60.0,
        capacity: int | None = None,
        backoff: Backoff | None = None,
        name: str = "queue",
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout: float = 10.0,
        on_dead: DeadHook | None = None,
        capacity_includes_dead: bool = False,
    ) -> None:
        queue = SQLiteQueue(
            path,
            clock=clock,
            max_attempts=max_attempts,
            lease_time=lease_time,
            capacity=capacity,
            backoff=backoff,
            name=name,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
            on_dead=on_dead,
            capacity_includes_dead=capacity_includes_dead,
        )
        super().__init__(queue, offload=True)

    @classmethod
    def wrap(cls, queue: SQLiteQueue) -> AsyncSQLiteQueue:
        """Give an open :class:`SQLiteQueue` an async face (closing either closes both)."""
        self = cls.__new__(cls)
        AsyncQueue.__init__(self, queue, offload=True)
        return self

    def __repr__(self) -> str:
        return f"AsyncSQLiteQueue({str(self._queue.path)!r}, name={self.name!r})"


class AsyncMemoryQueue(AsyncQueue[MemoryQueue]):
    """:class:`MemoryQueue` with coroutine methods (called directly; they never block).

    The arguments are those of :class:`MemoryQueue`.
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
        queue = MemoryQueue(
            clock=clock,
            max_attempts=max_attempts,
            lease_time=lease_time,
            capacity=capacity,
            backoff=backoff,
            name=name,
            on_dead=on_dead,
            capacity_includes_dead=capacity_includes_dead,
        )
        super().__init__(queue, offload=False)

    @classmethod
    def wrap(cls, queue: MemoryQueue) -> AsyncMemoryQueue:
        """Give a :class:`MemoryQueue` an async face (closing either closes both)."""
        self = cls.__new__(cls)
        AsyncQueue.__init__(self, queue, offload=False)
        return self

    def __repr__(self) -> str:
        return f"AsyncMemoryQueue(name={self.name!r})"

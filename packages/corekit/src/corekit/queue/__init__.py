"""Queues with one status vocabulary: in memory, or durable in SQLite; sync and async.

A producer ``put`` s JSON payloads; a consumer ``lease`` s items, works on them and ``ack`` s
(done) or ``nack`` s (retry after a back-off, or dead-letter). A lease that is neither acked
nor nacked expires and the item becomes pending again, so a crashed consumer loses nothing::

    from corekit.queue import SQLiteQueue

    with SQLiteQueue("reports.db") as queue:
        queue.put({"report": 42}, key="report-42")  # a second put of the key is a no-op
        for item in queue.lease_wait(timeout=10.0):
            try:
                upload(item.payload)
            except Exception as exc:
                queue.nack(item, error=str(exc))
            else:
                queue.ack(item)

:class:`QueueItemStatus` documents the states and their transitions. :class:`MemoryQueue`
has the same behaviour without durability; :class:`AsyncSQLiteQueue` and
:class:`AsyncMemoryQueue` offer the same methods as coroutines.
"""

from __future__ import annotations

from corekit.queue._async import AsyncMemoryQueue, AsyncQueue, AsyncSQLiteQueue
from corekit.queue._base import QueueBase
from corekit.queue._memory import MemoryQueue
from corekit.queue._model import HistoryEntry, QueueItem
from corekit.queue._sqlite import SQLiteQueue
from corekit.queue._status import QueueItemStatus

__all__ = [
    "AsyncMemoryQueue",
    "AsyncQueue",
    "AsyncSQLiteQueue",
    "HistoryEntry",
    "MemoryQueue",
    "QueueBase",
    "QueueItem",
    "QueueItemStatus",
    "SQLiteQueue",
]

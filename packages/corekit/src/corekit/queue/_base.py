"""The public face shared by the memory and the SQLite queue.

:class:`QueueBase` checks every argument, holds the lock, refuses calls after ``close()`` and
implements ``lease_wait``; the two storages implement only the private primitives (``_put``,
``_lease``, ...), each of which is one atomic state change.
"""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, NamedTuple, Self

from corekit.clock import Clock
from corekit.errors import ConfigurationError, QueueClosedError, QueueFullError
from corekit.queue._model import (
    INT_LIMIT,
    Backoff,
    DeadHook,
    HistoryEntry,
    QueueItem,
    check_ids,
    check_int,
    check_item,
    check_key,
    check_priority,
    check_seconds,
    check_status,
    default_backoff,
    encode_object,
    encode_payload,
    truncate_error,
)
from corekit.queue._status import QueueItemStatus

logger = logging.getLogger(__name__)

_IDLE_FLOOR = 0.01
"""Shortest poll when something is due but another consumer took it first."""


class NewEntry(NamedTuple):
    """One item of a :meth:`QueueBase.put_many`, checked and encoded."""

    payload: str
    key: str | None
    meta: str | None


def new_count(entries: Iterable[NewEntry], known: Callable[[str], bool]) -> int:
    """How many rows ``entries`` add: unkeyed ones, and distinct keys ``known`` says are new."""
    keys: set[str] = set()
    count = 0
    for entry in entries:
        if entry.key is None:
            count += 1
        elif entry.key not in keys:
            keys.add(entry.key)
            count += 0 if known(entry.key) else 1
    return count


def next_wait(poll_interval: float, ready_at: float | None, now: float) -> float:
    """Seconds ``lease_wait`` sleeps before asking again.

    Until the nearest ``not_before`` / lease expiry when known, but never longer than
    ``poll_interval`` (another process may put a new item meanwhile).
    """
    if ready_at is None:
        return poll_interval
    wait = min(poll_interval, ready_at - now)
    return wait if wait > 0 else min(poll_interval, _IDLE_FLOOR)


def full_error(
    name: str, capacity: int, waiting: int, *, with_dead: bool, adding: int = 1
) -> QueueFullError:
    """Build the error a put raises when the queue is at capacity (or too full for a batch)."""
    which = "pending, leased, held or dead" if with_dead else "pending, leased or held"
    hint = "requeue or purge dead items, " if with_dead else ""
    batch = f" and the {adding} new items do not fit" if adding > 1 else ""
    msg = (
        f"queue {name!r} is full: {waiting} items are {which}, capacity is "
        f"{capacity}{batch}; nothing was stored. Consume items (lease + ack), {hint}release "
        "held items or raise capacity."
    )
    return QueueFullError(msg)


def check_optional_ids(item_ids: object) -> list[int] | None:
    """Like :func:`check_ids`, with ``None`` (meaning every item) passed through."""
    if item_ids is None:
        return None
    return [i for i in check_ids(item_ids) if abs(i) <= INT_LIMIT]


class QueueBase(abc.ABC):
    """Argument checks, locking, ``lease_wait`` and the context manager of every queue.

    Args:
        clock: source of wall-clock time (``not_before``, lease expiry) and of sleeps.
        max_attempts: default number of leases an item gets before a nack dead-letters it.
        lease_time: default seconds a lease lasts.
        capacity: most items that may be pending, leased or held at once (and dead, with
            ``capacity_includes_dead``); ``None`` for no limit.
        backoff: seconds before a nacked item is leasable again, from its attempts so far;
            default ``min(2 ** (attempts - 1), 300)``.
        name: the queue's name (in messages; the table name of a SQLite queue).
        on_dead: called with each item that goes dead, after the change is stored and
            outside the queue's lock (so it may call the queue); its exceptions are logged.
        capacity_includes_dead: count dead items against ``capacity`` too (a queue whose
            dead letters must not grow without bound).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        max_attempts: int,
        lease_time: float,
        capacity: int | None,
        backoff: Backoff | None,
        name: str,
        on_dead: DeadHook | None = None,
        capacity_includes_dead: bool = False,
    ) -> None:
        self.max_attempts = check_int("max_attempts", max_attempts, minimum=1)
        self.lease_time = check_seconds("lease_time", lease_time, positive=True)
        self.capacity = None if capacity is None else check_int("capacity", capacity, minimum=1)
        given: object = backoff  # checked at run time too: a typo here would fail much later
        if given is not None and not callable(given):
            msg = f"backoff must be None or a callable (attempts -> seconds), got {backoff!r}"
            raise ConfigurationError(msg)
        self.name = name
        self.clock = clock
        self._backoff: Backoff = backoff or default_backoff
        hook: object = on_dead
        if hook is not None and not callable(hook):
            msg = f"on_dead must be None or a callable (QueueItem -> None), got {on_dead!r}"
            raise ConfigurationError(msg)
        self.on_dead = on_dead
        self.capacity_includes_dead = bool(capacity_includes_dead)
        self._lock = threading.Lock()
        self._closed = False
        # Items the running primitive dead-lettered; the hook runs once the lock is released.
        self._newly_dead: list[QueueItem] = []

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Hold the lock for one change, then run ``on_dead`` for what it dead-lettered."""
        with self._lock:
            self._check_open()
            self._newly_dead = []
            try:
                yield
            finally:
                dead, self._newly_dead = self._newly_dead, []
        self._notify_dead(dead)

    def _notify_dead(self, dead: list[QueueItem]) -> None:
        hook = self.on_dead
        if hook is None:
            return
        for item in dead:
            try:
                hook(item)
            except Exception:
                logger.exception("queue %r: on_dead hook failed for item %d", self.name, item.id)

    # --- primitives, each one atomic; called with the lock held on an open queue ----------

    @abc.abstractmethod
    def _put(
        self,
        payload: str,
        key: str | None,
        *,
        priority: int,
        delay: float,
        max_attempts: int,
        meta: str | None,
    ) -> QueueItem: ...

    @abc.abstractmethod
    def _put_many(
        self,
        entries: list[NewEntry],
        *,
        priority: int,
        delay: float,
        max_attempts: int,
    ) -> list[QueueItem]: ...

    @abc.abstractmethod
    def _lease(self, n: int, lease_time: float) -> list[QueueItem]: ...

    @abc.abstractmethod
    def _ack(self, item: QueueItem, detail: str | None) -> None: ...

    @abc.abstractmethod
    def _ack_many(self, items: list[QueueItem], details: list[str | None]) -> list[QueueItem]: ...

    def _ack_and_lease(
        self, item: QueueItem, detail: str | None, n: int, lease_time: float
    ) -> list[QueueItem]:
        # Atomic already: both run under the queue's lock. SQLite overrides this to make it
        # one transaction (one commit, one fsync) instead of two.
        self._ack(item, detail)
        return self._lease(n, lease_time)

    def _ack_many_and_lease(
        self, items: list[QueueItem], details: list[str | None], n: int, lease_time: float
    ) -> tuple[list[QueueItem], list[QueueItem]]:
        # Atomic already: both run under the queue's lock. SQLite overrides this to make it
        # one transaction (one commit, one fsync) instead of two.
        refused = self._ack_many(items, details) if items else []
        return refused, self._lease(n, lease_time) if n else []

    @abc.abstractmethod
    def _nack(
        self,
        item: QueueItem,
        *,
        error: str | None,
        delay: float | None,
        dead: bool,
        count: bool,
        detail: str | None,
    ) -> None: ...

    @abc.abstractmethod
    def _extend(self, item: QueueItem, lease_time: float) -> QueueItem: ...

    @abc.abstractmethod
    def _requeue(self, ids: list[int], extra_attempts: int) -> int: ...

    @abc.abstractmethod
    def _recover_expired(self) -> int: ...

    @abc.abstractmethod
    def _retry_now(self, ids: list[int] | None) -> int: ...

    @abc.abstractmethod
    def _hold(self, ids: list[int]) -> int: ...

    @abc.abstractmethod
    def _release(self, ids: list[int]) -> int: ...

    @abc.abstractmethod
    def _get_by_key(self, key: str) -> QueueItem | None: ...

    @abc.abstractmethod
    def _waiting_count(self) -> int: ...

    @abc.abstractmethod
    def _history(self, item_id: int) -> list[HistoryEntry]: ...

    @abc.abstractmethod
    def _purge_done(self, older_than: float) -> int: ...

    @abc.abstractmethod
    def _get(self, item_id: int) -> QueueItem | None: ...

    @abc.abstractmethod
    def _counts(self) -> dict[QueueItemStatus, int]: ...

    @abc.abstractmethod
    def _items(
        self,
        status: QueueItemStatus | None,
        limit: int | None,
        waiting: bool | None,
        payloads: bool,
    ) -> list[QueueItem]: ...

    @abc.abstractmethod
    def _next_ready_at(self) -> float | None: ...

    @abc.abstractmethod
    def _close(self) -> None: ...

    def _check_open(self) -> None:
        if self._closed:
            msg = f"queue {self.name!r} is closed; open a new queue object to use it again"
            raise QueueClosedError(msg)

    # --- public API -----------------------------------------------------------------------

    def put(
        self,
        payload: object,
        *,
        key: str | None = None,
        priority: int = 0,
        delay: float = 0.0,
        max_attempts: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> QueueItem:
        """Store an item; it is leasable after ``delay`` seconds.

        Enqueueing a key that is already in the queue (in any status, until ``purge_done``
        removes its done row) is a no-op that returns the stored item.

        Args:
            payload: a JSON value (dict, list, str, int, float, bool or None).
            key: optional deduplication key.
            priority: higher is leased first.
            delay: seconds before the item may be leased.
            max_attempts: leases before a nack dead-letters it; default the queue's.
            meta: a small JSON object listed with the item (``items(payloads=False)``
                returns it without the payload), e.g. what a GUI shows.

        Returns:
            The stored item (the existing one for a known key).

        Raises:
            ConfigurationError: the payload is not JSON or an argument is invalid.
            QueueFullError: the queue is at capacity; nothing was stored.
            QueueClosedError: the queue was closed.
        """
        key = check_key(key)
        priority = check_priority(priority)
        delay = check_seconds("delay", delay, positive=False)
        attempts = (
            self.max_attempts
            if max_attempts is None
            else check_int("max_attempts", max_attempts, minimum=1)
        )
        text = encode_payload(payload)
        meta_text = encode_object("meta", meta)
        with self._lock:
            self._check_open()
            return self._put(
                text,
                key,
                priority=priority,
                delay=delay,
                max_attempts=attempts,
                meta=meta_text,
            )

    def put_many(
        self,
        payloads: Sequence[object],
        *,
        keys: Sequence[str | None] | None = None,
        metas: Sequence[dict[str, Any] | None] | None = None,
        priority: int = 0,
        delay: float = 0.0,
        max_attempts: int | None = None,
    ) -> list[QueueItem]:
        """Store several items in one atomic step (one commit, one fsync on a durable queue).

        Each item behaves as a :meth:`put` of it: a key already in the queue (or earlier in
        the same batch) stores nothing new and gives the stored item. Either every new item
        is stored or, when they do not all fit in ``capacity``, none is.

        Args:
            payloads: JSON values, one per item.
            keys: deduplication keys, one per payload (``None`` entries for no key).
            metas: small JSON objects listed with the items, one per payload.
            priority: higher is leased first (the same for every item).
            delay: seconds before the items may be leased.
            max_attempts: leases before a nack dead-letters an item; default the queue's.

        Returns:
            The stored items (the existing one for a known key), in the order given.

        Raises:
            ConfigurationError: a payload is not JSON, the lists differ in length, or an
                argument is invalid; nothing was stored.
            QueueFullError: the new items do not fit; nothing was stored.
            QueueClosedError: the queue was closed.
        """
        values = list(payloads)
        key_list = [None] * len(values) if keys is None else list(keys)
        meta_list: list[dict[str, Any] | None] = (
            [None] * len(values) if metas is None else list(metas)
        )
        if not len(key_list) == len(meta_list) == len(values):
            msg = (
                f"put_many needs one key and one meta per payload: got {len(values)} payloads, "
                f"{len(key_list)} keys and {len(meta_list)} metas"
            )
            raise ConfigurationError(msg)
        priority = check_priority(priority)
        delay = check_seconds("delay", delay, positive=False)
        attempts = (
            self.max_attempts
            if max_attempts is None
            else check_int("max_attempts", max_attempts, minimum=1)
        )
        entries = [
            NewEntry(encode_payload(value), check_key(key), encode_object("meta", meta))
            for value, key, meta in zip(values, key_list, meta_list, strict=True)
        ]
        if not entries:
            return []
        with self._lock:
            self._check_open()
            return self._put_many(entries, priority=priority, delay=delay, max_attempts=attempts)

    def lease(self, n: int = 1, *, lease_time: float | None = None) -> list[QueueItem]:
        """Lease up to ``n`` leasable items: highest priority, then longest due, then oldest.

        Expired leases are recovered first (see :meth:`recover_expired`). Each leased item's
        ``attempts`` grows by one.

        Args:
            n: most items to lease.
            lease_time: seconds the lease lasts; default the queue's ``lease_time``.

        Returns:
            The leased items (empty when nothing is leasable); each carries its lease token.
        """
        n = check_int("n", n, minimum=1)
        seconds = (
            self.lease_time
            if lease_time is None
            else check_seconds("lease_time", lease_time, positive=True)
        )
        with self._changing():
            return self._lease(n, seconds)

    def lease_wait(
        self,
        n: int = 1,
        *,
        lease_time: float | None = None,
        poll_interval: float = 0.5,
        timeout: float | None = None,
    ) -> list[QueueItem]:
        """Lease like :meth:`lease`, sleeping on the clock until something is leasable.

        Sleeps until the nearest ``not_before`` or lease expiry, at most ``poll_interval``
        at a time, so a worker need not busy-loop.

        Args:
            n: most items to lease.
            lease_time: seconds the lease lasts; default the queue's.
            poll_interval: longest sleep between two attempts.
            timeout: give up after this many seconds; ``None`` waits for ever.

        Returns:
            The leased items, or an empty list when ``timeout`` passed.
        """
        poll = check_seconds("poll_interval", poll_interval, positive=True)
        limit = None if timeout is None else check_seconds("timeout", timeout, positive=False)
        start = self.clock.monotonic()
        while True:
            items = self.lease(n, lease_time=lease_time)
            if items:
                return items
            wait = next_wait(poll, self.next_ready_at(), self.clock.time())
            if limit is not None:
                left = limit - (self.clock.monotonic() - start)
                if left <= 0:
                    return []
                wait = min(wait, left)
            self.clock.sleep(wait)

    def ack(self, item: QueueItem, *, detail: dict[str, Any] | None = None) -> None:
        """Mark a leased item done.

        Args:
            item: the item as returned by :meth:`lease` or :meth:`extend`.
            detail: a JSON object recorded in the item's :meth:`history` (e.g. a latency).

        Raises:
            LeaseError: you do not hold the item's lease (it was recovered, re-leased,
                acked or nacked already).
        """
        item = check_item(item)
        text = encode_object("detail", detail)
        with self._lock:
            self._check_open()
            self._ack(item, text)

    def ack_many(
        self,
        items: Sequence[QueueItem],
        *,
        details: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[QueueItem]:
        """Mark several leased items done in one atomic step (one commit, one fsync).

        A worker that finishes many items at once pays one durable commit for all of them.
        Unlike :meth:`ack`, an item whose lease is no longer held does not raise: it is left
        as it is and returned, and the others are acked.

        Args:
            items: items as returned by :meth:`lease` or :meth:`extend`.
            details: JSON objects recorded in the items' :meth:`history`, one per item.

        Returns:
            The items that were not acked because their lease changed (empty when all were).

        Raises:
            ConfigurationError: ``details`` differs in length from ``items``.
        """
        checked = [check_item(item) for item in items]
        given = [None] * len(checked) if details is None else list(details)
        if len(given) != len(checked):
            msg = f"ack_many needs one detail per item: got {len(checked)} items and {len(given)}"
            raise ConfigurationError(msg)
        texts = [encode_object("detail", detail) for detail in given]
        if not checked:
            return []
        with self._lock:
            self._check_open()
            return self._ack_many(checked, texts)

    def ack_and_lease(
        self,
        item: QueueItem,
        n: int = 1,
        *,
        lease_time: float | None = None,
        detail: dict[str, Any] | None = None,
    ) -> list[QueueItem]:
        """Mark a leased item done and lease the next ones, in one atomic step.

        A worker that processes items one after another needs one commit (one fsync on a
        durable queue) per item this way instead of two::

            items = queue.lease()
            while items:
                upload(items[0].payload)
                items = queue.ack_and_lease(items[0])

        If the ack is refused nothing is leased.

        Args:
            item: the item as returned by :meth:`lease` or :meth:`extend`.
            n: most items to lease next.
            lease_time: seconds the new leases last; default the queue's ``lease_time``.
            detail: a JSON object recorded in the acked item's :meth:`history`.

        Returns:
            The newly leased items (empty when nothing is leasable).

        Raises:
            LeaseError: you do not hold the item's lease; it was not acked.
        """
        item = check_item(item)
        n = check_int("n", n, minimum=1)
        seconds = (
            self.lease_time
            if lease_time is None
            else check_seconds("lease_time", lease_time, positive=True)
        )
        text = encode_object("detail", detail)
        with self._changing():
            return self._ack_and_lease(item, text, n, seconds)

    def ack_many_and_lease(
        self,
        items: Sequence[QueueItem],
        n: int = 1,
        *,
        lease_time: float | None = None,
        details: Sequence[dict[str, Any] | None] | None = None,
    ) -> tuple[list[QueueItem], list[QueueItem]]:
        """Mark several leased items done and lease up to ``n`` more, in one atomic step.

        A consumer that keeps several items in flight (an uploader's window) records what
        finished and takes what comes next with one commit (one fsync on a durable queue)::

            refused, leased = queue.ack_many_and_lease(finished, n=len(finished))

        The acks behave as in :meth:`ack_many`: an item whose lease is no longer held is
        left as it is and returned, and the others are still acked and the lease still
        taken.

        Args:
            items: items as returned by :meth:`lease` or :meth:`extend` (may be empty).
            n: most items to lease (``0`` only acks).
            lease_time: seconds the new leases last; default the queue's ``lease_time``.
            details: JSON objects recorded in the acked items' :meth:`history`, one per item.

        Returns:
            The items not acked because their lease changed, and the newly leased items.

        Raises:
            ConfigurationError: ``n`` is negative, ``lease_time`` is not positive or
                ``details`` differs in length from ``items``.
        """
        checked = [check_item(item) for item in items]
        n = check_int("n", n, minimum=0)
        seconds = (
            self.lease_time
            if lease_time is None
            else check_seconds("lease_time", lease_time, positive=True)
        )
        given = [None] * len(checked) if details is None else list(details)
        if len(given) != len(checked):
            msg = (
                f"ack_many_and_lease needs one detail per item: got {len(checked)} items "
                f"and {len(given)} details"
            )
            raise ConfigurationError(msg)
        texts = [encode_object("detail", detail) for detail in given]
        if not checked and not n:
            return [], []
        with self._changing():
            return self._ack_many_and_lease(checked, texts, n, seconds)

    def nack(
        self,
        item: QueueItem,
        *,
        error: str | None = None,
        delay: float | None = None,
        dead: bool = False,
        count: bool = True,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Give a leased item back: pending again after a back-off, or dead-lettered.

        The item is dead-lettered when ``dead`` is true or it has used its ``max_attempts``
        (unless ``count`` is false).

        Args:
            item: the item as returned by :meth:`lease` or :meth:`extend`.
            error: why it failed; stored (truncated to 2 KB) as ``last_error``.
            delay: seconds before it is leasable again; default ``backoff(attempts)``.
            dead: dead-letter it now (a failure that retrying will not fix).
            count: ``False`` for a failure that is not the item's fault (e.g. the service
                refused our credentials): its ``attempts`` still grew with the lease, but
                its ``max_attempts`` grows by one too, so this try does not bring it closer
                to the dead letters.
            detail: a JSON object recorded in the item's :meth:`history` (e.g. an HTTP
                status and a latency).

        Raises:
            LeaseError: you do not hold the item's lease.
        """
        item = check_item(item)
        # str() so that nack(item, error=exc) stores the exception's message.
        text = None if error is None else str(error)
        seconds = None if delay is None else check_seconds("delay", delay, positive=False)
        detail_text = encode_object("detail", detail)
        with self._changing():
            self._nack(
                item,
                error=truncate_error(text),
                delay=seconds,
                dead=bool(dead),
                count=bool(count),
                detail=detail_text,
            )

    def extend(self, item: QueueItem, lease_time: float | None = None) -> QueueItem:
        """Renew a held lease to ``lease_time`` seconds from now (a heartbeat).

        Args:
            item: the item as returned by :meth:`lease` or an earlier :meth:`extend`.
            lease_time: seconds from now; default the queue's ``lease_time``.

        Returns:
            The item with its new ``lease_expires_at`` (same token).

        Raises:
            LeaseError: you do not hold the item's lease.
        """
        item = check_item(item)
        seconds = (
            self.lease_time
            if lease_time is None
            else check_seconds("lease_time", lease_time, positive=True)
        )
        with self._lock:
            self._check_open()
            return self._extend(item, seconds)

    def requeue(
        self,
        item_ids: int | QueueItem | Iterable[int | QueueItem],
        *,
        extra_attempts: int | None = None,
    ) -> int:
        """Move dead-lettered items back to pending, leasable now.

        Attempts only grow, so an item keeps its ``attempts`` and its ``max_attempts`` is
        raised to ``attempts + extra_attempts`` (default: the queue's ``max_attempts``),
        which gives it a fresh budget of tries. Ids that are not dead are skipped.

        Args:
            item_ids: one id or item, or an iterable of them.
            extra_attempts: leases the item gets before a nack dead-letters it again;
                default the queue's ``max_attempts``.

        Returns:
            How many items were requeued.
        """
        ids = [i for i in check_ids(item_ids) if abs(i) <= INT_LIMIT]  # see get()
        extra = (
            self.max_attempts
            if extra_attempts is None
            else check_int("extra_attempts", extra_attempts, minimum=1)
        )
        with self._lock:
            self._check_open()
            return self._requeue(ids, extra)

    def recover_expired(self) -> int:
        """Return leased items whose lease expired to pending; returns how many.

        An item whose expired lease was its last attempt (``attempts >= max_attempts``) is
        dead-lettered instead (and counted): its consumer crashed or outran the lease every
        time. ``lease()`` and opening a SQLite queue do this too.
        """
        with self._changing():
            return self._recover_expired()

    def retry_now(self, item_ids: int | QueueItem | Iterable[int | QueueItem] | None = None) -> int:
        """Make pending items that wait on a back-off (or a ``delay``) leasable now.

        Args:
            item_ids: one id or item, or an iterable of them; ``None`` for every such item.

        Returns:
            How many items were waiting and are ready now (others are skipped).
        """
        ids = check_optional_ids(item_ids)
        with self._lock:
            self._check_open()
            return self._retry_now(ids)

    def hold(self, item_ids: int | QueueItem | Iterable[int | QueueItem]) -> int:
        """Pause pending items (ready or backing off): held items are never leased.

        Leased, done and dead items are skipped. Returns how many were held.
        """
        ids = [i for i in check_ids(item_ids) if abs(i) <= INT_LIMIT]
        with self._lock:
            self._check_open()
            return self._hold(ids)

    def release(self, item_ids: int | QueueItem | Iterable[int | QueueItem]) -> int:
        """Make held items pending again, leasable now; returns how many were released."""
        ids = [i for i in check_ids(item_ids) if abs(i) <= INT_LIMIT]
        with self._lock:
            self._check_open()
            return self._release(ids)

    def get_by_key(self, key: str) -> QueueItem | None:
        """Return a snapshot of the item stored under this deduplication key, or ``None``."""
        checked = check_key(key)
        if checked is None:
            msg = "key must be a non-empty str, got None"
            raise ConfigurationError(msg)
        with self._lock:
            self._check_open()
            return self._get_by_key(checked)

    def waiting_count(self) -> int:
        """Pending items not leasable yet: backing off after a nack, or put with a delay.

        ``counts()[PENDING] - waiting_count()`` are ready now (two reads: another
        process may change the queue in between).
        """
        with self._lock:
            self._check_open()
            return self._waiting_count()

    def history(self, item_id: int) -> list[HistoryEntry]:
        """Return every recorded step of an item, oldest first (empty for an unknown id).

        Each ack, nack and lease expiry is recorded (with the ``detail`` given), and so are
        ``requeue``, ``hold`` and ``release``. ``purge_done`` deletes the history of the
        items it deletes.
        """
        given: object = item_id
        if isinstance(given, bool) or not isinstance(given, int):
            msg = f"item_id must be an int, got {item_id!r}"
            raise ConfigurationError(msg)
        with self._lock:
            self._check_open()
            return self._history(item_id) if abs(item_id) <= INT_LIMIT else []

    def purge_done(self, older_than: float = 0.0) -> int:
        """Delete done items acknowledged at least ``older_than`` seconds ago.

        Their keys become free again. The newest item is always kept (so that ids are never
        reused). Returns how many were deleted.
        """
        seconds = check_seconds("older_than", older_than, positive=False)
        with self._lock:
            self._check_open()
            return self._purge_done(seconds)

    def get(self, item_id: int) -> QueueItem | None:
        """Return a snapshot of the item with this id, or ``None``."""
        given: object = item_id
        if isinstance(given, bool) or not isinstance(given, int):
            msg = f"item_id must be an int, got {item_id!r}"
            raise ConfigurationError(msg)
        with self._lock:
            self._check_open()
            # An id SQLite cannot hold is in no queue (and would fail to bind).
            return self._get(item_id) if abs(item_id) <= INT_LIMIT else None

    def counts(self) -> dict[QueueItemStatus, int]:
        """Return how many items are in each status (every status is present)."""
        with self._lock:
            self._check_open()
            return self._counts()

    def items(
        self,
        status: QueueItemStatus | str | None = None,
        *,
        limit: int | None = 100,
        waiting: bool | None = None,
        payloads: bool = True,
    ) -> list[QueueItem]:
        """Return up to ``limit`` items (all when ``None``), oldest id first.

        Args:
            status: only items in this status; ``None`` for all.
            limit: most items to return.
            waiting: ``True``: only pending items whose ``not_before`` is still ahead
                (backing off); ``False``: only items that are not such (e.g. pending and
                ready, with ``status=PENDING``); ``None``: no such filter.
            payloads: ``False`` leaves the payloads unread (``payload_json`` is ``None``),
                for listings of many items.
        """
        wanted = check_status(status)
        most = None if limit is None else check_int("limit", limit, minimum=0)
        with self._lock:
            self._check_open()
            return self._items(wanted, most, waiting, bool(payloads))

    def dead_letters(self, *, limit: int | None = 100) -> list[QueueItem]:
        """Return up to ``limit`` dead-lettered items, oldest id first."""
        return self.items(QueueItemStatus.DEAD, limit=limit)

    def next_ready_at(self) -> float | None:
        """Wall-clock time when something is (or was) next leasable, or ``None``.

        The earliest ``not_before`` of the pending items and ``lease_expires_at`` of the
        leased ones; ``None`` when nothing is pending or leased.
        """
        with self._lock:
            self._check_open()
            return self._next_ready_at()

    def __len__(self) -> int:
        """Items pending, leased or held (and dead, with ``capacity_includes_dead``).

        These are the items that count against ``capacity``.
        """
        counts = self.counts()
        size = (
            counts[QueueItemStatus.PENDING]
            + counts[QueueItemStatus.LEASED]
            + counts[QueueItemStatus.HELD]
        )
        if self.capacity_includes_dead:
            size += counts[QueueItemStatus.DEAD]
        return size

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Release the queue's resources; later calls raise :class:`QueueClosedError`.

        Closing twice is harmless. Stored items are kept (for a SQLite queue).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

"""The durable queue: one SQLite file, safe for several threads and processes.

Why hand-written on stdlib :mod:`sqlite3` (see aesthetics.md §B.4): persist-queue's
``SQLiteAckQueue`` is sync only (its aiosqlite queue has no ack/nack), pickles payloads by
default and has no attempt counter, priority, delay, lease expiry or dead letters;
litequeue needs Python >= 3.12 (the workspace supports 3.11) and stores str payloads only.
The queue the station service needs (never lose a report, survive kills at any moment) is a
few hundred lines on top of SQLite's transactions, so we write those.

How it stays correct:

* WAL journal, ``synchronous=FULL`` by default (``NORMAL`` survives a killed process but may
  lose the last commits on power loss), a busy timeout for waiting on other writers.
* Every state change is one transaction, so writers in other processes are serialised by
  SQLite and nobody decides on data another process is changing: several statements run
  inside ``BEGIN IMMEDIATE``; a change that is a single statement (a keyless put, an ack, the
  usual lease) runs on its own, which is as safe (SQLite takes the write lock when a writing
  statement starts) and saves two round trips. Within a process one connection per queue
  object is guarded by a lock.
* A lease is one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING`` over a partial
  index on ``(status, priority DESC, not_before, id)`` of the pending and leased rows;
  ack/nack/extend match the lease token, so a consumer whose lease was recovered and
  re-leased cannot ack someone else's lease.
* Expired leases go back to pending on open, in every ``lease()`` and in
  ``recover_expired()``: a consumer killed mid-item loses its lease, not the item. A lease
  that expires on the item's last attempt dead-letters it instead, so an item that kills
  its consumer every time cannot stall the queue for ever.
* ``PRAGMA user_version`` records the schema version of the file. Version 2 added the
  ``meta`` column, the ``held`` status and the ``<name>_history`` table of acks, nacks,
  expiries and operator actions; a version 1 table is migrated on open (checked per table,
  as several queues may share one file).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from corekit.clock import Clock, system_clock
from corekit.errors import ConfigurationError, LeaseError, QueueError
from corekit.queue._base import NewEntry, QueueBase, full_error, new_count
from corekit.queue._model import (
    EXPIRED,
    EXPIRED_ON_LAST_ATTEMPT,
    Backoff,
    DeadHook,
    HistoryEntry,
    QueueItem,
    check_lease,
    check_seconds,
    decode_object,
    lease_order,
    log_recovery,
    nack_outcome,
)
from corekit.queue._sqlite_sql import COLUMNS, COLUMNS_NO_PAYLOAD, STATUS, Statements
from corekit.queue._status import QueueItemStatus

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
"""Schema version written to ``PRAGMA user_version``."""

MIN_SQLITE = (3, 35, 0)
"""Oldest SQLite library the queue runs on (``UPDATE ... RETURNING`` came in 3.35)."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_T = TypeVar("_T")

_ACK_CHUNK = 256
"""Most items one ack statement marks done (513 parameters, well under SQLite's limit)."""


def _item(row: Any) -> QueueItem:
    return QueueItem(
        row[0],
        row[1],
        row[2],
        row[3],
        STATUS[row[4]],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        decode_object(row[13]),
    )


def _entry(row: Any) -> HistoryEntry:
    return HistoryEntry(
        row[0], row[1], row[2], STATUS[row[3]], row[4], row[5], decode_object(row[6])
    )


class SQLiteQueue(QueueBase):
    """A durable queue in a SQLite file, shared safely by threads and processes.

    Several ``SQLiteQueue`` objects (in one or many processes) may open the same file; each
    change is one immediate transaction, so no item is leased twice. Several queues may live
    in one file under different ``name`` s. Expired leases are recovered on open.

    Args:
        path: the database file; created if missing (its directory must exist).
        clock: source of wall-clock time (stored timestamps, expiry) and of sleeps.
        max_attempts: default number of leases before a nack dead-letters an item.
        lease_time: default seconds a lease lasts.
        capacity: most items pending, leased or held at once; ``None`` for no limit.
        backoff: seconds before a nacked item is leasable again, from its attempts so far;
            default ``min(2 ** (attempts - 1), 300)``.
        name: the queue's table name (letters, digits, underscore); its history is in
            the table ``<name>_history``.
        synchronous: ``"FULL"`` (every commit reaches the disk) or ``"NORMAL"`` (faster;
            survives a killed process, may lose the last commits on power loss).
        busy_timeout: seconds to wait for another writer before failing with
            :class:`~corekit.errors.QueueError`.
        on_dead: called with each item that goes dead (see :class:`QueueBase`), also for
            those dead-lettered by the recovery on open.
        capacity_includes_dead: count dead items against ``capacity`` too.

    Raises:
        ConfigurationError: an argument is invalid or the file has a newer schema.
        QueueError: the file cannot be opened or is not a database, or the SQLite library
            is older than 3.35.
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
        given: object = name
        if not isinstance(given, str) or not _NAME.fullmatch(given):
            msg = (
                f"name must be 1-63 letters, digits or underscores, not starting with a "
                f"digit (it is the table name), got {name!r}"
            )
            raise ConfigurationError(msg)
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
        if synchronous not in ("FULL", "NORMAL"):
            msg = f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}"
            raise ConfigurationError(msg)
        self.synchronous = synchronous
        timeout = check_seconds("busy_timeout", busy_timeout, positive=False)
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            # Otherwise the first lease fails with a bare "syntax error".
            msg = (
                f"SQLiteQueue needs SQLite >= 3.35 (for UPDATE ... RETURNING); this Python "
                f"uses SQLite {sqlite3.sqlite_version}: use a Python built with a newer SQLite "
                "(uv-managed Pythons and the python.org Windows and macOS installers bundle one)"
            )
            raise QueueError(msg)
        self.path = Path(path)
        if not self.path.parent.is_dir():
            msg = f"path {str(self.path)!r}: directory {str(self.path.parent)!r} does not exist"
            raise ConfigurationError(msg)
        self._sql = Statements(
            f'"{name}"', f'"{name}_history"', name, with_dead=self.capacity_includes_dead
        )
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise
        dead, self._newly_dead = self._newly_dead, []
        self._notify_dead(dead)

    def __repr__(self) -> str:
        return f"SQLiteQueue({str(self.path)!r}, name={self.name!r})"

    def _error(self, exc: sqlite3.Error) -> QueueError:
        return QueueError(f"queue {self.name!r} in {str(self.path)!r}: SQLite failed: {exc}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise self._error(exc) from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:  # the error being raised already says what went wrong
                logger.debug("rollback failed in queue %r", self.name, exc_info=True)

    def _read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        try:
            return fn(self._conn)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def _open(self) -> None:
        conn = self._conn
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        if str(mode).lower() != "wal":
            logger.warning("queue %r: SQLite refused WAL mode, using %s", self.name, mode)
        with self._transaction():
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                msg = (
                    f"path {str(self.path)!r} holds queue schema version {version}, newer than "
                    f"this corekit understands ({SCHEMA_VERSION}); upgrade corekit"
                )
                raise ConfigurationError(msg)
            conn.execute(self._sql.create)
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({self._sql.table})")}
            if "meta" not in columns:  # a version 1 table
                conn.execute(f"ALTER TABLE {self._sql.table} ADD COLUMN meta TEXT")
                logger.info("queue %r: migrated its table to schema version 2", self.name)
            conn.execute(self._sql.create_history)
            for sql in self._sql.indexes:
                conn.execute(sql)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._recover_expired()

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
        if key is None and self.capacity is None:
            # One statement is its own transaction, and SQLite takes the write lock when a
            # writing statement starts: as safe as BEGIN IMMEDIATE, two round trips fewer.
            now = self.clock.time()
            not_before = now + delay
            try:
                cursor = self._conn.execute(
                    self._sql.insert,
                    (payload, None, priority, max_attempts, not_before, now, now, meta),
                )
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
        else:
            with self._transaction() as conn:
                if key is not None:
                    found = conn.execute(self._sql.by_key, (key,)).fetchone()
                    if found is not None:
                        return _item(found)
                if self.capacity is not None:
                    self._check_room(conn, 1)
                now = self.clock.time()
                not_before = now + delay
                cursor = conn.execute(
                    self._sql.insert,
                    (payload, key, priority, max_attempts, not_before, now, now, meta),
                )
        item_id = cursor.lastrowid
        assert item_id is not None
        return QueueItem(
            item_id,
            payload,
            key,
            priority,
            QueueItemStatus.PENDING,
            0,
            max_attempts,
            not_before,
            now,
            now,
            None,
            None,
            None,
            decode_object(meta),
        )

    def _check_room(self, conn: sqlite3.Connection, adding: int) -> None:
        """Raise QueueFullError unless ``adding`` more items fit in ``capacity``."""
        assert self.capacity is not None
        if conn.execute(self._sql.rows_bound).fetchone()[0] + adding <= self.capacity:
            return  # fewer rows than that in the table at all: no need to count
        waiting = conn.execute(self._sql.waiting).fetchone()[0]
        if waiting + adding > self.capacity:
            raise full_error(
                self.name,
                self.capacity,
                waiting,
                with_dead=self.capacity_includes_dead,
                adding=adding,
            )

    def _put_many(
        self,
        entries: list[NewEntry],
        *,
        priority: int,
        delay: float,
        max_attempts: int,
    ) -> list[QueueItem]:
        items: list[QueueItem] = []
        with self._transaction() as conn:

            def known(key: str) -> bool:
                return conn.execute(self._sql.by_key, (key,)).fetchone() is not None

            if self.capacity is not None:
                adding = new_count(entries, known)
                if adding:
                    self._check_room(conn, adding)
            now = self.clock.time()
            not_before = now + delay
            for payload, key, meta in entries:
                if key is not None:
                    found = conn.execute(self._sql.by_key, (key,)).fetchone()
                    if found is not None:
                        items.append(_item(found))
                        continue
                cursor = conn.execute(
                    self._sql.insert,
                    (payload, key, priority, max_attempts, not_before, now, now, meta),
                )
                item_id = cursor.lastrowid
                assert item_id is not None
                items.append(
                    QueueItem(
                        item_id,
                        payload,
                        key,
                        priority,
                        QueueItemStatus.PENDING,
                        0,
                        max_attempts,
                        not_before,
                        now,
                        now,
                        None,
                        None,
                        None,
                        decode_object(meta),
                    )
                )
        return items

    def _lease(self, n: int, lease_time: float) -> list[QueueItem]:
        token = secrets.token_hex(16)
        execute = self._conn.execute
        now = self.clock.time()
        args = (token, now + lease_time, now, now, n)
        try:
            rows = execute(self._sql.lease_fast, (*args, now)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        if rows:
            return self._leased(rows)
        # Nothing leasable, or expired leases to recover first. _transaction() written out:
        # this runs on every poll of an idle queue.
        try:
            execute("BEGIN IMMEDIATE")
            now = self.clock.time()
            expired = self._recover(self._conn, now)
            rows = execute(self._sql.lease, (token, now + lease_time, now, now, n)).fetchall()
            execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise self._error(exc) from exc
        except BaseException:
            self._rollback()
            raise
        log_recovery(self.name, *expired)
        return self._leased(rows)

    def _recover(self, conn: sqlite3.Connection, now: float) -> tuple[int, int]:
        """Dead-letter or return to pending the expired leases, inside a transaction.

        Returns:
            How many were dead-lettered and how many recovered; pass them to
            :func:`log_recovery` once the transaction committed.
        """
        args = (EXPIRED_ON_LAST_ATTEMPT, now, now)
        dead = [_item(row) for row in conn.execute(self._sql.expire_dead, args).fetchall()]
        recovered = conn.execute(self._sql.recover, (now, now)).fetchall()
        records = [
            (item.id, now, "expired", "dead", item.attempts, EXPIRED_ON_LAST_ATTEMPT, None)
            for item in dead
        ]
        records.extend(
            (item_id, now, "expired", "pending", attempts, EXPIRED, None)
            for item_id, attempts in recovered
        )
        if records:
            conn.executemany(self._sql.record, records)
        self._newly_dead.extend(dead)
        return len(dead), len(recovered)

    @staticmethod
    def _leased(rows: list[Any]) -> list[QueueItem]:
        items = [_item(row) for row in rows]
        if len(items) > 1:  # RETURNING gives no order
            items.sort(key=lease_order)
        return items

    def _check(self, conn: sqlite3.Connection, item: QueueItem, action: str) -> tuple[int, int]:
        row = conn.execute(self._sql.lease_state, (item.id,)).fetchone()
        if row is None:
            check_lease(self.name, item, None, None, action)
        check_lease(self.name, item, STATUS[row[0]], row[1], action)
        return row[2], row[3]

    def _ack_in(self, conn: sqlite3.Connection, item: QueueItem, detail: str | None) -> bool:
        """Ack inside a transaction and record it; ``False`` when the lease is not held."""
        now = self.clock.time()
        row = conn.execute(self._sql.ack, (now, item.id, item.lease_token)).fetchone()
        if row is None:
            return False
        conn.execute(self._sql.record, (item.id, now, "ack", "done", row[0], None, detail))
        return True

    def _ack_all_in(
        self, conn: sqlite3.Connection, items: list[QueueItem], details: list[str | None]
    ) -> list[QueueItem]:
        """Ack several items inside a transaction: one statement per ``_ACK_CHUNK`` items.

        Returns:
            The items whose lease is not held (as :meth:`_ack_in` would refuse them, in
            order; an item given twice is acked once, then refused).
        """
        now = self.clock.time()
        done: dict[tuple[int, str | None], int] = {}
        for start in range(0, len(items), _ACK_CHUNK):
            chunk = items[start : start + _ACK_CHUNK]
            size = 1 << (len(chunk) - 1).bit_length()
            args: list[object] = [now]
            for item in chunk:
                args += (item.id, item.lease_token)
            args += (None, None) * (size - len(chunk))
            for item_id, token, attempts in conn.execute(self._sql.ack_batch(size), args):
                done[item_id, token] = attempts
        refused: list[QueueItem] = []
        records = []
        for item, detail in zip(items, details, strict=True):
            attempts = done.pop((item.id, item.lease_token), None)
            if attempts is None:
                refused.append(item)
            else:
                records.append((item.id, now, "ack", "done", attempts, None, detail))
        if records:
            conn.executemany(self._sql.record, records)
        return refused

    def _ack(self, item: QueueItem, detail: str | None) -> None:
        with self._transaction() as conn:
            acked = self._ack_in(conn, item, detail)
            if not acked:
                self._check(conn, item, "ack")  # raises LeaseError
        if not acked:
            msg = f"cannot ack item {item.id} of queue {self.name!r}: its lease changed"
            raise LeaseError(msg)

    def _ack_many(self, items: list[QueueItem], details: list[str | None]) -> list[QueueItem]:
        with self._transaction() as conn:
            return self._ack_all_in(conn, items, details)

    def _ack_and_lease(
        self, item: QueueItem, detail: str | None, n: int, lease_time: float
    ) -> list[QueueItem]:
        token = secrets.token_hex(16)
        refused = False
        expired = (0, 0)
        with self._transaction() as conn:
            now = self.clock.time()
            if not self._ack_in(conn, item, detail):
                refused = True
                self._check(conn, item, "ack")  # raises LeaseError; the transaction rolls back
                rows: list[Any] = []
            else:
                rows = conn.execute(
                    self._sql.lease_fast, (token, now + lease_time, now, now, n, now)
                ).fetchall()
                if not rows:
                    expired = self._recover(conn, now)
                    rows = conn.execute(
                        self._sql.lease, (token, now + lease_time, now, now, n)
                    ).fetchall()
        if refused:
            msg = f"cannot ack item {item.id} of queue {self.name!r}: its lease changed"
            raise LeaseError(msg)
        log_recovery(self.name, *expired)
        return self._leased(rows)

    def _ack_many_and_lease(
        self, items: list[QueueItem], details: list[str | None], n: int, lease_time: float
    ) -> tuple[list[QueueItem], list[QueueItem]]:
        token = secrets.token_hex(16)
        expired = (0, 0)
        rows: list[Any] = []
        with self._transaction() as conn:
            refused = self._ack_all_in(conn, items, details) if items else []
            if n:
                now = self.clock.time()
                rows = conn.execute(
                    self._sql.lease_fast, (token, now + lease_time, now, now, n, now)
                ).fetchall()
                if not rows:
                    expired = self._recover(conn, now)
                    rows = conn.execute(
                        self._sql.lease, (token, now + lease_time, now, now, n)
                    ).fetchall()
        log_recovery(self.name, *expired)
        return refused, self._leased(rows)

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
        with self._transaction() as conn:
            attempts, max_attempts = self._check(conn, item, "nack")
            now = self.clock.time()
            status, not_before = nack_outcome(
                attempts=attempts,
                max_attempts=max_attempts,
                dead=dead,
                count=count,
                delay=delay,
                backoff=self._backoff,
                now=now,
            )
            row = conn.execute(
                self._sql.nack,
                (status.value, not_before, error, now, 0 if count else 1, item.id),
            ).fetchone()
            conn.execute(
                self._sql.record, (item.id, now, "nack", status.value, attempts, error, detail)
            )
        if status is QueueItemStatus.DEAD:
            self._newly_dead.append(_item(row))
            logger.warning(
                "queue %r dead-lettered item %d after %d attempts", self.name, item.id, attempts
            )

    def _extend(self, item: QueueItem, lease_time: float) -> QueueItem:
        with self._transaction() as conn:
            now = self.clock.time()
            row = conn.execute(
                self._sql.extend, (now + lease_time, now, item.id, item.lease_token)
            ).fetchone()
            if row is None:
                self._check(conn, item, "extend")
        assert row is not None  # _check raised otherwise
        return _item(row)

    def _requeue(self, ids: list[int], extra_attempts: int) -> int:
        return self._each(ids, "requeue", "pending", self._sql.requeue, extra_attempts)

    def _each(self, ids: list[int], action: str, status: str, sql: str, *lead: object) -> int:
        """Run ``sql`` (``... WHERE id = ? ... RETURNING attempts``) per id and record it."""
        count = 0
        with self._transaction() as conn:
            now = self.clock.time()
            for item_id in ids:
                row = conn.execute(sql, (*lead, now, now, item_id)).fetchone()
                if row is not None:
                    conn.execute(
                        self._sql.record, (item_id, now, action, status, row[0], None, None)
                    )
                    count += 1
        return count

    def _retry_now(self, ids: list[int] | None) -> int:
        with self._transaction() as conn:
            now = self.clock.time()
            if ids is None:
                count: int = conn.execute(self._sql.retry_all, (now, now, now)).rowcount
            else:
                count = sum(
                    conn.execute(self._sql.retry_one, (now, now, now, i)).rowcount for i in ids
                )
        return count

    def _hold(self, ids: list[int]) -> int:
        with self._transaction() as conn:
            now = self.clock.time()
            count = 0
            for item_id in ids:
                row = conn.execute(self._sql.hold, (now, item_id)).fetchone()
                if row is not None:
                    conn.execute(
                        self._sql.record, (item_id, now, "hold", "held", row[0], None, None)
                    )
                    count += 1
        return count

    def _release(self, ids: list[int]) -> int:
        return self._each(ids, "release", "pending", self._sql.release)

    def _get_by_key(self, key: str) -> QueueItem | None:
        row = self._read(lambda c: c.execute(self._sql.by_key, (key,)).fetchone())
        return None if row is None else _item(row)

    def _waiting_count(self) -> int:
        now = self.clock.time()
        count: int = self._read(lambda c: c.execute(self._sql.waiting_count, (now,)).fetchone()[0])
        return count

    def _history(self, item_id: int) -> list[HistoryEntry]:
        rows = self._read(lambda c: c.execute(self._sql.history, (item_id,)).fetchall())
        return [_entry(row) for row in rows]

    def _recover_expired(self) -> int:
        with self._transaction() as conn:
            dead, recovered = self._recover(conn, self.clock.time())
        log_recovery(self.name, dead, recovered)
        return dead + recovered

    def _purge_done(self, older_than: float) -> int:
        with self._transaction() as conn:
            cutoff = self.clock.time() - older_than
            conn.execute(self._sql.purge_history, (cutoff,))
            count: int = conn.execute(self._sql.purge, (cutoff,)).rowcount
        return count

    def _get(self, item_id: int) -> QueueItem | None:
        row = self._read(lambda c: c.execute(self._sql.get, (item_id,)).fetchone())
        return None if row is None else _item(row)

    def _counts(self) -> dict[QueueItemStatus, int]:
        rows = self._read(lambda c: c.execute(self._sql.counts).fetchall())
        counts = dict.fromkeys(QueueItemStatus, 0)
        counts.update((STATUS[status], count) for status, count in rows)
        return counts

    def _items(
        self,
        status: QueueItemStatus | None,
        limit: int | None,
        waiting: bool | None,
        payloads: bool,
    ) -> list[QueueItem]:
        conditions: list[str] = []
        args: list[object] = []
        if status is not None:
            conditions.append("status = ?")
            args.append(status.value)
        if waiting is not None:
            backing_off = "(status = 'pending' AND not_before > ?)"
            conditions.append(backing_off if waiting else f"NOT {backing_off}")
            args.append(self.clock.time())
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        columns = COLUMNS if payloads else COLUMNS_NO_PAYLOAD
        sql = f"SELECT {columns} FROM {self._sql.table} {where}ORDER BY id LIMIT ?"  # noqa: S608
        args.append(-1 if limit is None else limit)
        rows = self._read(lambda c: c.execute(sql, args).fetchall())
        return [_item(row) for row in rows]

    def _next_ready_at(self) -> float | None:
        value: float | None = self._read(lambda c: c.execute(self._sql.next).fetchone()[0])
        return value

    def _close(self) -> None:
        try:
            self._conn.close()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def integrity_check(self) -> list[str]:
        """Run ``PRAGMA integrity_check``; returns ``["ok"]`` for a sound file."""
        with self._lock:
            self._check_open()
            rows = self._read(lambda c: c.execute("PRAGMA integrity_check").fetchall())
        return [str(row[0]) for row in rows]

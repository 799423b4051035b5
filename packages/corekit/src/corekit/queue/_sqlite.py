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
* ``PRAGMA user_version`` records the schema version of the file.
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
from corekit.queue._base import QueueBase, full_error
from corekit.queue._model import (
    EXPIRED_ON_LAST_ATTEMPT,
    Backoff,
    QueueItem,
    check_lease,
    check_seconds,
    lease_order,
    log_recovery,
    nack_outcome,
)
from corekit.queue._status import QueueItemStatus

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""Schema version written to ``PRAGMA user_version``."""

MIN_SQLITE = (3, 35, 0)
"""Oldest SQLite library the queue runs on (``UPDATE ... RETURNING`` came in 3.35)."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_COLUMNS = (
    "id, payload, key, priority, status, attempts, max_attempts, not_before, created_at, "
    "updated_at, lease_expires_at, lease_token, last_error"
)
_STATUS = {s.value: s for s in QueueItemStatus}
# Repeated in the queries on pending/leased rows: SQLite uses a partial index only when the
# query's WHERE contains the index's condition word for word.
_ACTIVE = "status IN ('pending', 'leased')"
_T = TypeVar("_T")


def _item(row: Any) -> QueueItem:
    return QueueItem(
        row[0],
        row[1],
        row[2],
        row[3],
        _STATUS[row[4]],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
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
        capacity: most items pending or leased at once; ``None`` for no limit.
        backoff: seconds before a nacked item is leasable again, from its attempts so far;
            default ``min(2 ** (attempts - 1), 300)``.
        name: the queue's table name (letters, digits, underscore).
        synchronous: ``"FULL"`` (every commit reaches the disk) or ``"NORMAL"`` (faster;
            survives a killed process, may lose the last commits on power loss).
        busy_timeout: seconds to wait for another writer before failing with
            :class:`~corekit.errors.QueueError`.

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
        self._prepare_sql(f'"{name}"')
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

    def __repr__(self) -> str:
        return f"SQLiteQueue({str(self.path)!r}, name={self.name!r})"

    def _error(self, exc: sqlite3.Error) -> QueueError:
        return QueueError(f"queue {self.name!r} in {str(self.path)!r}: SQLite failed: {exc}")

    def _prepare_sql(self, t: str) -> None:
        # Built once per queue; sqlite3 caches the prepared statements by their text.
        self._sql_by_key = f"SELECT {_COLUMNS} FROM {t} WHERE key = ?"  # noqa: S608
        self._sql_waiting = f"SELECT count(*) FROM {t} WHERE {_ACTIVE}"  # noqa: S608
        self._sql_insert = (
            f"INSERT INTO {t} (payload, key, priority, status, attempts, max_attempts, "  # noqa: S608
            "not_before, created_at, updated_at) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, ?)"
        )
        expired = f"WHERE {_ACTIVE} AND status = 'leased' AND lease_expires_at <= ?"
        # Dead-letters the expired leases that were the item's last attempt: otherwise an item
        # whose processing kills the consumer would be leased again after every restart.
        self._sql_expire_dead = (
            f"UPDATE {t} SET status = 'dead', last_error = ?, lease_token = NULL, "  # noqa: S608
            f"lease_expires_at = NULL, updated_at = ? {expired} AND attempts >= max_attempts"
        )
        self._sql_recover = (
            f"UPDATE {t} SET status = 'pending', lease_token = NULL, lease_expires_at = NULL, "  # noqa: S608
            f"updated_at = ? {expired}"
        )
        lease = (
            f"UPDATE {t} SET status = 'leased', attempts = attempts + 1, lease_token = ?, "  # noqa: S608
            f"lease_expires_at = ?, updated_at = ? WHERE id IN (SELECT id FROM {t} "
            f"WHERE {_ACTIVE} AND status = 'pending' AND not_before <= ? "
            "ORDER BY priority DESC, not_before, id LIMIT ?)"
        )
        self._sql_lease = f"{lease} RETURNING {_COLUMNS}"
        # The same lease, refused while any lease has expired (those must be recovered first,
        # in a transaction): the common case is one statement.
        self._sql_lease_fast = (
            f"{lease} AND NOT EXISTS (SELECT 1 FROM {t} WHERE {_ACTIVE} "  # noqa: S608
            f"AND status = 'leased' AND lease_expires_at <= ?) RETURNING {_COLUMNS}"
        )
        self._sql_ack = (
            f"UPDATE {t} SET status = 'done', lease_expires_at = NULL, updated_at = ? "  # noqa: S608
            "WHERE id = ? AND status = 'leased' AND lease_token = ?"
        )
        self._sql_lease_state = (
            f"SELECT status, lease_token, attempts, max_attempts FROM {t} WHERE id = ?"  # noqa: S608
        )
        self._sql_nack = (
            f"UPDATE {t} SET status = ?, not_before = coalesce(?, not_before), "  # noqa: S608
            "last_error = coalesce(?, last_error), lease_token = NULL, lease_expires_at = NULL, "
            "updated_at = ? WHERE id = ?"
        )
        self._sql_extend = (
            f"UPDATE {t} SET lease_expires_at = ?, updated_at = ? "  # noqa: S608
            f"WHERE id = ? AND status = 'leased' AND lease_token = ? RETURNING {_COLUMNS}"
        )
        self._sql_requeue = (
            f"UPDATE {t} SET status = 'pending', max_attempts = attempts + ?, not_before = ?, "  # noqa: S608
            "lease_token = NULL, lease_expires_at = NULL, updated_at = ? "
            "WHERE id = ? AND status = 'dead'"
        )
        # The newest row is never purged: SQLite gives a new row max(id) + 1, so ids are never
        # reused, without AUTOINCREMENT's extra page write on every put.
        self._sql_purge = (
            f"DELETE FROM {t} WHERE status = 'done' AND updated_at <= ? "  # noqa: S608
            f"AND id < (SELECT max(id) FROM {t})"
        )
        self._sql_get = f"SELECT {_COLUMNS} FROM {t} WHERE id = ?"  # noqa: S608
        self._sql_counts = f"SELECT status, count(*) FROM {t} GROUP BY status"  # noqa: S608
        self._sql_items = f"SELECT {_COLUMNS} FROM {t} ORDER BY id LIMIT ?"  # noqa: S608
        self._sql_items_status = f"SELECT {_COLUMNS} FROM {t} WHERE status = ? ORDER BY id LIMIT ?"  # noqa: S608
        self._sql_next = (
            "SELECT min(CASE status WHEN 'pending' THEN not_before ELSE lease_expires_at END) "  # noqa: S608
            f"FROM {t} WHERE {_ACTIVE}"
        )
        self._sql_create = (
            f"CREATE TABLE IF NOT EXISTS {t} ("
            "id INTEGER PRIMARY KEY, payload TEXT NOT NULL, key TEXT, "
            "priority INTEGER NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL, "
            "max_attempts INTEGER NOT NULL, not_before REAL NOT NULL, created_at REAL NOT NULL, "
            "updated_at REAL NOT NULL, lease_expires_at REAL, lease_token TEXT, last_error TEXT)"
        )
        # Partial indexes: done and dead rows (the bulk of an old queue) and keyless rows
        # stay out of them, so they stay small and an ack or a keyless put writes fewer pages.
        self._sql_indexes = (
            f'CREATE INDEX IF NOT EXISTS "{self.name}_lease" '
            f"ON {t} (status, priority DESC, not_before, id) WHERE {_ACTIVE}",
            f'CREATE UNIQUE INDEX IF NOT EXISTS "{self.name}_key" ON {t} (key) '
            "WHERE key IS NOT NULL",
        )

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
            conn.execute(self._sql_create)
            for sql in self._sql_indexes:
                conn.execute(sql)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._recover_expired()

    # --- primitives -----------------------------------------------------------------------

    def _put(
        self, payload: str, key: str | None, priority: int, delay: float, max_attempts: int
    ) -> QueueItem:
        if key is None and self.capacity is None:
            # One statement is its own transaction, and SQLite takes the write lock when a
            # writing statement starts: as safe as BEGIN IMMEDIATE, two round trips fewer.
            now = self.clock.time()
            not_before = now + delay
            try:
                cursor = self._conn.execute(
                    self._sql_insert, (payload, None, priority, max_attempts, not_before, now, now)
                )
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
        else:
            with self._transaction() as conn:
                if key is not None:
                    found = conn.execute(self._sql_by_key, (key,)).fetchone()
                    if found is not None:
                        return _item(found)
                if self.capacity is not None:
                    waiting = conn.execute(self._sql_waiting).fetchone()[0]
                    if waiting >= self.capacity:
                        raise full_error(self.name, self.capacity, waiting)
                now = self.clock.time()
                not_before = now + delay
                cursor = conn.execute(
                    self._sql_insert, (payload, key, priority, max_attempts, not_before, now, now)
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
        )

    def _lease(self, n: int, lease_time: float) -> list[QueueItem]:
        token = secrets.token_hex(16)
        execute = self._conn.execute
        now = self.clock.time()
        args = (token, now + lease_time, now, now, n)
        try:
            rows = execute(self._sql_lease_fast, (*args, now)).fetchall()
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
            rows = execute(self._sql_lease, (token, now + lease_time, now, now, n)).fetchall()
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
        dead: int = conn.execute(self._sql_expire_dead, args).rowcount
        recovered: int = conn.execute(self._sql_recover, (now, now)).rowcount
        return dead, recovered

    @staticmethod
    def _leased(rows: list[Any]) -> list[QueueItem]:
        items = [_item(row) for row in rows]
        if len(items) > 1:  # RETURNING gives no order
            items.sort(key=lease_order)
        return items

    def _check(self, conn: sqlite3.Connection, item: QueueItem, action: str) -> tuple[int, int]:
        row = conn.execute(self._sql_lease_state, (item.id,)).fetchone()
        if row is None:
            check_lease(self.name, item, None, None, action)
        check_lease(self.name, item, _STATUS[row[0]], row[1], action)
        return row[2], row[3]

    def _ack(self, item: QueueItem) -> None:
        # A single statement (see _put); only a refused ack needs a second look.
        try:
            cursor = self._conn.execute(
                self._sql_ack, (self.clock.time(), item.id, item.lease_token)
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        if cursor.rowcount != 1:
            self._read(lambda conn: self._check(conn, item, "ack"))  # raises LeaseError
            msg = f"cannot ack item {item.id} of queue {self.name!r}: its lease changed"
            raise LeaseError(msg)

    def _ack_and_lease(self, item: QueueItem, n: int, lease_time: float) -> list[QueueItem]:
        token = secrets.token_hex(16)
        refused = False
        expired = (0, 0)
        with self._transaction() as conn:
            now = self.clock.time()
            if conn.execute(self._sql_ack, (now, item.id, item.lease_token)).rowcount != 1:
                refused = True
                self._check(conn, item, "ack")  # raises LeaseError; the transaction rolls back
                rows: list[Any] = []
            else:
                rows = conn.execute(
                    self._sql_lease_fast, (token, now + lease_time, now, now, n, now)
                ).fetchall()
                if not rows:
                    expired = self._recover(conn, now)
                    rows = conn.execute(
                        self._sql_lease, (token, now + lease_time, now, now, n)
                    ).fetchall()
        if refused:
            msg = f"cannot ack item {item.id} of queue {self.name!r}: its lease changed"
            raise LeaseError(msg)
        log_recovery(self.name, *expired)
        return self._leased(rows)

    def _nack(self, item: QueueItem, error: str | None, delay: float | None, dead: bool) -> None:
        with self._transaction() as conn:
            attempts, max_attempts = self._check(conn, item, "nack")
            now = self.clock.time()
            status, not_before = nack_outcome(
                attempts=attempts,
                max_attempts=max_attempts,
                dead=dead,
                delay=delay,
                backoff=self._backoff,
                now=now,
            )
            conn.execute(self._sql_nack, (status.value, not_before, error, now, item.id))
        if status is QueueItemStatus.DEAD:
            logger.warning(
                "queue %r dead-lettered item %d after %d attempts", self.name, item.id, attempts
            )

    def _extend(self, item: QueueItem, lease_time: float) -> QueueItem:
        with self._transaction() as conn:
            now = self.clock.time()
            row = conn.execute(
                self._sql_extend, (now + lease_time, now, item.id, item.lease_token)
            ).fetchone()
            if row is None:
                self._check(conn, item, "extend")
        assert row is not None  # _check raised otherwise
        return _item(row)

    def _requeue(self, ids: list[int], extra_attempts: int) -> int:
        with self._transaction() as conn:
            now = self.clock.time()
            cursor = conn.executemany(
                self._sql_requeue, [(extra_attempts, now, now, i) for i in ids]
            )
            return cursor.rowcount if ids else 0

    def _recover_expired(self) -> int:
        with self._transaction() as conn:
            dead, recovered = self._recover(conn, self.clock.time())
        log_recovery(self.name, dead, recovered)
        return dead + recovered

    def _purge_done(self, older_than: float) -> int:
        with self._transaction() as conn:
            count: int = conn.execute(self._sql_purge, (self.clock.time() - older_than,)).rowcount
        return count

    def _get(self, item_id: int) -> QueueItem | None:
        row = self._read(lambda c: c.execute(self._sql_get, (item_id,)).fetchone())
        return None if row is None else _item(row)

    def _counts(self) -> dict[QueueItemStatus, int]:
        rows = self._read(lambda c: c.execute(self._sql_counts).fetchall())
        counts = dict.fromkeys(QueueItemStatus, 0)
        counts.update((_STATUS[status], count) for status, count in rows)
        return counts

    def _items(self, status: QueueItemStatus | None, limit: int | None) -> list[QueueItem]:
        most = -1 if limit is None else limit
        if status is None:
            rows = self._read(lambda c: c.execute(self._sql_items, (most,)).fetchall())
        else:
            rows = self._read(
                lambda c: c.execute(self._sql_items_status, (status.value, most)).fetchall()
            )
        return [_item(row) for row in rows]

    def _next_ready_at(self) -> float | None:
        value: float | None = self._read(lambda c: c.execute(self._sql_next).fetchone()[0])
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

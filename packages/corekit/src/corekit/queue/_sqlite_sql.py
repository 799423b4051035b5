"""The SQL statements of one :class:`~corekit.queue.SQLiteQueue`, built once per queue.

sqlite3 caches prepared statements by their text, so building each text once per queue (the
table name is part of it) lets every call reuse its prepared statement.
"""

from __future__ import annotations

from corekit.queue._status import QueueItemStatus

COLUMNS = (
    "id, payload, key, priority, status, attempts, max_attempts, not_before, created_at, "
    "updated_at, lease_expires_at, lease_token, last_error, meta"
)
COLUMNS_NO_PAYLOAD = COLUMNS.replace("payload", "NULL", 1)
HISTORY_COLUMNS = "item_id, at, action, status, attempts, error, detail"
STATUS = {s.value: s for s in QueueItemStatus}
# Repeated in the queries on pending/leased rows: SQLite uses a partial index only when the
# query's WHERE contains the index's condition word for word.
ACTIVE = "status IN ('pending', 'leased')"
PARKED = "status IN ('held', 'dead')"


class Statements:
    """The statements of the queue table ``t`` and its history table ``h`` (quoted names).

    Args:
        t: the quoted queue table name.
        h: the quoted history table name.
        name: the queue's name (index names derive from it).
        with_dead: dead items count against the capacity.
    """

    def __init__(self, t: str, h: str, name: str, *, with_dead: bool) -> None:
        self.table = t
        self.by_key = f"SELECT {COLUMNS} FROM {t} WHERE key = ?"  # noqa: S608
        parked = "('held', 'dead')" if with_dead else "('held')"
        self.waiting = (
            f"SELECT (SELECT count(*) FROM {t} WHERE {ACTIVE}) + "  # noqa: S608
            f"(SELECT count(*) FROM {t} WHERE {PARKED} AND status IN {parked})"
        )
        # An upper bound on the rows (ids only grow), read from the primary key's ends: when
        # it leaves room, the exact count above (linear in the queue's size) is skipped.
        # (Two sub-queries: SQLite answers a lone max(id) or min(id) from the b-tree's end.)
        self.rows_bound = (
            f"SELECT coalesce((SELECT max(id) FROM {t}) - (SELECT min(id) FROM {t}) + 1, 0)"  # noqa: S608
        )
        self.insert = (
            f"INSERT INTO {t} (payload, key, priority, status, attempts, max_attempts, "  # noqa: S608
            "not_before, created_at, updated_at, meta) "
            "VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?)"
        )
        self.record = f"INSERT INTO {h} ({HISTORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
        self.history = f"SELECT {HISTORY_COLUMNS} FROM {h} WHERE item_id = ? ORDER BY rowid"  # noqa: S608
        self.purge_history = (
            f"DELETE FROM {h} WHERE item_id IN (SELECT id FROM {t} WHERE status = 'done' "  # noqa: S608
            f"AND updated_at <= ? AND id < (SELECT max(id) FROM {t}))"
        )
        self.retry_all = (
            f"UPDATE {t} SET not_before = ?, updated_at = ? "  # noqa: S608
            f"WHERE {ACTIVE} AND status = 'pending' AND not_before > ?"
        )
        self.retry_one = f"{self.retry_all} AND id = ?"
        self.hold = (
            f"UPDATE {t} SET status = 'held', updated_at = ? "  # noqa: S608
            "WHERE id = ? AND status = 'pending' RETURNING attempts"
        )
        self.release = (
            f"UPDATE {t} SET status = 'pending', not_before = ?, updated_at = ? "  # noqa: S608
            "WHERE id = ? AND status = 'held' RETURNING attempts"
        )
        self.waiting_count = (
            f"SELECT count(*) FROM {t} WHERE {ACTIVE} AND status = 'pending' "  # noqa: S608
            "AND not_before > ?"
        )
        expired = f"WHERE {ACTIVE} AND status = 'leased' AND lease_expires_at <= ?"
        # Dead-letters the expired leases that were the item's last attempt: otherwise an item
        # whose processing kills the consumer would be leased again after every restart.
        self.expire_dead = (
            f"UPDATE {t} SET status = 'dead', last_error = ?, lease_token = NULL, "  # noqa: S608
            f"lease_expires_at = NULL, updated_at = ? {expired} AND attempts >= max_attempts "
            f"RETURNING {COLUMNS}"
        )
        self.recover = (
            f"UPDATE {t} SET status = 'pending', lease_token = NULL, lease_expires_at = NULL, "  # noqa: S608
            f"updated_at = ? {expired} RETURNING id, attempts"
        )
        lease = (
            f"UPDATE {t} SET status = 'leased', attempts = attempts + 1, lease_token = ?, "  # noqa: S608
            f"lease_expires_at = ?, updated_at = ? WHERE id IN (SELECT id FROM {t} "
            f"WHERE {ACTIVE} AND status = 'pending' AND not_before <= ? "
            "ORDER BY priority DESC, not_before, id LIMIT ?)"
        )
        self.lease = f"{lease} RETURNING {COLUMNS}"
        # The same lease, refused while any lease has expired (those must be recovered first,
        # in a transaction): the common case is one statement.
        self.lease_fast = (
            f"{lease} AND NOT EXISTS (SELECT 1 FROM {t} WHERE {ACTIVE} "  # noqa: S608
            f"AND status = 'leased' AND lease_expires_at <= ?) RETURNING {COLUMNS}"
        )
        self._ack_batches: dict[int, str] = {}
        self.ack = (
            f"UPDATE {t} SET status = 'done', lease_expires_at = NULL, updated_at = ? "  # noqa: S608
            "WHERE id = ? AND status = 'leased' AND lease_token = ? RETURNING attempts"
        )
        self._ack_batch = (
            f"UPDATE {t} SET status = 'done', lease_expires_at = NULL, updated_at = ? "  # noqa: S608
            f"FROM (VALUES {{pairs}}) AS v WHERE {t}.id = v.column1 "
            f"AND {t}.lease_token = v.column2 "
            f"AND {t}.status = 'leased' RETURNING {t}.id, {t}.lease_token, {t}.attempts"
        )
        self.lease_state = (
            f"SELECT status, lease_token, attempts, max_attempts FROM {t} WHERE id = ?"  # noqa: S608
        )
        self.nack = (
            f"UPDATE {t} SET status = ?, not_before = coalesce(?, not_before), "  # noqa: S608
            "last_error = coalesce(?, last_error), lease_token = NULL, lease_expires_at = NULL, "
            f"updated_at = ?, max_attempts = max_attempts + ? WHERE id = ? RETURNING {COLUMNS}"
        )
        self.extend = (
            f"UPDATE {t} SET lease_expires_at = ?, updated_at = ? "  # noqa: S608
            f"WHERE id = ? AND status = 'leased' AND lease_token = ? RETURNING {COLUMNS}"
        )
        self.requeue = (
            f"UPDATE {t} SET status = 'pending', max_attempts = attempts + ?, not_before = ?, "  # noqa: S608
            "lease_token = NULL, lease_expires_at = NULL, updated_at = ? "
            "WHERE id = ? AND status = 'dead' RETURNING attempts"
        )
        # The newest row is never purged: SQLite gives a new row max(id) + 1, so ids are never
        # reused, without AUTOINCREMENT's extra page write on every put.
        self.purge = (
            f"DELETE FROM {t} WHERE status = 'done' AND updated_at <= ? "  # noqa: S608
            f"AND id < (SELECT max(id) FROM {t})"
        )
        self.get = f"SELECT {COLUMNS} FROM {t} WHERE id = ?"  # noqa: S608
        self.counts = f"SELECT status, count(*) FROM {t} GROUP BY status"  # noqa: S608
        self.next = (
            "SELECT min(CASE status WHEN 'pending' THEN not_before ELSE lease_expires_at END) "  # noqa: S608
            f"FROM {t} WHERE {ACTIVE}"
        )
        self.create = (
            f"CREATE TABLE IF NOT EXISTS {t} ("
            "id INTEGER PRIMARY KEY, payload TEXT NOT NULL, key TEXT, "
            "priority INTEGER NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL, "
            "max_attempts INTEGER NOT NULL, not_before REAL NOT NULL, created_at REAL NOT NULL, "
            "updated_at REAL NOT NULL, lease_expires_at REAL, lease_token TEXT, last_error TEXT, "
            "meta TEXT)"
        )
        self.create_history = (
            f"CREATE TABLE IF NOT EXISTS {h} (item_id INTEGER NOT NULL, at REAL NOT NULL, "
            "action TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL, "
            "error TEXT, detail TEXT)"
        )
        # Partial indexes: done and dead rows (the bulk of an old queue) and keyless rows
        # stay out of them, so they stay small and an ack or a keyless put writes fewer pages.
        self.indexes = (
            f'CREATE INDEX IF NOT EXISTS "{name}_lease" '
            f"ON {t} (status, priority DESC, not_before, id) WHERE {ACTIVE}",
            f'CREATE UNIQUE INDEX IF NOT EXISTS "{name}_key" ON {t} (key) WHERE key IS NOT NULL',
            f'CREATE INDEX IF NOT EXISTS "{name}_parked" ON {t} (status) WHERE {PARKED}',
            f'CREATE INDEX IF NOT EXISTS "{name}_history_item" ON {h} (item_id)',
        )

    def ack_batch(self, size: int) -> str:
        """The statement acking up to ``size`` leases at once (a power of two, for reuse).

        Parameters: the time, then ``size`` (id, lease token) pairs; unused pairs are
        ``(NULL, NULL)``, which match no row. It returns the id, lease token and attempts of
        each row it marked done (a pair given twice matches its row once).
        """
        text = self._ack_batches.get(size)
        if text is None:
            text = self._ack_batch.replace("{pairs}", ", ".join(["(?, ?)"] * size))
            self._ack_batches[size] = text
        return text

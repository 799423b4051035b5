"""PostgreSQL's request hot path on raw asyncpg: the caller's credential check and the append.

Every append request runs two database steps: checking the caller's token against the database
and appending to the chain. Through SQLAlchemy's async session one statement costs about 1 ms of
CPU (greenlet switches, statement caching, the pool's reset on return) against about 0.05 ms on
the asyncpg connection underneath, which made the ORM the bottleneck of the whole service. So on
PostgreSQL these two steps run fixed SQL on an asyncpg pool of their own; everything else (and
SQLite throughout) goes through SQLAlchemy. The SQL mirrors :func:`timeline._chain.lock_head`,
:func:`timeline._chain.append` and :func:`timeline._tenancy.principal_for_user` statement for
statement, the chain links come from the same :func:`timeline._chain.link`, and the tests run
the same assertions against both paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from timeline._auth import Principal, TokenClaims
from timeline._chain import HeadMovedError, NewEvent, check_chain_owner, link, retry_write
from timeline._tenancy import check_user_row
from timeline.errors import NotFoundError

if TYPE_CHECKING:
    import asyncpg

    from timeline._models import Event

_PRINCIPAL_SQL = """
SELECT u.is_active, u.token_version, t.status, r.permissions::text
FROM app_user u
JOIN tenant t ON t.id = u.tenant_id
LEFT JOIN user_role ur ON ur.user_id = u.id
LEFT JOIN role r ON r.id = ur.role_id
WHERE u.id = $1 AND u.tenant_id = $2
"""

_HEAD_SQL = """
SELECT h.last_seq, h.last_hash, s.subject_type
FROM chain_head h JOIN subject s ON s.id = h.subject_id
WHERE h.subject_id = $1 AND h.tenant_id = $2
"""
# After a lost race: the same read, holding the head row until the append commits.
_LOCKED_HEAD_SQL = _HEAD_SQL + "FOR UPDATE OF h\n"

# One statement, so one implicit transaction and one commit: move the head from the
# (seq, hash) read above to the new last link, and insert the links only if that
# compare-and-set matched. A writer that lost the race inserts nothing and reads again.
# The column list is APPEND_COLUMNS (a test holds it equal to the model's).
_APPEND_SQL = """
WITH head AS (
    UPDATE chain_head SET last_seq = $12, last_hash = $13, updated_at = $14
    WHERE subject_id = $15 AND tenant_id = $16 AND last_seq = $17
    RETURNING 1
)
INSERT INTO event (id, tenant_id, subject_id, seq, event_type, schema_version, event_time,
                   payload, prev_hash, hash, recorded_at)
SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::bigint[],
                     $5::varchar[], $6::integer[], $7::timestamptz[], $8::text[],
                     $9::varchar[], $10::varchar[], $11::timestamptz[])
WHERE EXISTS (SELECT 1 FROM head)
"""
# The same, when some of the events need a workflow outbox row (their tenant has rules for
# their types): a second data-modifying CTE inserts those rows ($18), guarded by the same
# compare-and-set, so a lost race inserts neither events nor outbox rows.
_APPEND_OUTBOX_SQL = """
WITH head AS (
    UPDATE chain_head SET last_seq = $12, last_hash = $13, updated_at = $14
    WHERE subject_id = $15 AND tenant_id = $16 AND last_seq = $17
    RETURNING 1
), outbox AS (
    INSERT INTO workflow_outbox (event_id, tenant_id, created_at)
    SELECT o.event_id, $16, $14 FROM unnest($18::varchar[]) AS o(event_id)
    WHERE EXISTS (SELECT 1 FROM head)
)
INSERT INTO event (id, tenant_id, subject_id, seq, event_type, schema_version, event_time,
                   payload, prev_hash, hash, recorded_at)
SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::bigint[],
                     $5::varchar[], $6::integer[], $7::timestamptz[], $8::text[],
                     $9::varchar[], $10::varchar[], $11::timestamptz[])
WHERE EXISTS (SELECT 1 FROM head)
"""
APPEND_COLUMNS = (
    "id",
    "tenant_id",
    "subject_id",
    "seq",
    "event_type",
    "schema_version",
    "event_time",
    "payload",
    "prev_hash",
    "hash",
    "recorded_at",
)


async def principal_for_user(pool: asyncpg.Pool, claims: TokenClaims) -> Principal:
    """The principal of a token's user (see :func:`timeline._tenancy.principal_for_user`).

    Raises:
        UnauthorizedError: the user is gone, inactive, the token predates a change, or the
            tenant is not active.
    """
    rows = await pool.fetch(_PRINCIPAL_SQL, claims.user_id, claims.tenant_id)
    first = rows[0] if rows else None
    check_user_row(first, claims)
    permissions = frozenset(p for row in rows if row[3] is not None for p in json.loads(row[3]))
    return Principal(claims.tenant_id, "user", claims.user_id, permissions)


async def _extend(
    pool: asyncpg.Pool,
    tenant_id: str,
    subject_id: str,
    items: Sequence[NewEvent],
    *,
    lock: bool,
    outbox: Sequence[bool] = (),
) -> list[Event]:
    """One attempt: read the head (locked if ``lock``), then the compare-and-set append.

    ``outbox[i]`` true writes a ``workflow_outbox`` row for ``items[i]`` in the same statement
    (missing entries count as false).

    Raises:
        HeadMovedError: another writer moved the head in between (never when ``lock``).
    """
    async with pool.acquire() as conn, conn.transaction() if lock else _no_transaction():
        row = await conn.fetchrow(_LOCKED_HEAD_SQL if lock else _HEAD_SQL, subject_id, tenant_id)
        if row is None:
            msg = f"subject {subject_id} does not exist in this tenant"
            raise NotFoundError(msg)
        check_chain_owner(row[2], audit_chain=False)
        seq = int(row[0])
        events = link(tenant_id, subject_id, seq, row[1], items)
        columns = [[getattr(e, c) for e in events] for c in APPEND_COLUMNS]
        last = events[-1]
        head = (last.seq, last.hash, last.recorded_at, subject_id, tenant_id, seq)
        outbox_ids = [e.id for e, wanted in zip(events, outbox, strict=False) if wanted]
        if outbox_ids:
            status = await conn.execute(_APPEND_OUTBOX_SQL, *columns, *head, outbox_ids)
        else:
            status = await conn.execute(_APPEND_SQL, *columns, *head)
    if status != f"INSERT 0 {len(events)}":
        raise HeadMovedError
    return events


@contextlib.asynccontextmanager
async def _no_transaction() -> AsyncIterator[None]:
    yield


class Appender:
    """Appends on PostgreSQL: a compare-and-set on the head, coalesced per subject.

    Requests for the same subject that arrive while one is being written wait and are then
    written together, in arrival order, as one extension of the chain (one statement, one
    commit), and each gets its own events back. A write first tries the compare-and-set
    without a lock; if another process moved the head meanwhile, it runs again holding the
    head row (``FOR UPDATE``), so a busy subject shared by several workers cannot starve one
    of them into a 409. Across processes the compare-and-set
    serialises writers: the loser's statement inserts nothing and it reads the head again.
    No request is answered before the commit of its events.

    Args:
        pool: the hot path's asyncpg pool.
        retries: how often a lost race is retried before :class:`ChainConflictError` (409).
    """

    def __init__(self, pool: asyncpg.Pool, *, retries: int) -> None:
        self._pool = pool
        self._retries = retries
        self._waiting: dict[tuple[str, str], list[_Request]] = {}
        self._writers: set[asyncio.Task[None]] = set()

    async def append(
        self, tenant_id: str, subject_id: str, items: Sequence[NewEvent], *, outbox: bool = False
    ) -> list[Event]:
        """Append ``items`` in order to the subject's chain; returns them once committed.

        Args:
            tenant_id: the tenant.
            subject_id: the subject whose chain grows.
            items: the events, in order.
            outbox: also write a ``workflow_outbox`` row for each of them, in the same
                statement (see :func:`timeline._chain.append`). In a coalesced batch only
                the requests that asked for it get outbox rows.

        Returns:
            The committed events.

        Raises:
            NotFoundError: no such subject in the tenant.
            ValidationFailedError: the subject is the tenant's audit chain.
            ChainConflictError: the head kept moving through every retry.
        """
        key = (tenant_id, subject_id)
        loop = asyncio.get_running_loop()
        request = _Request(list(items), loop.create_future(), outbox)
        # A cancelled request leaves its answer unread; that is expected, not worth a warning.
        request.done.add_done_callback(_read_answer)
        queue = self._waiting.get(key)
        if queue is None:
            self._waiting[key] = [request]
            # The writer outlives a cancelled request: its events may already be committed.
            writer = loop.create_task(self._drain(key))
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        else:
            queue.append(request)
        return await asyncio.shield(request.done)

    async def _drain(self, key: tuple[str, str]) -> None:
        while batch := self._waiting[key]:
            self._waiting[key] = []
            await self._write(key, batch)
        del self._waiting[key]

    async def _write(self, key: tuple[str, str], batch: list[_Request]) -> None:
        items = [item for request in batch for item in request.items]
        outbox = [request.outbox for request in batch for _ in request.items]

        async def attempt() -> list[Event]:
            try:
                return await _extend(self._pool, *key, items, lock=False, outbox=outbox)
            except HeadMovedError:  # lost to another process: again at once, holding the head
                return await _extend(self._pool, *key, items, lock=True, outbox=outbox)

        try:
            events = await retry_write(attempt, retries=self._retries)
        except Exception as exc:  # every request of the batch gets the same answer
            for request in batch:
                request.done.set_exception(exc)
            return
        start = 0
        for request in batch:
            request.done.set_result(events[start : start + len(request.items)])
            start += len(request.items)


def _read_answer(done: asyncio.Future[list[Event]]) -> None:
    if not done.cancelled():
        done.exception()


@dataclass(slots=True)
class _Request:
    items: list[NewEvent]
    done: asyncio.Future[list[Event]]
    outbox: bool = False

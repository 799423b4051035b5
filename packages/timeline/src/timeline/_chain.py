"""Appending to hash chains: per-subject serialisation, retries, and the audit trail.

Every append (an event, a batch, an audit record) runs inside a write transaction that first
locks the subject's head row: ``SELECT ... FOR UPDATE`` on PostgreSQL, and on SQLite the
``BEGIN IMMEDIATE`` every write transaction starts with (see :mod:`timeline._db`). Both hold
across processes. The unique indexes on (subject, seq), (subject, prev_hash) and the single
genesis are the backstop: if they ever fire, the whole unit of work is rolled back and re-run,
and after ``retries`` attempts the caller gets :class:`~timeline.errors.ChainConflictError`
(409). A success is only ever reported after the commit.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import anyio
import asyncpg
from sqlalchemy import Table, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from timeline._canonical import canonical_json, event_hash
from timeline._db import Database
from timeline._models import ChainHead, Event, Subject, new_id, utcnow
from timeline.errors import (
    ChainConflictError,
    ConflictError,
    NotFoundError,
    ValidationFailedError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

AUDIT_REF = "_audit"
AUDIT_TYPE = "_audit"

_EVENT_TABLE = cast(Table, Event.__table__)
_HEAD_TABLE = cast(Table, ChainHead.__table__)
EVENT_COLUMNS = tuple(c.key for c in _EVENT_TABLE.columns)

# PostgreSQL: deadlock, serialization failure; both mean "run it again".
_RETRY_SQLSTATES = {"40P01", "40001"}


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One event to append; ``payload_json`` is canonical JSON text."""

    event_type: str
    schema_version: int
    event_time: datetime
    payload_json: str


class HeadMovedError(Exception):
    """A compare-and-set append found the head moved by another writer; it runs again."""


def _sqlstate(exc: BaseException) -> str | None:
    # asyncpg's own errors carry the SQLSTATE; SQLAlchemy wraps them (``exc.orig``).
    orig = getattr(exc, "orig", exc)
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def _failure(exc: BaseException) -> str | None:
    """Why a write failed: a chain ``collision``, a ``transient`` refusal, a ``conflict``."""
    if isinstance(exc, HeadMovedError):
        return "collision"
    if not isinstance(exc, DBAPIError | asyncpg.PostgresError):
        return None
    text = str(getattr(exc, "orig", exc))
    if isinstance(exc, IntegrityError) or _sqlstate(exc) == "23505":
        constraint = getattr(exc, "constraint_name", None) or text
        return (
            "collision"
            if "ux_event_subject" in constraint or "event.subject_id" in text
            else ("conflict")
        )
    if _sqlstate(exc) in _RETRY_SQLSTATES or "database is locked" in text:
        return "transient"
    return None


async def retry_write(attempt: Callable[[], Awaitable[T]], *, retries: int) -> T:
    """Run ``attempt`` (one whole transaction) again while it loses a race; at most ``retries``.

    Raises:
        ChainConflictError: collisions persisted through ``retries`` attempts.
        ConflictError: another unique constraint refused the write.
    """
    for n in range(retries + 1):
        try:
            return await attempt()
        except Exception as exc:
            failure = _failure(exc)
            if failure is None:
                raise
            if failure == "conflict":
                msg = "the change clashes with existing data (a duplicate code, name or reference)"
                raise ConflictError(msg) from exc
            logger.warning("write %s (attempt %d of %d)", failure, n + 1, retries + 1)
            last = exc
        # Jittered backoff so colliding writers do not collide again in lockstep.
        await anyio.sleep(random.uniform(0, 0.02 * 2**n))
    msg = "concurrent writes to the same chain kept colliding; nothing was written, retry"
    raise ChainConflictError(msg) from last


async def run_write(
    db: Database, work: Callable[[AsyncSession], Awaitable[T]], *, retries: int
) -> T:
    """Run ``work`` in a write transaction and commit; re-run it on a chain collision.

    Raises:
        ChainConflictError: collisions persisted through ``retries`` attempts.
        ConflictError: another unique constraint refused the write.
    """

    async def attempt() -> T:
        async with db.write() as session:
            return await work(session)

    return await retry_write(attempt, retries=retries)


async def lock_head(
    session: AsyncSession, tenant_id: str, subject_id: str
) -> tuple[int, str | None, str]:
    """The subject's head (last seq, last hash), locked for the transaction, and its type.

    Raises:
        NotFoundError: no such subject in the tenant.
    """
    # Plain columns, not ORM objects: an append is a handful of statements, and the ORM's
    # identity map and unit of work would cost more CPU than all of them together.
    stmt = (
        select(ChainHead.last_seq, ChainHead.last_hash, Subject.subject_type)
        .join(Subject, Subject.id == ChainHead.subject_id)
        .where(ChainHead.subject_id == subject_id, ChainHead.tenant_id == tenant_id)
        .with_for_update(of=ChainHead)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        msg = f"subject {subject_id} does not exist in this tenant"
        raise NotFoundError(msg)
    return int(row[0]), row[1], str(row[2])


def link(
    tenant_id: str, subject_id: str, seq: int, prev: str | None, items: Sequence[NewEvent]
) -> list[Event]:
    """The events that extend a chain whose head is (``seq``, ``prev``) by ``items``, hashed.

    The objects stay transient: callers insert their columns (see :data:`EVENT_COLUMNS`).
    """
    now = utcnow()
    events: list[Event] = []
    for item in items:
        seq += 1
        event_id = new_id()
        digest = event_hash(
            tenant_id=tenant_id,
            subject_id=subject_id,
            seq=seq,
            event_id=event_id,
            event_type=item.event_type,
            schema_version=item.schema_version,
            event_time=item.event_time,
            payload_json=item.payload_json,
            prev_hash=prev,
        )
        events.append(
            Event(
                id=event_id,
                tenant_id=tenant_id,
                subject_id=subject_id,
                seq=seq,
                event_type=item.event_type,
                schema_version=item.schema_version,
                event_time=item.event_time,
                payload=item.payload_json,
                prev_hash=prev,
                hash=digest,
                recorded_at=now,
            )
        )
        prev = digest
    return events


def check_chain_owner(subject_type: str, *, audit_chain: bool) -> None:
    """Refuse an append to the audit chain unless the service writes it (and vice versa).

    Raises:
        ValidationFailedError: the subject is the audit chain and ``audit_chain`` is false.
    """
    if (subject_type == AUDIT_TYPE) != audit_chain:
        msg = "the audit chain is written by the service only"
        raise ValidationFailedError(msg)


async def append(
    session: AsyncSession,
    tenant_id: str,
    subject_id: str,
    items: Sequence[NewEvent],
    *,
    audit_chain: bool = False,
    outbox: bool = False,
) -> list[Event]:
    """Append ``items`` in order to the subject's chain (within the caller's transaction).

    Args:
        session: a session in a write transaction (the caller commits).
        tenant_id: the tenant.
        subject_id: the subject whose chain grows.
        items: the events, in order.
        audit_chain: the subject is the tenant's audit chain (the service's own writes).
        outbox: also record each event in ``workflow_outbox`` (same transaction), so its
            workflow rules are evaluated even if the process dies before it does so itself;
            decide with :meth:`timeline._context.Context.wants_reactions`.

    Returns:
        The appended events (transient objects).

    Raises:
        NotFoundError: no such subject in the tenant.
        ValidationFailedError: the subject is the audit chain and ``audit_chain`` is false.
    """
    seq, prev, subject_type = await lock_head(session, tenant_id, subject_id)
    check_chain_owner(subject_type, audit_chain=audit_chain)
    events = link(tenant_id, subject_id, seq, prev, items)
    # Core statements (see lock_head); the Event objects stay transient, as the answer.
    await session.execute(
        _EVENT_TABLE.insert(),
        [{c: getattr(e, c) for c in EVENT_COLUMNS} for e in events],
    )
    await session.execute(
        _HEAD_TABLE.update()
        .where(_HEAD_TABLE.c.subject_id == subject_id)
        .values(
            last_seq=events[-1].seq, last_hash=events[-1].hash, updated_at=events[-1].recorded_at
        )
    )
    if outbox:
        await session.execute(
            _outbox_table().insert(),
            [
                {"event_id": e.id, "tenant_id": tenant_id, "created_at": e.recorded_at}
                for e in events
            ],
        )
    return events


def _outbox_table() -> Table:
    # The workflows feature owns the table (imported here, at use, to keep the core below it).
    from timeline.workflows._models import WorkflowOutbox

    return cast(Table, WorkflowOutbox.__table__)


async def create_subject(
    session: AsyncSession,
    tenant_id: str,
    subject_type: str,
    external_ref: str | None,
    display_name: str | None = None,
) -> Subject:
    """A new subject with an empty chain (its head row at seq 0)."""
    subject = Subject(
        id=new_id(),
        tenant_id=tenant_id,
        subject_type=subject_type,
        external_ref=external_ref,
        display_name=display_name,
        created_at=utcnow(),
    )
    session.add(subject)
    await session.flush()
    session.add(
        ChainHead(subject_id=subject.id, tenant_id=tenant_id, last_seq=0, updated_at=utcnow())
    )
    await session.flush()
    return subject


async def audit(
    session: AsyncSession,
    tenant_id: str,
    actor: str,
    action: str,
    resource_id: str,
    *,
    changes: dict[str, Any] | None = None,
) -> Event:
    """Record ``action`` (``<resource>.<verb>``) on the tenant's audit chain, same transaction."""
    stmt = select(Subject.id).where(
        Subject.tenant_id == tenant_id, Subject.external_ref == AUDIT_REF
    )
    audit_subject = (await session.execute(stmt)).scalar_one()
    payload = {"actor": actor, "resource_id": resource_id, "changes": changes or {}}
    item = NewEvent(f"audit.{action}", 1, utcnow(), canonical_json(payload))
    (event,) = await append(session, tenant_id, audit_subject, [item], audit_chain=True)
    return event

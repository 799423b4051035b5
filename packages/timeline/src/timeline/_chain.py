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
_EVENT_COLUMNS = tuple(c.key for c in _EVENT_TABLE.columns)

# PostgreSQL: deadlock, serialization failure; both mean "run it again".
_RETRY_SQLSTATES = {"40P01", "40001"}


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One event to append; ``payload_json`` is canonical JSON text."""

    event_type: str
    schema_version: int
    event_time: datetime
    payload_json: str


def _chain_collision(exc: IntegrityError) -> bool:
    text = str(exc.orig)
    return "ux_event_subject" in text or "event.subject_id" in text


def _transient(exc: DBAPIError) -> bool:
    if getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


async def run_write(
    db: Database, work: Callable[[AsyncSession], Awaitable[T]], *, retries: int
) -> T:
    """Run ``work`` in a write transaction and commit; re-run it on a chain collision.

    Raises:
        ChainConflictError: collisions persisted through ``retries`` attempts.
        ConflictError: another unique constraint refused the write.
    """
    for attempt in range(retries + 1):
        try:
            async with db.write() as session:
                return await work(session)
        except IntegrityError as exc:
            if not _chain_collision(exc):
                msg = "the change clashes with existing data (a duplicate code, name or reference)"
                raise ConflictError(msg) from exc
            logger.warning("append collided (attempt %d of %d)", attempt + 1, retries + 1)
            last: DBAPIError = exc
        except DBAPIError as exc:
            if not _transient(exc):
                raise
            logger.warning("write was refused as busy (attempt %d of %d)", attempt + 1, retries + 1)
            last = exc
        # Jittered backoff so colliding writers do not collide again in lockstep.
        await anyio.sleep(random.uniform(0, 0.02 * 2**attempt))
    msg = "concurrent writes to the same chain kept colliding; nothing was written, retry"
    raise ChainConflictError(msg) from last


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


async def append(
    session: AsyncSession,
    tenant_id: str,
    subject_id: str,
    items: Sequence[NewEvent],
    *,
    audit_chain: bool = False,
) -> list[Event]:
    """Append ``items`` in order to the subject's chain (within the caller's transaction).

    Raises:
        NotFoundError: no such subject in the tenant.
        ValidationFailedError: the subject is the audit chain and ``audit_chain`` is false.
    """
    seq, prev, subject_type = await lock_head(session, tenant_id, subject_id)
    if (subject_type == AUDIT_TYPE) != audit_chain:
        msg = "the audit chain is written by the service only"
        raise ValidationFailedError(msg)
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
    # Core statements (see lock_head); the Event objects stay transient, as the answer.
    await session.execute(
        _EVENT_TABLE.insert(),
        [{c: getattr(e, c) for c in _EVENT_COLUMNS} for e in events],
    )
    await session.execute(
        _HEAD_TABLE.update()
        .where(_HEAD_TABLE.c.subject_id == subject_id)
        .values(last_seq=seq, last_hash=prev, updated_at=now)
    )
    return events


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

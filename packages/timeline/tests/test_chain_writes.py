"""The write unit of work: chain collisions are retried, then answered 409; nothing half-done."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from timeline._canonical import canonical_json
from timeline._chain import NewEvent, append, create_subject, run_write
from timeline._db import Database
from timeline._models import Event, Tenant, new_id, utcnow
from timeline.errors import ChainConflictError, ConflictError, NotFoundError

pytestmark = pytest.mark.anyio


async def _tenant(db: Database) -> tuple[str, str]:
    async def work(session: AsyncSession) -> tuple[str, str]:
        tenant = Tenant(id=new_id(), code=f"c-{new_id()[:12]}", name="x", status="active")
        session.add(tenant)
        await session.flush()
        subject = await create_subject(session, tenant.id, "case", None)
        return tenant.id, subject.id

    return await run_write(db, work, retries=0)


def _item() -> NewEvent:
    return NewEvent("x", 1, datetime.now(UTC), canonical_json({}))


async def test_a_persistent_chain_collision_is_retried_then_refused(database_url: str) -> None:
    db = Database(database_url)
    try:
        tenant_id, subject_id = await _tenant(db)
        await run_write(db, lambda s: append(s, tenant_id, subject_id, [_item()]), retries=0)
        attempts = 0

        async def colliding(session: AsyncSession) -> None:
            nonlocal attempts
            attempts += 1
            await append(session, tenant_id, subject_id, [_item()])
            # A second writer that ignored the head lock would insert the same seq again.
            session.add(
                Event(
                    id=new_id(),
                    tenant_id=tenant_id,
                    subject_id=subject_id,
                    seq=2,
                    event_type="x",
                    schema_version=1,
                    event_time=utcnow(),
                    payload="{}",
                    prev_hash="f" * 64,
                    hash="e" * 64,
                    recorded_at=utcnow(),
                )
            )
            await session.flush()

        with pytest.raises(ChainConflictError, match="retry"):
            await run_write(db, colliding, retries=2)
        assert attempts == 3
        async with db.read() as session:
            count = select(func.count()).select_from(Event).where(Event.subject_id == subject_id)
            assert (await session.execute(count)).scalar_one() == 1  # nothing half-written
    finally:
        await db.dispose()


async def test_other_unique_violations_are_conflicts(database_url: str) -> None:
    db = Database(database_url)
    try:
        code = f"dup-{new_id()[:10]}"

        async def insert(session: AsyncSession) -> None:
            session.add(Tenant(id=new_id(), code=code, name="x", status="active"))
            await session.flush()

        await run_write(db, insert, retries=3)
        with pytest.raises(ConflictError, match="clashes"):
            await run_write(db, insert, retries=3)
    finally:
        await db.dispose()


async def test_appending_to_an_unknown_subject_is_not_found(database_url: str) -> None:
    db = Database(database_url)
    try:
        tenant_id, _ = await _tenant(db)
        with pytest.raises(NotFoundError):
            await run_write(db, lambda s: append(s, tenant_id, "0" * 32, [_item()]), retries=0)
    finally:
        await db.dispose()

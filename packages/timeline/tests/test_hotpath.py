"""PostgreSQL's hot path: compare-and-set appends coalesced per subject, on raw asyncpg."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from timeline import _hotpath
from timeline._auth import TokenIssuer
from timeline._canonical import canonical_json
from timeline._chain import (
    EVENT_COLUMNS,
    HeadMovedError,
    NewEvent,
    create_subject,
    retry_write,
    run_write,
)
from timeline._db import Database
from timeline._models import Event, Tenant, new_id
from timeline._verify import Verifier
from timeline.errors import (
    ChainConflictError,
    NotFoundError,
    UnauthorizedError,
    ValidationFailedError,
)

pytestmark = pytest.mark.anyio


async def _subject(db: Database, subject_type: str = "case") -> tuple[str, str]:
    async def work(session: AsyncSession) -> tuple[str, str]:
        tenant = Tenant(id=new_id(), code=f"h-{new_id()[:12]}", name="x", status="active")
        session.add(tenant)
        await session.flush()
        subject = await create_subject(session, tenant.id, subject_type, None)
        return tenant.id, subject.id

    return await run_write(db, work, retries=0)


def _item(n: int) -> NewEvent:
    return NewEvent("x", 1, datetime.now(UTC), canonical_json({"n": n}))


async def _chain(db: Database, subject_id: str) -> list[tuple[int, str | None, str, str]]:
    async with db.read() as session:
        stmt = (
            select(Event.seq, Event.prev_hash, Event.hash, Event.payload)
            .where(Event.subject_id == subject_id)
            .order_by(Event.seq)
        )
        return [tuple(row) for row in (await session.execute(stmt)).all()]  # type: ignore[misc]


def test_the_insert_lists_the_models_columns() -> None:
    assert _hotpath.APPEND_COLUMNS == EVENT_COLUMNS


async def test_sqlite_has_no_hot_pool(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    try:
        assert await db.hot_pool() is None
    finally:
        await db.dispose()


async def test_concurrent_requests_to_one_subject_are_coalesced_into_one_chain(
    pg: Database,
) -> None:
    tenant_id, subject_id = await _subject(pg)
    pool = await pg.hot_pool()
    assert pool is not None
    appender = _hotpath.Appender(pool, retries=5)
    results = await asyncio.gather(
        *(appender.append(tenant_id, subject_id, [_item(i), _item(i + 1000)]) for i in range(40))
    )
    chain = await _chain(pg, subject_id)
    assert [row[0] for row in chain] == list(range(1, 81))
    assert all(chain[i][1] == chain[i - 1][2] for i in range(1, 80))  # linear: each links back
    # Each request got exactly its own two events, in its order, and they are the stored ones.
    stored = {row[2]: row for row in chain}
    for i, events in enumerate(results):
        assert [e.payload for e in events] == [
            canonical_json({"n": i}),
            canonical_json({"n": i + 1000}),
        ]
        assert events[1].seq == events[0].seq + 1
        assert all(stored[e.hash][0] == e.seq for e in events)
    async with pg.read() as session:
        verifier = Verifier(session, tenant_id)
        await verifier.subject(subject_id)
        assert verifier.result().status == "valid"


async def test_two_appenders_racing_like_two_processes_never_fork(pg: Database) -> None:
    tenant_id, subject_id = await _subject(pg)
    other = Database(pg.url, pool_size=8)  # a second process's pool and appender
    try:
        pools = [await pg.hot_pool(), await other.hot_pool()]
        appenders = [_hotpath.Appender(p, retries=50) for p in pools if p is not None]
        await asyncio.gather(
            *(appenders[i % 2].append(tenant_id, subject_id, [_item(i)]) for i in range(60))
        )
    finally:
        await other.dispose()
    chain = await _chain(pg, subject_id)
    assert [row[0] for row in chain] == list(range(1, 61))
    assert chain[0][1] is None
    assert all(chain[i][1] == chain[i - 1][2] for i in range(1, 60))


async def test_a_head_that_keeps_moving_ends_in_a_conflict() -> None:
    attempts = 0

    async def moved() -> None:
        nonlocal attempts
        attempts += 1
        raise HeadMovedError

    with pytest.raises(ChainConflictError, match="retry"):
        await retry_write(moved, retries=2)
    assert attempts == 3


async def test_unknown_subjects_and_the_audit_chain_are_refused(pg: Database) -> None:
    _, subject_id = await _subject(pg)
    audit_tenant, audit_subject = await _subject(pg, subject_type="_audit")
    pool = await pg.hot_pool()
    assert pool is not None
    appender = _hotpath.Appender(pool, retries=1)
    with pytest.raises(NotFoundError):
        await appender.append(new_id(), subject_id, [_item(1)])  # right subject, other tenant
    with pytest.raises(ValidationFailedError, match="audit chain"):
        await appender.append(audit_tenant, audit_subject, [_item(1)])
    assert await _chain(pg, subject_id) == []


async def test_a_cancelled_request_still_gets_its_write_committed(pg: Database) -> None:
    tenant_id, subject_id = await _subject(pg)
    pool = await pg.hot_pool()
    assert pool is not None
    appender = _hotpath.Appender(pool, retries=1)
    task = asyncio.ensure_future(appender.append(tenant_id, subject_id, [_item(7)]))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The write was already under way: it finishes (or never started) as a whole.
    for _ in range(200):
        if not appender._waiting:
            break
        await asyncio.sleep(0.01)
    chain = await _chain(pg, subject_id)
    assert len(chain) in (0, 1)
    assert not appender._waiting


def test_a_token_is_remembered_only_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    issuer = TokenIssuer("s" * 40, access_ttl=60, refresh_ttl=120)
    token = issuer.issue("u", "t", 1, "access")
    decoded = 0
    real_decode = jwt.decode

    def counting_decode(*args: Any, **kwargs: Any) -> Any:
        nonlocal decoded
        decoded += 1
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    assert issuer.check(token, "access").user_id == "u"
    assert issuer.check(token, "access").user_id == "u"
    assert decoded == 1  # the second check came from memory
    with pytest.raises(UnauthorizedError, match="refresh"):
        issuer.check(token, "refresh")  # the kind is part of what is remembered
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    issuer.check(token, "access")  # past its exp: checked in full again, not from memory
    assert decoded == 3
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(UnauthorizedError, match="not valid"):
        issuer.check(forged, "access")

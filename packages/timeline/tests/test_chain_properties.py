"""Property: any single change to a stored chain is found, at the seq where it was made."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession
from timeline_support import migrate, tamper

from timeline._canonical import canonical_json
from timeline._chain import NewEvent, append, create_subject, run_write
from timeline._db import Database
from timeline._models import Tenant, new_id
from timeline._verify import Verifier

payloads = st.dictionaries(
    st.text(max_size=4),
    st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
    max_size=3,
)
CHANGES = ["payload", "event_type", "schema_version", "event_time", "delete", "swap_payload"]


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}"
    migrate(url)
    return url


async def _build(url: str, items: list[dict[str, Any]]) -> tuple[str, str]:
    db = Database(url)
    try:

        async def work(session: AsyncSession) -> tuple[str, str]:
            tenant = Tenant(id=new_id(), code=f"p-{new_id()[:12]}", name="p", status="active")
            session.add(tenant)
            await session.flush()
            subject = await create_subject(session, tenant.id, "case", None)
            start = datetime(2024, 1, 1, tzinfo=UTC)
            events = [
                NewEvent("x", 1, start + timedelta(seconds=i), canonical_json(p))
                for i, p in enumerate(items)
            ]
            await append(session, tenant.id, subject.id, events)
            return tenant.id, subject.id

        return await run_write(db, work, retries=0)
    finally:
        await db.dispose()


async def _verify(url: str, tenant_id: str, subject_id: str) -> list[tuple[str, int | None]]:
    db = Database(url)
    try:
        async with db.read() as session:
            verifier = Verifier(session, tenant_id, page_size=3)
            await verifier.subject(subject_id)
            result = verifier.result()
            assert result.complete
            return [(f.code, f.seq) for f in result.findings]
    finally:
        await db.dispose()


@given(
    items=st.lists(payloads, min_size=2, max_size=8),
    change=st.sampled_from(CHANGES),
    where=st.integers(min_value=0),
)
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_a_single_change_is_found_where_it_was_made(
    sqlite_url: str, items: list[dict[str, Any]], change: str, where: int
) -> None:
    tenant_id, subject_id = asyncio.run(_build(sqlite_url, items))
    assert asyncio.run(_verify(sqlite_url, tenant_id, subject_id)) == []
    seq = where % len(items) + 1
    params: dict[str, Any] = {"s": subject_id, "q": seq, "p": '{"tampered":true}'}
    statements = {
        "payload": "UPDATE event SET payload = :p WHERE subject_id = :s AND seq = :q",
        "event_type": "UPDATE event SET event_type = 'other' WHERE subject_id = :s AND seq = :q",
        "schema_version": "UPDATE event SET schema_version = 2 WHERE subject_id = :s AND seq = :q",
        "event_time": "UPDATE event SET event_time = '1999-01-01 00:00:00.000000' "
        "WHERE subject_id = :s AND seq = :q",
        "delete": "DELETE FROM event WHERE subject_id = :s AND seq = :q",
        "swap_payload": "UPDATE event SET payload = (SELECT payload FROM event e2 WHERE "
        "e2.subject_id = :s AND e2.seq = :other) WHERE subject_id = :s AND seq = :q",
    }
    if change == "swap_payload":
        params["other"] = seq % len(items) + 1
        if items[params["other"] - 1] == items[seq - 1]:
            return  # identical payloads: swapping changes nothing
    tamper(sqlite_url, (statements[change], params))
    findings = asyncio.run(_verify(sqlite_url, tenant_id, subject_id))
    assert findings, (change, seq)
    first = findings[0]
    if change == "delete" and seq == len(items):
        assert first == ("TRUNCATED", seq)
    elif change == "delete" and seq == 1:
        assert first == ("GENESIS_ERROR", 2)
    elif change == "delete":
        assert first == ("GAP", seq)
    else:
        assert first == ("HASH_MISMATCH", seq)


@pytest.mark.parametrize(("page_size", "max_events"), [(3, None), (3, 7), (4, 8), (50, 5)])
def test_paged_verification_on_both_databases(
    database_url: str, page_size: int, max_events: int | None
) -> None:
    """Pages read ahead on PostgreSQL; stopping mid-chain leaves the session usable."""
    items = [{"i": i, "x": i * 0.1} for i in range(10)]
    tenant_id, subject_id = asyncio.run(_build(database_url, items))

    async def run() -> tuple[str, int, list[str]]:
        db = Database(database_url)
        try:
            async with db.read() as session:
                verifier = Verifier(session, tenant_id, page_size=page_size, max_events=max_events)
                await verifier.subject(subject_id)
                again = Verifier(session, tenant_id, page_size=page_size)
                await again.tenant()  # the same connection still answers, in full
                assert (again.result().status, again.events_checked) == ("valid", 10)
                result = verifier.result()
                return result.status, result.events_checked, [f.code for f in result.findings]
        finally:
            await db.dispose()

    status, checked, findings = asyncio.run(run())
    assert findings == []
    assert (status, checked) == (("valid", 10) if max_events is None else ("partial", max_events))

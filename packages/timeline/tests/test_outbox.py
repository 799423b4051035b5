"""The workflow outbox: rules still run for events whose process died before evaluating them."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from test_workflows import BIG_ORDER, FLAG_SCHEMA, ORDER_SCHEMA, events_of, executions
from test_workflows_webhooks import Receiver
from timeline_support import (
    Service,
    Tenant,
    make_settings,
    new_tenant,
    rows,
    wait_for,
)

from corekit.queue import SQLiteQueue
from corekit.testing import serve
from timeline import _hotpath, create_app
from timeline._canonical import canonical_json
from timeline._chain import NewEvent, append, create_subject, link, run_write
from timeline._context import Context
from timeline._db import Database
from timeline._models import Event, new_id, utcnow
from timeline._models import Tenant as TenantRow
from timeline.settings import Settings
from timeline.workflows._engine import Engine
from timeline.workflows._models import WorkflowOutbox
from timeline.workflows._outbox import OutboxSweeper


def outbox_rows(url: str, event_id: str) -> list[dict[str, Any]]:
    return rows(url, "SELECT * FROM workflow_outbox WHERE event_id = :e", e=event_id)


def outbox_settings(url: str, keys: Path) -> Settings:
    # No grace, and no periodic sweep: only the sweep at start (a restart) picks rows up.
    return make_settings(
        url,
        keys,
        webhook_queue_path=keys / "webhooks.db",
        workflow_outbox_grace=0,
        workflow_outbox_sweep=3600,
    )


def crashing_app(settings: Settings) -> FastAPI:
    """An app whose process "dies" after each commit: no listener ever evaluates."""
    app = create_app(settings)
    app.state.timeline.listeners.clear()
    return app


def setup_rules(tenant: Tenant, hook_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    tenant.schema("order.placed", ORDER_SCHEMA)
    tenant.schema("order.flagged", FLAG_SCHEMA)
    flag = {
        "name": "flag",
        "event_type": "order.placed",
        "condition": BIG_ORDER,
        "action": {
            "type": "append_event",
            "event_type": "order.flagged",
            "schema_version": 1,
            "payload": {"reason": "big"},
        },
    }
    hook = {
        "name": "notify",
        "event_type": "order.placed",
        "condition": BIG_ORDER,
        "action": {"type": "webhook", "url": hook_url},
    }
    created = []
    for body in (flag, hook):
        response = tenant.http.post("/api/v1/workflows", json=body)
        assert response.status_code == 201, response.text
        created.append(dict(response.json()))
    return created[0], created[1]


def flagged(tenant: Tenant, subject: str) -> list[dict[str, Any]]:
    return [e for e in events_of(tenant, subject) if e["event_type"] == "order.flagged"]


def queue_items(settings: Settings) -> list[Any]:
    with SQLiteQueue(settings.webhook_queue_file, name="webhooks") as queue:
        return list(queue.items())


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    with serve(rec.app()) as served:
        yield rec, f"{served.url}/hook"


def test_an_evaluated_append_leaves_no_outbox_row(service: Service, tenant: Tenant) -> None:
    tenant.schema("order.placed", ORDER_SCHEMA)
    tenant.schema("order.flagged", FLAG_SCHEMA)
    response = tenant.http.post(
        "/api/v1/workflows",
        json={
            "name": "flag",
            "event_type": "order.placed",
            "condition": BIG_ORDER,
            "action": {
                "type": "append_event",
                "event_type": "order.flagged",
                "schema_version": 1,
                "payload": {"reason": "big"},
            },
        },
    )
    assert response.status_code == 201, response.text
    subject = tenant.subject()
    for total in (5000, 5):  # a match and a mismatch: both were evaluated inline
        event = tenant.append(subject, {"total": total}, event_type="order.placed")
        assert outbox_rows(service.settings.database_url, event["id"]) == []
    assert len(flagged(tenant, subject)) == 1


def test_a_restart_evaluates_what_a_dead_process_left_exactly_once(
    database_url: str, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    rec, hook_url = receiver
    settings = outbox_settings(database_url, tmp_path)
    with serve(crashing_app(settings)) as served:
        tenant = new_tenant(Service(served.url, settings))
        quiet = new_tenant(Service(served.url, settings))
        try:
            flag, hook = setup_rules(tenant, hook_url)
            subject = tenant.subject()
            big = tenant.append(subject, {"total": 5000}, event_type="order.placed")
            small = tenant.append(subject, {"total": 5}, event_type="order.placed")
            tenant.schema()
            other = tenant.append(subject, {"n": 1})  # no rule for this type
            quiet.schema("order.placed", ORDER_SCHEMA)
            unwatched = quiet.append(quiet.subject(), {"total": 5000}, event_type="order.placed")
            # Committed with an outbox row each where a rule may react, and nothing evaluated.
            assert [len(outbox_rows(database_url, e["id"])) for e in (big, small)] == [1, 1]
            assert outbox_rows(database_url, other["id"]) == []
            assert outbox_rows(database_url, unwatched["id"]) == []
            assert flagged(tenant, subject) == []
            assert executions(tenant, flag["id"]) == []
        finally:
            tenant.http.close()
            quiet.http.close()

    with serve(create_app(settings)) as served:  # the restart: its sweeper runs at start
        tenant.http = Service(served.url, settings).client(**dict(tenant.http.headers))
        try:
            wait_for(lambda: flagged(tenant, subject))
            wait_for(rec.received)
            wait_for(lambda: not outbox_rows(database_url, small["id"]))
            assert outbox_rows(database_url, big["id"]) == []
            (run,) = executions(tenant, flag["id"])
            assert run["event_id"] == big["id"]
            (delivery,) = wait_for(
                lambda: [e for e in executions(tenant, hook["id"]) if e["status"] == "delivered"]
            )
            assert delivery["event_id"] == big["id"]
            assert json.loads(rec.requests[0][1])["event"]["id"] == big["id"]

            # Evaluating the same event again (another sweeper, a late inline run) does nothing.
            asyncio.run(_evaluate_again(settings, tenant.id, big["id"]))
            assert len(flagged(tenant, subject)) == 1
            assert len(executions(tenant, flag["id"])) == 1
            assert [i.status.value for i in queue_items(settings)] == ["done"]
            assert rec.received() == 1
        finally:
            tenant.http.close()


async def _evaluate_again(settings: Settings, tenant_id: str, event_id: str) -> None:
    ctx = Context.build(settings)
    engine = Engine(ctx)
    try:
        async with ctx.db.read() as session:
            event = (await session.execute(select(Event).where(Event.id == event_id))).scalar_one()
        assert await engine.evaluate(ctx, tenant_id, [event]) is True
    finally:
        await engine.queue.aclose()
        await ctx.db.dispose()


def test_a_webhook_lost_between_its_log_row_and_the_queue_is_put_again(
    database_url: str, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    rec, hook_url = receiver
    settings = outbox_settings(database_url, tmp_path)
    with serve(create_app(settings)) as served:
        tenant = new_tenant(Service(served.url, settings))
        try:
            _, hook = setup_rules(tenant, hook_url)
            # Disable the rules while appending, so only the test evaluates the event.
            response = tenant.http.patch(f"/api/v1/workflows/{hook['id']}", json={"enabled": False})
            assert response.status_code == 200, response.text
            event = tenant.append(tenant.subject(), {"total": 5000}, event_type="order.placed")
            response = tenant.http.patch(f"/api/v1/workflows/{hook['id']}", json={"enabled": True})
            assert response.status_code == 200, response.text

            asyncio.run(_crash_then_rerun(settings, tenant.id, event["id"], hook["id"]))
            wait_for(rec.received)
            (row,) = executions(tenant, hook["id"])
            assert wait_for(lambda: executions(tenant, hook["id"])[0]["status"] == "delivered"), row
            assert rec.received() == 1
            assert json.loads(rec.requests[0][1])["delivery_id"] == row["id"]
        finally:
            tenant.http.close()


async def _crash_then_rerun(
    settings: Settings, tenant_id: str, event_id: str, rule_id: str
) -> None:
    ctx = Context.build(settings)
    engine = Engine(ctx)
    real_put = engine.queue.put

    async def die(payload: dict[str, Any], key: str) -> Any:
        raise SystemExit(1)  # the process ends between the log row and the queue

    try:
        async with ctx.db.read() as session:
            event = (await session.execute(select(Event).where(Event.id == event_id))).scalar_one()
        engine.queue.put = die  # type: ignore[method-assign]
        with pytest.raises(SystemExit):
            await engine.evaluate(ctx, tenant_id, [event])
        assert queue_items(settings) == []
        engine.queue.put = real_put  # type: ignore[method-assign]
        for _ in range(2):  # the re-run puts it; one more re-run changes nothing
            await engine.evaluate(ctx, tenant_id, [event])
        (item,) = queue_items(settings)
        assert item.key == f"{rule_id}:{event_id}"
    finally:
        await engine.queue.aclose()
        await ctx.db.dispose()


def test_sweeps_take_only_rows_past_the_grace_and_other_origins_clean_up(
    database_url: str, tmp_path: Path
) -> None:
    asyncio.run(_sweep_and_clean(make_settings(database_url, tmp_path, workflow_outbox_grace=60)))


async def _sweep_and_clean(settings: Settings) -> None:
    ctx = Context.build(settings)
    engine = Engine(ctx)
    now = [utcnow()]
    sweeper = OutboxSweeper(ctx, engine, clock=lambda: now[0])
    try:

        async def work(session: AsyncSession) -> list[Event]:
            tenant = TenantRow(id=new_id(), code=f"o-{new_id()[:12]}", name="x", status="active")
            session.add(tenant)
            await session.flush()
            subject = await create_subject(session, tenant.id, "case", None)
            items = [NewEvent("x", 1, now[0], canonical_json({"n": n})) for n in range(3)]
            return await append(session, tenant.id, subject.id, items, outbox=True)

        events = await run_write(ctx.db, work, retries=0)
        ids = [e.id for e in events]
        await sweeper.sweep()
        assert await _outbox_ids(ctx, ids) == ids  # younger than the grace period: left alone
        now[0] += timedelta(seconds=120)
        # An e-mail sync's events: the listener deletes their rows even with no rule at all.
        await engine.on_appended(ctx, events[0].tenant_id, events[:1], "email")
        assert await _outbox_ids(ctx, ids) == ids[1:]
        assert await sweeper.sweep() >= 2  # (the database is shared with other tests)
        assert await _outbox_ids(ctx, ids) == []
    finally:
        await engine.queue.aclose()
        await ctx.db.dispose()


async def _outbox_ids(ctx: Context, ids: list[str]) -> list[str]:
    async with ctx.db.read() as session:
        stmt = select(WorkflowOutbox.event_id).where(WorkflowOutbox.event_id.in_(ids))
        found = set((await session.execute(stmt)).scalars())
    return [i for i in ids if i in found]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_KILLED_SERVER = textwrap.dedent(
    """
    import json, os

    import uvicorn
    from timeline import Settings, create_app

    app = create_app(Settings(**json.loads(os.environ["OUTBOX_SETTINGS"])))

    async def die(*args: object) -> None:
        os._exit(1)  # the process is killed after the commit, before any evaluation

    app.state.timeline.listeners.insert(0, die)
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["OUTBOX_PORT"]), log_level="warning")
    """
)


def _settings_json(settings: Settings) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, list):
            return [plain(v) for v in value]
        return str(value) if isinstance(value, Path) else value

    return json.dumps({k: plain(v) for k, v in settings.model_dump().items()})


def test_a_process_killed_after_the_commit_loses_no_reaction(
    pg_url: str, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    # PostgreSQL (production) only: a worker process starts in ~6 s on a loaded machine, and
    # the SQLite path of the same gap is covered in-process by the restart test above.
    database_url = pg_url
    rec, hook_url = receiver
    settings = outbox_settings(database_url, tmp_path)
    with serve(create_app(settings)) as served:
        tenant = new_tenant(Service(served.url, settings))
        flag, _ = setup_rules(tenant, hook_url)
        subject = tenant.subject()
    headers = dict(tenant.http.headers)
    tenant.http.close()

    port = _free_port()
    env = {
        **os.environ,
        "OUTBOX_SETTINGS": _settings_json(settings),
        "OUTBOX_PORT": str(port),
    }
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SERVER], env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx2.Client(base_url=base, headers=headers, timeout=30) as http:
            wait_for(lambda: _alive(http), timeout=30)
            body = {
                "event_type": "order.placed",
                "schema_version": 1,
                "event_time": "2024-05-01T00:00:00Z",
                "payload": {"total": 5000},
            }
            with pytest.raises(httpx2.TransportError):
                http.post(f"/api/v1/subjects/{subject}/events", json=body)
        assert proc.wait(timeout=30) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (event,) = rows(
        database_url, "SELECT id FROM event WHERE subject_id = :s AND seq = 1", s=subject
    )
    assert len(outbox_rows(database_url, event["id"])) == 1

    with serve(create_app(settings)) as served:  # the restart
        tenant.http = Service(served.url, settings).client(**headers)
        try:
            wait_for(lambda: flagged(tenant, subject))
            wait_for(rec.received)
            assert json.loads(rec.requests[0][1])["event"]["id"] == event["id"]
            assert executions(tenant, flag["id"])[0]["event_id"] == event["id"]
            wait_for(lambda: not outbox_rows(database_url, event["id"]))
        finally:
            tenant.http.close()


def _alive(http: httpx2.Client) -> bool:
    try:
        return http.get("/health/live").status_code == 200
    except httpx2.TransportError:
        return False


# --- PostgreSQL's hot path --------------------------------------------------------------------


async def _pg_subject(db: Database) -> tuple[str, str]:
    async def work(session: AsyncSession) -> tuple[str, str]:
        tenant = TenantRow(id=new_id(), code=f"h-{new_id()[:12]}", name="x", status="active")
        session.add(tenant)
        await session.flush()
        subject = await create_subject(session, tenant.id, "case", None)
        return tenant.id, subject.id

    return await run_write(db, work, retries=0)


def _item(n: int) -> NewEvent:
    return NewEvent("x", 1, datetime.now(UTC), canonical_json({"n": n}))


async def _pg_outbox(db: Database, subject_id: str) -> set[str]:
    async with db.read() as session:
        stmt = (
            select(WorkflowOutbox.event_id)
            .join(Event, Event.id == WorkflowOutbox.event_id)
            .where(Event.subject_id == subject_id)
        )
        return set((await session.execute(stmt)).scalars())


@pytest.mark.anyio
async def test_the_hot_path_writes_outbox_rows_only_for_requests_that_want_them(
    pg: Database,
) -> None:
    tenant_id, subject_id = await _pg_subject(pg)
    pool = await pg.hot_pool()
    assert pool is not None
    appender = _hotpath.Appender(pool, retries=5)
    plain = await appender.append(tenant_id, subject_id, [_item(0)])
    assert await _pg_outbox(pg, subject_id) == set()
    watched = await appender.append(tenant_id, subject_id, [_item(1), _item(2)], outbox=True)
    assert await _pg_outbox(pg, subject_id) == {e.id for e in watched}
    # Coalesced into shared statements: still only the events of the requests that asked.
    results = await asyncio.gather(
        *(appender.append(tenant_id, subject_id, [_item(i)], outbox=i % 2 == 0) for i in range(20))
    )
    wanted = {e.id for i, events in enumerate(results) if i % 2 == 0 for e in events}
    assert await _pg_outbox(pg, subject_id) == wanted | {e.id for e in watched}
    assert plain[0].seq == 1


@pytest.mark.anyio
async def test_a_lost_compare_and_set_writes_no_outbox_row(pg: Database) -> None:
    tenant_id, subject_id = await _pg_subject(pg)
    pool = await pg.hot_pool()
    assert pool is not None
    await _hotpath.Appender(pool, retries=5).append(tenant_id, subject_id, [_item(0)])
    # A writer that read the head before that append (seq 0) and now writes its own events.
    stale = link(tenant_id, subject_id, 0, None, [_item(1), _item(2)])
    columns = [[getattr(e, c) for e in stale] for c in _hotpath.APPEND_COLUMNS]
    last = stale[-1]
    async with pool.acquire() as conn:
        status = await conn.execute(
            _hotpath._APPEND_OUTBOX_SQL,
            *columns,
            last.seq,
            last.hash,
            last.recorded_at,
            subject_id,
            tenant_id,
            0,
            [e.id for e in stale],
        )
    assert status == "INSERT 0 0"
    assert await _pg_outbox(pg, subject_id) == set()
    async with pg.read() as session:
        count = await session.execute(select(Event.id).where(Event.subject_id == subject_id))
        assert len(count.all()) == 1

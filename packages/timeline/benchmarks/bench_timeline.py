"""timeline on PostgreSQL: appends per second over HTTP, and verification speed.

Figures, all from one run against a fresh database on 127.0.0.1:5432 (dropped afterwards):

* appends/s through the HTTP API (``timeline serve --workers 2``) with 32 concurrent clients,
  spread over 1,000 subjects and all on one subject; beside the floor: raw asyncpg inserts of
  rows of the same shape, one commit per row, same concurrency (no hashing, no chain lock, no
  HTTP). Target: at least half the floor across subjects.
* verification of a one-million-event chain (events/s). Target: at least 100,000 events/s.

Usage: ``python bench_timeline.py [--events-per-scenario N] [--chain N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx2

ROOT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ADMIN = "bench-admin-token"
PASSWORD = "bench-password-123"
CONCURRENCY = 32


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ROOT_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _serve(url: str, keys: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "TIMELINE_DATABASE_URL": url,
        "TIMELINE_KEY_DIR": str(keys),
        "TIMELINE_ADMIN_TOKEN": ADMIN,
        "TIMELINE_SECRET_KEY": secrets.token_urlsafe(32),
        "TIMELINE_RATE_LIMIT_PER_CLIENT": "100000000",
        "TIMELINE_RATE_LIMIT_PER_TENANT": "100000000",
        "TIMELINE_POOL_SIZE": "20",
    }
    cmd = [sys.executable, "-m", "timeline", "serve", "--workers", "2", "--port", str(port)]
    process = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL)
    return process, _wait_ready(process, f"http://127.0.0.1:{port}", "/health/ready")


def _wait_ready(process: subprocess.Popen[bytes], base: str, path: str) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{base}{path}", timeout=2).status_code == 200:
                return base
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


class _Connection:
    """A lean HTTP/1.1 keep-alive client: one connection, one request at a time.

    The load generator shares the machine with the server and PostgreSQL; a general-purpose
    client (httpx) spends about 2.5 ms of CPU per request here, more than the server, so it
    would measure itself. This one formats bytes and parses the status line and length only.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, base: str) -> _Connection:
        host, port = base.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def post(self, path: str, headers: bytes, body: bytes) -> tuple[int, bytes]:
        return await self.request(b"POST", path, headers, body)

    async def request(
        self, method: bytes, path: str, headers: bytes, body: bytes
    ) -> tuple[int, bytes]:
        self.writer.write(
            b"%s %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            b"%sContent-Length: %d\r\n\r\n%s" % (method, path.encode(), headers, len(body), body)
        )
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _drive(
    base: str, total: int, one: Callable[[_Connection, int], Awaitable[None]]
) -> float:
    """Requests/s of ``total`` calls of ``one``, spread over CONCURRENCY keep-alive clients."""
    counter = iter(range(total))
    connections = [await _Connection.open(base) for _ in range(CONCURRENCY)]

    async def worker(conn: _Connection) -> None:
        for i in counter:
            await one(conn, i)

    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker(conn) for conn in connections))
    finally:
        for conn in connections:
            conn.close()
    return total / (time.perf_counter() - start)


async def _http_gets(base: str, path: str, total: int) -> float:
    """Requests/s of ``GET path`` with the same clients as the appends (the HTTP ceiling)."""

    async def get(conn: _Connection, _: int) -> None:
        status, answer = await conn.request(b"GET", path, b"", b"")
        if status != 200:
            raise SystemExit(f"GET {path} failed: {status} {answer[:300]!r}")

    return await _drive(base, total, get)


def bare_app() -> Any:
    """A FastAPI app with one route and nothing else: what the framework costs by itself."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _serve_bare() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "bench_timeline:bare_app"]
    cmd += ["--app-dir", str(Path(__file__).parent), "--workers", "2", "--port", str(port)]
    process = subprocess.Popen([*cmd, "--log-level", "warning"], stdout=subprocess.DEVNULL)
    return process, _wait_ready(process, f"http://127.0.0.1:{port}", "/")


async def _http_appends(base: str, token: str, subjects: list[str], total: int) -> float:
    headers = b"Authorization: Bearer %s\r\n" % token.encode()

    async def append(conn: _Connection, i: int) -> None:
        body = json.dumps(
            {
                "event_type": "reading",
                "schema_version": 1,
                "event_time": datetime.now(UTC).isoformat(),
                "payload": {"i": i, "value": i * 0.5, "unit": "kWh"},
            }
        ).encode()
        status, answer = await conn.post(
            f"/api/v1/subjects/{subjects[i % len(subjects)]}/events", headers, body
        )
        if status != 201:
            raise SystemExit(f"append failed: {status} {answer[:300]!r}")

    return await _drive(base, total, append)


async def _floor(dsn: str, subjects: list[str], total: int) -> float:
    """Raw asyncpg: one INSERT and one commit per row, 32 connections."""
    pool = await asyncpg.create_pool(dsn, min_size=CONCURRENCY, max_size=CONCURRENCY)
    assert pool is not None
    await pool.execute(
        "CREATE TABLE IF NOT EXISTS floor_event (id text PRIMARY KEY, tenant_id text, "
        "subject_id text, seq bigint, event_type text, schema_version int, "
        "event_time timestamptz, payload text, prev_hash text, hash text, recorded_at timestamptz)"
    )
    counter = iter(range(total))

    async def worker() -> None:
        async with pool.acquire() as conn:
            for i in counter:
                now = datetime.now(UTC)
                await conn.execute(
                    "INSERT INTO floor_event VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
                    secrets.token_hex(16),
                    "t" * 32,
                    subjects[i % len(subjects)],
                    i,
                    "reading",
                    1,
                    now,
                    f'{{"i":{i},"unit":"kWh","value":{i * 0.5}}}',
                    "0" * 64,
                    "1" * 64,
                    now,
                )

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    rate = total / (time.perf_counter() - start)
    await pool.close()
    return rate


async def _load_chain(dsn: str, tenant_id: str, subject_id: str, n: int) -> None:
    from timeline._canonical import canonical_json, event_hash
    from timeline._models import new_id

    conn = await asyncpg.connect(dsn)
    try:
        prev: str | None = None
        base = datetime(2024, 1, 1, tzinfo=UTC)
        batch: list[tuple[Any, ...]] = []
        for seq in range(1, n + 1):
            event_id, when = new_id(), base + timedelta(microseconds=seq)
            payload = canonical_json({"seq": seq, "value": seq * 0.25, "tag": "bulk"})
            digest = event_hash(
                tenant_id=tenant_id,
                subject_id=subject_id,
                seq=seq,
                event_id=event_id,
                event_type="reading",
                schema_version=1,
                event_time=when,
                payload_json=payload,
                prev_hash=prev,
            )
            batch.append(
                (
                    event_id,
                    tenant_id,
                    subject_id,
                    seq,
                    "reading",
                    1,
                    when,
                    payload,
                    prev,
                    digest,
                    when,
                )
            )
            prev = digest
            if len(batch) == 50_000:
                await conn.copy_records_to_table("event", records=batch)
                batch = []
        if batch:
            await conn.copy_records_to_table("event", records=batch)
        await conn.execute(
            "UPDATE chain_head SET last_seq = $1, last_hash = $2 WHERE subject_id = $3",
            n,
            prev,
            subject_id,
        )
    finally:
        await conn.close()


async def _verify_speed(url: str, tenant_id: str, subject_id: str) -> tuple[float, str]:
    from timeline._db import Database
    from timeline._verify import Verifier
    from timeline.settings import Settings

    db = Database(url)
    try:
        async with db.read() as session:
            # The page size the service's routes and CLI use.
            page_size = Settings(database_url=url).verify_page_size
            verifier = Verifier(session, tenant_id, page_size=page_size)
            start = time.perf_counter()
            await verifier.subject(subject_id)
            elapsed = time.perf_counter() - start
            result = verifier.result()
        return result.events_checked / elapsed, result.status
    finally:
        await db.dispose()


def _setup_tenant(base: str) -> tuple[str, str, list[str]]:
    with httpx2.Client(base_url=base, timeout=60) as client:
        created = client.post(
            "/api/v1/tenants",
            headers={"X-Admin-Token": ADMIN},
            json={
                "code": "bench",
                "name": "Bench",
                "admin_username": "admin",
                "admin_password": PASSWORD,
            },
        ).json()
        token = client.post(
            "/api/v1/auth/login",
            json={"tenant": "bench", "username": "admin", "password": PASSWORD},
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        client.post("/api/v1/schemas", json={"event_type": "reading", "schema": {"type": "object"}})
        subjects = [
            client.post("/api/v1/subjects", json={"subject_type": "meter"}).json()["id"]
            for _ in range(1001)
        ]
    return created["tenant"]["id"], token, subjects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-per-scenario", type=int, default=4000)
    parser.add_argument("--chain", type=int, default=1_000_000)
    args = parser.parse_args()

    name = f"timeline_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        subprocess.run(
            [sys.executable, "-m", "timeline", "migrate", "--database-url", url], check=True
        )
        with tempfile.TemporaryDirectory() as keys:
            process, base = _serve(url, Path(keys))
            try:
                tenant_id, token, subjects = _setup_tenant(base)
                spread, single = subjects[:1000], subjects[1000:]
                n = args.events_per_scenario
                across = asyncio.run(_http_appends(base, token, spread, n))
                one = asyncio.run(_http_appends(base, token, single, n))
                floor = asyncio.run(_floor(dsn, spread, n))
                live = asyncio.run(_http_gets(base, "/health/live", 3 * n))
            finally:
                process.terminate()
                process.wait(timeout=60)
        bare_process, bare_base = _serve_bare()
        try:
            bare = asyncio.run(_http_gets(bare_base, "/", 3 * n))
        finally:
            bare_process.terminate()
            bare_process.wait(timeout=60)
        start = time.perf_counter()
        verify_subject = asyncio.run(_empty_subject(dsn, tenant_id))
        asyncio.run(_load_chain(dsn, tenant_id, verify_subject, args.chain))
        load_s = time.perf_counter() - start
        speed, status = asyncio.run(_verify_speed(url, tenant_id, verify_subject))
    finally:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    print(f"timeline benchmark on PostgreSQL ({CONCURRENCY} concurrent clients, 2 workers)")
    print(f"{'figure':<44}{'timeline':>12}{'floor':>12}{'ratio':>8}")
    print(f"{'appends/s, 1,000 subjects':<44}{across:>12,.0f}{floor:>12,.0f}{across / floor:>8.2f}")
    print(f"{'appends/s, one subject':<44}{one:>12,.0f}{floor:>12,.0f}{one / floor:>8.2f}")
    print(
        f"{'verification events/s, ' + f'{args.chain:,}' + '-event chain':<44}"
        f"{speed:>12,.0f}{'100,000':>12}{speed / 100_000:>8.2f}"
    )
    print(
        f"(chain {status}; generated and loaded in {load_s:.1f} s; floor = raw asyncpg "
        "INSERT + commit per row; verification target 100,000 events/s)"
    )
    print("the HTTP stack's ceiling with the same clients and 2 workers (requests/s):")
    print(f"  {'bare FastAPI app, one route returning a dict':<42}{bare:>12,.0f}")
    print(f"  {'timeline GET /health/live (no database)':<42}{live:>12,.0f}")
    print(f"  {'half the floor (the append target)':<42}{floor / 2:>12,.0f}")
    print(
        f"targets: across >= 0.5 x floor: {'met' if across >= floor / 2 else 'NOT met'}; "
        f"verification >= 100,000/s: {'met' if speed >= 100_000 else 'NOT met'}"
    )


async def _empty_subject(dsn: str, tenant_id: str) -> str:
    """A new subject with an empty chain, created directly (the chain is bulk-loaded)."""
    from timeline._models import new_id

    conn = await asyncpg.connect(dsn)
    try:
        subject_id = new_id()
        now = datetime.now(UTC)
        await conn.execute(
            "INSERT INTO subject (id, tenant_id, subject_type, created_at) VALUES ($1,$2,$3,$4)",
            subject_id,
            tenant_id,
            "meter",
            now,
        )
        await conn.execute(
            "INSERT INTO chain_head (subject_id, tenant_id, last_seq, updated_at) "
            "VALUES ($1,$2,0,$3)",
            subject_id,
            tenant_id,
            now,
        )
        return subject_id
    finally:
        await conn.close()


if __name__ == "__main__":
    main()

"""Concurrent appends against a server with two worker processes give one linear chain."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx2
import pytest
from timeline_support import (
    ADMIN_TOKEN,
    PgDatabases,
    Service,
    make_settings,
    migrate,
    new_tenant,
    rows,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def two_workers(
    request: pytest.FixtureRequest,
    pg_databases: PgDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    keys = tmp_path_factory.mktemp("workers")
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{keys / 'timeline.db'}"
    else:
        url = pg_databases.create()
    migrate(url)
    port = _free_port()
    env = {
        **os.environ,
        "TIMELINE_DATABASE_URL": url,
        "TIMELINE_KEY_DIR": str(keys),
        "TIMELINE_ADMIN_TOKEN": ADMIN_TOKEN,
        "TIMELINE_SECRET_KEY": "workers-secret-with-enough-entropy-0123456789",
        "TIMELINE_AUTO_MIGRATE": "false",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "timeline",
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded CI machine starts slowly
        while True:
            try:
                if httpx2.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.terminate()
                _, err = process.communicate(timeout=30)
                pytest.fail(f"server did not start: {err.decode()[-2000:]}")
            time.sleep(0.1)
        yield Service(base, make_settings(url, keys))
    finally:
        process.terminate()
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_fifty_concurrent_appends_make_one_linear_chain(two_workers: Service) -> None:
    tenant = new_tenant(two_workers)
    try:
        tenant.schema()
        subject = tenant.subject()
        token = tenant.http.headers["Authorization"]

        def append(i: int) -> httpx2.Response:
            with httpx2.Client(base_url=two_workers.url, timeout=60) as client:
                return client.post(
                    f"/api/v1/subjects/{subject}/events",
                    headers={"Authorization": token},
                    json={
                        "event_type": "thing.happened",
                        "schema_version": 1,
                        "event_time": datetime.now(UTC).isoformat(),
                        "payload": {"i": i},
                    },
                )

        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(append, range(50)))
        assert [r.status_code for r in responses] == [201] * 50, [
            r.text for r in responses if r.status_code != 201
        ]
        stored = rows(
            two_workers.settings.database_url,
            "SELECT id, seq, hash, prev_hash FROM event WHERE subject_id = :s ORDER BY seq",
            s=subject,
        )
        assert [r["seq"] for r in stored] == list(range(1, 51))
        assert stored[0]["prev_hash"] is None
        assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(stored))
        by_id = {r["id"]: r for r in stored}
        for response in responses:  # every 2xx names a committed event, exactly as stored
            body = response.json()
            assert by_id[body["id"]]["seq"] == body["seq"]
            assert by_id[body["id"]]["hash"] == body["hash"]
        assert sorted(r.json()["payload"]["i"] for r in responses) == list(range(50))
        result = tenant.verify_subject(subject)
        assert result["status"] == "valid"
        assert result["events_checked"] == 50
    finally:
        tenant.http.close()


def test_concurrent_audited_writes_keep_every_change(two_workers: Service) -> None:
    tenant = new_tenant(two_workers)
    try:
        token = tenant.http.headers["Authorization"]

        def create(i: int) -> int:
            with httpx2.Client(base_url=two_workers.url, timeout=60) as client:
                response = client.post(
                    "/api/v1/roles",
                    headers={"Authorization": token},
                    json={"code": f"r{i}", "name": f"Role {i}", "permissions": ["event:read"]},
                )
                return response.status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(create, range(20)))
        assert statuses == [201] * 20
        codes = {r["code"] for r in tenant.http.get("/api/v1/roles").json()}
        assert {f"r{i}" for i in range(20)} <= codes
        audit = tenant.http.get("/api/v1/audit", params={"limit": 100}).json()
        created = [e for e in audit["items"] if e["event_type"] == "audit.role.created"]
        assert len(created) == 20
        assert tenant.verify()["status"] == "valid"
    finally:
        tenant.http.close()

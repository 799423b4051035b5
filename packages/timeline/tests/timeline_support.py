"""Helpers shared by timeline's tests (conftest puts this directory on sys.path)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from timeline import Settings
from timeline._db import Database, alembic_config

PG_ROOT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ADMIN_TOKEN = "test-admin-token"
PASSWORD = "correct-horse-battery"
# The newest shipped migration, as a migrated database reports it.
MIGRATION_HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
CREDENTIAL_KEY = "x5gWZT0a2FqGZ0oCqkq1ZJ3Lr8C6j6mU8t6V1kqH0sE="


async def _admin(statement: str) -> None:
    engine = create_async_engine(PG_ROOT, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@dataclass
class PgDatabases:
    """Fresh PostgreSQL databases for this test session, dropped at the end."""

    names: list[str] = field(default_factory=list)

    def create(self) -> str:
        name = f"timeline_test_{secrets.token_hex(6)}"
        asyncio.run(_admin(f"CREATE DATABASE {name}"))
        self.names.append(name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    def drop_all(self) -> None:
        for name in self.names:
            asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def migrate(url: str) -> None:
    async def run() -> None:
        db = Database(url)
        try:
            await db.migrate()
        finally:
            await db.dispose()

    asyncio.run(run())


def make_settings(url: str, keys: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "key_dir": keys,
        "admin_token": ADMIN_TOKEN,
        "secret_key": "test-secret-key-with-enough-entropy-0123456789",
        "auto_migrate": False,
        "verify_page_size": 10,
        # Every test client is 127.0.0.1: the limits get their own tests.
        "rate_limit_per_client": 1_000_000,
        "rate_limit_per_tenant": 1_000_000,
        # Integrations: a fixed test key for stored secrets, documents beside the keys, and
        # webhooks to the test's own loopback receivers.
        "credential_keys": [CREDENTIAL_KEY],
        "storage_root": keys / "documents",
        "webhook_queue_path": keys / f"webhooks-{secrets.token_hex(4)}.db",
        "webhook_allow_private": True,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Service:
    url: str
    settings: Settings

    def client(self, **headers: str) -> httpx2.Client:
        return httpx2.Client(base_url=self.url, headers=headers, timeout=30)

    @property
    def dialect(self) -> str:
        return "sqlite" if self.settings.is_sqlite else "postgresql"


@dataclass
class Tenant:
    """A tenant created over HTTP, with an admin client."""

    service: Service
    id: str
    code: str
    admin_id: str
    http: httpx2.Client

    def login(self, username: str, password: str = PASSWORD) -> httpx2.Response:
        return self.http.post(
            "/api/v1/auth/login",
            json={"tenant": self.code, "username": username, "password": password},
        )

    def client_for(self, username: str, password: str = PASSWORD) -> httpx2.Client:
        response = self.login(username, password)
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        return self.service.client(Authorization=f"Bearer {token}")

    def user(self, username: str, roles: list[str]) -> httpx2.Client:
        response = self.http.post(
            "/api/v1/users", json={"username": username, "password": PASSWORD, "roles": roles}
        )
        assert response.status_code == 201, response.text
        return self.client_for(username)

    def schema(self, event_type: str = "thing.happened", schema: Any = None) -> dict[str, Any]:
        body = {"event_type": event_type, "schema": schema or {"type": "object"}}
        response = self.http.post("/api/v1/schemas", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def subject(self, ref: str | None = None, subject_type: str = "case") -> str:
        body = {"subject_type": subject_type, "external_ref": ref}
        response = self.http.post("/api/v1/subjects", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def append(
        self,
        subject_id: str,
        payload: dict[str, Any] | None = None,
        *,
        event_type: str = "thing.happened",
        version: int = 1,
        when: str | None = None,
    ) -> dict[str, Any]:
        body = {
            "event_type": event_type,
            "schema_version": version,
            "event_time": when or datetime.now(UTC).isoformat(),
            "payload": payload if payload is not None else {"n": 1},
        }
        response = self.http.post(f"/api/v1/subjects/{subject_id}/events", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def verify_subject(self, subject_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/subjects/{subject_id}/verify")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def verify(self, **body: Any) -> dict[str, Any]:
        response = self.http.post("/api/v1/verify", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())


def new_tenant(service: Service) -> Tenant:
    code = f"t-{secrets.token_hex(5)}"
    with service.client() as anon:
        response = anon.post(
            "/api/v1/tenants",
            headers={"X-Admin-Token": ADMIN_TOKEN},
            json={
                "code": code,
                "name": f"Tenant {code}",
                "admin_username": "admin",
                "admin_password": PASSWORD,
            },
        )
    assert response.status_code == 201, response.text
    body = response.json()
    http = service.client()
    tenant = Tenant(service, body["tenant"]["id"], code, body["admin_user_id"], http)
    token = tenant.login("admin").json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    return tenant


async def _tamper(url: str, statements: list[tuple[str, dict[str, Any]]], bypass: bool) -> None:
    from timeline._triggers import create_triggers, drop_triggers

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if bypass and sqlite:
                await conn.run_sync(drop_triggers)
            elif bypass:
                # Superuser only: user triggers do not fire for a "replica" session.
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
            for statement, params in statements:
                await conn.execute(text(statement), params)
            if bypass and sqlite:
                await conn.run_sync(create_triggers)
    finally:
        await engine.dispose()


def tamper(url: str, *statements: tuple[str, dict[str, Any]], bypass: bool = True) -> None:
    """Change rows directly in the database, as an attacker with write access would."""
    asyncio.run(_tamper(url, list(statements), bypass))


async def _rows(url: str, statement: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(statement), params)
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


def rows(url: str, statement: str, **params: Any) -> list[dict[str, Any]]:
    """Rows read directly from the database."""
    return asyncio.run(_rows(url, statement, params))


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``check`` (a real server's state) until it is truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)

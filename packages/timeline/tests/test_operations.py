"""Health, rate limits, CORS, size limits, headers and the OpenAPI document."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx2
from timeline_support import (
    MIGRATION_HEAD,
    PgDatabases,
    Service,
    make_settings,
    migrate,
    new_tenant,
)

from corekit.testing import serve
from timeline import Settings, create_app


def test_health_live_and_ready(service: Service) -> None:
    with service.client() as client:
        assert client.get("/health/live").json() == {"status": "ok"}
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "migration": MIGRATION_HEAD}


def test_ready_is_503_until_migrations_run(pg_databases: PgDatabases, keys_dir: Path) -> None:
    url = pg_databases.create()
    with serve(create_app(make_settings(url, keys_dir))) as served:
        ready = httpx2.get(f"{served.url}/health/ready")
        assert ready.status_code == 503
        assert ready.json()["expected"] == MIGRATION_HEAD
        migrate(url)
        assert httpx2.get(f"{served.url}/health/ready").status_code == 200


def test_ready_is_503_when_the_database_is_unreachable(keys_dir: Path) -> None:
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/none", keys_dir)
    with serve(create_app(settings)) as served:
        ready = httpx2.get(f"{served.url}/health/ready")
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"


def test_sqlite_default_migrates_at_start_up(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'new' / 'fresh.db'}", key_dir=tmp_path
    )
    assert settings.should_migrate
    with serve(create_app(settings)) as served:
        assert httpx2.get(f"{served.url}/health/ready").status_code == 200
    assert (tmp_path / "timeline-signing.key").exists()
    assert (tmp_path / "timeline-token.key").stat().st_mode & 0o077 == 0


def _limited(url: str, keys: Path, **overrides: object) -> Iterator[str]:
    with serve(create_app(make_settings(url, keys, **overrides))) as served:
        yield served.url


def test_client_rate_limit_answers_429_with_retry_after(service: Service, keys_dir: Path) -> None:
    settings = make_settings(service.settings.database_url, keys_dir, rate_limit_per_client=3)
    with serve(create_app(settings)) as served, httpx2.Client(base_url=served.url) as client:
        statuses = [client.get("/api/v1/tenant").status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        limited = client.get("/api/v1/tenant")
        assert limited.json()["error"] == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) >= 1
        assert "x-request-id" in limited.headers
        assert client.get("/health/live").status_code == 200  # health checks are never limited


def test_tenant_rate_limit(service: Service, keys_dir: Path) -> None:
    tenant = new_tenant(service)
    try:
        settings = make_settings(service.settings.database_url, keys_dir, rate_limit_per_tenant=2)
        token = tenant.http.headers["Authorization"]
        with (
            serve(create_app(settings)) as served,
            httpx2.Client(base_url=served.url, headers={"Authorization": token}) as client,
        ):
            statuses = [client.get("/api/v1/tenant").status_code for _ in range(3)]
            assert statuses == [200, 200, 429]
    finally:
        tenant.http.close()


def test_redis_shares_the_limit_between_workers(service: Service, keys_dir: Path) -> None:
    shared = {
        "redis_url": "redis://127.0.0.1:6379/0",
        "redis_prefix": f"timeline-test:{secrets.token_hex(6)}:",
        "rate_limit_per_client": 4,
    }
    url = service.settings.database_url
    with (
        serve(create_app(make_settings(url, keys_dir, **shared))) as one,
        serve(create_app(make_settings(url, keys_dir, **shared))) as two,
    ):
        statuses = [httpx2.get(f"{s.url}/api/v1/tenant").status_code for s in (one, two) * 3]
    assert statuses == [401, 401, 401, 401, 429, 429]


def test_an_unreachable_redis_does_not_take_the_service_down(
    service: Service, keys_dir: Path
) -> None:
    settings = make_settings(
        service.settings.database_url, keys_dir, redis_url="redis://127.0.0.1:1/0"
    )
    with serve(create_app(settings)) as served:
        assert httpx2.get(f"{served.url}/api/v1/tenant").status_code == 401


def test_request_size_limit(service: Service, keys_dir: Path) -> None:
    settings = make_settings(service.settings.database_url, keys_dir, max_request_bytes=2048)
    with serve(create_app(settings)) as served, httpx2.Client(base_url=served.url) as client:
        big = client.post("/api/v1/auth/login", content=b"x" * 4096)
        assert big.status_code == 413
        assert big.json()["error"] == "REQUEST_TOO_LARGE"

        def chunks() -> Iterator[bytes]:
            for _ in range(8):
                yield b"y" * 512

        streamed = client.post("/api/v1/auth/login", content=chunks())
        assert streamed.status_code == 413
        small = client.post(
            "/api/v1/auth/login", json={"tenant": "x", "username": "y", "password": "z"}
        )
        assert small.status_code == 401


def test_cors_allows_only_configured_origins(service: Service, keys_dir: Path) -> None:
    settings = make_settings(
        service.settings.database_url, keys_dir, cors_origins=["https://app.example"]
    )
    preflight = {"Access-Control-Request-Method": "POST"}
    with serve(create_app(settings)) as served, httpx2.Client(base_url=served.url) as client:
        ok = client.options(
            "/api/v1/auth/login", headers={"Origin": "https://app.example", **preflight}
        )
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        other = client.options(
            "/api/v1/auth/login", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in other.headers


def test_wildcard_cors_is_refused() -> None:
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError, match="explicit origins"):
        Settings(cors_origins=["*"])


def test_openapi_documents_every_route_and_the_error_shape(service: Service) -> None:
    with service.client() as client:
        doc = client.get("/openapi.json").json()
        docs_page = client.get("/docs")
    assert docs_page.status_code == 200
    assert "content-security-policy" not in docs_page.headers
    paths = doc["paths"]
    assert "/api/v1/subjects/{subject_id}/events" in paths
    assert "/api/v1/verify" in paths
    assert set(doc["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"} | {
        k for k in doc["components"]["securitySchemes"] if k.startswith("APIKeyHeader")
    }
    append = paths["/api/v1/subjects/{subject_id}/events"]["post"]
    assert append["responses"]["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from timeline_support import (
    PgDatabases,
    Service,
    Tenant,
    make_settings,
    migrate,
    new_tenant,
)

from corekit.testing import serve
from timeline import create_app
from timeline._db import Database


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases()
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="module")
def pg_url(pg_databases: PgDatabases) -> str:
    """A fresh, migrated PostgreSQL database for one test module."""
    url = pg_databases.create()
    migrate(url)
    return url


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[Database]:
    """A :class:`Database` on :func:`pg_url` (the hot path's pool included)."""
    db = Database(pg_url, pool_size=8)
    yield db
    await db.dispose()


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    pg_databases: PgDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "timeline.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = pg_databases.create()
    migrate(url)
    return url


@pytest.fixture(scope="session")
def service(database_url: str, keys_dir: Path) -> Iterator[Service]:
    settings = make_settings(database_url, keys_dir)
    with serve(create_app(settings)) as served:
        yield Service(served.url, settings)


@pytest.fixture
def tenant(service: Service) -> Iterator[Tenant]:
    t = new_tenant(service)
    yield t
    t.http.close()


@pytest.fixture(scope="session")
def sqlite_service(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[Service]:
    """One SQLite-backed service for tests whose subject does not depend on the database."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('walk') / 'timeline.db'}"
    migrate(url)
    with serve(create_app(make_settings(url, keys_dir))) as served:
        yield Service(served.url, make_settings(url, keys_dir))

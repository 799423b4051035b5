"""Engines, sessions and migrations for PostgreSQL (asyncpg) and SQLite (aiosqlite).

SQLite gets two engines over one file: writers open their transaction with ``BEGIN IMMEDIATE``
so they take the database's write lock before reading the chain head (which serialises appends
across processes, not just tasks), while readers use a deferred ``BEGIN`` and, in WAL mode,
read a consistent snapshot without blocking writers. PostgreSQL needs only one engine: appends
lock the head row with ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    import asyncpg
    from alembic.config import Config

logger = logging.getLogger(__name__)


def alembic_config() -> Config:
    """The Alembic configuration of the migrations shipped in the package."""
    # Alembic loads only when needed: it costs start-up time in every worker otherwise.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "timeline:migrations")
    return cfg


def _sqlite_engine(url: str, begin: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so "begin" below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
            "synchronous=NORMAL",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Return a hot-path connection to its pool as it is (see :meth:`Database.hot_pool`)."""


class Database:
    """The engines and session factories of one service instance.

    Args:
        url: an async SQLAlchemy URL (``sqlite+aiosqlite:///...`` or
            ``postgresql+asyncpg://...``).
        pool_size: connections kept per engine (PostgreSQL).
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE")
            self.read_engine = _sqlite_engine(url, "BEGIN")
        else:
            # No pre-ping (a round trip per checkout); recycled connections cover restarts.
            self.write_engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
            )
            self.read_engine = self.write_engine
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)
        # One-statement reads (the credential check of every request) need no transaction:
        # on PostgreSQL that saves the BEGIN and ROLLBACK round trips.
        self._single = (
            self._read
            if self.dialect == "sqlite"
            else async_sessionmaker(
                self.read_engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
            )
        )

        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._pool_size = pool_size

    async def hot_pool(self) -> asyncpg.Pool | None:
        """The asyncpg pool of the request hot path (:mod:`timeline._hotpath`); ``None`` on SQLite.

        Created on first use, with the same URL as the engine.
        """
        if self.is_sqlite:
            return None
        if self._pool is None:
            async with self._pool_lock:  # one pool, however many requests arrive at once
                if self._pool is None:
                    self._pool = await self._create_pool()
        return self._pool

    async def _create_pool(self) -> asyncpg.Pool:
        import asyncpg

        dsn = make_url(self.url).set(drivername="postgresql")
        return await asyncpg.create_pool(
            dsn.render_as_string(hide_password=False),
            min_size=1,
            max_size=self._pool_size,
            max_inactive_connection_lifetime=1800,
            # The hot path's statements leave no session state (no SET, LISTEN, advisory
            # lock or open transaction), so the default reset query on every release would
            # be one more round trip per statement for nothing.
            reset=_no_reset,
        )

    @property
    def is_sqlite(self) -> bool:
        """Whether this is a SQLite database."""
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, committed when the block ends without error."""
        async with self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session in a read transaction (a consistent snapshot), rolled back at the end."""
        async with self._read() as session, session.begin():
            yield session

    @asynccontextmanager
    async def single(self) -> AsyncIterator[AsyncSession]:
        """A session for one read statement (autocommit where the database allows)."""
        async with self._single() as session:
            yield session

    async def migrate(self, revision: str = "head") -> None:
        """Apply the shipped migrations up to ``revision``."""
        from alembic import command

        cfg = alembic_config()

        def upgrade(connection: Connection) -> None:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)

        async with self.write_engine.begin() as conn:
            await conn.run_sync(upgrade)
        logger.info("database migrated to %s", revision)

    async def migration_state(self) -> tuple[str | None, str | None]:
        """The database's current revision and the newest shipped one."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(alembic_config()).get_current_head()

        def current(connection: Connection) -> str | None:
            return MigrationContext.configure(connection).get_current_revision()

        async with self.read_engine.connect() as conn:
            return await conn.run_sync(current), head

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()

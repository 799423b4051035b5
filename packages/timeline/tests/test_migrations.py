"""The shipped migrations create exactly what the models describe, on both databases."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from timeline_support import MIGRATION_HEAD, PgDatabases, migrate

from timeline._db import Database, alembic_config
from timeline._metadata import metadata


def _diff(url: str) -> list[Any]:
    async def run() -> list[Any]:
        db = Database(url)
        try:
            async with db.write_engine.connect() as conn:

                def compare(sync: Connection) -> list[Any]:
                    return list(compare_metadata(MigrationContext.configure(sync), metadata))

                return await conn.run_sync(compare)
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_models_and_migrations_agree(database_url: str) -> None:
    assert _diff(database_url) == []


def test_downgrade_removes_everything_and_upgrade_restores_it(pg_databases: PgDatabases) -> None:
    url = pg_databases.create()
    migrate(url)

    async def downgrade() -> tuple[str | None, str | None]:
        db = Database(url)
        try:
            cfg = alembic_config()
            async with db.write_engine.begin() as conn:

                def run(sync: Connection) -> None:
                    cfg.attributes["connection"] = sync
                    command.downgrade(cfg, "base")

                await conn.run_sync(run)
            return await db.migration_state()
        finally:
            await db.dispose()

    assert asyncio.run(downgrade()) == (None, MIGRATION_HEAD)
    migrate(url)
    assert _diff(url) == []

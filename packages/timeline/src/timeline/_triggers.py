"""Database triggers that make events and checkpoints immutable.

They are the last line behind the API (which has no update or delete route for either): even
a buggy or hostile client of the database connection gets an error. A database owner can still
drop them, which is what signed checkpoints are for.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

IMMUTABLE_TABLES = ("event", "checkpoint", "checkpoint_leaf")


def create_triggers(connection: Connection) -> None:
    """Create the immutability triggers on ``IMMUTABLE_TABLES``."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                "CREATE OR REPLACE FUNCTION timeline_refuse_change() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
                "'% rows are immutable', TG_TABLE_NAME USING ERRCODE = 'restrict_violation'; "
                "END $$"
            )
        )
        for table in IMMUTABLE_TABLES:
            connection.execute(
                text(
                    f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION timeline_refuse_change()"
                )
            )
        return
    for table in IMMUTABLE_TABLES:
        for action in ("UPDATE", "DELETE"):
            connection.execute(
                text(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} rows are immutable'); END"
                )
            )


def drop_triggers(connection: Connection) -> None:
    """Drop what :func:`create_triggers` made."""
    if connection.dialect.name == "postgresql":
        for table in IMMUTABLE_TABLES:
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}"))
        connection.execute(text("DROP FUNCTION IF EXISTS timeline_refuse_change()"))
        return
    for table in IMMUTABLE_TABLES:
        for action in ("update", "delete"):
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{action}"))

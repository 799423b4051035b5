"""What every ``timeline`` command shares: the database option, settings, messages.

Kept free of heavy imports: ``timeline --help`` loads this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from timeline.settings import Settings

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy async URL (default: TIMELINE_DATABASE_URL or ./timeline.db)",
    ),
]


def settings_for(database_url: str | None) -> Settings:
    """The settings from ``TIMELINE_*`` variables, with ``database_url`` when given."""
    from timeline.settings import Settings

    return Settings() if database_url is None else Settings(database_url=database_url)


def err(message: str) -> None:
    """Print a diagnostic to stderr (results go to stdout)."""
    typer.echo(message, err=True)

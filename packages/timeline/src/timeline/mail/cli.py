"""``timeline email ...`` and ``timeline rotate-keys``."""

from __future__ import annotations

import typer

email_app = typer.Typer(
    help="E-mail accounts: sync mail into subject timelines.", no_args_is_help=True
)

"""``timeline documents ...``."""

from __future__ import annotations

import typer

documents_app = typer.Typer(
    help="Documents: check stored files against their chained checksums.", no_args_is_help=True
)

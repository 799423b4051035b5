"""E-mail accounts: encrypted credentials, IMAP sync into chained ``email_received`` events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timeline.mail._routes import router

if TYPE_CHECKING:
    from fastapi import FastAPI

    from timeline._context import Context


def install(app: FastAPI, ctx: Context) -> None:  # noqa: ARG001 - the feature install signature
    """Add the e-mail account routes to ``app``."""
    app.include_router(router)

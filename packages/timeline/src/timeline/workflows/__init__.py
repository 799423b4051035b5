"""Workflows: rules on appended events that append events or call signed webhooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timeline.workflows._routes import router

if TYPE_CHECKING:
    from fastapi import FastAPI

    from timeline._context import Context


def install(app: FastAPI, ctx: Context) -> None:  # noqa: ARG001 - the feature install signature
    """Add the workflow routes to ``app``."""
    app.include_router(router)

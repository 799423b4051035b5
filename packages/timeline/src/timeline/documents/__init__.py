"""Documents: streamed uploads, content addressing, versions, chained upload events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timeline.documents._routes import router

if TYPE_CHECKING:
    from fastapi import FastAPI

    from timeline._context import Context


def install(app: FastAPI, ctx: Context) -> None:  # noqa: ARG001 - the feature install signature
    """Add the document routes to ``app``."""
    app.include_router(router)

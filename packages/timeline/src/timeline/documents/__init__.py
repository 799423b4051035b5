"""Documents: streamed uploads, content addressing, versions, chained upload events.

``install`` adds the routes, builds the configured store (local directory or S3) and registers
it with the service's lifecycle, so it is prepared at start-up and closed at shutdown. The
imports wait for ``install`` so that ``timeline documents --help`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from timeline._context import Context

__all__ = ["install"]


def install(app: FastAPI, ctx: Context) -> None:
    """Add the document routes to ``app`` and its store to the service's lifecycle.

    Raises:
        ConfigurationError: the S3 backend is selected without a bucket or without boto3.
    """
    from timeline.documents._routes import router
    from timeline.documents._storage import build_store

    store = build_store(ctx.settings)
    app.state.document_store = store
    ctx.services.append(store)
    app.include_router(router)

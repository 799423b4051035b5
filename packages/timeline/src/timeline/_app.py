"""The FastAPI application: lifespan-owned engines, middleware, error shape, health."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from timeline import documents, mail, workflows
from timeline._context import Context
from timeline._middleware import (
    BodySizeLimitMiddleware,
    ClientRateLimitMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from timeline._routes import router
from timeline.errors import ApiError, RateLimitError
from timeline.settings import Settings

logger = logging.getLogger(__name__)


def _error(
    status: int, code: str, message: str, details: Any = None, **headers: str
) -> JSONResponse:
    return JSONResponse(
        {"error": code, "message": message, "details": details or {}},
        status_code=status,
        headers=headers or None,
    )


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {}
    if isinstance(exc, RateLimitError):
        headers["Retry-After"] = str(max(1, round(exc.retry_after + 0.5)))
    return _error(exc.status_code, exc.code, exc.message, exc.details, **headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"location": [str(p) for p in e.get("loc", ())], "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    return _error(
        422, "VALIDATION_ERROR", "the request is not valid; see details", {"errors": errors}
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    return _error(exc.status_code, f"HTTP_{exc.status_code}", str(exc.detail), **headers)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error", exc_info=exc)
    return _error(500, "INTERNAL_ERROR", "the server failed; the request id names it in the logs")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The timeline service for ``settings`` (default: from ``TIMELINE_*`` variables).

    The lifespan creates the engines, keys and limiter, applies migrations when
    ``settings.should_migrate`` (the SQLite default), and disposes of everything at shutdown.
    """
    settings = settings or Settings()
    ctx = Context.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.should_migrate:
            await ctx.db.migrate()
        app.state.timeline = ctx
        await ctx.start_services()
        try:
            yield
        finally:
            await ctx.stop_services()
            await ctx.db.dispose()
            close = getattr(ctx.limiter, "aclose", None)
            if close is not None:
                await close()

    from timeline import __version__

    app = FastAPI(
        title="timeline",
        version=__version__,
        summary="Tamper-evident, per-subject event chains for many tenants.",
        lifespan=lifespan,
    )
    app.state.timeline = ctx
    app.include_router(router)
    for feature in (documents, mail, workflows):
        feature.install(app, ctx)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/health/ready", tags=["health"], responses={503: {"description": "not ready"}})
    async def ready() -> JSONResponse:
        """The database answers and its schema is at the newest migration."""
        try:
            async with ctx.db.read() as session:
                await session.execute(text("SELECT 1"))
            current, head = await ctx.db.migration_state()
        except Exception:
            logger.warning("readiness check failed", exc_info=True)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        if current != head:
            body = {"status": "unavailable", "migration": current, "expected": head}
            return JSONResponse(body, 503)
        return JSONResponse({"status": "ok", "migration": current})

    # Outermost last: request ids wrap everything, so even a 413 or 429 carries one.
    app.add_middleware(ClientRateLimitMiddleware, limiter=ctx.limiter)
    app.add_middleware(
        BodySizeLimitMiddleware,
        limit=settings.max_request_bytes,
        upload_limit=settings.max_document_bytes,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used by ``timeline serve`` with several workers)."""
    return create_app(Settings())

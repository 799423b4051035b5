"""timeline: tamper-evident event timeline service.

A multi-tenant service that keeps per-subject, tamper-evident event chains (FastAPI, SQLAlchemy
2 async; PostgreSQL in production, SQLite as the embedded default). ``import timeline`` stays
light: the application and its settings load on first use.

Example::

    import uvicorn
    from timeline import Settings, create_app

    uvicorn.run(create_app(Settings(database_url="sqlite+aiosqlite:///./timeline.db")))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from timeline.errors import (
    ApiError,
    ChainConflictError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitError,
    TimelineError,
    UnauthorizedError,
    ValidationFailedError,
)

if TYPE_CHECKING:
    from timeline._app import create_app
    from timeline.settings import Settings

__all__ = [
    "ApiError",
    "ChainConflictError",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "RateLimitError",
    "Settings",
    "TimelineError",
    "UnauthorizedError",
    "ValidationFailedError",
    "__version__",
    "create_app",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("timeline")
    if name == "create_app":
        from timeline._app import create_app

        return create_app
    if name == "Settings":
        from timeline.settings import Settings

        return Settings
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)

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

from typing import TYPE_CHECKING

from corekit.lazy import lazy_exports as _lazy_exports
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


__getattr__, __dir__ = _lazy_exports(
    __name__,
    {"create_app": "timeline._app", "Settings": "timeline.settings"},
    __all__,
    distribution="timeline",
)

"""timeline: tamper-evident event timeline service.

A multi-tenant service that keeps per-subject, tamper-evident event chains (FastAPI, SQLAlchemy
2 async; PostgreSQL in production, SQLite as the embedded default).
"""

from __future__ import annotations

from typing import Any

from timeline.errors import TimelineError

__all__ = ["TimelineError", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("timeline")
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)

"""projectx: ProjectX Gateway async trading SDK.

Async SDK for the ProjectX Gateway trading API: JWT auth, accounts, contracts, bars, orders,
positions, trades, realtime hubs and an Arrow IPC cache.
"""

from __future__ import annotations

from typing import Any

from projectx.errors import ProjectXError

__all__ = ["ProjectXError", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("projectx")
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)

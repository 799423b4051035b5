"""pywats: WATS manufacturing test-data API.

API for WATS manufacturing test data (reports in WSJF, products, units, assets), a station
service that never loses a report, and a PySide6 desktop client.
"""

from __future__ import annotations

from typing import Any

from pywats.errors import WATSError

__all__ = ["WATSError", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("pywats")
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)

"""corekit: what every client in the workspace needs and nobody should write twice."""

from __future__ import annotations

from typing import Any

from corekit.clock import Clock, SystemClock, system_clock
from corekit.errors import ConfigurationError, CorekitError, OperationError

__all__ = [
    "Clock",
    "ConfigurationError",
    "CorekitError",
    "OperationError",
    "SystemClock",
    "__version__",
    "system_clock",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("corekit")
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)

"""corekit: what every client in the workspace needs and nobody should write twice.

The API lives in a few public modules, each named by its concept; importing ``corekit`` itself
stays cheap (it loads none of them):

* :mod:`corekit.errors`: the one error tree (misuse apart from runtime failures).
* :mod:`corekit.clock`: the ``Clock`` protocol; everything that waits takes one.
* :mod:`corekit.closing`: ``Closing`` / ``AsyncClosing``, ``with`` support for closeable objects.
* :mod:`corekit.retry`: retry policies over stamina, with the HTTP retry rules.
* :mod:`corekit.ratelimit`: sliding-window rate limiters, in-process and Redis-shared.
* :mod:`corekit.breaker`: per-key circuit breakers with limited half-open probes.
* :mod:`corekit.queue`: one status vocabulary, an in-memory and a durable SQLite queue.
* :mod:`corekit.http`: ``Client`` / ``AsyncClient`` over one pipeline, OAuth2 and token auth.
* :mod:`corekit.files`: atomic writes and a cross-process file lock.
* :mod:`corekit.lazy`: lazy package exports (PEP 562) for cheap package imports.
* :mod:`corekit.websocket`: WebSockets over an ``AsyncClient`` (extra ``corekit[websockets]``).
* :mod:`corekit.testing`: ``FakeClock``, ``serve(app)`` and fault injection for emulators.
"""

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

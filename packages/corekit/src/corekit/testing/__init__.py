"""Test kit shipped with corekit: a fake clock, a loopback server runner and fault injection.

Emulators and client tests across the workspace build on these pieces:

* :class:`FakeClock` drives time in tests; nothing sleeps for real.
* :func:`serve` runs an ASGI app under uvicorn on a free loopback port in a background thread
  and yields a :class:`ServedApp` (its ``url``); :func:`run` serves one in the foreground (an
  emulator's command line), redacting secrets in uvicorn's access log. Both need the
  ``corekit[testing]`` extra.
* :class:`FaultInjector` wraps an emulator app: it logs every request
  (:class:`RecordedRequest`, secrets redacted) and applies queued :class:`Fault` s (error status,
  latency, dropped connection, 429 with ``Retry-After``), driven from Python or over HTTP under
  ``/_emulator/``.
"""

from __future__ import annotations

from corekit.testing._clock import FakeClock
from corekit.testing._faults import FaultInjector
from corekit.testing._faultspec import Fault, FaultKind
from corekit.testing._requestlog import REDACTED, RecordedRequest
from corekit.testing._server import ASGIApp, ServedApp, run, serve

__all__ = [
    "REDACTED",
    "ASGIApp",
    "FakeClock",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "RecordedRequest",
    "ServedApp",
    "run",
    "serve",
]

"""Circuit breaker: closed / open / half-open with limited probes, per key, sync and async.

Hand-written rather than built on a library (reference/aesthetics.md §B.3): pybreaker is
sync-only (its async face needs Tornado), aiobreaker and purgatory are unmaintained, and
circuitbreaker has no locks, hooks or clock injection. Nothing maintained combines an
asyncio-native and a sync face, an injectable clock, per-key circuits, limited half-open probes
and state-change hooks. pybreaker's listener design is the reference for the hook.

Example::

    from corekit.breaker import CircuitBreaker

    breaker = CircuitBreaker(failure_threshold=5, recovery_time=30.0)
    with breaker.guard("api.example.com"):
        response = send(request)
    result = breaker.for_key("api.example.com").call(fetch, "/items")
"""

from __future__ import annotations

from corekit._breaker import (
    Admission,
    BreakerSnapshot,
    Circuit,
    CircuitBreaker,
    CircuitState,
)
from corekit.errors import CircuitOpenError

__all__ = [
    "Admission",
    "BreakerSnapshot",
    "Circuit",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
]

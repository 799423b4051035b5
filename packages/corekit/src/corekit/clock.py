"""Time as a dependency.

Everything in corekit that waits or expires (retry backoff, rate limiters, breakers, queue leases,
token expiry) takes a :class:`Clock`, so tests drive time with :class:`corekit.testing.FakeClock`
instead of sleeping.

A clock gives two readings: :meth:`Clock.monotonic` for measuring intervals and
:meth:`Clock.time` for wall-clock timestamps that are stored or compared across processes
(queue ``not_before``, token expiry). Sleeping comes in a sync and an async flavour.
"""

from __future__ import annotations

__all__ = ["Clock", "SystemClock", "system_clock"]

import time
from typing import Protocol, runtime_checkable

import anyio


@runtime_checkable
class Clock(Protocol):
    """What corekit needs from time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences are meaningful."""
        ...

    def time(self) -> float:
        """Seconds since the Unix epoch (wall clock)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time` and real sleeps."""

    def monotonic(self) -> float:
        """Return :func:`time.monotonic`."""
        return time.monotonic()

    def time(self) -> float:
        """Return :func:`time.time`."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Sleep with :func:`time.sleep` (no-op for non-positive values)."""
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Sleep with :func:`anyio.sleep` (yields to the event loop even for zero)."""
        await anyio.sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return "SystemClock()"


system_clock: Clock = SystemClock()
"""The shared real clock; the default wherever a ``clock`` argument is omitted."""

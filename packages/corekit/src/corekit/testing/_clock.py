"""A clock that moves only when told to, or when something sleeps on it."""

from __future__ import annotations

import threading

import anyio
import anyio.lowlevel

_DEFAULT_EPOCH = 1_750_000_000.0


class FakeClock:
    """A deterministic :class:`corekit.clock.Clock` for tests.

    Time starts at ``start`` (monotonic) and ``epoch`` (wall clock) and moves forward only
    through :meth:`advance` or a sleep. Sleeping does not wait: it moves the clock to the end
    of the sleep, so code under test runs at full speed while seeing time pass. Concurrent
    async sleepers that share a deadline advance the clock once, not once each: a sleep moves
    time to ``max(now, deadline)``.

    Every sleep is recorded in ``sleeps``, so tests can assert the backoff a component chose.

    Args:
        start: initial monotonic reading.
        epoch: initial wall-clock reading (seconds since the Unix epoch).
    """

    def __init__(self, start: float = 0.0, *, epoch: float = _DEFAULT_EPOCH) -> None:
        self._lock = threading.Lock()
        self._monotonic = float(start)
        self._offset = float(epoch) - float(start)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """Return the current fake monotonic time."""
        with self._lock:
            return self._monotonic

    def time(self) -> float:
        """Return the current fake wall-clock time."""
        with self._lock:
            return self._monotonic + self._offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``.

        Raises:
            ValueError: if ``seconds`` is negative (clocks do not run backwards) or NaN.
        """
        if not seconds >= 0:  # also refuses NaN
            msg = f"FakeClock.advance takes a non-negative number of seconds, got {seconds!r}"
            raise ValueError(msg)
        with self._lock:
            self._monotonic += seconds

    def _advance_to(self, deadline: float) -> None:
        with self._lock:
            self._monotonic = max(self._monotonic, deadline)

    def sleep(self, seconds: float) -> None:
        """Record the sleep and move time to its end, without waiting."""
        with self._lock:
            self.sleeps.append(seconds)
            deadline = self._monotonic + max(seconds, 0.0)
        self._advance_to(deadline)

    async def asleep(self, seconds: float) -> None:
        """Record the sleep, let other tasks run once, then move time to the sleep's end."""
        with self._lock:
            self.sleeps.append(seconds)
            deadline = self._monotonic + max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()
        self._advance_to(deadline)

    def __repr__(self) -> str:
        return f"FakeClock(monotonic={self.monotonic()!r})"

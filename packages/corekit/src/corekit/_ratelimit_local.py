"""The in-process sliding-window rate limiter.

Written by hand (see ARCHITECTURE.md and reference/aesthetics.md §B.2): aiolimiter is async
only and a leaky bucket, pyrate-limiter starts a background thread and sleeps in real time, and
limits cannot wait. None takes an injected clock, so none can be tested without real sleeps.

The servers we talk to count requests in a sliding window and answer 429 as soon as a window
holds one too many, so this is a sliding-window *log*, not a token bucket (which allows twice the
limit across a refill boundary). Per rate and key the log is a deque of ``(expiry, weight)``
pairs with a running total: a grant costs an append, expiry a ``popleft``.

Memory stays bounded however large the limit: grants closer together than ``period / 1024``
share one log entry, recorded at the later grant's time. That only ever delays a grant by at
most ``period / 1024`` and never lets one through early. Keys whose windows are empty are
dropped by a sweep that runs at most once per longest period, inside an ordinary call (no
background thread or task).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping

from corekit._ratelimit_core import (
    Rate,
    WaitingLimiter,
    bad_weight,
    check_timeout,
    normalize_buckets,
    unknown_bucket,
)
from corekit.clock import Clock, SystemClock, system_clock

__all__ = ["RateLimiter"]

logger = logging.getLogger(__name__)

# A window keeps at most this many log entries (plus one), whatever the limit.
_CELLS = 1024


class _Window:
    """The sliding-window log of one rate for one key."""

    __slots__ = ("limit", "log", "merge_until", "period", "resolution", "total")

    def __init__(self, rate: Rate) -> None:
        self.limit = rate.limit
        self.period = float(rate.period)
        self.resolution = self.period / _CELLS
        self.log: deque[tuple[float, int]] = deque()
        self.total = 0
        # Grants before this time join the newest entry instead of adding one.
        self.merge_until = -math.inf

    def expire(self, now: float) -> None:
        log = self.log
        while log and log[0][0] <= now:
            self.total -= log.popleft()[1]

    def wait(self, now: float, weight: int) -> float:
        """Seconds until ``weight`` fits, given that it does not fit now."""
        need = self.total + weight - self.limit
        for expiry, grant in self.log:
            need -= grant
            if need <= 0:
                wait = expiry - now
                # A caller that sleeps exactly this long must find the entry expired, even
                # after rounding in ``now + wait``.
                while now + wait < expiry:
                    wait = math.nextafter(wait, math.inf)
                return wait
        raise AssertionError("unreachable: weight <= limit")  # pragma: no cover


class _Bucket:
    """One configured bucket: its rates and the windows of every active key."""

    __slots__ = ("max_weight", "rates", "windows")

    def __init__(self, rates: tuple[Rate, ...]) -> None:
        self.rates = rates
        self.max_weight = min(rate.limit for rate in rates)
        self.windows: dict[str, list[_Window]] = {}


class RateLimiter(WaitingLimiter):
    """Sliding-window rate limiter for one process, sync and async, with named buckets.

    Each bucket has one or more :class:`Rate` objects that must all allow a grant, and keeps
    separate state per ``key``, so one bucket definition serves many accounts or hosts::

        limiter = RateLimiter({"bars": [Rate(50, 30)], "default": [Rate(200, 60)]})
        limiter.acquire("bars")
        await limiter.aacquire("default", key="account-7", weight=2, timeout=5.0)

    Thread-safe: one lock guards the state and is never held across a sleep or an await.
    Waiters sleep with ``clock`` and recompute after waking, so nobody is granted beyond the
    limit however the wake-ups interleave.

    Args:
        buckets: bucket name to a :class:`Rate` or a list of rates.
        clock: time source and sleeper; pass a :class:`corekit.testing.FakeClock` in tests.

    Raises:
        ConfigurationError: if ``buckets`` is empty or holds something other than rates.
    """

    def __init__(
        self, buckets: Mapping[str, Rate | Iterable[Rate]], *, clock: Clock = system_clock
    ) -> None:
        self._buckets = {name: _Bucket(rates) for name, rates in normalize_buckets(buckets).items()}
        self._clock = clock
        # SystemClock.monotonic is time.monotonic; calling it directly saves a frame per grant.
        self._monotonic = time.monotonic if type(clock) is SystemClock else clock.monotonic
        self._lock = threading.Lock()
        self._sweep_every = max(rate.period for b in self._buckets.values() for rate in b.rates)
        self._sweep_at = -math.inf

    @property
    def buckets(self) -> dict[str, tuple[Rate, ...]]:
        """The configured buckets and their rates."""
        return {name: bucket.rates for name, bucket in self._buckets.items()}

    def _grant(self, bucket: str, key: str, weight: int) -> float:
        spec = self._buckets.get(bucket)
        if spec is None:
            raise unknown_bucket(bucket, self._buckets)
        if type(weight) is not int or not 0 < weight <= spec.max_weight:
            raise bad_weight(bucket, weight, spec.rates)
        lock = self._lock
        # acquire/release rather than ``with``: measurably cheaper, and this is the hot path
        # (the loops below inline _Window.expire for the same reason).
        lock.acquire()
        try:
            now = self._monotonic()
            if now >= self._sweep_at:
                self._sweep(now)
            windows = spec.windows.get(key)
            if windows is None:
                windows = spec.windows[key] = [_Window(rate) for rate in spec.rates]
            wait = 0.0
            for window in windows:
                log = window.log
                while log and log[0][0] <= now:
                    window.total -= log.popleft()[1]
                if window.total + weight > window.limit:
                    wait = max(wait, window.wait(now, weight))
            if wait:
                return wait
            for window in windows:
                window.total += weight
                # merge_until < now whenever the log is empty: its last entry expired later.
                if now < window.merge_until:
                    last = window.log[-1]
                    window.log[-1] = (now + window.period, last[1] + weight)
                else:
                    window.log.append((now + window.period, weight))
                    window.merge_until = now + window.resolution
            return 0.0
        finally:
            lock.release()

    def _sweep(self, now: float) -> None:
        """Forget keys whose windows are all empty (called with the lock held)."""
        dropped = 0
        for spec in self._buckets.values():
            idle = []
            for key, windows in spec.windows.items():
                for window in windows:
                    window.expire(now)
                if not any(window.total for window in windows):
                    idle.append(key)
            for key in idle:
                del spec.windows[key]
            dropped += len(idle)
        if dropped:
            logger.debug("rate limiter dropped the state of %d idle keys", dropped)
        self._sweep_at = now + self._sweep_every

    def try_acquire(self, bucket: str = "default", *, key: str = "", weight: int = 1) -> float:
        """Grant now if every rate of ``bucket`` allows ``weight`` more for ``key``.

        Args:
            bucket: a configured bucket name.
            key: whose quota to use (e.g. an account or host); each key counts separately.
            weight: how many grants this call takes.

        Returns:
            ``0.0`` if granted; otherwise nothing is granted and the result is the exact number
            of seconds until this request could be granted if nothing else is.

        Raises:
            ConfigurationError: for an unknown bucket, or a weight below 1 or above the
                bucket's smallest limit (it could never be granted).
        """
        return self._grant(bucket, key, weight)

    async def aacquire(
        self,
        bucket: str = "default",
        *,
        key: str = "",
        weight: int = 1,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Suspend with ``clock.asleep`` until ``bucket`` grants ``weight`` for ``key``.

        Same arguments and errors as :meth:`acquire`.
        """
        # The grant never blocks, so the first attempt skips the _agrant coroutine: this is
        # the hot path the benchmark compares with aiolimiter.
        if timeout is not None:
            check_timeout(timeout)
        wait = self._grant(bucket, key, weight)
        if wait:
            await self._await_grant(bucket, key, weight, timeout, wait)

    def __repr__(self) -> str:
        rates = ", ".join(
            f"{name!r}: [{', '.join(map(str, b.rates))}]" for name, b in self._buckets.items()
        )
        return f"RateLimiter({{{rates}}})"

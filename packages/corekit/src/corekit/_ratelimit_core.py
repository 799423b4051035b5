"""What the in-process and the Redis-backed rate limiters share.

:class:`Rate` and the :class:`Limiter` protocol are the public vocabulary; the helpers below
validate configuration and arguments the same way for both implementations, so a mistake reads
the same whichever limiter the caller built.
"""

from __future__ import annotations

import abc
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from corekit.clock import Clock
from corekit.errors import ConfigurationError, RateLimitExceededError

logger = logging.getLogger("corekit.ratelimit")


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` grants (counting weights) in any window of ``period`` seconds.

    The window slides: ``Rate(50, 30)`` never lets a 51st request through within 30 seconds of
    the first of the last 50, not even across a minute boundary.

    Args:
        limit: the number of grants allowed per window, at least 1.
        period: the window length in seconds, greater than 0.

    Raises:
        ConfigurationError: if ``limit`` is not an integer >= 1 or ``period`` is not a finite
            number > 0.
    """

    limit: int
    period: float

    def __post_init__(self) -> None:
        # Checked at run time too: a Rate is often built from settings or parsed headers.
        limit: object = self.limit
        period: object = self.period
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            msg = f"Rate limit must be an integer >= 1, got limit={limit!r}"
            raise ConfigurationError(msg)
        if (
            isinstance(period, bool)
            or not isinstance(period, int | float)
            or not math.isfinite(period)
            or period <= 0
        ):
            msg = f"Rate period must be a finite number of seconds > 0, got period={period!r}"
            raise ConfigurationError(msg)

    def __str__(self) -> str:
        return f"{self.limit} per {self.period:g}s"


@runtime_checkable
class Limiter(Protocol):
    """What the HTTP pipeline (and any caller) needs from a rate limiter.

    Both :class:`~corekit.ratelimit.RateLimiter` (one process) and
    :class:`~corekit.ratelimit.RedisRateLimiter` (several processes sharing one quota) satisfy
    it. ``bucket`` picks one of the configured limits, ``key`` separates independent users of
    the same limits (an account, a host), ``weight`` is how many grants one call takes.
    """

    def try_acquire(self, bucket: str = "default", *, key: str = "", weight: int = 1) -> float:
        """Grant now if every rate of the bucket allows it.

        Returns:
            ``0.0`` if granted; otherwise nothing is granted and the result is the number of
            seconds until the same request could be granted.
        """
        ...

    def acquire(
        self,
        bucket: str = "default",
        *,
        key: str = "",
        weight: int = 1,
        timeout: float | None = None,
    ) -> None:
        """Block (with the limiter's clock) until granted.

        Raises:
            RateLimitExceededError: if the grant cannot happen within ``timeout`` seconds;
                decided before sleeping whenever the wait is known to be too long.
        """
        ...

    async def aacquire(
        self,
        bucket: str = "default",
        *,
        key: str = "",
        weight: int = 1,
        # An up-front budget, not a cancel scope: a wait known to be too long fails at once.
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Like :meth:`acquire`, but suspends the task instead of blocking the thread."""
        ...


def normalize_buckets(buckets: Mapping[str, Rate | Iterable[Rate]]) -> dict[str, tuple[Rate, ...]]:
    """Validate a bucket configuration and return it as ``{name: (rate, ...)}``."""
    mapping: object = buckets
    if not isinstance(mapping, Mapping) or not mapping:
        msg = (
            "buckets must be a non-empty mapping of bucket name to Rate(s), e.g. "
            f"{{'default': [Rate(200, 60)]}}, got buckets={buckets!r}"
        )
        raise ConfigurationError(msg)
    result: dict[str, tuple[Rate, ...]] = {}
    for name, spec in buckets.items():
        label: object = name
        if not isinstance(label, str) or not label:
            msg = f"bucket names must be non-empty strings, got {name!r}"
            raise ConfigurationError(msg)
        given: object = spec
        rates = (
            (given,)
            if isinstance(given, Rate)
            else tuple(given)
            if isinstance(given, Iterable)
            else ()
        )
        if not rates or not all(isinstance(rate, Rate) for rate in rates):
            msg = (
                f"bucket {name!r} needs one or more Rate objects (all must allow a grant), "
                f"got {spec!r}"
            )
            raise ConfigurationError(msg)
        result[name] = rates
    return result


def unknown_bucket(bucket: str, names: Iterable[str]) -> ConfigurationError:
    """Build the error for a bucket name that is not configured."""
    configured = ", ".join(repr(name) for name in sorted(names))
    msg = f"unknown rate-limit bucket={bucket!r}; configured buckets: {configured}"
    return ConfigurationError(msg)


def bad_weight(bucket: str, weight: object, rates: Iterable[Rate]) -> ConfigurationError:
    """Build the error for a weight that could never be granted (or is not a weight)."""
    smallest = min(rate.limit for rate in rates)
    msg = (
        f"weight must be an integer from 1 to {smallest} (the smallest limit of bucket "
        f"{bucket!r}), got weight={weight!r}"
    )
    return ConfigurationError(msg)


def check_timeout(timeout: float) -> None:
    """Reject a negative or NaN ``timeout`` (``None``, checked by the caller, means no limit)."""
    if not timeout >= 0:
        msg = f"timeout must be None (wait as long as needed) or seconds >= 0, got {timeout!r}"
        raise ConfigurationError(msg)


def refuse_if_too_long(
    bucket: str, weight: int, wait: float, remaining: float | None, timeout: float | None
) -> None:
    """Raise :class:`RateLimitExceededError` if ``wait`` exceeds the ``remaining`` time budget.

    Waiters call this before every sleep, so nobody sleeps for a grant that would come too late.
    """
    if remaining is not None and wait > remaining:
        msg = (
            f"rate-limit bucket {bucket!r} cannot grant weight {weight} within the timeout of "
            f"{timeout:g}s; it could in {wait:.3f}s"
        )
        raise RateLimitExceededError(msg, bucket=bucket, retry_after=wait)


class WaitingLimiter(abc.ABC):
    """``acquire`` and ``aacquire`` written once over an implementation's grant attempt.

    An implementation supplies ``_grant`` (one attempt: ``0.0`` if granted, else the seconds
    to wait) and, when its store needs I/O, an async ``_agrant``. Both faces then wait the
    same way: on the limiter's clock, re-trying after each sleep, and refusing up front when
    the wait would end past the ``timeout``.
    """

    _clock: Clock

    @abc.abstractmethod
    def _grant(self, bucket: str, key: str, weight: int) -> float:
        """One attempt to grant; ``0.0`` if granted, else seconds until it could be."""

    async def _agrant(self, bucket: str, key: str, weight: int) -> float:
        """One attempt to grant from a task; override when ``_grant`` would block."""
        return self._grant(bucket, key, weight)

    def acquire(
        self,
        bucket: str = "default",
        *,
        key: str = "",
        weight: int = 1,
        timeout: float | None = None,
    ) -> None:
        """Block with ``clock.sleep`` until ``bucket`` grants ``weight`` for ``key``.

        Args:
            bucket: a configured bucket name.
            key: whose quota to use; each key counts separately.
            weight: how many grants this call takes.
            timeout: the longest to wait in seconds; ``None`` waits as long as needed.

        Raises:
            RateLimitExceededError: if the grant cannot come within ``timeout``; raised without
                sleeping whenever the wait is already known to be too long.
            ConfigurationError: for an unknown bucket, a bad weight or a negative timeout.
            OperationError: if the limiter's store (Redis) cannot be reached.
        """
        if timeout is not None:
            check_timeout(timeout)
        wait = self._grant(bucket, key, weight)
        if not wait:
            return
        clock = self._clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        while wait:
            remaining = None if deadline is None else deadline - clock.monotonic()
            refuse_if_too_long(bucket, weight, wait, remaining, timeout)
            logger.debug("rate-limit bucket %r: waiting %.3fs", bucket, wait)
            clock.sleep(wait)
            wait = self._grant(bucket, key, weight)

    async def aacquire(
        self,
        bucket: str = "default",
        *,
        key: str = "",
        weight: int = 1,
        # An up-front budget, not a cancel scope: a wait known to be too long fails at once.
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Suspend with ``clock.asleep`` until ``bucket`` grants ``weight`` for ``key``.

        Same arguments and errors as :meth:`acquire`.
        """
        if timeout is not None:
            check_timeout(timeout)
        wait = await self._agrant(bucket, key, weight)
        if wait:
            await self._await_grant(bucket, key, weight, timeout, wait)

    async def _await_grant(
        self, bucket: str, key: str, weight: int, budget: float | None, wait: float
    ) -> None:
        """Sleep and re-try until granted, after a first attempt that asked to ``wait``.

        ``budget`` is the caller's ``timeout``: the longest total wait, or ``None``.
        """
        clock = self._clock
        deadline = None if budget is None else clock.monotonic() + budget
        while wait:
            remaining = None if deadline is None else deadline - clock.monotonic()
            refuse_if_too_long(bucket, weight, wait, remaining, budget)
            logger.debug("rate-limit bucket %r: waiting %.3fs", bucket, wait)
            await clock.asleep(wait)
            wait = await self._agrant(bucket, key, weight)

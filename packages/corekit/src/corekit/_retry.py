"""Retry policy and HTTP retry rules over stamina.

stamina is the retry engine of the workspace: :meth:`RetryPolicy.retrying` hands the policy to
:func:`stamina.retry` for ordinary functions. The HTTP pipeline cannot use stamina's loop
itself, because stamina sleeps with :func:`time.sleep` / :func:`asyncio.sleep` and every wait
in corekit must go through a :class:`~corekit.clock.Clock` (tests never sleep). The pipeline
therefore runs its own loop with the same parameters, the same backoff formula, and stamina's
``is_active`` / testing switches and on-retry instrumentation hooks, so both paths behave alike.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
from collections.abc import Callable, Collection
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn, TypeVar, cast

import stamina

from corekit.errors import (
    ConfigurationError,
    ConnectError,
    HTTPStatusError,
    TransportError,
)

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "IDEMPOTENT_METHODS",
    "RetryPolicy",
    "http_retry_hook",
    "is_idempotent",
    "is_retryable",
    "parse_retry_after",
]

_F = TypeVar("_F", bound=Callable[..., Any])

DEFAULT_RETRY_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Statuses an idempotent request is retried on."""

IDEMPOTENT_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""Methods RFC 9110 defines as idempotent: sending them twice has the effect of sending once."""

_NEVER_RETRY: frozenset[int] = frozenset({400, 401, 403, 404, 422})


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry; stamina's parameters plus HTTP knobs.

    The wait before retry ``n`` (1-based) is
    ``min(wait_max, wait_initial * wait_exp_base ** (n - 1) + uniform(0, wait_jitter))``,
    stamina's formula. A server's ``Retry-After`` replaces it, up to ``max_retry_after``.

    Attributes:
        attempts: total tries including the first (``1`` disables retries).
        timeout: total budget in seconds for all tries and waits; no retry is started that
            would end past it. ``None`` for no budget.
        wait_initial: backoff before the first retry (before jitter).
        wait_max: upper bound of any computed backoff.
        wait_jitter: maximum random jitter added to each backoff.
        wait_exp_base: growth factor of the backoff.
        max_retry_after: the longest ``Retry-After`` honoured; a longer one fails at once
            with the error that carried it (e.g. :class:`~corekit.errors.RateLimitedError`).
        retry_statuses: HTTP statuses an idempotent request is retried on. 400, 401, 403, 404
            and 422 are never accepted here: repeating such a request cannot succeed.
    """

    attempts: int = 5
    timeout: float | None = 45.0
    wait_initial: float = 0.1
    wait_max: float = 5.0
    wait_jitter: float = 1.0
    wait_exp_base: float = 2.0
    max_retry_after: float = 60.0
    retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            _bad("attempts", self.attempts, "an int >= 1")
        if self.attempts < 1:
            _bad("attempts", self.attempts, "an int >= 1 (1 means no retries)")
        if self.timeout is not None and not _positive(self.timeout):
            _bad("timeout", self.timeout, "a positive number of seconds or None")
        for field in ("wait_initial", "wait_max", "wait_jitter", "max_retry_after"):
            value = getattr(self, field)
            if not _non_negative(value):
                _bad(field, value, "a finite number of seconds >= 0")
        if not _non_negative(self.wait_exp_base) or self.wait_exp_base < 1:
            _bad("wait_exp_base", self.wait_exp_base, "a finite number >= 1")
        statuses: object = self.retry_statuses
        if isinstance(statuses, str | bytes) or not isinstance(statuses, Collection):
            _bad("retry_statuses", statuses, "a set of HTTP status codes")
        if not all(isinstance(s, int) and 400 <= s <= 599 for s in statuses):
            _bad("retry_statuses", statuses, "status codes between 400 and 599")
        if never := sorted(_NEVER_RETRY.intersection(statuses)):
            _bad("retry_statuses", statuses, f"statuses that may be retried, not {never}")
        if not isinstance(statuses, frozenset):
            object.__setattr__(self, "retry_statuses", frozenset(statuses))

    @classmethod
    def none(cls) -> RetryPolicy:
        """Return a policy that never retries (one attempt)."""
        return cls(attempts=1)

    @classmethod
    def patient(cls) -> RetryPolicy:
        """Return a policy for background work: 10 attempts within 5 minutes, waits up to 30 s."""
        return cls(attempts=10, timeout=300.0, wait_max=30.0, max_retry_after=120.0)

    def backoff(self, attempt: int) -> float:
        """Return the wait before retry number ``attempt`` (1 = the first retry), with jitter."""
        jitter = random.uniform(0, self.wait_jitter) if self.wait_jitter else 0.0
        try:
            grown = self.wait_initial * self.wait_exp_base ** (attempt - 1)
            return min(self.wait_max, grown + jitter)
        except OverflowError:
            return self.wait_max

    def retry_hook(self, exc: Exception, *, idempotent: bool | None = None) -> bool | float:
        """Decide like the HTTP pipeline whether ``exc`` is worth another try.

        Usable as stamina's ``on=`` backoff hook. The idempotency rule uses the method stored
        on the corekit error (see :func:`is_retryable`); ``Retry-After`` comes back as a float
        so stamina waits exactly that long.

        Returns:
            ``False`` (do not retry), ``True`` (retry with the normal backoff) or the seconds
            to wait (the server's ``Retry-After``).
        """
        method = getattr(exc, "method", "") or ""
        if not is_retryable(
            exc, method=method, idempotent=idempotent, retry_statuses=self.retry_statuses
        ):
            return False
        if isinstance(exc, HTTPStatusError) and exc.retry_after is not None:
            if exc.retry_after > self.max_retry_after:
                return False
            return float(exc.retry_after)
        return True

    def retrying(
        self,
        on: type[Exception]
        | tuple[type[Exception], ...]
        | Callable[[Exception], bool | float | dt.timedelta]
        | None = None,
        *,
        idempotent: bool | None = None,
    ) -> Callable[[_F], _F]:
        """Return a :func:`stamina.retry` decorator configured with this policy.

        Args:
            on: exception type(s) or a stamina backoff hook; by default the HTTP rules of
                :meth:`retry_hook` (with ``idempotent`` passed through).
            idempotent: for the default hook, treat the calls as idempotent (``True``), as
                not idempotent (``False``), or judge by the failed request's method (``None``).

        Returns:
            A decorator for sync or async functions (and generators), as :func:`stamina.retry`.
        """
        if on is None:

            def on(exc: Exception) -> bool | float:
                return self.retry_hook(exc, idempotent=idempotent)

        return cast(
            "Callable[[_F], _F]",
            stamina.retry(
                on=on,
                attempts=self.attempts,
                timeout=self.timeout,
                wait_initial=self.wait_initial,
                wait_max=self.wait_max,
                wait_jitter=self.wait_jitter,
                wait_exp_base=self.wait_exp_base,
            ),
        )


def _positive(value: object) -> bool:
    return _non_negative(value) and float(value) > 0  # type: ignore[arg-type]


def _non_negative(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _bad(name: str, value: object, accepted: str) -> NoReturn:
    msg = f"RetryPolicy({name}={value!r}) is invalid: {name} must be {accepted}"
    raise ConfigurationError(msg)


_DEFAULT_POLICY = RetryPolicy()


def http_retry_hook(exc: Exception) -> bool | float:
    """Stamina backoff hook with the default :class:`RetryPolicy` rules.

    ``@stamina.retry(on=http_retry_hook)`` retries corekit transport errors and retryable
    statuses (respecting the idempotency of the failed request's method) and waits the
    ``Retry-After`` of a :class:`~corekit.errors.RateLimitedError`.

    Returns:
        ``False``, ``True`` or the seconds to wait, as stamina expects.
    """
    return _DEFAULT_POLICY.retry_hook(exc)


def is_idempotent(method: str, idempotent: bool | None = None) -> bool:
    """Return whether a request may be sent twice: the override, else the method's nature."""
    if idempotent is not None:
        return idempotent
    return method.upper() in IDEMPOTENT_METHODS


def is_retryable(
    error: BaseException,
    *,
    method: str,
    idempotent: bool | None = None,
    retry_statuses: Collection[int] = DEFAULT_RETRY_STATUSES,
) -> bool:
    """Decide whether a failed request may be sent again.

    * :class:`~corekit.errors.ConnectError`: always; the request provably never left.
    * 429 (if in ``retry_statuses``): always, also for POST. The server refused the request
      before processing it and asked to come back later, so nothing happened twice.
    * Other transport errors (timeouts, dropped connections) and ``retry_statuses``: only for
      idempotent requests. A POST may have been processed before the connection died or the
      5xx was sent; repeating it could, say, book an order twice.
    * Anything else (400, 401, 403, 404, 422, other 4xx, non-HTTP errors): never.

    Args:
        error: the corekit error of the failed attempt.
        method: the HTTP method.
        idempotent: override the method's nature, e.g. ``True`` for a POST that carries an
            idempotency key; ``None`` to judge by the method.
        retry_statuses: statuses considered transient.

    Returns:
        Whether another attempt is allowed.
    """
    if isinstance(error, ConnectError):
        return True
    if isinstance(error, HTTPStatusError):
        status = error.status_code
        if status in _NEVER_RETRY or status not in retry_statuses:
            return False
        return status == 429 or is_idempotent(method, idempotent)
    if isinstance(error, TransportError):
        return is_idempotent(method, idempotent)
    return False


def parse_retry_after(value: str, *, now: float) -> float | None:
    """Parse a ``Retry-After`` header into seconds to wait.

    Args:
        value: delta-seconds (``"120"``) or an HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``).
        now: the current wall-clock time (``clock.time()``), to turn a date into a delay.

    Returns:
        Seconds to wait (a date in the past or a negative number gives ``0.0``), or ``None``
        if the value is neither form.
    """
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(when.timestamp() - now, 0.0)

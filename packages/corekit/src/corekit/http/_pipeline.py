"""The request pipeline, written once as a sans-I/O generator for both clients.

This is the httpx ``auth_flow`` pattern applied to a whole request: :meth:`Pipeline.flow`
yields *actions* (:class:`Acquire` a rate-limit grant, :class:`Sleep`, :class:`Send` the
request) and receives their outcomes (``None``, or the fully read response; an I/O error is
thrown into the generator). :class:`~corekit.http.Client` performs the actions with blocking
calls and :class:`~corekit.http.AsyncClient` with awaitables, so every decision (retry,
backoff, ``Retry-After``, circuit breaker bookkeeping, error mapping, request ids, logging)
exists exactly once.

The retry loop is hand-written instead of running inside :func:`stamina.retry` because stamina
sleeps for real and corekit's waits go through a :class:`~corekit.clock.Clock`. It mirrors
stamina: same parameters and backoff (:class:`~corekit.retry.RetryPolicy`),
``stamina.set_active(False)`` disables retries, ``stamina.set_testing(...)`` sets the attempts
and removes the waits, and stamina's on-retry instrumentation hooks see every HTTP retry.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypeAlias

import httpx2
import stamina
import stamina._config as _stamina_config
from stamina.instrumentation import RetryDetails, get_on_retry_hooks

from corekit._retry import RetryPolicy, is_retryable
from corekit.breaker import Admission, CircuitBreaker
from corekit.clock import Clock
from corekit.errors import (
    CircuitOpenError,
    CorekitError,
    HTTPStatusError,
    ResponseTooLargeError,
    TransportError,
)
from corekit.http._errors import map_exception, status_error
from corekit.http._redact import Redactor

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Acquire:
    """Take one grant from the rate limiter's ``bucket`` for ``key``; outcome ``None``."""

    bucket: str
    key: str


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` on the client's clock; outcome ``None``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``request`` and read the whole body within the size limit; outcome the response.

    A body over the limit is reported by throwing :class:`BodyTooLarge` into the flow.
    """

    request: httpx2.Request


Action: TypeAlias = Acquire | Sleep | Send
Flow: TypeAlias = Generator[Action, httpx2.Response | None, httpx2.Response]


class BodyTooLarge(Exception):
    """Raised by a client's send step when the response body exceeds the limit."""

    def __init__(self, limit: int, content_length: int | None) -> None:
        super().__init__(limit, content_length)
        self.limit = limit
        self.content_length = content_length


def _stamina_attempts(attempts: int) -> tuple[int, bool]:
    """Apply stamina's global switches: return (attempts, testing)."""
    if not stamina.is_active():
        return 1, False
    if not stamina.is_testing():
        return attempts, False
    # stamina exposes only is_testing(); the attempts its test mode prescribes live in its
    # private config, read here so set_testing(True, attempts=n, cap=...) behaves as it does
    # for stamina.retry. Without it, fall back to stamina's default of one attempt.
    testing = getattr(getattr(_stamina_config, "CONFIG", None), "testing", None)
    if testing is None:
        return 1, True
    return int(testing.get_attempts(attempts)), True


def default_breaker_key(request: httpx2.Request) -> str:
    """Return ``host:port`` of the request's URL (the default port filled in)."""
    url = request.url
    port = url.port
    if port is None:
        port = 443 if url.scheme in ("https", "wss") else 80
    return f"{url.host}:{port}"


class Pipeline:
    """Everything a client does around sending one request, shared by both faces.

    Args:
        retry: the retry policy.
        limited: whether a rate limiter is configured (then :class:`Acquire` is yielded).
        bucket: the limiter bucket, or ``(method, path) -> bucket``.
        rate_limit_key: the limiter key.
        breaker: circuit breaker, or ``None``.
        breaker_key: ``request -> key`` for the breaker.
        request_id_header: header carrying the request id, ``None`` to send none.
        redactor: hides secrets in logs and errors.
        clock: for the retry budget, ``Retry-After`` dates and waits.
        name: names the client in stamina's retry instrumentation.
    """

    __slots__ = (
        "_breaker",
        "_breaker_key",
        "_bucket",
        "_clock",
        "_limited",
        "_name",
        "_rate_limit_key",
        "_redactor",
        "_request_id_header",
        "_retry",
    )

    def __init__(
        self,
        *,
        retry: RetryPolicy,
        limited: bool,
        bucket: str | Callable[[str, str], str],
        rate_limit_key: str,
        breaker: CircuitBreaker | None,
        breaker_key: Callable[[httpx2.Request], str],
        request_id_header: str | None,
        redactor: Redactor,
        clock: Clock,
        name: str,
    ) -> None:
        self._retry = retry
        self._limited = limited
        self._bucket = bucket
        self._rate_limit_key = rate_limit_key
        self._breaker = breaker
        self._breaker_key = breaker_key
        self._request_id_header = request_id_header
        self._redactor = redactor
        self._clock = clock
        self._name = name

    def flow(  # noqa: PLR0912, PLR0915 - the one place all request decisions live
        self,
        request: httpx2.Request,
        *,
        idempotent: bool | None,
        bucket: str | None,
        raise_for_status: bool,
        replayable: bool,
    ) -> Flow:
        """Run one logical request: attempts, waits and the final response or error.

        Yields:
            The next :class:`Acquire`, :class:`Sleep` or :class:`Send` to perform.

        Returns:
            The final, fully read response.

        Raises:
            HTTPStatusError: an error status (if ``raise_for_status``) after the last attempt,
                or the auth flow's token failure (then retried as never processed).
            TransportError: the request failed after the last attempt.
            ResponseTooLargeError: the body exceeded the client's limit.
            CircuitOpenError: the breaker refused the attempt.
        """
        policy = self._retry
        clock = self._clock
        method = request.method
        request_id: str | None = None
        if (header := self._request_id_header) is not None:
            request_id = request.headers.get(header)
            if request_id is None:
                request_id = uuid.uuid4().hex
                request.headers[header] = request_id

        max_attempts, testing = 1, False
        if replayable and policy.attempts > 1:
            max_attempts, testing = _stamina_attempts(policy.attempts)
        acquire: Acquire | None = None
        if self._limited:
            if bucket is None:
                rule = self._bucket
                bucket = rule if isinstance(rule, str) else rule(method, request.url.path)
            acquire = Acquire(bucket, self._rate_limit_key)
        breaker = self._breaker
        breaker_key = self._breaker_key(request) if breaker is not None else ""
        deadline = None
        if max_attempts > 1 and policy.timeout is not None:
            deadline = clock.monotonic() + policy.timeout

        hook_cms: list[AbstractContextManager[None]] = []
        attempt = 0
        waited = 0.0
        last: CorekitError | None = None
        try:
            while True:
                attempt += 1
                while hook_cms:  # stamina exits hook contexts right before the next attempt
                    hook_cms.pop().__exit__(None, None, None)
                admission: Admission | None = None
                if breaker is not None:
                    try:
                        admission = breaker.before_call(breaker_key)
                    except CircuitOpenError as exc:
                        # The breaker opened on our own failed attempts: keep the last one.
                        if last is None:
                            raise
                        raise exc from last
                debug = logger.isEnabledFor(logging.DEBUG)
                response: httpx2.Response | None = None
                cause: Exception | None = None
                during_auth = sending = False
                started = 0.0
                try:
                    if acquire is not None:
                        yield acquire
                    started = time.perf_counter() if debug else 0.0
                    sending = True
                    response = yield Send(request)
                    assert response is not None
                except (httpx2.HTTPError, httpx2.StreamError, httpx2.InvalidURL) as exc:
                    error: CorekitError = map_exception(
                        exc,
                        request,
                        redactor=self._redactor,
                        request_id=request_id,
                        attempts=attempt,
                    )
                    cause = exc
                    if breaker is not None:
                        if isinstance(error, TransportError):
                            breaker.record_failure(breaker_key, admission)
                        else:
                            breaker.release(breaker_key, admission)
                    if debug:
                        self._log_attempt(
                            request,
                            type(exc).__name__,
                            started,
                            request_id=request_id,
                            attempt=attempt,
                            max_attempts=max_attempts,
                        )
                    if not isinstance(error, TransportError):
                        raise error from exc
                except BodyTooLarge as exc:
                    if breaker is not None:
                        breaker.release(breaker_key, admission)
                    if debug:
                        self._log_attempt(
                            request,
                            "body too large",
                            started,
                            request_id=request_id,
                            attempt=attempt,
                            max_attempts=max_attempts,
                        )
                    raise self._too_large(request, exc, request_id, attempt) from None
                except (HTTPStatusError, TransportError) as exc:
                    if breaker is not None:
                        breaker.release(breaker_key, admission)
                    if not sending:
                        raise
                    # Raised by the auth flow (token endpoint or login refused or failed): the
                    # API request was never sent, or was refused with 401, so it did not happen
                    # and may be sent again whatever its method.
                    error, during_auth = exc, True
                    if debug:
                        self._log_attempt(
                            request,
                            f"{type(exc).__name__} while authenticating",
                            started,
                            request_id=request_id,
                            attempt=attempt,
                            max_attempts=max_attempts,
                        )
                except BaseException:
                    if breaker is not None:
                        breaker.release(breaker_key, admission)
                    raise
                else:
                    status = response.status_code
                    if breaker is not None:
                        if status >= 500:
                            breaker.record_failure(breaker_key, admission)
                        else:
                            breaker.record_success(breaker_key, admission)
                    if debug:
                        self._log_attempt(
                            request,
                            status,
                            started,
                            request_id=request_id,
                            attempt=attempt,
                            max_attempts=max_attempts,
                        )
                    if status < 400 or (
                        not raise_for_status and status not in policy.retry_statuses
                    ):
                        return response
                    error = status_error(
                        response,
                        redactor=self._redactor,
                        request_id=request_id,
                        attempts=attempt,
                        now=clock.time(),
                    )

                # Decide whether to try again, and after how long.
                retry = attempt < max_attempts and is_retryable(
                    error,
                    method=method,
                    idempotent=True if during_auth else idempotent,
                    retry_statuses=policy.retry_statuses,
                )
                wait = 0.0
                if retry:
                    # The server's Retry-After (429, 503, ...), parsed when the error was built.
                    asked = error.retry_after if isinstance(error, HTTPStatusError) else None
                    if asked is not None and asked > policy.max_retry_after:
                        retry = False
                        error.add_note(
                            f"Not retried: the server asked to wait {asked:g} s, more than "
                            f"RetryPolicy.max_retry_after={policy.max_retry_after:g} s."
                        )
                    elif not testing:
                        wait = asked if asked is not None else policy.backoff(attempt)
                    if retry and deadline is not None and clock.monotonic() + wait > deadline:
                        retry = False
                        error.add_note(
                            f"Not retried: waiting {wait:.3g} s would pass the retry budget of "
                            f"RetryPolicy.timeout={policy.timeout:g} s."
                        )
                if not retry:
                    if response is not None and not raise_for_status:
                        return response
                    if during_auth:
                        error.add_note(
                            f"Raised while authenticating {method} "
                            f"{self._redactor.url(request.url)} (request id {request_id}, "
                            f"attempt {attempt}/{max_attempts})."
                        )
                        raise error  # keeps the auth flow's own cause
                    raise error from cause

                if logger.isEnabledFor(logging.WARNING):
                    logger.warning(
                        "Retrying %s %s in %.2f s after %s (request id %s, attempt %d/%d)",
                        method,
                        self._redactor.url(request.url),
                        wait,
                        _reason(error, cause, during_auth=during_auth),
                        request_id,
                        attempt,
                        max_attempts,
                    )
                self._run_stamina_hooks(error, attempt, wait, waited, hook_cms)
                if not during_auth:
                    error.__cause__ = cause
                last = error
                if not testing:
                    yield Sleep(wait)
                    waited += wait
        finally:
            while hook_cms:
                hook_cms.pop().__exit__(None, None, None)

    def _log_attempt(
        self,
        request: httpx2.Request,
        outcome: int | str,
        started: float,
        *,
        request_id: str | None,
        attempt: int,
        max_attempts: int,
    ) -> None:
        logger.debug(
            "%s %s -> %s in %.1f ms (request id %s, attempt %d/%d)",
            request.method,
            self._redactor.url(request.url),
            outcome,
            (time.perf_counter() - started) * 1000.0,
            request_id,
            attempt,
            max_attempts,
        )

    def _run_stamina_hooks(
        self,
        error: CorekitError,
        attempt: int,
        wait: float,
        waited: float,
        hook_cms: list[AbstractContextManager[None]],
    ) -> None:
        hooks = get_on_retry_hooks()
        if not hooks:
            return
        details = RetryDetails(
            name=self._name,
            args=(),
            kwargs={},
            retry_num=attempt,
            wait_for=wait,
            waited_so_far=waited,
            caused_by=error,
        )
        for hook in hooks:
            maybe_cm = hook(details)
            if isinstance(maybe_cm, AbstractContextManager):
                maybe_cm.__enter__()
                hook_cms.append(maybe_cm)

    def _too_large(
        self, request: httpx2.Request, exc: BodyTooLarge, request_id: str | None, attempt: int
    ) -> ResponseTooLargeError:
        seen = (
            f"Content-Length is {exc.content_length}"
            if exc.content_length is not None
            else "the body grew past it while reading"
        )
        msg = (
            f"{request.method} {self._redactor.url(request.url)}: response body exceeds "
            f"max_response_bytes={exc.limit} ({seen}); raise the client's max_response_bytes "
            f"or fetch less (request id {request_id}, attempt {attempt})"
        )
        return ResponseTooLargeError(msg, limit=exc.limit)


def _reason(error: CorekitError, cause: Exception | None, *, during_auth: bool) -> str:
    if during_auth:
        return f"{type(error).__name__} while authenticating"
    if isinstance(error, HTTPStatusError):
        return f"status {error.status_code}"
    return type(cause).__name__ if cause is not None else type(error).__name__

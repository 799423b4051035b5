"""Map httpx2 failures and error statuses to the corekit error tree, in one place.

Every error names the method, the URL (secrets redacted), the request id and how many
attempts were made, and a status error carries the start of the response body, so a log line
or a traceback alone tells what failed.
"""

from __future__ import annotations

import contextlib
from http import HTTPStatus

import httpx2

from corekit._retry import parse_retry_after
from corekit.errors import (
    AuthenticationError,
    ClientError,
    ConfigurationError,
    ConnectError,
    CorekitError,
    HTTPStatusError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TimeoutError,
    TransportError,
)
from corekit.http._redact import Redactor

BODY_EXCERPT_CHARS = 1000
"""How much of an error response body is kept on the error and shown in its message."""

_CONNECT_FAILURES = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)


def _context(request_id: str | None, attempts: int) -> str:
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    if request_id:
        return f"(request id {request_id}, after {tries})"
    return f"(after {tries})"


def map_exception(
    exc: Exception,
    request: httpx2.Request,
    *,
    redactor: Redactor,
    request_id: str | None,
    attempts: int,
) -> CorekitError:
    """Translate an httpx2 exception raised while sending ``request`` into a corekit error.

    Connect failures (refused, connect timeout, pool timeout) become
    :class:`~corekit.errors.ConnectError`, other timeouts
    :class:`~corekit.errors.TimeoutError`, every other request failure
    :class:`~corekit.errors.TransportError`. A URL scheme httpx2 cannot speak and a one-shot
    body that had to be sent twice are misuse: :class:`~corekit.errors.ConfigurationError`.
    (An invalid URL met while sending, e.g. in a redirect, is a :class:`TransportError`.)

    The message names the request that failed, which is not always ``request``: when an auth
    flow's token request cannot reach the identity server, the error says so rather than
    blaming the API URL.

    Returns:
        The corekit error; raise it ``from exc``.
    """
    if isinstance(exc, httpx2.HTTPError):
        # The request httpx2 was sending when it failed; unset (RuntimeError) if none was.
        with contextlib.suppress(RuntimeError):
            request = exc.request
    method = request.method
    url = redactor.url(request.url)
    detail = redactor.scrub(str(exc), request.url) or type(exc).__name__
    context = _context(request_id, attempts)
    if isinstance(exc, httpx2.UnsupportedProtocol):
        msg = f"{method} {url}: URL scheme not supported ({detail}); use http:// or https://"
        return ConfigurationError(msg)
    if isinstance(exc, httpx2.StreamError):
        msg = (
            f"{method} {url}: the request body is a one-shot stream and could not be sent "
            f"again ({type(exc).__name__}); pass bytes, str, json= or data= instead"
        )
        return ConfigurationError(msg)
    plain_url = redactor.url_without_query(request.url)
    kind = type(exc).__name__
    if isinstance(exc, _CONNECT_FAILURES):
        msg = f"{method} {url} could not connect: {kind}: {detail} {context}"
        return ConnectError(msg, method=method, url=plain_url, request_id=request_id)
    if isinstance(exc, httpx2.TimeoutException):
        msg = f"{method} {url} timed out: {kind}: {detail} {context}"
        return TimeoutError(msg, method=method, url=plain_url, request_id=request_id)
    msg = f"{method} {url} failed: {kind}: {detail} {context}"
    return TransportError(msg, method=method, url=plain_url, request_id=request_id)


def body_excerpt(response: httpx2.Response) -> str:
    """Return the start of the (already read) body as text, noting how much was cut."""
    content = response.content
    if not content:
        return ""
    text = response.text
    if len(text) <= BODY_EXCERPT_CHARS:
        return text
    head = text[:BODY_EXCERPT_CHARS]
    shown = len(head.encode(response.encoding or "utf-8", errors="replace"))
    return f"{head}... [{max(len(content) - shown, 0)} more bytes]"


def status_error(
    response: httpx2.Response,
    *,
    redactor: Redactor,
    request_id: str | None,
    attempts: int,
    now: float,
) -> HTTPStatusError:
    """Build the error for an error status (>= 400) of a fully read response.

    Args:
        response: the response, body already read.
        redactor: hides secrets in the URL.
        request_id: the id sent with the request.
        attempts: how many attempts were made.
        now: wall-clock time, to turn a ``Retry-After`` date into seconds.

    Returns:
        401/403 :class:`~corekit.errors.AuthenticationError`, 404
        :class:`~corekit.errors.NotFoundError`, 429 :class:`~corekit.errors.RateLimitedError`,
        other 4xx :class:`~corekit.errors.ClientError`, 5xx :class:`~corekit.errors.ServerError`.
    """
    request = response.request
    status = response.status_code
    method = request.method
    body = body_excerpt(response)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = response.reason_phrase
    context = _context(request_id, attempts)
    msg = f"{method} {redactor.url(request.url)} -> {status} {phrase} {context}"
    if body:
        msg = f"{msg}: {body}"
    fields = {
        "status_code": status,
        "method": method,
        "url": redactor.url_without_query(request.url),
        "body": body,
        "request_id": request_id,
        "retry_after": retry_after(response, now=now),
    }
    cls: type[HTTPStatusError]
    if status == 429:
        cls = RateLimitedError
    elif status in (401, 403):
        cls = AuthenticationError
    elif status == 404:
        cls = NotFoundError
    elif status < 500:
        cls = ClientError
    else:
        cls = ServerError
    return cls(msg, **fields)  # type: ignore[arg-type]


def retry_after(response: httpx2.Response, *, now: float) -> float | None:
    """Return the response's ``Retry-After`` in seconds, or ``None`` if absent or unreadable."""
    value = response.headers.get("retry-after")
    return None if value is None else parse_retry_after(value, now=now)

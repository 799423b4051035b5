"""The one error tree of the workspace.

Every exception corekit raises, and every exception a product package raises, derives from
:class:`CorekitError`. Misuse of an API (a bad setting, an impossible argument) is kept apart
from failures at run time, so callers can catch "the remote side or the machine failed"
without also swallowing their own bugs::

    CorekitError
    ├── ConfigurationError (also ValueError)   misuse: fix the code or the settings
    └── OperationError                          runtime failures: may succeed later
        ├── TransportError                      the request did not complete
        │   ├── ConnectError                    never reached the server (safe to retry)
        │   └── TimeoutError                    no answer in time
        ├── ResponseTooLargeError               body over the configured limit
        ├── HTTPStatusError                     4xx/5xx answer: status_code, retry_after
        │   ├── ClientError                     4xx
        │   │   ├── AuthenticationError         401 / 403, or a login that failed
        │   │   ├── NotFoundError               404
        │   │   └── RateLimitedError            429 (``retry_after`` if the server said)
        │   └── ServerError                     5xx
        ├── CircuitOpenError                    the breaker refuses calls until ``retry_at``
        ├── RateLimitExceededError              a limiter could not grant in time
        ├── LockTimeoutError (also TimeoutError) a file lock stayed taken past the timeout
        └── QueueError                          durable or in-memory queue failures
            ├── QueueFullError                  capacity reached; nothing was stored
            ├── QueueClosedError                used after ``close()``
            └── LeaseError                      ack/nack of an item not leased by you

No ``httpx2`` exception leaves corekit: the HTTP pipeline maps each one to this tree and keeps
the original as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CircuitOpenError",
    "ClientError",
    "ConfigurationError",
    "ConnectError",
    "CorekitError",
    "HTTPStatusError",
    "LeaseError",
    "LockTimeoutError",
    "NotFoundError",
    "OperationError",
    "QueueClosedError",
    "QueueError",
    "QueueFullError",
    "RateLimitExceededError",
    "RateLimitedError",
    "ResponseTooLargeError",
    "ServerError",
    "TimeoutError",
    "TransportError",
]

import builtins


class CorekitError(Exception):
    """Root of every error raised by corekit and the packages built on it."""


class ConfigurationError(CorekitError, ValueError):
    """The API was used wrongly: a setting or argument is invalid.

    The message names the setting, the value that was rejected and what is accepted.
    """


class OperationError(CorekitError):
    """A failure at run time: the remote side, the network or the machine."""


class TransportError(OperationError):
    """The HTTP request did not complete (network failure, protocol error, timeout).

    Attributes:
        method: HTTP method of the failed request.
        url: URL of the failed request, with its query string removed.
        request_id: the request id sent with the request, to find it in server logs.
    """

    def __init__(
        self, message: str, *, method: str = "", url: str = "", request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.request_id = request_id


class ConnectError(TransportError):
    """No connection could be made: the request provably never reached the server."""


class TimeoutError(TransportError, builtins.TimeoutError):
    """The server did not answer within the configured timeout."""


class ResponseTooLargeError(OperationError):
    """The response body is larger than the client's ``max_response_bytes``.

    Attributes:
        limit: the configured limit in bytes.
    """

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class HTTPStatusError(OperationError):
    """The server answered with an error status (4xx or 5xx).

    Attributes:
        status_code: the HTTP status.
        method: HTTP method of the request.
        url: URL of the request, with its query string removed.
        body: the start of the response body (truncated, for diagnostics).
        request_id: the request id sent with the request, to find it in server logs.
        retry_after: seconds the server asked to wait (its ``Retry-After``, e.g. on 429 or
            503), or ``None`` if it did not say.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str = "",
        url: str = "",
        body: str = "",
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.method = method
        self.url = url
        self.body = body
        self.request_id = request_id
        self.retry_after = retry_after


class ClientError(HTTPStatusError):
    """A 4xx answer: the request itself was refused. Retrying it unchanged will not help."""


class AuthenticationError(ClientError):
    """The credentials were refused (401 or 403), or a login or token request failed."""


class NotFoundError(ClientError):
    """The server has no resource at that URL (404)."""


class RateLimitedError(ClientError):
    """The server answered 429 Too Many Requests; ``retry_after`` says for how long, if it did."""


class ServerError(HTTPStatusError):
    """A 5xx answer: the server failed. Idempotent requests are retried on these."""


class CircuitOpenError(OperationError):
    """The circuit breaker is open and refuses calls.

    Attributes:
        key: which breaker refused (e.g. the host).
        retry_at: the clock time at which the breaker lets a probe through.
    """

    def __init__(self, message: str, *, key: str, retry_at: float) -> None:
        super().__init__(message)
        self.key = key
        self.retry_at = retry_at


class RateLimitExceededError(OperationError):
    """A rate limiter could not grant the request within the allowed wait.

    Attributes:
        bucket: name of the bucket that refused.
        retry_after: seconds until the bucket could grant the request.
    """

    def __init__(self, message: str, *, bucket: str, retry_after: float) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.retry_after = retry_after


class LockTimeoutError(OperationError, builtins.TimeoutError):
    """A :class:`corekit.files.FileLock` could not be acquired within its timeout.

    Attributes:
        path: the lock file.
        timeout: the seconds waited.
    """

    def __init__(self, message: str, *, path: str, timeout: float) -> None:
        super().__init__(message)
        self.path = path
        self.timeout = timeout


class QueueError(OperationError):
    """A queue operation failed."""


class QueueFullError(QueueError):
    """The queue is at its capacity; the item was not stored."""


class QueueClosedError(QueueError):
    """The queue was used after it was closed."""


class LeaseError(QueueError):
    """An item was acknowledged or rejected without holding its (unexpired) lease."""

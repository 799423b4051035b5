"""Errors raised by pym2v.

Every error pym2v raises derives from :class:`Pym2vError`, which is a
:class:`corekit.errors.CorekitError`. Each ``M2V...`` class also derives from the corekit
class it is named after, so ``except corekit.errors.NotFoundError`` and
``except pym2v.errors.M2VNotFoundError`` both catch a 404 from pym2v::

    Pym2vError (corekit.errors.CorekitError)
    ├── M2VConfigurationError         bad settings or arguments; raised before any request
    └── M2VOperationError             the platform, the network or its answer failed
        ├── M2VTransportError         no complete answer
        │   ├── M2VConnectError       the server was not reached
        │   └── M2VTimeoutError       no answer within EUROGARD_TIMEOUT
        ├── M2VStatusError            4xx/5xx: status_code, method, url, body (HTTPStatusError)
        │   ├── M2VClientError
        │   │   ├── M2VAuthenticationError   401/403 or a refused login
        │   │   ├── M2VNotFoundError         404 (e.g. an unknown machine uuid)
        │   │   └── M2VRateLimitedError      429 (retry_after)
        │   └── M2VServerError               5xx
        ├── ResponseFormatError       the answer is not the JSON shape the API documents
        └── M2VResponseTooLargeError

Status errors carry the endpoint, the status and the start of the response body (truncated);
no token or password ever appears in a message.
"""

from __future__ import annotations

__all__ = [
    "M2VAuthenticationError",
    "M2VClientError",
    "M2VConfigurationError",
    "M2VConnectError",
    "M2VNotFoundError",
    "M2VOperationError",
    "M2VRateLimitedError",
    "M2VResponseTooLargeError",
    "M2VServerError",
    "M2VStatusError",
    "M2VTimeoutError",
    "M2VTransportError",
    "Pym2vError",
    "ResponseFormatError",
]

from corekit import errors as _core


class Pym2vError(_core.CorekitError):
    """Root of every error raised by pym2v."""


class M2VConfigurationError(Pym2vError, _core.ConfigurationError):
    """A setting or an argument is invalid; the message names it and what is accepted."""


class M2VOperationError(Pym2vError, _core.OperationError):
    """A failure at run time: the platform, the network, or the shape of an answer."""


class M2VTransportError(M2VOperationError, _core.TransportError):
    """The request did not complete (network failure or broken connection)."""


class M2VConnectError(M2VTransportError, _core.ConnectError):
    """The platform could not be reached: check ``EUROGARD_BASE_URL`` and the network."""


class M2VTimeoutError(M2VTransportError, _core.TimeoutError):
    """No answer in time: raise ``EUROGARD_TIMEOUT`` or fetch shorter batches."""


class M2VResponseTooLargeError(M2VOperationError, _core.ResponseTooLargeError):
    """An answer exceeded ``EUROGARD_MAX_RESPONSE_BYTES``: use a smaller ``max_frame_length``."""


class M2VStatusError(M2VOperationError, _core.HTTPStatusError):
    """The platform answered 4xx or 5xx (``status_code``, ``method``, ``url``, ``body``)."""


class M2VClientError(M2VStatusError, _core.ClientError):
    """A 4xx answer: the request was refused; repeating it unchanged will not help."""


class M2VAuthenticationError(M2VClientError, _core.AuthenticationError):
    """401/403, or the token request was refused: check the ``EUROGARD_*`` credentials."""


class M2VNotFoundError(M2VClientError, _core.NotFoundError):
    """404: the resource (e.g. a machine uuid) does not exist."""


class M2VRateLimitedError(M2VClientError, _core.RateLimitedError):
    """429: the platform asks to slow down for ``retry_after`` seconds."""


class M2VServerError(M2VStatusError, _core.ServerError):
    """5xx: the platform failed (after the configured retries)."""


class ResponseFormatError(M2VOperationError):
    """An answer was not the JSON shape the m2v API documents.

    Attributes:
        method: HTTP method of the request.
        url: URL of the request, without its query string.
        status_code: the HTTP status of the answer.
        body: the start of the response body.
    """

    def __init__(self, message: str, *, method: str, url: str, status_code: int, body: str) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.status_code = status_code
        self.body = body

"""Errors raised by pywats.

Every error pywats raises derives from :class:`PyWATSError`, which is a
:class:`corekit.errors.CorekitError`; each also derives from the matching corekit error, so
``except corekit.errors.NotFoundError`` catches :class:`WATSNotFoundError` too::

    PyWATSError
    ├── WATSConfigurationError (ConfigurationError, ValueError)  misuse: a bad setting
    │   └── ReportValidationError                 the report breaks a WATS rule
    ├── WATSStatusError (HTTPStatusError)         WATS answered 4xx/5xx: status, route, message
    │   ├── WATSBadRequestError (ClientError)     400/422: WATS rejected the data
    │   ├── WATSAuthenticationError               401/403: credentials refused
    │   ├── WATSNotFoundError                     404
    │   ├── WATSConflictError (ClientError)       409: it already exists
    │   ├── WATSRateLimitedError                  429
    │   └── WATSServerError                       5xx
    ├── WATSTransportError (TransportError)       no complete answer
    │   ├── WATSConnectError (ConnectError)       never reached WATS
    │   └── WATSTimeoutError (TimeoutError)       no answer in time
    ├── WATSUnavailableError (CircuitOpenError)   too many failures; calls paused
    └── WATSOperationError (OperationError)       any other failure at run time
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from corekit.errors import (
    AuthenticationError,
    CircuitOpenError,
    ClientError,
    ConfigurationError,
    ConnectError,
    CorekitError,
    HTTPStatusError,
    NotFoundError,
    OperationError,
    RateLimitedError,
    ServerError,
    TimeoutError,
    TransportError,
)

__all__ = [
    "PyWATSError",
    "ReportValidationError",
    "ValidationIssue",
    "WATSAuthenticationError",
    "WATSBadRequestError",
    "WATSConfigurationError",
    "WATSConflictError",
    "WATSConnectError",
    "WATSNotFoundError",
    "WATSOperationError",
    "WATSRateLimitedError",
    "WATSServerError",
    "WATSStatusError",
    "WATSTimeoutError",
    "WATSTransportError",
    "WATSUnavailableError",
]


class PyWATSError(CorekitError):
    """Root of every error raised by pywats."""


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One rule a report breaks.

    Attributes:
        path: where, in WSJF names, e.g. ``root.steps[3].numericMeas[0].lowLimit``.
        message: what is wrong and what is accepted.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<report>'}: {self.message}"


class WATSConfigurationError(PyWATSError, ConfigurationError):
    """pywats was used wrongly: a setting or argument is invalid; the message says which."""


class ReportValidationError(WATSConfigurationError):
    """The report breaks a rule WATS enforces; WATS would refuse it, so it was not sent.

    Attributes:
        issues: every problem found, each with the path of the bad field.
    """

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = list(issues)
        shown = "; ".join(str(i) for i in self.issues[:10])
        more = f" (and {len(self.issues) - 10} more)" if len(self.issues) > 10 else ""
        super().__init__(f"the report is not valid WSJF: {shown}{more}; fix these fields")


class WATSStatusError(PyWATSError, HTTPStatusError):
    """WATS answered with an error status.

    Attributes:
        route: the API route called, e.g. ``/api/Report/WSJF`` (no query string).
        wats_message: the message from WATS's error body (``Message``), or ``""``.
    """

    route: str = ""
    wats_message: str = ""


class WATSBadRequestError(WATSStatusError, ClientError):
    """WATS rejected the request's data (400 or 422); ``wats_message`` says why."""


class WATSAuthenticationError(WATSStatusError, AuthenticationError):
    """WATS refused the credentials (401) or the user lacks the right (403)."""


class WATSNotFoundError(WATSStatusError, NotFoundError):
    """WATS has no such resource (404)."""


class WATSConflictError(WATSStatusError, ClientError):
    """The resource already exists (409)."""


class WATSRateLimitedError(WATSStatusError, RateLimitedError):
    """WATS asked to slow down (429); ``retry_after`` says for how long, if it did."""


class WATSServerError(WATSStatusError, ServerError):
    """WATS failed (5xx); idempotent calls were already retried."""


class WATSTransportError(PyWATSError, TransportError):
    """The request to WATS did not complete (network failure)."""


class WATSConnectError(WATSTransportError, ConnectError):
    """WATS could not be reached: check the base URL and the network."""


class WATSTimeoutError(WATSTransportError, TimeoutError):
    """WATS did not answer in time: raise ``timeout`` or retry later."""


class WATSUnavailableError(PyWATSError, CircuitOpenError):
    """Calls to WATS are paused after repeated failures; retry after ``retry_at``."""


class WATSOperationError(PyWATSError, OperationError):
    """Another failure at run time (a local rate limit, an oversized or unreadable answer)."""


_HINTS = {
    400: "WATS rejected the data; fix what its message names",
    401: "check the username and password or token (PYWATS_USERNAME, PYWATS_PASSWORD, "
    "PYWATS_TOKEN)",
    403: "the WATS user lacks the permission for this call; ask an administrator",
    404: "nothing exists at this key; check the identifiers",
    409: "it already exists; update it instead of creating it",
    422: "WATS rejected the data; fix what its message names",
    429: "WATS asks to slow down; lower the request rate",
}


def wats_message(body: str) -> str:
    """Extract WATS's message from an error body (JSON ``Message``/``message``/... or text)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(data, dict):
        text = ""
        for key in ("Message", "message", "error", "detail", "title"):
            value = data.get(key)
            if isinstance(value, str) and value:
                text = value
                break
        # ASP.NET (which WATS runs on) puts the detail beside the generic "Message": the
        # invalid fields in ModelState, or the server's ExceptionMessage (never its StackTrace).
        details = _model_state(data.get("ModelState") or data.get("modelState"))
        exception = data.get("ExceptionMessage")
        if isinstance(exception, str) and exception:
            details.append(exception)
        return " ".join([text, *details]).strip()[:500]
    if isinstance(data, str):
        return data[:500]
    return ""


def _model_state(state: object) -> list[str]:
    if not isinstance(state, dict):
        return []
    found = []
    for field, problems in state.items():
        listed = problems if isinstance(problems, list) else [problems]
        found.append(f"{field}: {'; '.join(str(p) for p in listed)}")
    return found


def translate(exc: CorekitError, route: str) -> PyWATSError:
    """Return the pywats error for a corekit error raised while calling ``route``.

    Raise the result ``from exc`` so the original stays attached.
    """
    if isinstance(exc, PyWATSError):
        return exc
    if isinstance(exc, HTTPStatusError):
        return _status(exc, route)
    if isinstance(exc, TransportError):
        cls: type[WATSTransportError] = WATSTransportError
        text = str(exc)
        if isinstance(exc, ConnectError):
            cls, text = WATSConnectError, f"{exc}; check the WATS base URL and network"
        elif isinstance(exc, TimeoutError):
            cls, text = WATSTimeoutError, f"{exc}; raise the timeout or retry later"
        return cls(text, method=exc.method, url=exc.url, request_id=exc.request_id)
    if isinstance(exc, ConfigurationError):
        return WATSConfigurationError(str(exc))
    if isinstance(exc, CircuitOpenError):
        return WATSUnavailableError(str(exc), key=exc.key, retry_at=exc.retry_at)
    return WATSOperationError(f"{route}: {exc}")


def _status(exc: HTTPStatusError, route: str) -> WATSStatusError:
    status = exc.status_code
    cls: type[WATSStatusError]
    if status in (400, 422):
        cls = WATSBadRequestError
    elif status in (401, 403):
        cls = WATSAuthenticationError
    elif status == 404:
        cls = WATSNotFoundError
    elif status == 409:
        cls = WATSConflictError
    elif status == 429:
        cls = WATSRateLimitedError
    elif status >= 500:
        cls = WATSServerError
    else:
        cls = WATSStatusError
    message = wats_message(exc.body)
    hint = _HINTS.get(status, "WATS failed; retry later" if status >= 500 else "")
    text = f"{exc.method} {route} -> {status}"
    if message:
        text += f": {message}"
    if hint:
        text += f" ({hint})"
    if exc.request_id:
        text += f" [request id {exc.request_id}]"
    error = cls(
        text,
        status_code=status,
        method=exc.method,
        url=exc.url,
        body=exc.body,
        request_id=exc.request_id,
        retry_after=exc.retry_after,
    )
    error.route = route
    error.wats_message = message
    return error

"""The request log of :class:`~corekit.testing.FaultInjector`: a record per request, no secrets.

Credentials are redacted when a request is recorded, not when it is shown, so the log can be
printed, compared or served over the control API without leaking a token into test output.
"""

from __future__ import annotations

__all__ = ["REDACTED", "RecordedRequest", "redact_headers", "redact_query"]

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

REDACTED = "[REDACTED]"
"""What a secret header or query value is replaced with in the log."""

# Header or query parameter names containing one of these are treated as secrets.
_SECRET_PARTS = (
    "auth",
    "token",
    "secret",
    "password",
    "passwd",
    "api-key",
    "api_key",
    "apikey",
    "cookie",
    "session",
    "signature",
    "credential",
)
_SECRET_QUERY_NAMES = frozenset({"key", "code", "sig", "jwt"})
# For these the scheme is kept ("Bearer [REDACTED]"): tests can still check how a client
# authenticated without the credential ending up in the log.
_SCHEME_HEADERS = frozenset({"authorization", "proxy-authorization"})


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_PARTS)


def redact_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Decode ASGI headers into a ``{lowercase name: value}`` dict with secrets redacted.

    Repeated headers are joined with ``", "``. ``Authorization`` keeps its scheme
    (``"Bearer [REDACTED]"``); any header whose name mentions auth, token, secret, password,
    api key, cookie, session, signature or credential is replaced entirely.
    """
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in _SCHEME_HEADERS:
            scheme, _, credential = value.strip().partition(" ")
            value = f"{scheme} {REDACTED}" if credential else REDACTED
        elif _is_secret(name):
            value = REDACTED
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def redact_query(query: str) -> str:
    """Return ``query`` with the values of secret-looking parameters redacted.

    A query string without such parameters is returned unchanged (not re-encoded).
    """
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(_is_secret(k) or k.lower() in _SECRET_QUERY_NAMES for k, _ in pairs):
        return query
    redacted = [
        (k, REDACTED if _is_secret(k) or k.lower() in _SECRET_QUERY_NAMES else v) for k, v in pairs
    ]
    return urlencode(redacted, safe="[]")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request that reached a :class:`~corekit.testing.FaultInjector` (control calls excluded).

    Attributes:
        method: HTTP method, upper case.
        path: request path, without the query string.
        query: the query string (``"a=1&b=2"``), secret-looking values redacted.
        headers: request headers by lower-case name; credentials redacted.
        body_size: bytes of request body received.
        status: status answered, or ``None`` if no response was started (the connection was
            dropped before it, or the app failed; uvicorn then answers 500 itself).
        fault: kind of the fault applied (``"status"``, ``"latency"``, ``"drop"``,
            ``"rate_limit"``), or ``None``.
        fault_id: id of the fault applied, or ``None``.
        started: the injector clock's monotonic reading when the request arrived.
        duration: seconds on the injector clock from arrival to the end of the response
            (includes injected latency; with a ``FakeClock`` exactly the fake time that passed).
    """

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body_size: int = 0
    status: int | None = None
    fault: str | None = None
    fault_id: str | None = None
    started: float = 0.0
    duration: float = 0.0

    def matches(self, method: str | None = None, path: str | None = None) -> bool:
        """Whether this request has ``method`` (any case) and a path matching ``path``.

        ``path`` is an exact path or an :mod:`fnmatch` pattern (``*`` also matches ``/``).
        ``None`` matches anything.
        """
        if method is not None and self.method != method.upper():
            return False
        return path is None or fnmatch.fnmatchcase(self.path, path)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (what ``GET /_emulator/requests`` returns)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": dict(self.headers),
            "body_size": self.body_size,
            "status": self.status,
            "fault": self.fault,
            "fault_id": self.fault_id,
            "started": self.started,
            "duration": self.duration,
        }

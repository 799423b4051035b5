"""The request log of :class:`~corekit.testing.FaultInjector`: a record per request, no secrets.

Credentials are redacted when a request is recorded, not when it is shown, so the log can be
printed, compared or served over the control API without leaking a token into test output.
"""

from __future__ import annotations

__all__ = [
    "REDACTED",
    "BodyTap",
    "RecordedRequest",
    "redact_body",
    "redact_headers",
    "redact_query",
]

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from corekit._secrets import REDACTED, could_hold_secret, is_secret_name
from corekit.testing._server import Message, Receive

# For these the scheme is kept ("Bearer [REDACTED]"): tests can still check how a client
# authenticated without the credential ending up in the log.
_SCHEME_HEADERS = frozenset({"authorization", "proxy-authorization"})
# A JSON member with a string value; the value may be cut off by the body limit.
_JSON_STRING_MEMBER = re.compile(rb'"((?:[^"\\]|\\.)*)"(\s*:\s*)"(?:[^"\\]|\\.)*("|\\?\Z)')


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
        elif is_secret_name(name):
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
    if not any(is_secret_name(k) for k, _ in pairs):
        return query
    redacted = [(k, REDACTED if is_secret_name(k) else v) for k, v in pairs]
    return urlencode(redacted, safe="[]")


def redact_body(body: bytes, content_type: str) -> bytes:
    """Return ``body`` with the values of secret-looking fields redacted.

    Form bodies are redacted like a query string. In JSON bodies every member whose name looks
    secret and whose value is a string gets the value ``REDACTED``, by a textual scan that keeps
    the other bytes exactly as sent and also works on a body cut off by the log's limit. Other
    bodies are kept as they are.
    """
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        text = body.decode("latin-1")
        return redact_query(text).encode("latin-1")
    if media_type == "application/json" or media_type.endswith("+json"):
        if not could_hold_secret(body):
            # Large reports rarely name a secret: skip the per-member scan (a C-speed check).
            return body

        def member(match: re.Match[bytes]) -> bytes:
            if not is_secret_name(match[1].decode("utf-8", "replace")):
                return match[0]
            return b'"%s"%s"%s"' % (match[1], match[2], REDACTED.encode())

        return _JSON_STRING_MEMBER.sub(member, body)
    return body


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
            dropped before it, or the app failed; uvicorn then answers 500 itself). For a
            drop after the app (``after_app``), the status the app chose, which the client
            never received.
        fault: kind of the fault applied (``"status"``, ``"latency"``, ``"drop"``,
            ``"rate_limit"``), or ``None``.
        fault_id: id of the fault applied, or ``None``.
        started: the injector clock's monotonic reading when the request arrived.
        duration: seconds on the injector clock from arrival to the end of the response
            (includes injected latency; with a ``FakeClock`` exactly the fake time that passed).
        body: the request body as far as it was read (by the app, or whole when a fault
            answers), cut off after the injector's ``body_limit`` bytes (compare with
            ``body_size``); secret-looking form and JSON fields redacted.
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
    body: bytes = b""

    def matches(
        self, method: str | None = None, path: str | None = None, *, ignore_case: bool = False
    ) -> bool:
        """Whether this request has ``method`` (any case) and a path matching ``path``.

        ``path`` is an exact path or an :mod:`fnmatch` pattern (``*`` also matches ``/``),
        compared regardless of letter case with ``ignore_case``. ``None`` matches anything.
        """
        if method is not None and self.method != method.upper():
            return False
        if path is None:
            return True
        if ignore_case:
            return fnmatch.fnmatchcase(self.path.lower(), path.lower())
        return fnmatch.fnmatchcase(self.path, path)

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ValueError: the body is not JSON (or was cut off by the injector's ``body_limit``).
        """
        return json.loads(self.body)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (what ``GET /_emulator/requests`` returns).

        The body is given as text (decoded as UTF-8, undecodable bytes replaced).
        """
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
            "body": self.body.decode("utf-8", "replace"),
        }


class BodyTap:
    """Wraps ``receive``: counts the request body and keeps its first ``limit`` bytes."""

    __slots__ = ("chunks", "room", "size", "source")

    def __init__(self, source: Receive, limit: int) -> None:
        self.source = source
        self.room = limit
        self.size = 0
        self.chunks: list[bytes] = []

    async def receive(self) -> Message:
        """Receive the next message from ``source``, noting any body it carries."""
        message = await self.source()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            self.size += len(chunk)
            if self.room > 0 and chunk:
                self.chunks.append(chunk[: self.room])
                self.room -= len(self.chunks[-1])
        return message

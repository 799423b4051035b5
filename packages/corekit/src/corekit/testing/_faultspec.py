"""A queued fault and the validation shared by the Python and the HTTP fault API.

Both faces build faults from the same field names (``kind``, ``path``, ``method``, ``count`` and
the fields of the kind), so a rejected field gets the same message whether it came from a
keyword argument or from a posted JSON body.
"""

from __future__ import annotations

__all__ = ["Fault", "FaultKind", "build_fault", "encode_body"]

import dataclasses
import fnmatch
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, cast

from corekit.errors import ConfigurationError

FaultKind: TypeAlias = Literal["status", "latency", "drop", "rate_limit"]
"""What a fault does: answer a status, delay, drop the connection, or answer 429."""

_COMMON_FIELDS = ("kind", "path", "method", "count")
_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "drop": ("after_app",),
    "latency": ("seconds",),
    "rate_limit": ("retry_after", "http_date", "body"),
    "status": ("status", "body", "headers"),
}
_REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "drop": (),
    "latency": ("seconds",),
    "rate_limit": ("retry_after",),
    "status": ("status",),
}
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True, slots=True)
class Fault:
    """A queued fault, as returned by the injector's methods and ``GET /_emulator/faults``.

    Attributes:
        id: identifier, unique per injector (``"fault-1"``, ``"fault-2"``, ...).
        kind: what the fault does.
        path: exact request path or :mod:`fnmatch` pattern (``*`` also matches ``/``).
        method: HTTP method to match (upper case), or ``None`` for any.
        count: how many matching requests the fault was queued for; ``None`` until reset.
        remaining: how many matching requests it still affects; ``None`` until reset.
        status: the status answered (``status`` kind; 429 for ``rate_limit``).
        body: the body answered: JSON data, a ``str`` (sent as text) or ``bytes`` (sent as is);
            ``None`` for the default ``{"detail": <reason phrase>}``.
        headers: extra response headers (``status`` kind).
        seconds: the delay (``latency`` kind).
        retry_after: seconds announced in ``Retry-After`` (``rate_limit`` kind).
        http_date: whether ``Retry-After`` is an HTTP date instead of seconds.
        after_app: whether the app handles the request before the connection drops
            (``drop`` kind): its side effects happen, its response is lost.
    """

    id: str
    kind: FaultKind
    path: str
    method: str | None = None
    count: int | None = 1
    remaining: int | None = 1
    status: int | None = None
    body: Any = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    seconds: float | None = None
    retry_after: float | None = None
    http_date: bool = False
    after_app: bool = False

    def matches(self, method: str, path: str, *, ignore_case: bool = False) -> bool:
        """Whether a request with ``method`` and ``path`` is affected by this fault.

        With ``ignore_case`` the path matches whatever its letter case (for emulators of
        services that route paths case-insensitively).
        """
        if self.method is not None and self.method != method.upper():
            return False
        if ignore_case:
            return fnmatch.fnmatchcase(path.lower(), self.path.lower())
        return fnmatch.fnmatchcase(path, self.path)

    def to_dict(self) -> dict[str, Any]:
        """The fault as JSON-ready data; only the fields of its kind are included."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "method": self.method,
            "count": self.count,
            "remaining": self.remaining,
        }
        for name in _KIND_FIELDS[self.kind]:
            value = getattr(self, name)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            data[name] = dict(value) if name == "headers" else value
        return data


def build_fault(fault_id: str, spec: Mapping[str, Any]) -> Fault:
    """Validate a fault specification (Python arguments or posted JSON) into a :class:`Fault`."""
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in _KIND_FIELDS:
        msg = f"kind: got {kind!r}; accepted: {', '.join(repr(k) for k in sorted(_KIND_FIELDS))}"
        raise ConfigurationError(msg)
    accepted = {*_COMMON_FIELDS, *_KIND_FIELDS[kind]}
    unknown = sorted(set(spec) - accepted)
    if unknown:
        msg = f"{unknown[0]}: not a field of kind {kind!r}; accepted: {', '.join(sorted(accepted))}"
        raise ConfigurationError(msg)
    for name in _REQUIRED_FIELDS[kind]:
        if spec.get(name) is None:
            raise ConfigurationError(f"{name}: required for kind {kind!r}")
    path = spec.get("path")
    if not isinstance(path, str) or not path.startswith(("/", "*")):
        msg = f"path: expected a request path or pattern starting with '/' or '*', got {path!r}"
        raise ConfigurationError(msg)
    method = spec.get("method")
    if method is not None and (not isinstance(method, str) or not method.isalpha()):
        msg = f"method: expected an HTTP method such as 'GET', or null for any; got {method!r}"
        raise ConfigurationError(msg)
    count = spec.get("count", 1)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        msg = (
            f"count: expected a positive int, or null for every request until reset; got {count!r}"
        )
        raise ConfigurationError(msg)
    fields = _kind_fields(kind, spec)
    return Fault(
        id=fault_id,
        kind=cast("FaultKind", kind),
        path=path,
        method=method.upper() if method is not None else None,
        count=count,
        remaining=count,
        **fields,
    )


def _kind_fields(kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if kind == "status":
        status = spec["status"]
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise ConfigurationError(f"status: expected an int from 200 to 599, got {status!r}")
        if status in {204, 304} and spec.get("body") is not None:
            raise ConfigurationError(f"body: a {status} response has no body, got {spec['body']!r}")
        fields["status"] = status
        fields["headers"] = _check_headers(spec.get("headers"))
    elif kind == "latency":
        fields["seconds"] = _check_seconds("seconds", spec["seconds"])
    elif kind == "rate_limit":
        fields["status"] = 429
        fields["retry_after"] = _check_seconds("retry_after", spec["retry_after"])
        fields["http_date"] = _check_flag("http_date", spec.get("http_date", False))
    elif kind == "drop":
        fields["after_app"] = _check_flag("after_app", spec.get("after_app", False))
    if "body" in _KIND_FIELDS[kind] and spec.get("body") is not None:
        encode_body(spec["body"])  # fail now rather than at request time
        fields["body"] = spec["body"]
    return fields


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name}: expected true or false, got {value!r}")
    return value


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        msg = f"{name}: expected a non-negative number of seconds, got {value!r}"
        raise ConfigurationError(msg)
    return float(value)


def _check_headers(headers: object) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        msg = f"headers: expected an object of header name to string value, got {headers!r}"
        raise ConfigurationError(msg)
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if (
            not isinstance(name, str)
            or not isinstance(value, str)
            or not name
            or any(c in name + value for c in "\r\n\0")
        ):
            msg = f"headers: {name!r}: {value!r} is not a header name and string value"
            raise ConfigurationError(msg)
        if name.lower() in _FRAMING_HEADERS:
            msg = f"headers: {name!r} is set by the server; accepted: any other header"
            raise ConfigurationError(msg)
        checked[name.lower()] = value
    return checked


def encode_body(body: Any) -> tuple[bytes, str]:
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    try:
        return json.dumps(body).encode(), "application/json"
    except (TypeError, ValueError) as exc:
        msg = f"body: expected JSON data, a str or bytes; got {body!r} ({exc})"
        raise ConfigurationError(msg) from exc

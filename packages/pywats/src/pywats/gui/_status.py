"""Read the station service's ``/status`` JSON (connection, queue depth, recent results).

The service may be stopped, an older version, or still starting, so the parser takes what it
finds and leaves the rest empty rather than failing: the dashboard then says what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from corekit.errors import CorekitError
from corekit.http import Client

__all__ = ["StationStatus", "fetch_status"]


@dataclass(frozen=True, slots=True)
class StationStatus:
    """One reading of the service's state.

    Attributes:
        reachable: whether the service answered ``/status``.
        error: why it could not be read (``reachable`` is then False).
        connected: whether the service reaches the WATS server (None: not known yet).
        last_error: the service's last upload error.
        auth_problem: the server refused the station's credentials (401/403).
        counts: queue depth per state name.
        recent: recent submissions, newest first (each a JSON object).
        converters: per converter name, its status object (last results).
        raw: the whole document.
    """

    reachable: bool
    error: str | None = None
    connected: bool | None = None
    last_error: str | None = None
    auth_problem: bool = False
    counts: Mapping[str, int] = field(default_factory=dict)
    recent: Sequence[Mapping[str, Any]] = ()
    converters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StationStatus:
        """Build a status from the ``/status`` document, tolerating missing keys."""
        server = data.get("server")
        source: Mapping[str, Any] = server if isinstance(server, Mapping) else data
        connected = source.get("connected")
        counts_raw = data.get("counts") or _nested(data, "queue", "counts") or {}
        counts = {str(k): int(v) for k, v in counts_raw.items() if isinstance(v, int)}
        recent = data.get("recent") or []
        return cls(
            reachable=True,
            connected=connected if isinstance(connected, bool) else None,
            last_error=_text(source.get("last_error")),
            auth_problem=bool(source.get("auth_problem", False)),
            counts=counts,
            recent=[r for r in recent if isinstance(r, Mapping)],
            converters=_converters(data.get("converters")),
            raw=data,
        )


def fetch_status(base_url: str, *, timeout: float = 3.0) -> StationStatus:
    """Read ``/status`` from the service's health server (blocking: call it off the GUI thread).

    Args:
        base_url: ``http://host:port`` of the health server.
        timeout: seconds to wait for it.

    Returns:
        The status; ``reachable=False`` with the reason when the service did not answer.
    """
    try:
        with Client(base_url, timeout=timeout, retry=None, trust_env=False) as client:
            data = client.get("/status").json()
    except (CorekitError, ValueError) as error:
        return StationStatus(reachable=False, error=f"station service at {base_url}: {error}")
    if not isinstance(data, Mapping):
        return StationStatus(reachable=False, error=f"{base_url}/status is not a JSON object")
    return StationStatus.from_json(data)


def _nested(data: Mapping[str, Any], *keys: str) -> Any:
    value: Any = data
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _converters(value: object) -> dict[str, Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items() if isinstance(v, Mapping)}
    if isinstance(value, list):
        return {str(v["name"]): v for v in value if isinstance(v, Mapping) and "name" in v}
    return {}

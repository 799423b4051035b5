"""The station's health server: ``/health/live``, ``/health/ready``, ``/metrics``, ``/status``.

Four read-only GET routes answered from memory do not justify a web framework and an ASGI
server in the station's install: this is a small HTTP/1.1 responder on
:func:`asyncio.start_server` (one request per connection, bounded request size, a read
timeout). The metrics are kept and rendered by :mod:`prometheus_client`.

* ``/health/live``: 200 while the event loop answers.
* ``/health/ready``: 200 when the queue is open and WATS answered recently, else 503 with
  the reason.
* ``/metrics``: Prometheus text format.
* ``/status``: JSON for the desktop client (connection, counts, recent submissions,
  converters). Never holds the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["HealthServer", "HealthSource", "StationMetrics"]

logger = logging.getLogger(__name__)

_MAX_REQUEST = 8192
_READ_TIMEOUT = 5.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class HealthSource(Protocol):
    """What the health server asks the running station."""

    def ready(self) -> tuple[bool, str]:
        """Whether the station can do its work, and why not."""
        ...

    def metrics_text(self) -> bytes:
        """The Prometheus exposition of the current metrics."""
        ...

    def status(self) -> Mapping[str, Any]:
        """The ``/status`` document."""
        ...


class StationMetrics:
    """The station's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.queue_depth = Gauge(
            "pywats_station_queue_reports",
            "Reports in the queue, by state.",
            ["state"],
            registry=self.registry,
        )
        self.events = Counter(
            "pywats_station_queue_events",
            "Queue transitions since start: queued, submitted, retry_scheduled, dead, held, "
            "requeued.",
            ["kind"],
            registry=self.registry,
        )
        self.files = Counter(
            "pywats_station_files",
            "Files the converters handled since start, by converter and outcome.",
            ["converter", "status"],
            registry=self.registry,
        )
        self.upload_latency = Histogram(
            "pywats_station_upload_latency_seconds",
            "Time of each report upload attempt.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.connected = Gauge(
            "pywats_station_server_connected",
            "1 when the last contact with WATS succeeded, 0 when it failed.",
            registry=self.registry,
        )
        self.auth_problem = Gauge(
            "pywats_station_auth_problem",
            "1 while WATS refuses the station's credentials.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


class HealthServer:
    """Serves a :class:`HealthSource` over HTTP on ``host:port``.

    Args:
        source: the running station.
        host: interface to bind.
        port: port to bind; 0 picks a free one (read :attr:`port` after :meth:`start`).
    """

    def __init__(self, source: HealthSource, *, host: str = "127.0.0.1", port: int = 8089) -> None:
        self._source = source
        self._host = host
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        """Bind and start answering.

        Raises:
            OSError: the port is taken or the host cannot be bound.
        """
        self._server = await asyncio.start_server(self._serve, self._host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("health server on %s", self.url)

    async def close(self) -> None:
        """Stop answering and wait for open connections to end."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            if len(head) > _MAX_REQUEST:
                await _respond(writer, 400, b"request too large\n", "text/plain")
                return
            status, body, content_type = self._route(head)
            method = head.split(b" ", 1)[0]
            await _respond(writer, status, body, content_type, head_only=method == b"HEAD")
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _route(self, head: bytes) -> tuple[int, bytes, str]:
        try:
            method, target, _version = head.split(b"\r\n", 1)[0].decode("ascii").split(" ")
        except (UnicodeDecodeError, ValueError):
            return 400, b"malformed request line\n", "text/plain"
        path = target.split("?", 1)[0]
        if path not in {"/health/live", "/health/ready", "/metrics", "/status"}:
            return 404, f"no route {path}; try /status\n".encode(), "text/plain"
        if method not in {"GET", "HEAD"}:
            return 405, b"only GET and HEAD\n", "text/plain"
        try:
            return self._answer(path)
        except Exception:
            logger.exception("health route %s failed", path)
            return 500, b"internal error; see the station log\n", "text/plain"

    def _answer(self, path: str) -> tuple[int, bytes, str]:
        if path == "/health/live":
            return 200, b"live\n", "text/plain"
        if path == "/health/ready":
            ok, reason = self._source.ready()
            return (200 if ok else 503), f"{reason}\n".encode(), "text/plain"
        if path == "/metrics":
            return 200, self._source.metrics_text(), CONTENT_TYPE_LATEST
        body = json.dumps(self._source.status(), default=str).encode()
        return 200, body, "application/json"


async def _respond(
    writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str, *, head_only: bool = False
) -> None:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head.encode("ascii") + (b"" if head_only else body))
    await writer.drain()

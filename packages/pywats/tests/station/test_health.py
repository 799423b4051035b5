"""The health server over a real socket: routes, status codes, metrics text, bad requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest

from pywats.station._health import HealthServer, StationMetrics

pytestmark = pytest.mark.anyio


class Source:
    def __init__(self) -> None:
        self.is_ready = (True, "ready")
        self.metrics = StationMetrics()
        self.broken = False

    def ready(self) -> tuple[bool, str]:
        return self.is_ready

    def metrics_text(self) -> bytes:
        return self.metrics.render()

    def status(self) -> Mapping[str, Any]:
        if self.broken:
            raise RuntimeError("boom")
        return {"ready": self.is_ready[0], "counts": {"pending": 3}}


async def request(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return status, headers, body


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


async def test_routes() -> None:
    source = Source()
    source.metrics.queue_depth.labels(state="pending").set(3)
    source.metrics.events.labels(kind="submitted").inc(2)
    source.metrics.upload_latency.observe(0.02)
    server = HealthServer(source, port=0)
    await server.start()
    try:
        assert server.url == f"http://127.0.0.1:{server.port}"
        status, _, body = await request(server.port, get("/health/live"))
        assert (status, body) == (200, b"live\n")
        status, _, body = await request(server.port, get("/health/ready"))
        assert (status, body) == (200, b"ready\n")
        source.is_ready = (False, "WATS not reached for 95 s")
        status, _, body = await request(server.port, get("/health/ready"))
        assert status == 503
        assert b"95 s" in body
        status, headers, body = await request(server.port, get("/metrics"))
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain")
        text = body.decode()
        assert 'pywats_station_queue_reports{state="pending"} 3.0' in text
        assert 'pywats_station_queue_events_total{kind="submitted"} 2.0' in text
        assert "pywats_station_upload_latency_seconds_count 1.0" in text
        status, headers, body = await request(server.port, get("/status?x=1"))
        assert status == 200
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"ready": False, "counts": {"pending": 3}}
        status, headers, body = await request(server.port, get("/status", "HEAD"))
        assert (status, body) == (200, b"")
        assert int(headers["Content-Length"]) > 0
    finally:
        await server.close()
    await server.close()  # twice is fine


async def test_errors() -> None:
    source = Source()
    server = HealthServer(source, port=0)
    await server.start()
    try:
        status, _, body = await request(server.port, get("/nope"))
        assert status == 404
        assert b"/status" in body
        status, _, _ = await request(server.port, get("/status", "POST"))
        assert status == 405
        status, _, _ = await request(server.port, b"garbage\r\n\r\n")
        assert status == 400
        status, _, _ = await request(server.port, b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\n\r\n")
        assert status == 400
        source.broken = True
        status, _, body = await request(server.port, get("/status"))
        assert status == 500
        assert b"boom" not in body
        # a client that connects and leaves without a request does not hurt the server
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.close()
        status, _, _ = await request(server.port, get("/health/live"))
        assert status == 200
    finally:
        await server.close()


async def test_port_in_use() -> None:
    first = HealthServer(Source(), port=0)
    await first.start()
    try:
        with pytest.raises(OSError):
            await HealthServer(Source(), port=first.port).start()
    finally:
        await first.close()

"""Client and AsyncClient against a real uvicorn server with fault injection.

The server waits for real where a test needs it (latency past a read timeout); the clients'
retry waits always go to a FakeClock, so nothing here sleeps through a backoff.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from corekit.errors import (
    ConnectError,
    RateLimitedError,
    ResponseTooLargeError,
    TimeoutError,
    TransportError,
)
from corekit.http import AsyncClient, Client, Limits, Timeout
from corekit.retry import RetryPolicy
from corekit.testing import FakeClock, FaultInjector, serve

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

BIG = 1_000_000
FAST = RetryPolicy(attempts=3, wait_jitter=0.0)


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {"method": request.method, "size": len(body)},
        headers={"Set-Cookie": "session=cookie-s3cr3t; Path=/"},
    )


async def big(request: Request) -> Response:
    return PlainTextResponse("x" * BIG)


async def big_stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(BIG // 10_000):
            yield b"y" * 10_000

    return StreamingResponse(chunks(), media_type="text/plain")


APP = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST"]),
        Route("/big", big),
        Route("/big-stream", big_stream),
    ]
)


@pytest.fixture(scope="module")
def injector() -> FaultInjector:
    return FaultInjector(APP)


@pytest.fixture(scope="module")
def server(injector: FaultInjector) -> Iterator[str]:
    with serve(injector) as served:
        yield served.url


@pytest.fixture(autouse=True)
def _clean(injector: FaultInjector) -> None:
    injector.reset()


async def test_two_503_then_success(face, server, injector):
    clock = FakeClock()
    injector.fail("/echo", 503, count=2)
    client = face.client(server, clock=clock, retry=FAST)
    response = await face.request(client, "GET", "/echo")
    assert response.json() == {"method": "GET", "size": 0}
    calls = injector.calls("GET", "/echo")
    assert [c.status for c in calls] == [503, 503, 200]
    assert len({c.headers["x-request-id"] for c in calls}) == 1
    assert clock.sleeps == [0.1, 0.2]


async def test_dropped_connection_is_retried_for_get(face, server, injector):
    injector.drop("/echo")
    client = face.client(server, retry=FAST)
    response = await face.request(client, "GET", "/echo")
    assert response.status_code == 200
    assert len(injector.calls("GET", "/echo")) == 2


async def test_dropped_connection_is_not_retried_for_post(face, server, injector):
    injector.drop("/echo")
    client = face.client(server, retry=FAST)
    with pytest.raises(TransportError, match=r"POST .*/echo failed: RemoteProtocolError") as info:
        await face.request(client, "POST", "/echo", json={"order": 1})
    assert not isinstance(info.value, ConnectError | TimeoutError)
    assert len(injector.requests) == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_retried_even_for_post(face):
    clock = FakeClock()
    client = face.client(f"http://127.0.0.1:{closed_port()}", clock=clock, retry=FAST)
    with pytest.raises(ConnectError, match=r"could not connect.*after 3 attempts"):
        await face.request(client, "POST", "/orders", json={"order": 1})
    assert clock.sleeps == [0.1, 0.2]


async def test_429_retry_after_seconds(face, server, injector):
    clock = FakeClock()
    injector.rate_limit("/echo", 3)
    client = face.client(server, clock=clock, retry=FAST)
    response = await face.request(client, "POST", "/echo", content=b"abc")
    assert response.json() == {"method": "POST", "size": 3}  # 429 is safe to retry for POST
    assert clock.sleeps == [3.0]
    assert [c.status for c in injector.calls(path="/echo")] == [429, 200]


async def test_429_retry_after_http_date(face):
    # The server dates its Retry-After on its own fake clock, the client reads it on another
    # fake clock at the same instant: the wait is exactly what the server asked for.
    epoch = 1_750_000_000.0
    dating = FaultInjector(APP, clock=FakeClock(epoch=epoch))
    dating.rate_limit("/echo", 5, http_date=True)
    with serve(dating) as served:
        clock = FakeClock(epoch=epoch)
        client = face.client(served.url, clock=clock, retry=FAST)
        await face.request(client, "GET", "/echo")
    assert clock.sleeps == [5.0]
    assert [c.status for c in dating.calls(path="/echo")] == [429, 200]


async def test_429_with_long_retry_after_fails_fast(face, server, injector):
    clock = FakeClock()
    injector.rate_limit("/echo", 600)
    client = face.client(server, clock=clock, retry=FAST)
    with pytest.raises(RateLimitedError) as info:
        await face.request(client, "GET", "/echo")
    assert info.value.retry_after == 600.0
    assert clock.sleeps == []


async def test_latency_beyond_read_timeout(face, server, injector):
    injector.delay("/echo", 1.0)  # the server really waits; the client gives up after 0.2 s
    client = face.client(server, retry=None)
    with pytest.raises(TimeoutError, match="timed out: ReadTimeout"):
        await face.request(client, "GET", "/echo", timeout=0.2)


@pytest.mark.parametrize("path", ["/big", "/big-stream"])
async def test_big_body_is_refused(face, server, path):
    client = face.client(server, max_response_bytes=100_000)
    with pytest.raises(ResponseTooLargeError) as info:
        await face.request(client, "GET", path)
    assert info.value.limit == 100_000
    assert ("Content-Length is 1000000" in str(info.value)) is (path == "/big")
    # The connection pool is still usable afterwards.
    assert (await face.request(client, "GET", "/echo")).status_code == 200


async def test_http2_falls_back_to_http11_on_plain_http(face, server):
    # uvicorn speaks no HTTP/2 and httpx2 negotiates h2 only through TLS ALPN (no h2c
    # upgrade), so http2=True over http:// talks HTTP/1.1 and works unchanged.
    client = face.client(server, http2=True)
    response = await face.request(client, "GET", "/echo")
    assert response.http_version == "HTTP/1.1"
    assert response.status_code == 200


async def test_no_secret_in_socket_level_logs(face, server, injector, caplog):
    caplog.set_level(logging.DEBUG)
    injector.fail("/echo", 503, count=1)
    client = face.client(server, retry=FAST)
    await face.request(
        client,
        "GET",
        "/echo",
        params={"api_key": "k-s3cr3t"},
        headers={"Authorization": "Bearer t-s3cr3t"},
    )
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("receive_response_headers.complete") for m in messages)
    assert any("(b'set-cookie', b'[REDACTED]')" in m for m in messages)
    assert [m for m in messages if "s3cr3t" in m] == []


async def test_pool_limits_are_passed_through(server, injector):
    # One connection allowed and a short wait for it: a second concurrent request cannot get
    # a connection while the first one is held up by the server.
    injector.delay("/echo", 0.5)
    timeout = Timeout(5.0, pool=0.05)
    async with AsyncClient(
        server, limits=Limits(max_connections=1), timeout=timeout, retry=None
    ) as client:
        results = await asyncio.gather(
            client.get("/echo"), client.get("/echo"), return_exceptions=True
        )
    assert sorted(type(r).__name__ for r in results) == ["ConnectError", "Response"]


def test_proxy_and_trust_env_are_passed_through(server, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with Client(server, proxy=dead, retry=None) as client, pytest.raises(ConnectError):
        client.get("/echo")
    monkeypatch.setenv("HTTP_PROXY", dead)
    monkeypatch.setenv("NO_PROXY", "")
    with Client(server, trust_env=False, retry=None) as client:
        assert client.get("/echo").status_code == 200
    with Client(server, retry=None) as client, pytest.raises(ConnectError):
        client.get("/echo")

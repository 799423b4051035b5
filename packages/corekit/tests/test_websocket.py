"""corekit.websocket against a real WebSocket server (FastAPI under uvicorn)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.websockets import WebSocketDisconnect

from corekit.errors import AuthenticationError, ConnectError, TimeoutError
from corekit.http import AsyncClient
from corekit.testing import serve
from corekit.websocket import WebSocketClosed, aconnect

pytestmark = pytest.mark.anyio


def make_app() -> FastAPI:
    app = FastAPI()

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        if ws.query_params.get("token") != "secret":
            await ws.close(code=4401)  # before accept: the upgrade is refused with 403
            return
        await ws.accept()
        try:
            while True:
                text = await ws.receive_text()
                if text == "bye":
                    await ws.close(code=4000, reason="asked to")
                    return
                if text != "quiet":
                    await ws.send_text(text.upper())
        except WebSocketDisconnect:
            return

    return app


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(make_app()) as server:
        yield server.url


async def test_send_and_receive_text(url: str) -> None:
    async with (
        AsyncClient(url) as client,
        aconnect(client, "/echo", params={"token": "secret"}) as ws,
    ):
        await ws.send_text("hello")
        assert await ws.receive_text(timeout=5) == "HELLO"
        assert "/echo" in repr(ws)
        assert "secret" not in ws.url
        await ws.send_text("quiet")
        with pytest.raises(TimeoutError):
            await ws.receive_text(timeout=0.05)
        await ws.close()
        await ws.close()  # idempotent


async def test_a_close_from_the_server_is_websocket_closed(url: str) -> None:
    async with (
        AsyncClient(url) as client,
        aconnect(client, f"{url}/echo", params={"token": "secret"}) as ws,
    ):
        await ws.send_text("bye")
        with pytest.raises(WebSocketClosed) as closed:
            await ws.receive_text(timeout=5)
        assert closed.value.code == 4000
        assert closed.value.reason == "asked to"
        with pytest.raises(WebSocketClosed):
            await ws.send_text("more")


async def test_a_refused_upgrade_is_a_status_error(url: str) -> None:
    async with AsyncClient(url) as client:
        with pytest.raises(AuthenticationError) as refused:
            async with aconnect(client, "/echo", params={"token": "wrong"}):
                pass
    assert refused.value.status_code == 403


async def test_no_server_is_a_connect_error() -> None:
    async with AsyncClient("http://127.0.0.1:9") as client:
        with pytest.raises(ConnectError):
            async with aconnect(client, "/echo"):
                pass

"""corekit.testing.serve: a real uvicorn on a loopback port, started and stopped per block."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from fastapi import FastAPI

import corekit.testing
from corekit.errors import ConfigurationError, OperationError
from corekit.testing import FaultInjector, ServedApp, serve
from corekit.testing._server import Receive, Scope, Send, _bind, _redact_access_record


async def hello_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A plain ASGI app without lifespan support (uvicorn's "auto" mode copes)."""
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"hello {scope['path']}".encode()})


def lifespan_app(*, fail_startup: bool = False, fail_shutdown: bool = False) -> FastAPI:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if fail_startup:
            raise RuntimeError("database is down")
        events.append("startup")
        app.state.greeting = "set by lifespan"
        yield
        events.append("shutdown")
        if fail_shutdown:
            raise RuntimeError("could not flush")

    app = FastAPI(lifespan=lifespan)
    app.state.events = events

    @app.get("/greeting")
    def greeting() -> dict[str, str]:
        return {"greeting": app.state.greeting}

    return app


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def serve_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("corekit-serve-")]


def test_public_names_match_all() -> None:
    assert corekit.testing.__all__ == sorted(
        corekit.testing.__all__, key=lambda n: (not n.isupper(), n)
    )
    public = {
        name
        for name, value in vars(corekit.testing).items()
        if not name.startswith("_") and not isinstance(value, type(sys)) and name != "annotations"
    }
    assert public == set(corekit.testing.__all__)


def test_serve_yields_a_working_loopback_url() -> None:
    with serve(hello_app) as server:
        assert isinstance(server, ServedApp)
        assert server.host == "127.0.0.1"
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert str(server) == server.url
        response = httpx2.get(f"{server}/ping")
        assert response.status_code == 200
        assert response.text == "hello /ping"


def test_serve_many_times_leaks_no_thread_or_socket() -> None:
    ports = []
    for _ in range(4):
        with serve(hello_app) as server, httpx2.Client(base_url=server.url) as client:
            assert client.get("/").status_code == 200
            assert len(serve_threads()) == 1
            ports.append(server.port)
    assert serve_threads() == []
    assert all(port_is_closed(port) for port in ports)


def test_serve_on_a_fixed_port_and_a_busy_port_is_a_configuration_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"port={busy}"), serve(hello_app, port=busy):
            pass
    # Freed now: a server can take this exact port.
    with serve(hello_app, port=busy) as server:
        assert server.port == busy
        assert httpx2.get(server.url).status_code == 200


def test_lifespan_runs_through_serve_and_the_fault_injector() -> None:
    app = lifespan_app()
    with serve(FaultInjector(app)) as server:
        assert app.state.events == ["startup"]
        assert httpx2.get(f"{server.url}/greeting").json() == {"greeting": "set by lifespan"}
    assert app.state.events == ["startup", "shutdown"]


def test_startup_failure_raises_with_the_application_error_as_cause() -> None:
    with (
        pytest.raises(OperationError, match="failed to start") as caught,
        serve(lifespan_app(fail_startup=True)),
    ):
        pytest.fail("the block must not run when startup failed")
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert "database is down" in str(caught.value)
    assert serve_threads() == []


def test_shutdown_failure_is_raised_when_the_block_exits() -> None:
    app = lifespan_app(fail_shutdown=True)
    with (
        pytest.raises(OperationError, match="failed to shut down") as caught,
        serve(app) as server,
    ):
        assert httpx2.get(f"{server.url}/greeting").status_code == 200
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert app.state.events == ["startup", "shutdown"]


def test_an_error_in_the_block_wins_over_a_shutdown_failure() -> None:
    with pytest.raises(KeyError, match="from the test"), serve(lifespan_app(fail_shutdown=True)):
        raise KeyError("from the test")
    assert serve_threads() == []


def test_a_startup_that_never_finishes_times_out_and_the_thread_ends() -> None:
    async def stuck_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await asyncio.Event().wait()  # never completes startup

    with (
        pytest.raises(OperationError, match=r"startup_timeout=0\.2"),
        serve(stuck_app, startup_timeout=0.2),
    ):
        pass
    assert serve_threads() == []


def test_a_crash_of_the_server_thread_is_reraised(monkeypatch: pytest.MonkeyPatch) -> None:
    async def crashing_main_loop(self: uvicorn.Server) -> None:
        raise RuntimeError("event loop exploded")

    monkeypatch.setattr(uvicorn.Server, "main_loop", crashing_main_loop)
    with pytest.raises(OperationError, match="crashed") as caught, serve(hello_app):
        pass
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert serve_threads() == []


def test_an_error_in_the_block_propagates_and_the_server_stops() -> None:
    with pytest.raises(ZeroDivisionError), serve(hello_app) as server:  # noqa: PT012
        port = server.port
        _ = 1 / 0
    assert port_is_closed(port)


@pytest.mark.anyio
async def test_serve_from_an_async_test() -> None:
    with serve(FaultInjector(hello_app)) as server:
        async with httpx2.AsyncClient(base_url=server.url) as client:
            responses = await asyncio.gather(*(client.get(f"/{i}") for i in range(5)))
    assert [r.text for r in responses] == [f"hello /{i}" for i in range(5)]


def test_missing_uvicorn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with (
        pytest.raises(ConfigurationError, match=r"pip install 'corekit\[testing\]'"),
        serve(hello_app),
    ):
        pass


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"port": -1}, "port"),
        ({"port": 70000}, "port"),
        ({"port": True}, "port"),
        ({"host": ""}, "host"),
        ({"log_level": "loud"}, "log_level"),
        ({"startup_timeout": 0}, "startup_timeout"),
        ({"shutdown_timeout": -1.0}, "shutdown_timeout"),
    ],
)
def test_bad_arguments_are_configuration_errors(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named), serve(hello_app, **kwargs):
        pass
    assert serve_threads() == []


def test_listening_socket_is_tcp_so_asyncio_disables_nagle() -> None:
    # Regression: with proto 0, asyncio skips TCP_NODELAY and each keep-alive request
    # stalls ~40 ms on delayed ACKs.
    with _bind("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP


def test_run_serves_in_the_foreground_and_redacts_tokens_in_the_access_log(tmp_path: Path) -> None:
    # An emulator's command line: a real process, a real request, a real access log line.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = tmp_path / "emulator.py"
    script.write_text(
        "import sys\n"
        "from fastapi import FastAPI\n"
        "from corekit.testing import run\n"
        "app = FastAPI()\n"
        "@app.get('/hub')\n"
        "def hub() -> dict[str, bool]:\n"
        "    return {'ok': True}\n"
        "run(app, port=int(sys.argv[1]))\n"
    )
    process = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/hub?id=7&access_token=eyJ.secret.sig"
        for _ in range(400):  # a real child process starting: poll, there is no clock to fake
            assert process.poll() is None, "the server process exited"
            try:
                response = httpx2.get(url)
                break
            except httpx2.ConnectError:
                time.sleep(0.05)
        else:
            pytest.fail("the server process did not start listening")
        assert response.json() == {"ok": True}
    finally:
        process.terminate()
        log, _ = process.communicate(timeout=10)
    assert "/hub?id=7&access_token=[REDACTED]" in log
    assert "eyJ.secret.sig" not in log


def test_access_records_without_a_query_are_left_alone() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, "%s - %s %s", ("1.2.3.4", "GET", "/x"), None
    )
    assert _redact_access_record(record)
    assert record.args == ("1.2.3.4", "GET", "/x")

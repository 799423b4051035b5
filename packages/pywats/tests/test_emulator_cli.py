"""``python -m pywats.emulator`` as a user runs it: a separate process on a real port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx2
import pytest
from typer.testing import CliRunner

from pywats.emulator.__main__ import DEFAULT_PORT, cli


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else b""
        try:
            httpx2.get(f"{url}/api/health", timeout=1)
        except httpx2.TransportError:
            time.sleep(0.05)  # polling a starting process; there is no event to wait on
        else:
            return
    pytest.fail(f"the emulator did not start on {url}")


@pytest.fixture
def running() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "PYWATS_EMULATOR_PASSWORD": "from-env"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pywats.emulator", "--port", str(port), "--username", "station",
         "--log-level", "warning", "--body-limit", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, process)
        yield url
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert b"WATS emulator on" in stderr  # diagnostics go to stderr


def test_the_cli_serves_with_flags_and_environment(running: str) -> None:
    assert httpx2.get(f"{running}/api/App/Version", auth=("station", "from-env")).json() == (
        "2026.3.0"
    )
    assert httpx2.get(f"{running}/api/App/Version", auth=("wats", "wats")).status_code == 401
    fault = {"kind": "status", "path": "/api/App/Version", "status": 503}
    assert httpx2.post(f"{running}/_emulator/faults", json=fault).status_code == 201
    assert httpx2.get(f"{running}/api/app/version", auth=("station", "from-env")).status_code == 503
    report = {"id": "not-logged"}
    httpx2.post(f"{running}/api/Report/WSJF", json=report, auth=("station", "from-env"))
    (logged,) = httpx2.get(f"{running}/_emulator/requests", params={"method": "POST"}).json()[
        "requests"
    ]
    assert logged["body_size"] > 0
    assert logged["body"] == ""  # --body-limit 0


def test_help_lists_the_documented_defaults() -> None:
    result = CliRunner().invoke(cli, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for text in ("--host", "127.0.0.1", "--port", str(DEFAULT_PORT), "--username", "wats"):
        assert text in result.output
    assert DEFAULT_PORT != 8080


def test_bad_port_is_refused() -> None:
    result = CliRunner().invoke(cli, ["--port", "70000"])
    assert result.exit_code != 0

"""``python -m projectx.emulator`` as a user runs it: a separate process on a loopback port."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx2
import pytest
from typer.testing import CliRunner

from projectx.emulator.__main__ import cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def running() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "projectx.emulator",
            "--port",
            str(port),
            "--username",
            "cli-user",
            "--api-key",
            "cli-key-0123456789",
            "--token-lifetime",
            "420",
            "--no-rate-limits",
            "--log-level",
            "warning",
        ],
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"{url}/api/Status/ping").status_code == 200:
                    break
            except httpx2.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert f"REST http://127.0.0.1:{port}/api" in stderr.decode()


def test_help_names_every_option_and_its_default() -> None:
    result = CliRunner().invoke(cli, ["--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    for option in ("--host", "--port", "--username", "--api-key", "--token-lifetime"):
        assert option in result.output
    assert "127.0.0.1" in result.output
    assert "86400" in result.output


def test_the_process_accepts_the_credentials_it_was_given(running: str) -> None:
    refused = httpx2.post(
        f"{running}/api/Auth/loginKey",
        json={"userName": "emulator", "apiKey": "emulator-api-key"},
    ).json()
    assert refused["errorCode"] == 3
    login = httpx2.post(
        f"{running}/api/Auth/loginKey",
        json={"userName": "cli-user", "apiKey": "cli-key-0123456789"},
    ).json()
    payload = login["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] - claims["iat"] == 420


def test_the_process_serves_the_control_api(running: str) -> None:
    assert httpx2.post(f"{running}/_emulator/reset").json() == {"reset": True}
    for _ in range(3):
        httpx2.get(f"{running}/api/Status/ping")
    log = httpx2.get(f"{running}/_emulator/requests", params={"path": "/api/status/*"}).json()
    assert [r["status"] for r in log["requests"]] == [200, 200, 200]

"""``python -m pym2v.emulator``: options, defaults and a real run as a separate process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import httpx2
import pytest
from typer.testing import CliRunner

import corekit.testing
from corekit.testing import serve
from pym2v.emulator import TOKEN_PATH, Emulator
from pym2v.emulator.__main__ import cli

MACHINES = "/backend/machine-gui-controller/filter"


def login(http: httpx2.Client, base: str, **form: str) -> str:
    response = http.post(base + TOKEN_PATH, data={"grant_type": "password", **form})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_help_lists_every_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pym2v.emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    for option in (
        "--host",
        "--port",
        "--username",
        "--password",
        "--client-id",
        "--client-secret",
        "--machines",
        "--measurements",
        "--setpoints",
        "--routers",
        "--token-lifetime",
        "--sparse",
        "--missing-series",
        "--integer-values",
        "--reordered-results",
    ):
        assert option in result.stdout


def test_options_reach_the_served_app(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def run(app: Emulator, *, host: str, port: int, log_level: str) -> None:
        # Stand-in for corekit.testing.run: serve the app the CLI built on a free port and use it.
        seen.update(host=host, port=port, log_level=log_level, settings=app.settings)
        with serve(app) as server, httpx2.Client(base_url=server.url) as http:
            token = login(http, "", username="u", password="p", client_id="c", client_secret="s")
            page = http.get(MACHINES, headers={"Authorization": f"Bearer {token}"})
            seen["machines"] = page.json()["maxCount"]

    monkeypatch.setattr(corekit.testing, "run", run)
    result = CliRunner().invoke(
        cli,
        [
            "--host",
            "127.0.0.2",
            "--port",
            "9999",
            "--username",
            "u",
            "--password",
            "p",
            "--client-id",
            "c",
            "--client-secret",
            "s",
            "--machines",
            "7",
            "--token-lifetime",
            "31",
            "--sparse",
            "--reordered-results",
            "--log-level",
            "warning",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (seen["host"], seen["port"], seen["log_level"]) == ("127.0.0.2", 9999, "warning")
    assert seen["machines"] == 7
    settings = seen["settings"]
    assert settings.token_lifetime == 31
    assert settings.modes.sparse
    assert settings.modes.reordered_results
    assert not settings.modes.integer_values
    assert "http://127.0.0.2:9999" in result.stderr


def test_defaults_match_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        corekit.testing, "run", lambda app, **kwargs: seen.update(kwargs, settings=app.settings)
    )
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 0, result.output
    settings = seen["settings"]
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8080)
    assert (settings.username, settings.client_id) == ("user", "backend")
    assert settings.password.get_secret_value() == "password"
    assert settings.client_secret.get_secret_value() == "secret"
    assert (settings.routers, settings.machines, settings.measurements) == (2, 3, 5)
    assert (settings.token_lifetime, settings.sample_interval_s) == (7200, 10)


def test_out_of_range_option_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corekit.testing, "run", lambda *a, **k: pytest.fail("must not start"))
    result = CliRunner().invoke(cli, ["--machines", "1000000"])
    assert result.exit_code == 2
    assert "machines" in result.stderr


def test_runs_as_a_separate_process() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [sys.executable, "-m", "pym2v.emulator", "--port", str(port), "--machines", "4"]
    argv += ["--username", "U", "--password", "P", "--client-id", "C", "--client-secret", "S"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx2.Client(timeout=5) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    http.get(base + "/_emulator/faults")
                    break
                except httpx2.TransportError:
                    assert process.poll() is None, process.stderr.read() if process.stderr else ""
                    assert time.monotonic() < deadline, "the emulator did not start in 30 s"
                    time.sleep(0.1)
            token = login(http, base, username="U", password="P", client_id="C", client_secret="S")
            page = http.get(base + MACHINES, headers={"Authorization": f"Bearer {token}"})
            assert page.json()["maxCount"] == 4
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_ipv6_host_is_shown_in_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corekit.testing, "run", lambda app, **kwargs: None)
    result = CliRunner().invoke(cli, ["--host", "::1", "--port", "8081"])
    assert result.exit_code == 0, result.output
    assert "http://[::1]:8081" in result.stderr

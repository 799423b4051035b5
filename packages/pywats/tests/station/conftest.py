"""Helpers for station tests: real processes (the emulator, the station) and report files.

The crash tests run the emulator (``python -m pywats.emulator``) and the station
(``pywats station run``) as separate processes over loopback sockets, kill them with real
signals and inspect the result through the emulator's control API and the station's queue.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

EMU_USER = "wats"
EMU_PASSWORD = "wats-secret"
STATION_CLI = "from pywats.cli import main; main()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def http_json(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, method=method, data=data)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


class EmulatorProcess:
    """The WATS emulator in its own process on a fixed port (so it can be restarted)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> EmulatorProcess:
        command = [
            sys.executable, "-m", "pywats.emulator", "--host", "127.0.0.1",
            "--port", str(self.port), "--username", EMU_USER, "--password", EMU_PASSWORD,
            "--log-level", "warning", "--body-limit", "0",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: http_json(f"{self.url}/api/health") is not None, 30,
                     "the emulator to start")  # fmt: skip
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def stats(self) -> dict[str, int]:
        result: dict[str, int] = http_json(f"{self.url}/_emulator/actions/stats", "POST", {})
        return result

    def submissions(self) -> int:
        """How many report POSTs reached the emulator (each attempt, duplicates included)."""
        log = http_json(f"{self.url}/_emulator/requests?method=POST&path=/api/Report/WSJF")
        return len(log["requests"])

    def headers(self) -> list[dict[str, Any]]:
        """Every stored report's header (``uuid``, ``receiveCount``, ...)."""
        request = urllib.request.Request(f"{self.url}/api/Report/Query/Header")
        token = f"{EMU_USER}:{EMU_PASSWORD}".encode()
        import base64

        request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
        with urllib.request.urlopen(request, timeout=10) as response:
            rows: list[dict[str, Any]] = json.loads(response.read())
            return rows

    def fault(self, **spec: Any) -> None:
        http_json(f"{self.url}/_emulator/faults", "POST", spec)


@pytest.fixture
def emulator_process() -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess().start()
    try:
        yield emulator
    finally:
        emulator.stop()


class StationProcess:
    """``pywats station run`` in its own process, logging JSON lines to a file."""

    def __init__(self, root: Path, server_url: str, *, lease: float = 2.0) -> None:
        self.root = root
        self.watch = root / "in"
        self.done = root / "in.done"
        self.error = root / "in.error"
        self.health_port = free_port()
        self.config = root / "station.toml"
        self.log = root / "station.log"
        self.watch.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            f"""
[server]
url = "{server_url}"
username = "{EMU_USER}"
password_source = "encrypted"
timeout = 5
probe_interval = 0.5

[queue]
path = "queue.sqlite"
concurrency = 8
lease_seconds = {lease}
retry_base_seconds = 0.2
retry_max_seconds = 1.0

[health]
port = {self.health_port}

[[converters]]
name = "wsjf"
watch = "in"

[logging]
level = "INFO"
format = "json"
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYWATS_")}
        env["PYWATS_STATION_PASSWORD"] = EMU_PASSWORD
        env["NO_PROXY"] = "127.0.0.1,localhost"
        return env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", STATION_CLI, "station", "--config", str(self.config)]
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, env=self.env(), check=check,
            timeout=60,
        )  # fmt: skip

    def start(self, preexec: Callable[[], None] | None = None) -> StationProcess:
        command = [
            sys.executable,
            "-c",
            STATION_CLI,
            "station",
            "--config",
            str(self.config),
            "run",
        ]
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=log,
            env=self.env(),
            preexec_fn=preexec,  # noqa: PLW1509
        )
        log.close()
        return self

    @property
    def health(self) -> str:
        return f"http://127.0.0.1:{self.health_port}"

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = http_json(f"{self.health}/status")
        return result

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.status()["queue"]["counts"]
        return counts

    def wait_live(self, timeout: float = 30) -> None:
        def live() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"the station exited with {self.process.returncode}:\n{self.tail()}")
            with urllib.request.urlopen(f"{self.health}/health/live", timeout=1):
                return True

        wait_for(live, timeout, "the station's health server")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_records(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture
def station_factory(tmp_path: Path) -> Iterator[Callable[..., StationProcess]]:
    made: list[StationProcess] = []

    def make(server_url: str, **kwargs: Any) -> StationProcess:
        station = StationProcess(tmp_path / f"station{len(made)}", server_url, **kwargs)
        made.append(station)
        return station

    yield make
    for station in made:
        station.stop()


def report_file(folder: Path, index: int, *, padding: int = 0) -> tuple[str, Path]:
    """Write a small WSJF report file; return its report id and path."""
    from pywats import Station, UUTBuilder

    builder = UUTBuilder(
        part_number="PN-CRASH",
        serial_number=f"SN-{index:05d}",
        revision="A",
        process_code=10,
        station=Station("CRASH-TEST"),
        operator="pytest",
        start=datetime.now(UTC),
    )
    seq = builder.sequence("Main")
    seq.numeric("Voltage", 5.0 + index / 1000, unit="V", low=4.5, high=5.5)
    if padding:
        seq.string("Padding", "x" * padding, limit="x" * padding)
    report = builder.build()
    report_id = str(report.id)
    path = folder / f"report-{index:05d}.json"
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(report.to_dict()))
    temp.rename(path)
    return report_id, path


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture(name="wait_for")
def _wait_for_fixture() -> Callable[..., Any]:
    """:func:`wait_for`: poll until truthy or fail."""
    return wait_for


@pytest.fixture(name="report_file")
def _report_file_fixture() -> Callable[..., tuple[str, Path]]:
    """:func:`report_file`: write a WSJF report file into a folder."""
    return report_file

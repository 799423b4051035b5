"""The Station in-process against the emulator over a socket: wiring, health, shutdown, errors."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from corekit.testing import FaultInjector
from pywats.station._config import StationConfig, load_config
from pywats.station._credentials import CredentialStore
from pywats.station._errors import ConfigError
from pywats.station._service import Station, configure_logging, run_station

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

USER, PASSWORD = "operator", "s3cret"  # the root conftest's emulator user


def make_config(tmp_path: Path, base_url: str, **health: Any) -> StationConfig:
    text = f"""
[server]
url = "{base_url}"
username = "{USER}"
password_source = "encrypted"
probe_interval = 0.2

[queue]
path = "queue.sqlite"
retry_base_seconds = 0.1
retry_max_seconds = 0.5

[health]
port = {health.get("port", 0)}
enabled = {str(health.get("enabled", True)).lower()}

[[converters]]
name = "wsjf"
watch = "in"

[[converters]]
name = "csv"
watch = "csv-in"
enabled = false
"""
    path = tmp_path / "station.toml"
    path.write_text(text)
    return load_config(path, environ={})


def store(tmp_path: Path) -> CredentialStore:
    return CredentialStore(tmp_path, source="encrypted", environ={})


async def until(check: Callable[[], Any], limit: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not met within {limit} s (last: {value!r})")
        await asyncio.sleep(0.05)


async def get(station: Station, path: str) -> httpx2.Response:
    assert station.health is not None
    async with httpx2.AsyncClient(trust_env=False) as http:
        return await http.get(f"{station.health.url}{path}")


def write_report(folder: Path, report_file: Callable[..., tuple[str, Path]], i: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return report_file(folder, i)[0]


async def test_files_flow_to_wats_and_health_tells(
    tmp_path: Path,
    base_url: str,
    emulator: FaultInjector,
    report_file: Callable[..., tuple[str, Path]],
) -> None:
    config = make_config(tmp_path, base_url)
    credentials = store(tmp_path)
    credentials.set_password(base_url, USER, PASSWORD)
    station = Station(config, credentials=credentials, grace=2.0)
    stop = asyncio.Event()
    ids = {write_report(tmp_path / "in", report_file, i) for i in range(3)}
    task = asyncio.create_task(station.run(stop))
    await until(lambda: station.health is not None and station.health.port)
    await until(lambda: station.status()["queue"]["counts"].get("done") == 3)
    submitted = {r.path for r in emulator.calls("POST", "/api/Report/WSJF")}
    assert len(submitted) == 1
    assert len(emulator.calls("POST", "/api/Report/WSJF")) == 3

    ready = await get(station, "/health/ready")
    assert ready.status_code == 200
    assert (await get(station, "/health/live")).status_code == 200
    metrics = (await get(station, "/metrics")).text
    assert 'pywats_station_queue_reports{state="done"} 3.0' in metrics
    assert 'pywats_station_queue_events_total{kind="submitted"} 3.0' in metrics
    assert 'pywats_station_files_total{converter="wsjf",status="done"} 3.0' in metrics
    assert "pywats_station_server_connected 1.0" in metrics
    status = (await get(station, "/status")).json()
    assert status["ready"] is True
    assert status["server"]["url"] == base_url
    assert status["server"]["username"] == USER
    assert PASSWORD not in json.dumps(status)
    assert {e["report_id"] for e in status["recent"] if e["kind"] == "submitted"} == ids
    wsjf, csv = status["converters"]
    assert wsjf["name"] == "wsjf"
    assert wsjf["files"] == {"done": 3}
    assert wsjf["last"]["status"] == "done"
    assert csv == {
        "name": "csv",
        "enabled": False,
        "watch": str(tmp_path / "csv-in"),
        "done": str(tmp_path / "csv-in.done"),
        "error": str(tmp_path / "csv-in.error"),
        "files": {},
    }

    # WATS goes away: not ready, and the probe's error shows; back: ready again.
    emulator.fail("/api/App/Version", 503, count=1000)
    await until(lambda: not station.ready()[0] or station._probe_error)
    await until(lambda: station.status()["server"]["reachable"] is False)
    emulator.clear_faults()
    await until(lambda: station.status()["server"]["reachable"] is True)

    stop.set()
    await asyncio.wait_for(task, 15)
    assert station.queue is not None
    assert (tmp_path / "in.done").is_dir()
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == []


async def test_not_ready_until_wats_answers(tmp_path: Path, base_url: str) -> None:
    port = _dead_port()
    config = make_config(tmp_path, f"http://127.0.0.1:{port}")
    credentials = store(tmp_path)
    credentials.set_password(f"http://127.0.0.1:{port}", USER, PASSWORD)
    station = Station(config, credentials=credentials, grace=1.0)
    assert station.ready() == (False, "queue not open")
    stop = asyncio.Event()
    task = asyncio.create_task(station.run(stop))
    await until(lambda: station._probe_error)
    ok, reason = station.ready()
    assert not ok
    assert reason.startswith("WATS not reached yet")
    response = await get(station, "/health/ready")
    assert response.status_code == 503
    # Contact long ago counts as not reached.
    station._last_contact = -1000.0
    assert station.ready()[1].startswith("WATS not reached for")
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_missing_settings_are_config_errors(tmp_path: Path, base_url: str) -> None:
    config = make_config(tmp_path, base_url)
    with pytest.raises(ConfigError, match=r"no password stored .*pywats station login"):
        await Station(config, credentials=store(tmp_path)).run(asyncio.Event())
    blank = config.model_copy(update={"server": config.server.model_copy(update={"url": None})})
    with pytest.raises(ConfigError, match=r"\[server\] url and username"):
        await Station(blank).run(asyncio.Event())


async def test_unknown_converter_closes_the_client(tmp_path: Path, base_url: str) -> None:
    config = make_config(tmp_path, base_url)
    bad = config.converters[0].model_copy(update={"name": "nope"})
    config = config.model_copy(update={"converters": (bad,)})
    credentials = store(tmp_path)
    credentials.set_password(base_url, USER, PASSWORD)
    with pytest.raises(ConfigError, match="no converter named 'nope'"):
        await Station(config, credentials=credentials).run(asyncio.Event())


async def test_health_port_taken(tmp_path: Path, base_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = make_config(tmp_path, base_url, port=taken.getsockname()[1])
        credentials = store(tmp_path)
        credentials.set_password(base_url, USER, PASSWORD)
        with pytest.raises(ConfigError, match=r"cannot serve health .*\[health\] port"):
            await Station(config, credentials=credentials).run(asyncio.Event())


async def test_a_failing_part_stops_the_station(tmp_path: Path, base_url: str) -> None:
    config = make_config(tmp_path, base_url, enabled=False)
    (tmp_path / "blocker").write_text("a file where a folder must be")
    conv = config.converters[0].model_copy(update={"watch": tmp_path / "blocker" / "in"})
    config = config.model_copy(update={"converters": (conv,)})
    credentials = store(tmp_path)
    credentials.set_password(base_url, USER, PASSWORD)
    station = Station(config, credentials=credentials, grace=1.0)
    with pytest.raises(ConfigError, match="cannot create the watch folder"):
        await asyncio.wait_for(station.run(asyncio.Event()), 20)
    assert station.health is None


async def test_a_crashed_part_is_restarted(
    tmp_path: Path, base_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, base_url, enabled=False)
    credentials = store(tmp_path)
    credentials.set_password(base_url, USER, PASSWORD)
    runs: list[int] = []
    original = Station._housekeeping

    async def flaky(self: Station, stop: asyncio.Event) -> None:
        runs.append(1)
        if len(runs) == 1:
            raise OSError(28, "No space left on device")
        await original(self, stop)

    monkeypatch.setattr(Station, "_housekeeping", flaky)
    station = Station(config, credentials=credentials, grace=1.0)
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="pywats.station._service"):
        task = asyncio.create_task(station.run(stop))
        await until(lambda: len(runs) >= 2, 10)
    assert not task.done()
    assert any(
        "station part housekeeping failed" in r.getMessage()
        and "No space left" in r.getMessage()
        and "restarting it in 1 s" in r.getMessage()
        for r in caplog.records
    )
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_queue_folder_is_created_or_explained(tmp_path: Path, base_url: str) -> None:
    config = make_config(tmp_path, base_url, enabled=False)
    (tmp_path / "file").write_text("")
    queue = config.queue.model_copy(update={"path": tmp_path / "file" / "q.sqlite"})
    credentials = store(tmp_path)
    credentials.set_password(base_url, USER, PASSWORD)
    bad = config.model_copy(update={"queue": queue, "converters": ()})
    with pytest.raises(ConfigError, match=r"cannot create the queue folder .*\[queue\] path"):
        await Station(bad, credentials=credentials).run(asyncio.Event())
    deep = config.queue.model_copy(update={"path": tmp_path / "a" / "b" / "q.sqlite"})
    good = config.model_copy(update={"queue": deep, "converters": ()})
    stop = asyncio.Event()
    stop.set()
    await Station(good, credentials=credentials).run(stop)
    assert (tmp_path / "a" / "b" / "q.sqlite").exists()


def test_run_station_stops_on_sigterm(
    tmp_path: Path, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tmp_path, base_url)
    monkeypatch.setenv("PYWATS_STATION_PASSWORD", PASSWORD)
    started = Station._run_parts

    async def run_then_signal(self: Station, stop: asyncio.Event, bindings: list[Any]) -> None:
        asyncio.get_running_loop().call_later(0.5, os.kill, os.getpid(), signal.SIGTERM)
        await started(self, stop, bindings)

    monkeypatch.setattr(Station, "_run_parts", run_then_signal)
    run_station(config, grace=1.0)  # returns: SIGTERM set the stop event
    assert (tmp_path / "queue.sqlite").exists()


def test_json_logging(capsys: pytest.CaptureFixture[str]) -> None:
    from pywats.station._config import LoggingConfig

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(LoggingConfig(level="INFO", format="json"))
        log = logging.getLogger("pywats.station.test")
        log.info("hello %s", "world")
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("failed")
        log.debug("hidden")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        assert [entry["message"] for entry in lines] == ["hello world", "failed"]
        assert lines[0]["level"] == "INFO"
        assert lines[0]["logger"] == "pywats.station.test"
        assert "ValueError: bad" in lines[1]["exception"]
        configure_logging(LoggingConfig(level="WARNING", format="text"))
        log.warning("plain")
        assert "WARNING pywats.station.test: plain" in capsys.readouterr().err
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

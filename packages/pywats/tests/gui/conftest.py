"""Fixtures for the desktop client: Qt offscreen, a station folder, a real queue file and a
real ``/status`` server (the station's own HealthServer on a loopback port)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from pywats import Station, UUTBuilder
from pywats.station._config import load_config
from pywats.station._health import HealthServer

GUI_STATION = Station("ST-GUI", "Line 1", "Production")


class StatusSource:
    """What the health server serves: a status document the test can change."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {}

    def ready(self) -> tuple[bool, str]:
        return True, "ready"

    def metrics_text(self) -> bytes:
        return b""

    def status(self) -> Mapping[str, Any]:
        return self.document


class StatusServer:
    """A real HealthServer on its own event loop thread."""

    def __init__(self) -> None:
        self.source = StatusSource()
        self.server = HealthServer(self.source, host="127.0.0.1", port=0)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> StatusServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self) -> None:
        # Like asyncio.run: finish the connection handlers still closing their sockets, so no
        # pending task is destroyed with the loop.
        await self.server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(autouse=True)
def _no_system_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the developer's keyring: the encrypted file store is used instead."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("PYWATS_STATION_PASSWORD", raising=False)


@pytest.fixture
def status_server() -> Iterator[StatusServer]:
    with StatusServer() as server:
        yield server


def _status_document(**server: Any) -> dict[str, Any]:
    """A /status document in the shape the station service writes."""
    return {
        "started_at": "2026-11-22T03:00:00+00:00",
        "ready": True,
        "reason": "ready",
        "server": {
            "url": "http://wats.example",
            "username": "operator",
            "connected": True,
            "reachable": True,
            "last_error": None,
            "auth_problem": False,
            **server,
        },
        "queue": {"path": "queue.sqlite", "counts": {}},
        "recent": [
            {
                "report_id": "11111111-1111-4111-8111-111111111111",
                "kind": "submitted",
                "at": "2026-11-22T03:10:00+00:00",
                "detail": None,
            },
            {
                "report_id": "22222222-2222-4222-8222-222222222222",
                "kind": "dead",
                "at": "2026-11-22T03:09:00+00:00",
                "detail": "422: serial number missing",
            },
        ],
        "converters": [
            {
                "name": "csv",
                "enabled": True,
                "files": {"done": 3, "error": 1},
                "last": {
                    "path": "/in/csv/board-7.csv",
                    "status": "error",
                    "report_ids": [],
                    "message": "line 4: no limit",
                    "at": "2026-11-22T03:08:00+00:00",
                },
            }
        ],
    }


@pytest.fixture
def station_dir(tmp_path: Path, status_server: StatusServer) -> Path:
    """A station folder: config.toml (two converters, health on the status server's port)."""
    for name in ("csv-in", "json-in"):
        (tmp_path / name).mkdir()
    (tmp_path / "station.toml").write_text(
        f"""
[server]
url = "http://wats.example"
username = "operator"
password_source = "encrypted"

[queue]
path = "queue.sqlite"

[health]
host = "127.0.0.1"
port = {status_server.port}

[[converters]]
name = "csv"
enabled = true
watch = "csv-in"

[[converters]]
name = "wsjf"
enabled = false
watch = "json-in"
""",
        encoding="utf-8",
    )
    status_server.source.document = _status_document()
    return tmp_path


@pytest.fixture
def status_doc() -> Any:
    """Builds a /status document; keyword arguments override the ``server`` fields."""
    return _status_document


@pytest.fixture
def config_path(station_dir: Path) -> Path:
    return station_dir / "station.toml"


def _make_report(serial: str) -> Any:
    return (
        UUTBuilder(
            part_number="PN-GUI",
            serial_number=serial,
            revision="A",
            process_code=10,
            station=GUI_STATION,
        )
        .numeric("Voltage", 5.0, unit="V", low=4.5, high=5.5)
        .build()
    )


@pytest.fixture
def make_report() -> Any:
    """Builds a small UUT report for a serial number."""
    return _make_report


@pytest.fixture
def queue(config_path: Path) -> Iterator[Any]:
    """The station's queue file with five reports (the GUI opens the same file)."""
    from pywats.station._queue import ReportQueue

    config = load_config(config_path, environ={})
    with ReportQueue(config.queue_path) as q:
        for n in range(5):
            q.enqueue(_make_report(f"SN-{n:03d}"), source=f"board-{n}.csv")
        yield q


@pytest.fixture
def window(qtbot: Any, config_path: Path) -> Iterator[Any]:
    """The main window on the test station, polling only on demand."""
    from pywats.gui import MainWindow

    win = MainWindow(config_path, poll_ms=0)
    qtbot.addWidget(win)
    wait_idle(qtbot, win)
    yield win
    win.close()


def wait_idle(qtbot: Any, win: Any, timeout: int = 10_000) -> None:
    """Wait until every background task of the window has delivered its result."""
    qtbot.waitUntil(lambda: win.runner.pending == 0, timeout=timeout)


@pytest.fixture
def idle(qtbot: Any) -> Any:
    """``idle(window)`` waits until the window's background work is done."""
    return lambda win: wait_idle(qtbot, win)

"""Writes a screenshot of each page to docs/pywats/images/ for the user guide.

The station is a realistic one: reports in every state from the real Uploader against the
emulator, a /status document from the health server, two converters.

The pages are rendered the same on every run, so a re-run leaves the tree clean: a fixed
station folder, a fake clock at a fixed time for the queue, report ids from a counter, a
fixed upload latency and Retry-After, the default health port shown; and a PNG is only
written when its pixels differ from the file on disk.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import tempfile
import time
import types
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from corekit.files import FileLock
from corekit.testing import FakeClock
from pywats import AsyncWATS
from pywats.station._queue import ReportQueue
from pywats.station._uploader import Uploader

IMAGES = Path(__file__).resolve().parents[4] / "docs" / "pywats" / "images"
USER, PASSWORD = "operator", "s3cret"  # the emulator of packages/pywats/tests/conftest.py
FIXED = datetime(2026, 11, 22, 3, 10, tzinfo=UTC).timestamp()
STATION = Path(tempfile.gettempdir()) / "pywats-station"


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """The station folder at a fixed path (shown on the pages), one test run at a time."""
    with FileLock(f"{STATION}.lock", timeout=120):
        shutil.rmtree(STATION, ignore_errors=True)
        STATION.mkdir()
        try:
            yield STATION
        finally:
            shutil.rmtree(STATION, ignore_errors=True)


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixed queue times, report ids and upload latencies (runs before the queue fixture)."""
    monkeypatch.setattr("pywats.station._queue.system_clock", FakeClock(epoch=FIXED))
    counter = itertools.count(1)
    monkeypatch.setattr(
        uuid, "uuid4", lambda: uuid.UUID(int=(0x5EED << 112) + next(counter), version=4)
    )
    ticks = itertools.count()
    monkeypatch.setattr(
        "pywats.station._uploader.time",
        types.SimpleNamespace(perf_counter=lambda: next(ticks) * 0.042),
    )


def save_if_changed(image: QImage, target: Path) -> bool:
    """Write ``image`` as PNG unless ``target`` already holds the same pixels."""
    if target.exists():
        old = QImage(str(target)).convertToFormat(image.format())
        if old == image:
            return False
    assert image.save(str(target), "PNG")
    return True


def _fill(queue: ReportQueue, make_report: Any, emulator: Any, base_url: str) -> None:
    for n in range(5, 12):
        queue.enqueue(make_report(f"SN-{n:03d}"), source=f"board-{n}.csv")
    ids = [r.report_id for r in queue.list()]
    queue.hold(ids[6:])
    emulator.fail("/api/*", 422, method="POST", body={"Message": "serial number missing"})
    emulator.fail("/api/*", 503, method="POST", count=2, headers={"Retry-After": "4"})

    async def drain() -> None:
        async with AsyncWATS(base_url, username=USER, password=PASSWORD, retry=None) as client:
            await Uploader(queue, client, concurrency=1).drain()  # one order of events

    asyncio.run(drain())
    queue.release(ids[10:])


def test_screenshots_of_every_page(
    window: Any,
    queue: ReportQueue,
    make_report: Any,
    emulator: Any,
    base_url: str,
    tmp_path: Path,
    idle: Any,
) -> None:
    _fill(queue, make_report, emulator, base_url)
    log = tmp_path / "station.log"
    log.write_text(
        "2026-11-22 03:10:02 INFO pywats.station._service: health server on "
        "http://127.0.0.1:8089\n"
        "2026-11-22 03:10:05 INFO pywats.station._service: submitted 4 report(s)\n"
        "2026-11-22 03:10:06 WARNING pywats.station._uploader: report will be retried: 503\n"
    )
    window.resize(1100, 700)
    window.log_handler.formatter.converter = lambda _: time.gmtime(FIXED)
    QApplication.processEvents()  # records queued from worker threads arrive now
    window.logs_page.client_log.clear()
    for name, level, message in (
        ("pywats.station._uploader", logging.INFO, "report %s submitted (attempt 1, 0.042 s)"),
        ("pywats.station._queue", logging.ERROR, "report %s is dead after 1 attempts: HTTP 422"),
    ):
        logging.getLogger(name).log(level, message, "5eed0000-0000-4000-8000-000000000001")
    window.logs_page.set_file(log)
    IMAGES.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(("dashboard", "queue", "converters", "settings", "logs")):
        window.show_page(index)
        idle(window)
        if name == "queue":
            page = window.queue_page
            dead = [r.report_id for r in page.reports if str(r.state) == "dead"]
            page.select_ids(dead)
            idle(window)
        if name == "converters":
            window.converters_page.select(0)
        if name == "settings":
            window.settings_page.health_port_spin.setValue(8089)  # the test server's is random
        image = window.grab().toImage()
        assert image.width() >= 900
        assert image.height() >= 600
        target = IMAGES / f"gui-{name}.png"
        save_if_changed(image, target)
        assert QImage(str(target)).convertToFormat(image.format()) == image
    assert not save_if_changed(image, target)  # the same pixels are not written again

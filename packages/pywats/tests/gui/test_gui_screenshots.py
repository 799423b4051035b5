"""Writes a screenshot of each page to docs/pywats/images/ for the user guide.

The station is a realistic one: reports in every state from the real Uploader against the
emulator, a /status document from the health server, two converters.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtGui import QImage

from pywats import AsyncWATS
from pywats.station._queue import ReportQueue
from pywats.station._uploader import Uploader

IMAGES = Path(__file__).resolve().parents[4] / "docs" / "pywats" / "images"
USER, PASSWORD = "operator", "s3cret"  # the emulator of packages/pywats/tests/conftest.py


def _fill(queue: ReportQueue, make_report: Any, emulator: Any, base_url: str) -> None:
    for n in range(5, 12):
        queue.enqueue(make_report(f"SN-{n:03d}"), source=f"board-{n}.csv")
    ids = [r.report_id for r in queue.list()]
    queue.hold(ids[6:])
    emulator.fail("/api/*", 422, method="POST", body={"Message": "serial number missing"})
    emulator.fail("/api/*", 503, method="POST", count=2)

    async def drain() -> None:
        async with AsyncWATS(base_url, username=USER, password=PASSWORD, retry=None) as client:
            await Uploader(queue, client).drain()

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
        target = IMAGES / f"gui-{name}.png"
        assert window.grab().save(str(target), "PNG")
        image = QImage(str(target))
        assert image.width() >= 900
        assert image.height() >= 600

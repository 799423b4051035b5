"""Queue page: filter, details and history, requeue, retry now, hold/release, export.

The queue file is real, and dead and waiting reports come from the real Uploader submitting
to the WATS emulator while it answers 422 or 503.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pywats import AsyncWATS
from pywats.station._queue import ReportQueue, ReportState
from pywats.station._uploader import Uploader

# The credentials of the emulator started by packages/pywats/tests/conftest.py.
USER, PASSWORD = "operator", "s3cret"


def _drain(queue: ReportQueue, base_url: str) -> int:
    async def run() -> int:
        async with AsyncWATS(base_url, username=USER, password=PASSWORD, retry=None) as client:
            return await Uploader(queue, client).drain()

    return asyncio.run(run())


@pytest.fixture
def mixed_queue(queue: ReportQueue, emulator: Any, base_url: str) -> ReportQueue:
    """Five reports: one dead (422), one waiting (503), one held, two submitted."""
    ids = [r.report_id for r in queue.list()]
    queue.hold(ids[2:])
    emulator.fail("/api/*", 422, method="POST", body={"Message": "serial number missing"})
    emulator.fail("/api/*", 503, method="POST")
    _drain(queue, base_url)
    queue.release(ids[3:])
    _drain(queue, base_url)
    counts = queue.counts()
    assert counts[ReportState.DEAD] == 1
    assert counts[ReportState.RETRY_WAIT] == 1
    assert counts[ReportState.HELD] == 1
    assert counts[ReportState.DONE] == 2
    return queue


def _ids(queue: ReportQueue, state: ReportState) -> list[str]:
    return [r.report_id for r in queue.list(state)]


def test_filter_by_state(window: Any, mixed_queue: ReportQueue, idle: Any) -> None:
    page = window.queue_page
    window.show_page(1)
    idle(window)
    assert page.table.rowCount() == 5
    assert page.summary.text() == "5 report(s)"
    page.set_filter("dead")
    idle(window)
    assert [r.report_id for r in page.reports] == _ids(mixed_queue, ReportState.DEAD)
    assert page.table.item(0, 1).text() == "dead"
    page.set_filter("done")
    idle(window)
    assert page.table.rowCount() == 2
    page.set_filter(None)
    idle(window)
    assert page.table.rowCount() == 5


def test_details_show_the_attempt_history(window: Any, mixed_queue: ReportQueue, idle: Any) -> None:
    page = window.queue_page
    window.show_page(1)
    page.set_filter("dead")
    idle(window)
    assert not page.requeue_button.isEnabled()
    page.select_ids(_ids(mixed_queue, ReportState.DEAD))
    idle(window)
    assert page.requeue_button.isEnabled()
    assert "serial number missing" in page.details_label.text()
    assert page.history_table.rowCount() == 1
    assert page.history_table.item(0, 2).text() == "422"


def test_requeue_a_dead_report(window: Any, mixed_queue: ReportQueue, idle: Any) -> None:
    page = window.queue_page
    window.show_page(1)
    page.set_filter("dead")
    idle(window)
    dead = _ids(mixed_queue, ReportState.DEAD)
    page.select_ids(dead)
    page.requeue_button.click()
    idle(window)
    assert page.message.text() == "1 of 1 report(s) requeued"
    assert mixed_queue.get(dead[0]).state == ReportState.PENDING  # type: ignore[union-attr]
    assert page.table.rowCount() == 0  # the dead filter is now empty


def test_retry_now_hold_and_release(window: Any, mixed_queue: ReportQueue, idle: Any) -> None:
    page = window.queue_page
    window.show_page(1)
    idle(window)
    waiting = _ids(mixed_queue, ReportState.RETRY_WAIT)
    page.select_ids(waiting)
    page.retry_button.click()
    idle(window)
    assert mixed_queue.get(waiting[0]).state == ReportState.PENDING  # type: ignore[union-attr]

    page.select_ids(waiting)
    page.hold_button.click()
    idle(window)
    assert mixed_queue.get(waiting[0]).state == ReportState.HELD  # type: ignore[union-attr]
    assert page.selected_ids() == waiting  # the selection survives the reload

    held = _ids(mixed_queue, ReportState.HELD)
    page.select_ids(held)
    page.release_button.click()
    idle(window)
    assert page.message.text() == "2 of 2 report(s) released"
    assert mixed_queue.counts()[ReportState.HELD] == 0


def test_export_writes_reports_and_histories(
    window: Any, mixed_queue: ReportQueue, tmp_path: Path, idle: Any
) -> None:
    page = window.queue_page
    target = tmp_path / "exported"
    page.choose_directory = lambda: target
    window.show_page(1)
    idle(window)
    dead = _ids(mixed_queue, ReportState.DEAD)[0]
    page.select_ids([dead])
    page.export_button.click()
    idle(window)
    assert page.message.text() == f"exported 2 file(s) to {target}"
    assert (target / f"{dead}.wsjf").read_bytes() == mixed_queue.payload(dead)
    history = json.loads((target / f"{dead}.history.json").read_text())
    assert "serial number missing" in json.dumps(history)


def test_cancelled_export_and_empty_selection_do_nothing(
    window: Any, queue: ReportQueue, idle: Any
) -> None:
    page = window.queue_page
    asked: list[int] = []
    page.choose_directory = lambda: asked.append(1)
    window.show_page(1)
    idle(window)
    page.export_selected()
    page.requeue_button.clicked.emit()
    idle(window)
    assert asked == []
    page.select_ids([queue.list()[0].report_id])
    idle(window)
    page.export_selected()
    idle(window)
    assert asked == [1]
    assert page.message.text() == ""


def test_several_selected_and_a_vanished_report(window: Any, queue: ReportQueue, idle: Any) -> None:
    page = window.queue_page
    window.show_page(1)
    idle(window)
    page.select_ids([r.report_id for r in page.reports[:2]])
    idle(window)
    assert page.details_label.text() == "2 reports selected."
    first = page.reports[0].report_id
    page._show_details(first, (None, []))  # a late answer for an old selection is ignored
    assert page.details_label.text() == "2 reports selected."
    page.select_ids([first])
    page._show_details(first, (None, []))
    assert page.details_label.text() == "This report is no longer in the queue."


def test_a_failing_action_is_shown(window: Any, queue: ReportQueue, idle: Any) -> None:
    page = window.queue_page
    window.show_page(1)
    idle(window)

    def broken(ids: Any) -> int:
        raise OSError("database is locked")

    window.backend.hold = broken
    page.select_ids([page.reports[0].report_id])
    page.hold_button.click()
    idle(window)
    assert page.message.text() == "Failed: database is locked"

"""The worker pool: blocking calls run off the GUI thread, results come back on it."""

from __future__ import annotations

import threading

from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from pywats.gui._tasks import TaskRunner


def test_work_runs_on_a_worker_and_the_callback_on_the_gui_thread(qtbot: QtBot) -> None:
    runner = TaskRunner()
    seen: dict[str, object] = {}

    def work() -> int:
        seen["work_thread"] = threading.current_thread()
        return 42

    def done(value: int) -> None:
        seen["value"] = value
        seen["done_thread"] = threading.current_thread()

    runner.submit(work, done)
    qtbot.waitUntil(lambda: "value" in seen, timeout=5000)
    assert seen["value"] == 42
    assert seen["work_thread"] is not threading.main_thread()
    assert seen["done_thread"] is threading.main_thread()
    assert runner.pending == 0
    runner.close()


def test_the_gui_keeps_running_while_a_slow_call_blocks(qtbot: QtBot) -> None:
    runner = TaskRunner()
    release = threading.Event()
    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    results: list[str] = []

    runner.submit(lambda: "finished" if release.wait(10) else "timed out", results.append)
    # The worker is blocked, yet the event loop keeps serving timers on the GUI thread.
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=5000)
    assert results == []
    assert runner.pending == 1
    release.set()
    qtbot.waitUntil(lambda: results == ["finished"], timeout=5000)
    timer.stop()
    runner.close()


def test_an_error_goes_to_on_error_or_to_the_failed_signal(qtbot: QtBot) -> None:
    runner = TaskRunner()
    errors: list[BaseException] = []

    def boom() -> None:
        raise OSError("disk on fire")

    runner.submit(boom, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert str(errors[0]) == "disk on fire"

    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.submit(boom)
    assert blocker.args == ["disk on fire"]
    runner.close()


def test_results_after_close_are_dropped(qtbot: QtBot) -> None:
    runner = TaskRunner()
    release = threading.Event()
    results: list[str] = []
    future = runner.submit(lambda: release.wait(10) and "late", results.append)
    runner.close()
    release.set()
    future.result(timeout=5)
    qtbot.wait(50)
    assert results == []


def test_on_gui_thread_tells_the_main_thread_from_a_worker() -> None:
    seen: list[bool] = []
    worker = threading.Thread(target=lambda: seen.append(TaskRunner.on_gui_thread()))
    worker.start()
    worker.join()
    assert seen == [False]
    assert TaskRunner.on_gui_thread()

"""Logs page: this client's records (from any thread) and the tail of a service log file."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from pywats.gui._backend import tail_file


def test_records_from_a_worker_thread_are_shown(window: Any, qtbot: Any) -> None:
    window.show_page(4)
    worker = threading.Thread(
        target=lambda: logging.getLogger("pywats.station").warning("queue file is busy")
    )
    worker.start()
    worker.join()
    qtbot.waitUntil(
        lambda: "queue file is busy" in window.logs_page.client_log.toPlainText(), timeout=5000
    )
    assert "WARNING" in window.logs_page.client_log.toPlainText()


def test_follows_a_log_file(window: Any, tmp_path: Path, idle: Any) -> None:
    log = tmp_path / "station.log"
    log.write_text("line 1\nline 2\n")
    page = window.logs_page
    page.choose_file = lambda: log
    window.show_page(4)
    page._browse()
    idle(window)
    assert page.file_log.toPlainText() == "line 1\nline 2\n"
    with log.open("a") as file:
        file.write("line 3\n")
    page.refresh()
    idle(window)
    assert page.file_log.toPlainText().endswith("line 3\n")


def test_polls_the_file_while_shown(qtbot: Any, config_path: Path, tmp_path: Path) -> None:
    from pywats.gui import MainWindow

    log = tmp_path / "station.log"
    log.write_text("started\n")
    win = MainWindow(config_path, poll_ms=0, log_file=log)
    qtbot.addWidget(win)
    win.logs_page.timer.setInterval(20)
    win.show_page(4)
    assert win.logs_page.timer.isActive()
    qtbot.waitUntil(lambda: win.logs_page.file_log.toPlainText() == "started\n", timeout=5000)
    log.write_text("started\nuploaded 3\n")
    qtbot.waitUntil(lambda: "uploaded 3" in win.logs_page.file_log.toPlainText(), timeout=5000)
    win.show_page(0)
    assert not win.logs_page.timer.isActive()
    win.close()


def test_an_unreadable_log_file_is_explained(window: Any, tmp_path: Path, idle: Any) -> None:
    window.logs_page.set_file(tmp_path)  # a directory
    idle(window)
    assert window.logs_page.file_log.toPlainText().startswith("Cannot read the log file:")
    window.logs_page.file_edit.setText("")
    window.logs_page.refresh()
    assert window.runner.pending == 0


def test_tail_starts_at_a_whole_line(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {n:04d}\n" for n in range(1000)))
    tail = tail_file(log, max_bytes=100)
    assert tail.startswith("line ")
    assert tail.endswith("line 0999\n")
    assert len(tail) <= 100
    assert tail_file(tmp_path / "missing.log") == ""

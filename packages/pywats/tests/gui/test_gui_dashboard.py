"""Dashboard: service and WATS state from /status, queue depth from the queue file."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pywats.station._config import load_config, save_config
from pywats.station._queue import ReportQueue


def test_dashboard_shows_connection_counts_and_recent(
    window: Any, queue: ReportQueue, idle: Any
) -> None:
    queue.hold([r.report_id for r in queue.list()][:2])
    window.dashboard.refresh()
    idle(window)
    page = window.dashboard
    assert page.service_label.text() == "running"
    assert page.wats_label.text() == "connected"
    assert page.count_labels["pending"].text() == "3"
    assert page.count_labels["held"].text() == "2"
    assert page.count_labels["dead"].text() == "0"
    assert page.recent_table.rowCount() == 2
    assert page.recent_table.item(1, 2).text() == "dead"
    assert page.recent_table.item(1, 3).text() == "422: serial number missing"


def test_status_is_read_off_the_gui_thread(window: Any, idle: Any) -> None:
    threads: list[threading.Thread] = []
    real = window.backend.status

    def spy() -> Any:
        threads.append(threading.current_thread())
        return real()

    window.backend.status = spy
    window.dashboard.refresh()
    idle(window)
    assert threads
    assert all(t is not threading.main_thread() for t in threads)
    assert window.dashboard.service_label.text() == "running"


def test_dashboard_names_a_credentials_problem(
    window: Any, status_server: Any, status_doc: Any, idle: Any
) -> None:
    status_server.source.document = status_doc(
        connected=False, auth_problem=True, last_error="401 Unauthorized"
    )
    window.dashboard.refresh()
    idle(window)
    assert window.dashboard.wats_label.text() == "credentials refused: 401 Unauthorized"

    status_server.source.document = status_doc(connected=False, last_error="connect refused")
    window.dashboard.refresh()
    idle(window)
    assert window.dashboard.wats_label.text() == "not connected: connect refused"

    status_server.source.document = status_doc(connected=None)
    window.dashboard.refresh()
    idle(window)
    assert window.dashboard.wats_label.text() == "no upload attempted yet"


def test_dashboard_says_when_the_service_is_not_reachable(
    window: Any, config_path: Path, idle: Any
) -> None:
    config = load_config(config_path, environ={})
    save_config(config.model_copy(update={"health": config.health.model_copy(update={"port": 1})}))
    window.dashboard.refresh()
    idle(window)
    assert window.dashboard.service_label.text().startswith("not reachable (station service")
    assert "127.0.0.1:1" in window.dashboard.service_label.text()

    off = config.health.model_copy(update={"enabled": False})
    save_config(config.model_copy(update={"health": off}))
    window.dashboard.refresh()
    idle(window)
    assert "disabled" in window.dashboard.service_label.text()


def test_polling_refreshes_while_the_dashboard_is_shown(
    qtbot: Any, config_path: Path, queue: ReportQueue
) -> None:
    from pywats.gui import MainWindow

    win = MainWindow(config_path, poll_ms=50)
    qtbot.addWidget(win)
    assert win.dashboard.timer.isActive()
    qtbot.waitUntil(lambda: win.dashboard.count_labels["pending"].text() == "5", timeout=5000)
    queue.hold([queue.list()[0].report_id])
    qtbot.waitUntil(lambda: win.dashboard.count_labels["held"].text() == "1", timeout=5000)
    win.show_page(1)
    assert not win.dashboard.timer.isActive()
    win.close()


def test_an_unreadable_queue_shows_dashes(window: Any, config_path: Path, idle: Any) -> None:
    config = load_config(config_path, environ={})
    blocker = config_path.parent / "not-a-dir"
    blocker.write_text("x")
    bad = config.queue.model_copy(update={"path": blocker / "queue.sqlite"})
    save_config(config.model_copy(update={"queue": bad}))
    window.dashboard.refresh()
    idle(window)
    assert window.dashboard.count_labels["pending"].text() == "-"
    assert "cannot read the queue" in window.dashboard.count_labels["pending"].toolTip()

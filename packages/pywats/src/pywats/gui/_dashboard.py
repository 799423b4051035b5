"""Dashboard: is the service running, does it reach WATS, how deep is the queue."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from pywats.gui._status import StationStatus
from pywats.gui._widgets import fill_table, make_table

if TYPE_CHECKING:
    from pywats.gui._backend import StationBackend
    from pywats.gui._tasks import TaskRunner
    from pywats.station._queue import ReportState

__all__ = ["DashboardPage"]

STATE_NAMES = ("pending", "inflight", "retry_wait", "done", "dead", "held")
_RECENT_COLUMNS = ("When", "Report", "Event", "Detail")


class DashboardPage(QWidget):
    """Service and WATS connection state, queue depth per state, recent submissions.

    Args:
        backend: the station's files and service.
        runner: where the blocking reads run.
        interval_ms: how often to poll while the page is shown; 0 polls only on refresh.
    """

    def __init__(
        self, backend: StationBackend, runner: TaskRunner, *, interval_ms: int = 5000
    ) -> None:
        super().__init__()
        self._backend = backend
        self._runner = runner
        self.service_label = QLabel("checking...")
        self.wats_label = QLabel("unknown")
        self.wats_label.setWordWrap(True)
        connection = QGroupBox("Connection")
        form = QFormLayout(connection)
        form.addRow("Station service:", self.service_label)
        form.addRow("WATS server:", self.wats_label)

        self.count_labels: dict[str, QLabel] = {}
        queue_box = QGroupBox("Queue")
        counts = QFormLayout(queue_box)
        for name in STATE_NAMES:
            label = QLabel("-")
            label.setObjectName(f"count_{name}")
            self.count_labels[name] = label
            counts.addRow(f"{name.replace('_', ' ').capitalize()}:", label)

        recent_box = QGroupBox("Recent submissions")
        self.recent_table = make_table(_RECENT_COLUMNS)
        QVBoxLayout(recent_box).addWidget(self.recent_table)

        layout = QVBoxLayout(self)
        layout.addWidget(connection)
        layout.addWidget(queue_box)
        layout.addWidget(recent_box, stretch=1)

        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.refresh)
        self.status: StationStatus | None = None

    def start_polling(self) -> None:
        """Poll on the timer (the window calls this while the page is visible)."""
        if self.timer.interval() > 0:
            self.timer.start()

    def stop_polling(self) -> None:
        """Stop the timer."""
        self.timer.stop()

    def refresh(self) -> None:
        """Read the service status and the queue counts in the background."""
        self._runner.submit(self._backend.status, self._show_status)
        self._runner.submit(self._backend.counts, self._show_counts, self._counts_failed)

    def _show_status(self, status: StationStatus) -> None:
        self.status = status
        if not status.reachable:
            self.service_label.setText(f"not reachable ({status.error})")
            self.wats_label.setText("unknown while the service is not reachable")
        else:
            self.service_label.setText("running")
            self.wats_label.setText(_wats_text(status))
        fill_table(self.recent_table, [_recent_row(r) for r in status.recent[:50]])

    def _show_counts(self, counts: Mapping[ReportState, int]) -> None:
        for state, count in counts.items():
            label = self.count_labels.get(str(state))
            if label is not None:
                label.setText(str(count))

    def _counts_failed(self, error: BaseException) -> None:
        for label in self.count_labels.values():
            label.setText("-")
        self.count_labels["pending"].setToolTip(f"cannot read the queue: {error}")


def _wats_text(status: StationStatus) -> str:
    if status.auth_problem:
        return f"credentials refused: {status.last_error or 'check the user and password'}"
    if status.connected is True:
        return "connected"
    if status.connected is False:
        return f"not connected: {status.last_error or 'no answer yet'}"
    return "no upload attempted yet"


def _recent_row(item: Mapping[str, Any]) -> list[object]:
    return [
        _local_time(item.get("at")),
        item.get("report_id"),
        str(item.get("kind", "")).replace("_", " "),
        item.get("detail"),
    ]


def _local_time(value: object) -> object:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value

"""Queue: the station's reports by state, each with its attempt history, and the actions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from pywats.gui._dashboard import STATE_NAMES
from pywats.gui._widgets import fill_table, make_table, show_time

if TYPE_CHECKING:
    from pywats.gui._backend import StationBackend
    from pywats.gui._tasks import TaskRunner
    from pywats.station._queue import Attempt, QueuedReport

__all__ = ["QueuePage"]

_COLUMNS = (
    "Report id",
    "State",
    "Attempts",
    "Queued",
    "Next attempt",
    "Status",
    "Last error",
    "Serial number",
    "Part number",
    "Source",
)
_HISTORY_COLUMNS = ("At", "Outcome", "HTTP status", "Latency (s)", "Error")


class QueuePage(QWidget):
    """Filter the queue by state, see a report's history, requeue, retry, hold, export.

    Args:
        backend: the station's files.
        runner: where the queue calls run.
    """

    def __init__(self, backend: StationBackend, runner: TaskRunner) -> None:
        super().__init__()
        self._backend = backend
        self._runner = runner
        self.reports: list[QueuedReport] = []
        self.choose_directory: Callable[[], Path | None] = self._ask_directory

        self.state_filter = QComboBox()
        self.state_filter.addItem("All states", None)
        for name in STATE_NAMES:
            self.state_filter.addItem(name.replace("_", " "), name)
        self.state_filter.currentIndexChanged.connect(self.refresh)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self.summary = QLabel("")
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.state_filter)
        top.addWidget(refresh)
        top.addStretch(1)
        top.addWidget(self.summary)

        self.table = make_table(_COLUMNS, multi_select=True)
        self.table.itemSelectionChanged.connect(self._selection_changed)

        actions = self._build_actions()

        details = QGroupBox("Details and attempt history")
        self.details_label = QLabel("Select a report.")
        self.details_label.setWordWrap(True)
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.history_table = make_table(_HISTORY_COLUMNS)
        box = QVBoxLayout(details)
        box.addWidget(self.details_label)
        box.addWidget(self.history_table)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, stretch=1)
        layout.addLayout(actions)

    def _build_actions(self) -> QHBoxLayout:
        self.requeue_button = QPushButton("Requeue")
        self.requeue_button.setToolTip("Dead, held or waiting reports back to pending")
        self.retry_button = QPushButton("Retry now")
        self.retry_button.setToolTip("Waiting reports are tried at once")
        self.hold_button = QPushButton("Hold")
        self.release_button = QPushButton("Release")
        self.export_button = QPushButton("Export...")
        self.export_button.setToolTip("Write the reports and their histories to a folder")
        self.requeue_button.clicked.connect(lambda: self._act("requeued", self._backend.requeue))
        self.retry_button.clicked.connect(
            lambda: self._act("set to retry", self._backend.retry_now)
        )
        self.hold_button.clicked.connect(lambda: self._act("held", self._backend.hold))
        self.release_button.clicked.connect(lambda: self._act("released", self._backend.release))
        self.export_button.clicked.connect(self.export_selected)
        actions = QHBoxLayout()
        self.action_buttons = (
            self.requeue_button,
            self.retry_button,
            self.hold_button,
            self.release_button,
            self.export_button,
        )
        for button in self.action_buttons:
            button.setEnabled(False)
            actions.addWidget(button)
        actions.addStretch(1)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        actions.addWidget(self.message)
        return actions

    def set_filter(self, state: str | None) -> None:
        """Show only reports in ``state`` (a state name; None for all)."""
        self.state_filter.setCurrentIndex(self.state_filter.findData(state))

    def refresh(self) -> None:
        """Reload the table from the queue file in the background."""
        from pywats.station._queue import ReportState

        name = self.state_filter.currentData()
        state = None if name is None else ReportState(name)
        self._runner.submit(
            lambda: self._backend.list_reports(state), self._show_reports, self._failed
        )

    def selected_ids(self) -> list[str]:
        """The report ids of the selected rows, in table order."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.reports[r].report_id for r in rows if r < len(self.reports)]

    def select_ids(self, report_ids: Sequence[str]) -> None:
        """Select the rows of these reports (others are deselected)."""
        wanted = set(report_ids)
        self.table.clearSelection()
        model = self.table.selectionModel()
        for row, report in enumerate(self.reports):
            if report.report_id in wanted:
                index = self.table.model().index(row, 0)
                model.select(index, model.SelectionFlag.Select | model.SelectionFlag.Rows)

    def export_selected(self) -> None:
        """Ask for a folder and export the selected reports into it."""
        ids = self.selected_ids()
        directory = self.choose_directory() if ids else None
        if directory is None:
            return
        self._runner.submit(
            lambda: self._backend.export(ids, directory),
            lambda paths: self._done(f"exported {len(paths)} file(s) to {directory}"),
            self._failed,
        )

    def _act(self, verb: str, action: Callable[[Sequence[str]], int]) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        self._runner.submit(
            lambda: action(ids),
            lambda moved: self._done(f"{moved} of {len(ids)} report(s) {verb}"),
            self._failed,
        )

    def _done(self, text: str) -> None:
        self.message.setText(text)
        self.refresh()

    def _failed(self, error: BaseException) -> None:
        self.message.setText(f"Failed: {error}")

    def _show_reports(self, reports: list[QueuedReport]) -> None:
        selected = set(self.selected_ids())
        self.reports = reports
        fill_table(self.table, [_row(r) for r in reports])
        self.summary.setText(f"{len(reports)} report(s)")
        self.select_ids([r.report_id for r in reports if r.report_id in selected])
        self._selection_changed()

    def _selection_changed(self) -> None:
        ids = self.selected_ids()
        for button in self.action_buttons:
            button.setEnabled(bool(ids))
        if len(ids) != 1:
            self.details_label.setText(
                "Select a report." if not ids else f"{len(ids)} reports selected."
            )
            fill_table(self.history_table, [])
            return
        report_id = ids[0]
        self._runner.submit(
            lambda: self._backend.details(report_id),
            lambda found: self._show_details(report_id, found),
            self._failed,
        )

    def _show_details(
        self, report_id: str, found: tuple[QueuedReport | None, list[Attempt]]
    ) -> None:
        if self.selected_ids() != [report_id]:
            return  # the selection changed while the details were read
        report, history = found
        if report is None:
            self.details_label.setText("This report is no longer in the queue.")
            fill_table(self.history_table, [])
            return
        self.details_label.setText(
            f"<b>{report.report_id}</b> &nbsp; {report.kind or ''} "
            f"{report.part_number or ''} / {report.serial_number or ''}<br>"
            f"State: {report.state} &nbsp; attempts: {report.attempts} &nbsp; "
            f"queued: {show_time(report.enqueued_at)}<br>"
            f"Last error: {_escape(report.last_error or 'none')}"
        )
        fill_table(
            self.history_table,
            [
                [a.at, a.outcome, a.status_code, _latency(a.latency_s), a.error]
                for a in reversed(history)
            ],
        )

    def _ask_directory(self) -> Path | None:
        chosen = QFileDialog.getExistingDirectory(self, "Export reports to")
        return Path(chosen) if chosen else None


def _row(report: QueuedReport) -> list[object]:
    return [
        report.report_id,
        str(report.state),
        report.attempts,
        report.enqueued_at,
        report.next_attempt_at,
        report.last_status,
        report.last_error,
        report.serial_number,
        report.part_number,
        report.source,
    ]


def _latency(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

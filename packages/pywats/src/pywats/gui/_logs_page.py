"""Logs: this client's own log records, and the tail of a service log file.

The service logs to stderr (journald, a terminal) unless it is started with its output sent
to a file; point the page at that file to follow it. Records from this process arrive through
a :class:`logging.Handler` that forwards them with a queued signal, so a record logged on a
worker thread is shown on the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pywats.gui._backend import tail_file

if TYPE_CHECKING:
    from pywats.gui._tasks import TaskRunner

__all__ = ["LogsPage", "QtLogHandler"]

_MAX_LINES = 5000


class _Bridge(QObject):
    record = Signal(str)


class QtLogHandler(logging.Handler):
    """A logging handler that hands formatted records to the GUI thread."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.bridge = _Bridge()
        self.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )

    def emit(self, record: logging.LogRecord) -> None:
        """Send the formatted record to the page (thread-safe: the signal is queued)."""
        try:
            self.bridge.record.emit(self.format(record))
        except RuntimeError:  # pragma: no cover - the page is gone while shutting down
            return


class LogsPage(QWidget):
    """This client's log records and, if chosen, the tail of a log file.

    Args:
        runner: where the file is read.
        handler: the handler whose records to show (installed on the ``pywats`` logger by
            the window).
        interval_ms: how often to re-read the file while the page is shown.
    """

    def __init__(
        self, runner: TaskRunner, handler: QtLogHandler, *, interval_ms: int = 2000
    ) -> None:
        super().__init__()
        self._runner = runner
        self.choose_file: Callable[[], Path | None] = self._ask_file
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

        own = QGroupBox("This client")
        self.client_log = QPlainTextEdit()
        self.client_log.setReadOnly(True)
        self.client_log.setMaximumBlockCount(_MAX_LINES)
        self.client_log.setFont(fixed)
        QVBoxLayout(own).addWidget(self.client_log)
        handler.bridge.record.connect(self.client_log.appendPlainText)

        service = QGroupBox("Service log file")
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("the file the station service's output goes to")
        self.file_edit.editingFinished.connect(self.refresh)
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.file_edit, stretch=1)
        row.addWidget(browse)
        self.file_log = QPlainTextEdit()
        self.file_log.setReadOnly(True)
        self.file_log.setFont(fixed)
        box = QVBoxLayout(service)
        box.addLayout(row)
        box.addWidget(self.file_log)

        layout = QVBoxLayout(self)
        layout.addWidget(service, stretch=2)
        layout.addWidget(own, stretch=1)

        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.refresh)

    def set_file(self, path: Path) -> None:
        """Follow ``path`` and read its tail now."""
        self.file_edit.setText(str(path))
        self.refresh()

    def start_polling(self) -> None:
        """Re-read the file on the timer while the page is shown."""
        if self.timer.interval() > 0:
            self.timer.start()

    def stop_polling(self) -> None:
        """Stop the timer."""
        self.timer.stop()

    def refresh(self) -> None:
        """Read the tail of the chosen file in the background."""
        text = self.file_edit.text().strip()
        if not text:
            return
        path = Path(text).expanduser()
        self._runner.submit(lambda: tail_file(path), self._show_tail, self._failed)

    def _show_tail(self, text: str) -> None:
        if text != self.file_log.toPlainText():
            self.file_log.setPlainText(text)
            bar = self.file_log.verticalScrollBar()
            bar.setValue(bar.maximum())

    def _failed(self, error: BaseException) -> None:
        self.file_log.setPlainText(f"Cannot read the log file: {error}")

    def _browse(self) -> None:
        chosen = self.choose_file()
        if chosen is not None:
            self.set_file(chosen)

    def _ask_file(self) -> Path | None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Service log file")
        return Path(chosen) if chosen else None

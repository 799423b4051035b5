"""The main window: a sidebar of pages over one station."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from pywats.gui._backend import StationBackend
from pywats.gui._converters_page import ConvertersPage
from pywats.gui._dashboard import DashboardPage
from pywats.gui._logs_page import LogsPage, QtLogHandler
from pywats.gui._queue_page import QueuePage
from pywats.gui._settings_page import SettingsPage
from pywats.gui._tasks import TaskRunner

__all__ = ["MainWindow"]

PAGE_NAMES = ("Dashboard", "Queue", "Converters", "Settings", "Logs")


class MainWindow(QMainWindow):
    """The desktop client for one station.

    Args:
        config_path: the station's config file (the one ``pywats station run`` reads).
        poll_ms: how often the dashboard polls the service while shown; 0 only on demand.
        log_file: a service log file for the Logs page to follow.
    """

    def __init__(
        self, config_path: Path, *, poll_ms: int = 5000, log_file: Path | None = None
    ) -> None:
        super().__init__()
        self.setWindowTitle(f"pyWATS station - {config_path}")
        self.backend = StationBackend(config_path)
        self.runner = TaskRunner(self)
        self.log_handler = QtLogHandler()
        self._logger = logging.getLogger("pywats")
        self._logger.addHandler(self.log_handler)
        if self._logger.getEffectiveLevel() > logging.INFO:
            self._logger.setLevel(logging.INFO)

        self.dashboard = DashboardPage(self.backend, self.runner, interval_ms=poll_ms)
        self.queue_page = QueuePage(self.backend, self.runner)
        self.converters_page = ConvertersPage(self.backend, self.runner)
        self.settings_page = SettingsPage(self.backend, self.runner)
        self.logs_page = LogsPage(self.runner, self.log_handler)
        self.pages: tuple[QWidget, ...] = (
            self.dashboard,
            self.queue_page,
            self.converters_page,
            self.settings_page,
            self.logs_page,
        )

        self.sidebar = QListWidget()
        self.sidebar.addItems(list(PAGE_NAMES))
        self.sidebar.setFixedWidth(150)
        self.stack = QStackedWidget()
        for page in self.pages:
            self.stack.addWidget(page)
        self.sidebar.currentRowChanged.connect(self.show_page)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.sidebar)
        layout.addWidget(self.stack, stretch=1)
        self.setCentralWidget(central)

        self.busy_label = QLabel("")
        self.statusBar().addPermanentWidget(self.busy_label)
        self.runner.failed.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.runner.busy_changed.connect(
            lambda n: self.busy_label.setText(f"working ({n})..." if n else "")
        )
        self.resize(QSize(1000, 680))
        if log_file is not None:
            self.logs_page.file_edit.setText(str(log_file))
        self.sidebar.setCurrentRow(0)

    def show_page(self, index: int) -> None:
        """Switch to page ``index`` (in :data:`PAGE_NAMES` order) and refresh it."""
        if self.sidebar.currentRow() != index:
            self.sidebar.setCurrentRow(index)  # calls back here
            return
        self.stack.setCurrentIndex(index)
        self.dashboard.stop_polling()
        self.logs_page.stop_polling()
        page = self.pages[index]
        if isinstance(page, DashboardPage | LogsPage):
            page.start_polling()
        page.refresh()  # type: ignore[attr-defined]

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop polling and background work, close the queue, detach the log handler."""
        self.dashboard.stop_polling()
        self.logs_page.stop_polling()
        self._logger.removeHandler(self.log_handler)
        self.runner.close()
        self.backend.close()
        super().closeEvent(event)

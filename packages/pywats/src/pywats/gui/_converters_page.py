"""Converters: the watched folders from the config, switched on or off, and their results."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pywats.gui._widgets import fill_table, make_table

if TYPE_CHECKING:
    from pywats.gui._backend import StationBackend
    from pywats.gui._status import StationStatus
    from pywats.gui._tasks import TaskRunner
    from pywats.station._config import ConverterConfig, StationConfig

__all__ = ["ConvertersPage"]

_COLUMNS = ("Converter", "Enabled", "Last results", "Watch folder", "Done folder", "Error folder")


class ConvertersPage(QWidget):
    """Edit the ``[[converters]]`` of the station config and show their last results.

    Changes are kept in the page until *Save*, which re-reads the file, replaces its
    converters and writes it atomically; the service picks them up when it restarts.

    Args:
        backend: the station's files and service.
        runner: where the config is read and written.
    """

    def __init__(self, backend: StationBackend, runner: TaskRunner) -> None:
        super().__init__()
        self._backend = backend
        self._runner = runner
        self.converters: list[ConverterConfig] = []
        self.results: Mapping[str, Mapping[str, Any]] = {}
        self.choose_directory: Callable[[str], Path | None] = self._ask_directory

        self.table = make_table(_COLUMNS)
        self.table.itemSelectionChanged.connect(self._selection_changed)

        editor = QGroupBox("Selected converter")
        form = QFormLayout(editor)
        self.enabled_box = QCheckBox("Watch this folder")
        self.enabled_box.toggled.connect(self._edited)
        form.addRow("Enabled:", self.enabled_box)
        self.folder_edits: dict[str, QLineEdit] = {}
        for key, label in (("watch", "Watch:"), ("done", "Done:"), ("error", "Error:")):
            edit = QLineEdit()
            edit.setObjectName(f"{key}_folder")
            edit.editingFinished.connect(self._edited)
            browse = QPushButton("Browse...")
            browse.clicked.connect(lambda _=False, k=key: self._browse(k))
            row = QHBoxLayout()
            row.addWidget(edit, stretch=1)
            row.addWidget(browse)
            self.folder_edits[key] = edit
            form.addRow(label, row)
        editor.setEnabled(False)
        self.editor = editor

        self.save_button = QPushButton("Save to config")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save)
        reload_button = QPushButton("Reload")
        reload_button.clicked.connect(self.refresh)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(reload_button)
        buttons.addWidget(self.message, stretch=1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.table, stretch=1)
        layout.addWidget(editor)
        layout.addLayout(buttons)

    def refresh(self) -> None:
        """Reload the converters from the config file and results from the service."""
        self._runner.submit(self._backend.load_config, self._show_config, self._failed)
        self._runner.submit(self._backend.status, self._show_status)

    def select(self, row: int) -> None:
        """Select the converter in ``row``."""
        self.table.selectRow(row)

    def set_enabled(self, row: int, enabled: bool) -> None:
        """Switch the converter in ``row`` on or off (kept until saved)."""
        self._update(row, enabled=enabled)

    def set_folder(self, row: int, key: str, folder: Path) -> None:
        """Set the ``watch``, ``done`` or ``error`` folder of the converter in ``row``."""
        self._update(row, **{key: folder})

    def save(self) -> None:
        """Write the edited converters into the config file (in the background)."""
        edited = tuple(self.converters)

        def write() -> Path:
            current = self._backend.load_config()
            return self._backend.save_config(current.model_copy(update={"converters": edited}))

        self._runner.submit(write, self._saved, self._failed)

    def _saved(self, path: Path) -> None:
        self.save_button.setEnabled(False)
        self.message.setText(f"Saved to {path}; restart the station service to apply.")

    def _failed(self, error: BaseException) -> None:
        self.message.setText(f"Failed: {error}")

    def _show_config(self, config: StationConfig) -> None:
        self.converters = list(config.converters)
        self.save_button.setEnabled(False)
        self._fill()
        if not self.converters:
            self.message.setText("No converters in the config: add [[converters]] tables.")

    def _show_status(self, status: StationStatus) -> None:
        self.results = status.converters
        self._fill()

    def _fill(self) -> None:
        row = self._current_row()
        fill_table(
            self.table,
            [
                [
                    c.name,
                    "yes" if c.enabled else "no",
                    _results_text(self.results.get(c.name)),
                    c.watch,
                    c.done_dir,
                    c.error_dir,
                ]
                for c in self.converters
            ],
        )
        if row is not None and row < len(self.converters):
            self.table.selectRow(row)

    def _current_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _selection_changed(self) -> None:
        row = self._current_row()
        self.editor.setEnabled(row is not None)
        if row is None:
            return
        converter = self.converters[row]
        for widget, value in (
            (self.folder_edits["watch"], converter.watch),
            (self.folder_edits["done"], converter.done_dir),
            (self.folder_edits["error"], converter.error_dir),
        ):
            widget.setText(str(value))
        self.enabled_box.blockSignals(True)
        self.enabled_box.setChecked(converter.enabled)
        self.enabled_box.blockSignals(False)

    def _edited(self) -> None:
        row = self._current_row()
        if row is None:
            return
        update: dict[str, Any] = {"enabled": self.enabled_box.isChecked()}
        for key, edit in self.folder_edits.items():
            text = edit.text().strip()
            if text:
                update[key] = Path(text)
        self._update(row, **update)

    def _update(self, row: int, **changes: Any) -> None:
        current = self.converters[row]
        changed = current.model_copy(update=changes)
        if changed == current:
            return
        self.converters[row] = changed
        self.save_button.setEnabled(True)
        self.message.setText("Unsaved changes.")
        self._fill()
        self._selection_changed()

    def _browse(self, key: str) -> None:
        row = self._current_row()
        folder = self.choose_directory(key) if row is not None else None
        if row is not None and folder is not None:
            self.set_folder(row, key, folder)

    def _ask_directory(self, key: str) -> Path | None:
        chosen = QFileDialog.getExistingDirectory(self, f"Choose the {key} folder")
        return Path(chosen) if chosen else None


def _results_text(result: Mapping[str, Any] | None) -> str:
    """``"done 3, error 1; last: done a.csv"`` from the service's converter status."""
    if not result:
        return ""
    files = result.get("files")
    parts = []
    if isinstance(files, Mapping) and files:
        parts.append(", ".join(f"{status} {count}" for status, count in sorted(files.items())))
    last = result.get("last")
    if isinstance(last, Mapping):
        name = Path(str(last.get("path", ""))).name
        text = f"last: {last.get('status', '?')} {name}".rstrip()
        if last.get("message"):
            text += f" ({last['message']})"
        parts.append(text)
    return "; ".join(parts)

"""Settings: the WATS server, the station's user and password, and the health address.

The password goes to the credential store the service reads (the system keyring, or the
encrypted file when no keyring works); it is never written to the config file. The field is
cleared once the password is stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from pathlib import Path

    from pywats.gui._backend import StationBackend
    from pywats.gui._tasks import TaskRunner
    from pywats.station._config import StationConfig

__all__ = ["SettingsPage"]


class SettingsPage(QWidget):
    """Edit ``[server]`` and ``[health]``, store the password, test the connection.

    Args:
        backend: the station's files.
        runner: where saving and the connection test run.
    """

    def __init__(self, backend: StationBackend, runner: TaskRunner) -> None:
        super().__init__()
        self._backend = backend
        self._runner = runner

        server = QGroupBox("WATS server")
        form = QFormLayout(server)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("https://yourcompany.wats.com")
        self.username_edit = QLineEdit()
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("leave empty to keep the stored password")
        self.source_combo = QComboBox()
        self.source_combo.addItem("System keyring (encrypted file if none)", "keyring")
        self.source_combo.addItem("Encrypted file", "encrypted")
        self.password_state = QLabel("")
        form.addRow("Server URL:", self.url_edit)
        form.addRow("User:", self.username_edit)
        form.addRow("Password or API token:", self.password_edit)
        form.addRow("Keep the password in:", self.source_combo)
        form.addRow("", self.password_state)

        health = QGroupBox("Station service health server")
        hform = QFormLayout(health)
        self.health_host_edit = QLineEdit()
        self.health_port_spin = QSpinBox()
        self.health_port_spin.setRange(0, 65535)
        hform.addRow("Host:", self.health_host_edit)
        hform.addRow("Port:", self.health_port_spin)

        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.message, stretch=1)

        layout = QVBoxLayout(self)
        layout.addWidget(server)
        layout.addWidget(health)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def refresh(self) -> None:
        """Load the fields from the config file."""
        self._runner.submit(self._load, self._show, self._failed)

    def save(self) -> None:
        """Write the fields to the config file and the password to the credential store."""
        changes = self._changes()
        password = self.password_edit.text()
        self.save_button.setEnabled(False)

        def write() -> tuple[Path, str | None]:
            config = self._apply(self._backend.load_config(), changes)
            backend = self._backend.store_password(config, password) if password else None
            return self._backend.save_config(config), backend

        self._runner.submit(write, self._saved, self._failed)

    def test_connection(self) -> None:
        """Ask the server for its version with the fields as they are (not yet saved)."""
        changes = self._changes()
        password = self.password_edit.text() or None
        self.test_button.setEnabled(False)
        self.message.setText("Testing...")

        def test() -> str:
            config = self._apply(self._backend.load_config(), changes)
            return self._backend.test_connection(config, password)

        self._runner.submit(test, self._tested, self._failed)

    def _load(self) -> tuple[StationConfig, bool]:
        config = self._backend.load_config()
        return config, self._backend.has_password(config)

    def _show(self, loaded: tuple[StationConfig, bool]) -> None:
        config, has_password = loaded
        self.url_edit.setText(config.server.url or "")
        self.username_edit.setText(config.server.username or "")
        self.source_combo.setCurrentIndex(self.source_combo.findData(config.server.password_source))
        self.health_host_edit.setText(config.health.host)
        self.health_port_spin.setValue(config.health.port)
        self.password_state.setText(
            "A password is stored." if has_password else "No password stored yet."
        )

    def _changes(self) -> dict[str, dict[str, Any]]:
        return {
            "server": {
                "url": self.url_edit.text().strip() or None,
                "username": self.username_edit.text().strip() or None,
                "password_source": self.source_combo.currentData(),
            },
            "health": {
                "host": self.health_host_edit.text().strip() or "127.0.0.1",
                "port": self.health_port_spin.value(),
            },
        }

    @staticmethod
    def _apply(config: StationConfig, changes: dict[str, dict[str, Any]]) -> StationConfig:
        # Validate through the model so a wrong value is refused here, not by the service.
        data = config.model_dump()
        for section, values in changes.items():
            data[section].update(values)
        return type(config).model_validate({**data, "source": config.source})

    def _saved(self, result: tuple[Path, str | None]) -> None:
        path, backend = result
        self.save_button.setEnabled(True)
        self.password_edit.clear()
        stored = f" Password stored ({backend})." if backend else ""
        self.message.setText(f"Saved to {path}.{stored} Restart the station service to apply.")
        if backend:
            self.password_state.setText("A password is stored.")

    def _tested(self, version: str) -> None:
        self.test_button.setEnabled(True)
        self.message.setText(f"Connected: WATS {version}")

    def _failed(self, error: BaseException) -> None:
        self.save_button.setEnabled(True)
        self.test_button.setEnabled(True)
        self.message.setText(f"Failed: {error}")

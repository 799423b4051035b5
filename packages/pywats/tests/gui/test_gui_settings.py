"""Settings page: server, user, password in the credential store (never the TOML), test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pywats.station._config import load_config
from pywats.station._credentials import CredentialStore

USER, PASSWORD = "operator", "s3cret"  # the emulator of packages/pywats/tests/conftest.py


def _page(window: Any, idle: Any) -> Any:
    window.show_page(3)
    idle(window)
    return window.settings_page


def test_fields_come_from_the_config(window: Any, status_server: Any, idle: Any) -> None:
    page = _page(window, idle)
    assert page.url_edit.text() == "http://wats.example"
    assert page.username_edit.text() == "operator"
    assert page.source_combo.currentData() == "encrypted"
    assert page.health_port_spin.value() == status_server.port
    assert page.password_state.text() == "No password stored yet."


def test_save_keeps_the_password_out_of_the_toml(
    window: Any, config_path: Path, base_url: str, idle: Any
) -> None:
    page = _page(window, idle)
    page.url_edit.setText(base_url)
    page.username_edit.setText(USER)
    page.password_edit.setText(PASSWORD)
    page.health_port_spin.setValue(9123)
    page.save_button.click()
    idle(window)
    assert "Password stored (encrypted)" in page.message.text()
    assert page.password_edit.text() == ""
    assert page.password_state.text() == "A password is stored."

    text = config_path.read_text()
    assert PASSWORD not in text
    assert "password =" not in text
    config = load_config(config_path, environ={})
    assert config.server.url == base_url
    assert config.health.port == 9123
    store = CredentialStore(config.credentials_dir, source="encrypted")
    secret = store.get_password(base_url, USER)
    assert secret is not None
    assert secret.get_secret_value() == PASSWORD
    files = [f for f in config.credentials_dir.iterdir() if f.is_file()]
    assert {f.name for f in files} >= {"credentials.enc", "credentials.key"}
    for file in files:
        assert PASSWORD.encode() not in file.read_bytes(), file


def test_save_without_a_password_keeps_the_stored_one(
    window: Any, config_path: Path, idle: Any
) -> None:
    page = _page(window, idle)
    page.password_edit.setText("first")
    page.save_button.click()
    idle(window)
    page.source_combo.setCurrentIndex(page.source_combo.findData("keyring"))
    page.save_button.click()
    idle(window)
    config = load_config(config_path, environ={})
    assert config.server.password_source == "keyring"
    # No working keyring in the tests: "keyring" falls back to the same encrypted file.
    store = CredentialStore(config.credentials_dir, source="keyring")
    assert store.backend == "encrypted"
    stored = store.get_password("http://wats.example", "operator")
    assert stored is not None
    assert stored.get_secret_value() == "first"


def test_a_wrong_value_is_refused_and_nothing_written(
    window: Any, config_path: Path, idle: Any
) -> None:
    page = _page(window, idle)
    before = config_path.read_text()
    page.username_edit.setText("")
    page.password_edit.setText("pw")
    page.save_button.click()
    idle(window)
    assert page.message.text().startswith("Failed: set the server URL and the user name")
    assert page.save_button.isEnabled()
    assert config_path.read_text() == before


def test_test_connection_against_the_emulator(window: Any, base_url: str, idle: Any) -> None:
    page = _page(window, idle)
    page.url_edit.setText(base_url)
    page.password_edit.setText(PASSWORD)
    page.test_button.click()
    assert page.message.text() == "Testing..."
    idle(window)
    assert page.message.text().startswith("Connected: WATS ")
    assert page.test_button.isEnabled()

    page.password_edit.setText("wrong")
    page.test_button.click()
    idle(window)
    assert page.message.text().startswith("Failed:")
    assert "wrong" not in page.message.text()


def test_test_connection_uses_the_stored_password(window: Any, base_url: str, idle: Any) -> None:
    page = _page(window, idle)
    page.url_edit.setText(base_url)
    page.test_button.click()
    idle(window)
    assert page.message.text() == (
        "Failed: no password stored for this server and user: enter it in Settings"
    )
    page.password_edit.setText(PASSWORD)
    page.save_button.click()
    idle(window)
    page.test_button.click()
    idle(window)
    assert page.message.text().startswith("Connected: WATS ")

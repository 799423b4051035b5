"""Converters page: enable a converter, change its folders, save to the config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pywats.station._config import load_config


def _page(window: Any, idle: Any) -> Any:
    window.show_page(2)
    idle(window)
    return window.converters_page


def test_lists_converters_with_their_last_results(window: Any, idle: Any) -> None:
    page = _page(window, idle)
    assert page.table.rowCount() == 2
    assert [page.table.item(r, 0).text() for r in range(2)] == ["csv", "wsjf"]
    assert [page.table.item(r, 1).text() for r in range(2)] == ["yes", "no"]
    assert page.table.item(0, 4).text().endswith("csv-in.done")
    assert page.table.item(0, 2).text() == (
        "done 3, error 1; last: error board-7.csv (line 4: no limit)"
    )
    assert page.table.item(1, 2).text() == ""


def test_enable_a_converter_and_save(window: Any, config_path: Path, idle: Any) -> None:
    page = _page(window, idle)
    page.select(1)
    assert page.editor.isEnabled()
    assert not page.enabled_box.isChecked()
    assert not page.save_button.isEnabled()
    page.enabled_box.setChecked(True)
    assert page.table.item(1, 1).text() == "yes"
    assert page.save_button.isEnabled()
    assert load_config(config_path, environ={}).converters[1].enabled is False  # not yet saved
    page.save_button.click()
    idle(window)
    assert page.message.text().startswith(f"Saved to {config_path}")
    saved = load_config(config_path, environ={})
    assert [c.enabled for c in saved.converters] == [True, True]
    assert saved.server.username == "operator"  # the rest of the file is kept


def test_change_folders_by_typing_and_browsing(
    window: Any, config_path: Path, tmp_path: Path, idle: Any
) -> None:
    page = _page(window, idle)
    page.select(0)
    page.folder_edits["done"].setText(str(tmp_path / "archive"))
    page.folder_edits["done"].editingFinished.emit()
    page.choose_directory = lambda key: tmp_path / f"picked-{key}"
    page._browse("error")
    assert page.folder_edits["error"].text() == str(tmp_path / "picked-error")
    page.save()
    idle(window)
    csv = load_config(config_path, environ={}).converters[0]
    assert csv.done == tmp_path / "archive"
    assert csv.error == tmp_path / "picked-error"
    assert csv.watch == tmp_path / "csv-in"


def test_nothing_selected_or_unchanged_keeps_save_off(window: Any, idle: Any) -> None:
    page = _page(window, idle)
    page._edited()
    page._browse("watch")
    assert not page.save_button.isEnabled()
    page.select(0)
    page.set_enabled(0, True)  # already enabled
    assert not page.save_button.isEnabled()


def test_a_config_without_converters_says_so(tmp_path: Path, qtbot: Any, idle: Any) -> None:
    from pywats.gui import MainWindow

    win = MainWindow(tmp_path / "missing.toml", poll_ms=0)
    qtbot.addWidget(win)
    win.show_page(2)
    idle(win)
    assert win.converters_page.table.rowCount() == 0
    assert "No converters" in win.converters_page.message.text()
    win.close()


def test_a_failed_save_is_shown(window: Any, config_path: Path, idle: Any) -> None:
    page = _page(window, idle)
    page.set_enabled(1, True)
    config_path.write_text("[server\n")  # broken by someone else meanwhile
    page.save()
    idle(window)
    assert page.message.text().startswith("Failed:")
    assert "not valid TOML" in page.message.text()

"""The entry point, the window's page switching, and the package's public names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

import pywats.gui
from pywats.gui._window import PAGE_NAMES


def test_main_opens_the_window_and_returns_when_it_closes(
    qtbot: Any, config_path: Path, tmp_path: Path
) -> None:
    seen: list[str] = []

    def close_all() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, pywats.gui.MainWindow) and widget.isVisible():
                seen.append(widget.windowTitle())
                seen.append(widget.logs_page.file_edit.text())
                widget.close()

    QTimer.singleShot(200, close_all)
    code = pywats.gui.main(
        ["--config", str(config_path), "--poll", "0", "--log-file", str(tmp_path / "s.log")]
    )
    assert code == 0
    assert seen == [f"pyWATS station - {config_path}", str(tmp_path / "s.log")]


def test_sidebar_switches_pages(window: Any, idle: Any) -> None:
    assert [window.sidebar.item(i).text() for i in range(5)] == list(PAGE_NAMES)
    window.sidebar.setCurrentRow(3)
    idle(window)
    assert window.stack.currentWidget() is window.settings_page
    window.show_page(1)
    assert window.sidebar.currentRow() == 1
    assert window.stack.currentWidget() is window.queue_page


def test_background_errors_reach_the_status_bar(window: Any, qtbot: Any) -> None:
    def boom() -> None:
        raise OSError("no space left on device")

    window.runner.submit(boom)
    qtbot.waitUntil(
        lambda: window.statusBar().currentMessage() == "no space left on device", timeout=5000
    )


def test_public_names_are_lazy() -> None:
    assert sorted(pywats.gui.__all__) == pywats.gui.__all__
    assert set(pywats.gui.__all__) <= set(dir(pywats.gui))
    assert callable(pywats.gui.main)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = pywats.gui.nothing


def test_started_as_pywats_gui_the_subcommand_is_skipped(
    qtbot: Any, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["pywats", "gui", "--config", str(config_path), "--poll", "0"])
    titles: list[str] = []

    def close_all() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, pywats.gui.MainWindow) and widget.isVisible():
                titles.append(widget.windowTitle())
                widget.close()

    QTimer.singleShot(200, close_all)
    assert pywats.gui.main() == 0
    assert titles == [f"pyWATS station - {config_path}"]


def test_python_m_pywats_gui_parses_its_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import runpy

    monkeypatch.setattr("sys.argv", ["python -m pywats.gui", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("pywats.gui", run_name="__main__")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--config" in out
    assert "--log-file" in out

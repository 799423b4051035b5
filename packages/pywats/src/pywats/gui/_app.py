"""``pywats gui``: start the desktop client."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# Imported here, not in main(), so that ``from pywats.gui import main`` fails with an
# ImportError when the ``gui`` extra is missing (``pywats gui`` turns that into a hint).
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Open the desktop client and run until its window closes.

    Args:
        argv: command-line arguments (default ``sys.argv[1:]`` without a leading ``gui``
            sub-command): ``--config PATH`` for the station config (default: the one
            ``pywats station run`` uses), ``--log-file PATH`` for a service log to follow,
            ``--poll SECONDS`` for the dashboard refresh.

    Returns:
        The Qt application's exit code.
    """
    from pywats.station._config import default_config_path

    parser = argparse.ArgumentParser(prog="pywats gui", description="pyWATS station client")
    parser.add_argument("--config", type=Path, default=None, help="the station's TOML config")
    parser.add_argument("--log-file", type=Path, default=None, help="a service log to follow")
    parser.add_argument("--poll", type=float, default=5.0, help="dashboard refresh, seconds")
    if argv is None:
        argv = sys.argv[1:]
        if argv[:1] == ["gui"]:  # started as `pywats gui ...`
            argv = argv[1:]
    args = parser.parse_args(list(argv))

    from pywats.gui._window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    window = MainWindow(
        (args.config or default_config_path()).expanduser(),
        poll_ms=int(args.poll * 1000),
        log_file=args.log_file,
    )
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.show()
    code = app.exec()
    return int(code)

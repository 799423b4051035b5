"""The pyWATS station desktop client (PySide6; install ``pywats[gui]``).

Start it with ``pywats gui`` (or ``python -m pywats.gui``). It opens the station's config,
queue file and credential store, and reads the running service's ``/status``; network and
disk work runs on worker threads, never on the GUI thread.

Names are imported lazily, so ``import pywats.gui`` does not load Qt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corekit.lazy import lazy_exports as _lazy_exports

if TYPE_CHECKING:
    from pywats.gui._app import main
    from pywats.gui._window import MainWindow

__all__ = ["MainWindow", "main"]

_LAZY = {"MainWindow": "pywats.gui._window", "main": "pywats.gui._app"}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, __all__)

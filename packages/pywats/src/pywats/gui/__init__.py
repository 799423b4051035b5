"""The pyWATS station desktop client (PySide6; install ``pywats[gui]``).

Start it with ``pywats gui`` (or ``python -m pywats.gui``). It opens the station's config,
queue file and credential store, and reads the running service's ``/status``; network and
disk work runs on worker threads, never on the GUI thread.

Names are imported lazily, so ``import pywats.gui`` does not load Qt.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pywats.gui._app import main
    from pywats.gui._window import MainWindow

__all__ = ["MainWindow", "main"]

_LAZY = {"MainWindow": "pywats.gui._window", "main": "pywats.gui._app"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'pywats.gui' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

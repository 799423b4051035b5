"""A WATS server emulator: the REST API subset pywats and pywats-api use, over a real socket.

Needs the ``emulator`` extra (``pip install 'pywats[emulator]'``). In tests::

    from corekit.testing import serve
    from pywats.emulator import EmulatorSettings, create_app

    app = create_app(EmulatorSettings(username="u", password="p"))
    with serve(app) as served:
        ...  # point a client at served.url; app.fail(...), app.calls(...) inject and inspect

From a shell: ``python -m pywats.emulator --host 127.0.0.1 --port 8088``. See
``docs/pywats/emulator.md`` for the routes and what each one checks.
"""

from __future__ import annotations

from pywats.emulator._app import create_app, emulator_state, wats_error_body
from pywats.emulator._settings import DEFAULT_PROCESSES, EmulatorProcess, EmulatorSettings
from pywats.emulator._state import EmulatorState

__all__ = [
    "DEFAULT_PROCESSES",
    "EmulatorProcess",
    "EmulatorSettings",
    "EmulatorState",
    "create_app",
    "emulator_state",
    "wats_error_body",
]

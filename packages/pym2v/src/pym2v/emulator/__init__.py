"""An emulator of the Eurogard m2v platform, for tests and demos (extra ``pym2v[emulator]``).

It speaks the real wire protocol over a real socket: the Keycloak password and refresh grants,
the five paged list endpoints, the time-series endpoint with the real server's bucket
semantics, and the set-point write. Data is generated deterministically; opt-in modes make it
sparse, drop a series on some days, send integer values or reorder results. Faults and a
request log come from :class:`corekit.testing.FaultInjector`.

Example::

    from corekit.testing import serve
    from pym2v.emulator import EmulatorSettings, create_app

    app = create_app(EmulatorSettings(username="u", password="p"))
    with serve(app) as served:
        ...  # point the client at served.url; app.fail(...), app.calls(...)

From a shell: ``python -m pym2v.emulator --port 8080`` (``--help`` lists the options).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pym2v.emulator._app import TOKEN_PATH, Emulator, create_app
    from pym2v.emulator._settings import DataModes, EmulatorSettings

__all__ = ["TOKEN_PATH", "DataModes", "Emulator", "EmulatorSettings", "create_app"]

# Imported on first use, so that ``python -m pym2v.emulator --help`` does not load FastAPI.
_WHERE = {
    "TOKEN_PATH": "pym2v.emulator._app",
    "Emulator": "pym2v.emulator._app",
    "create_app": "pym2v.emulator._app",
    "DataModes": "pym2v.emulator._settings",
    "EmulatorSettings": "pym2v.emulator._settings",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

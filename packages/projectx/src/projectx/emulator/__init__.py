"""An emulated ProjectX Gateway: REST, both SignalR hubs, fault injection and a request log.

Build it with :func:`create_app` and serve it with :func:`corekit.testing.serve` (tests) or
``python -m projectx.emulator`` (a separate process). Needs the ``projectx[emulator]`` extra.
"""

from __future__ import annotations

try:
    import fastapi as _fastapi
    import uvicorn as _uvicorn
except ImportError as _missing:
    _msg = (
        f"projectx.emulator needs {_missing.name}, which is not installed; "
        "install the extra: pip install 'projectx[emulator]'"
    )
    raise ImportError(_msg, name=_missing.name) from _missing

from projectx.emulator._app import Emulator, create_app
from projectx.emulator._settings import AccountSpec, ContractSpec, EmulatorSettings

__all__ = ["AccountSpec", "ContractSpec", "Emulator", "EmulatorSettings", "create_app"]

# Documented (and shown in reprs and tracebacks) under the public module.
for _public in (AccountSpec, ContractSpec, Emulator, EmulatorSettings, create_app):
    _public.__module__ = __name__
del _fastapi, _uvicorn

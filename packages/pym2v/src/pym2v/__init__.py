"""pym2v: the Eurogard m2v IIoT platform as polars frames, sync and async.

``from pym2v import EurogardAPI`` is all most code needs::

    from datetime import datetime, timedelta

    from pym2v import EurogardAPI

    with EurogardAPI.from_env(env_file=".env") as api:
        machine = api.find_machine("Pump 7")
        frame = api.get_long_frame_from_names(
            machine.uuid,
            ["MW-Temp", "MW-pH"],
            start=datetime(2025, 1, 1),
            end=datetime(2025, 2, 1),
            interval=timedelta(minutes=1),
        )

Importing ``pym2v`` is cheap: the clients (and polars) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corekit.lazy import lazy_exports as _lazy_exports
from pym2v.errors import Pym2vError

if TYPE_CHECKING:
    from pym2v._async import AsyncEurogardAPI
    from pym2v._sync import EurogardAPI
    from pym2v.models import Machine, Measurement, Router, User
    from pym2v.settings import Settings

__all__ = [
    "AsyncEurogardAPI",
    "EurogardAPI",
    "Machine",
    "Measurement",
    "Pym2vError",
    "Router",
    "Settings",
    "User",
    "__version__",
]

_LAZY = {
    "AsyncEurogardAPI": "pym2v._async",
    "EurogardAPI": "pym2v._sync",
    "Machine": "pym2v.models",
    "Measurement": "pym2v.models",
    "Router": "pym2v.models",
    "Settings": "pym2v.settings",
    "User": "pym2v.models",
}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, __all__, distribution="pym2v")

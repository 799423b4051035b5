"""pym2v: Eurogard m2v IIoT platform client.

Client for the Eurogard m2v IIoT platform: OAuth2 password grant, machines, measurements, and
time series as polars frames. Version 2 replaces the pandas / requests-oauthlib client.
"""

from __future__ import annotations

from typing import Any

from pym2v.errors import M2VError

__all__ = ["M2VError", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("pym2v")
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)

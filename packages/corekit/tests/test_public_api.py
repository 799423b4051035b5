"""Each public module's ``__all__`` lists exactly its public names (ruff RUF022 keeps it sorted)."""

from __future__ import annotations

import importlib
import types

import pytest

PUBLIC_MODULES = [
    "corekit",
    "corekit.breaker",
    "corekit.clock",
    "corekit.closing",
    "corekit.errors",
    "corekit.files",
    "corekit.lazy",
    "corekit.http",
    "corekit.queue",
    "corekit.ratelimit",
    "corekit.retry",
    "corekit.testing",
    "corekit.websocket",
]


def _public_names(module: types.ModuleType) -> set[str]:
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or name == "annotations":
            continue
        if isinstance(value, types.ModuleType):
            continue  # submodules and imported modules are not API
        foreign = getattr(value, "__module__", module.__name__).split(".")[0] != "corekit"
        # Names imported for use inside the module (typing helpers, stdlib) are not API,
        # unless the module lists them on purpose.
        if foreign and name not in getattr(module, "__all__", ()):
            continue
        names.add(name)
    return names


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(set(exported)) == len(exported)
    missing = _public_names(module) - set(exported)
    assert not missing, f"{name} defines public names missing from __all__: {sorted(missing)}"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ lists {attr!r}, which does not exist"


def test_version_comes_from_metadata() -> None:
    from importlib.metadata import version

    import corekit

    assert corekit.__version__ == version("corekit")
    with pytest.raises(AttributeError, match="nope"):
        corekit.__getattr__("nope")


def test_corekit_http_loads_authlib_only_for_oauth2() -> None:
    import subprocess
    import sys

    code = (
        "import sys, corekit.http as h\n"
        "assert 'authlib' not in sys.modules, 'authlib imported eagerly'\n"
        "assert h.OAuth2Auth.__name__ == 'OAuth2Auth'\n"
        "assert 'authlib' in sys.modules\n"
        "from corekit.http import OAuth2Auth\n"
        "assert OAuth2Auth is h.OAuth2Auth\n"
        "try:\n    h.nope\nexcept AttributeError as e:\n    assert 'nope' in str(e)\n"
        "else:\n    raise SystemExit('no AttributeError')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_corekit_http_lists_and_resolves_its_lazy_name() -> None:
    import corekit.http

    assert "OAuth2Auth" in dir(corekit.http)
    assert corekit.http.OAuth2Auth.__module__ == "corekit.http._oauth2"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        corekit.http.__getattr__("nope")

import ast
import importlib.util
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import corekit.errors
import pywats
from pywats.errors import PyWATSError

PACKAGE = Path(__file__).resolve().parent.parent


def test_version_comes_from_the_installed_metadata() -> None:
    assert pywats.__version__ == version("pywats")


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical.
    return (0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2, name)


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(pywats.__all__, key=_isort_key) == pywats.__all__
    for name in pywats.__all__:
        assert getattr(pywats, name) is not None, name
    public = {n for n in dir(pywats) if not n.startswith("_")}
    public -= {"annotations", "importlib", "Any", "TYPE_CHECKING", "errors", "odata"}
    # Submodules imported lazily show up as attributes once loaded.
    public = {n for n in public if not isinstance(getattr(pywats, n), type(pywats))}
    assert set(pywats.__all__) - {"__version__"} == public


def test_root_error_joins_the_workspace_error_tree() -> None:
    with pytest.raises(corekit.errors.CorekitError):
        raise PyWATSError("boom")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        pywats.__getattr__("no_such_name")


def test_import_is_light() -> None:
    code = (
        "import sys, pywats\n"
        "heavy = ('pydantic', 'httpx2', 'corekit.http', 'PySide6')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_api_never_imports_qt_or_the_emulator() -> None:
    code = (
        "import sys, pywats\n"
        "from pywats import WATS, AsyncWATS, UUTBuilder, from_wsxf\n"
        "bad = ('PySide6', 'pywats.emulator', 'fastapi')\n"
        "bad = [m for m in sys.modules if m.startswith(bad)]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_async_domains_are_generated_from_the_sync_ones() -> None:
    spec = importlib.util.spec_from_file_location("gen_async", PACKAGE / "scripts" / "gen_async.py")
    assert spec is not None
    assert spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    src = PACKAGE / "src" / "pywats"
    expected = gen.generate((src / "_api.py").read_text())
    actual = (src / "_aapi.py").read_text()
    # Formatting may differ (the generator output is formatted by ruff); the code may not.
    assert ast.dump(ast.parse(expected)) == ast.dump(ast.parse(actual)), (
        "pywats/_aapi.py is stale: run python packages/pywats/scripts/gen_async.py"
    )

import subprocess
import sys
import types
from importlib.metadata import version

import pytest

import corekit.errors
import projectx
from projectx.errors import ProjectXError


def test_version_comes_from_the_installed_metadata() -> None:
    assert projectx.__version__ == version("projectx")


def test_all_is_sorted_and_every_name_resolves() -> None:
    # isort-style, as ruff keeps it: CONSTANTS, then Classes, then the rest.
    def kind(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert sorted(projectx.__all__, key=kind) == projectx.__all__
    for name in projectx.__all__:
        assert getattr(projectx, name) is not None
    public = {
        n
        for n in dir(projectx)
        if not n.startswith("_") and not isinstance(getattr(projectx, n), types.ModuleType)
    }
    public -= {"annotations", "Any", "TYPE_CHECKING"}
    assert public == set(projectx.__all__) - {"__version__"}


def test_root_error_joins_the_workspace_error_tree() -> None:
    with pytest.raises(corekit.errors.CorekitError):
        raise ProjectXError("boom")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        projectx.__getattr__("no_such_name")


def test_import_projectx_stays_light() -> None:
    code = (
        "import sys, projectx\n"
        "heavy = ['polars', 'pyarrow', 'projectx.emulator', 'projectx.realtime', 'httpx2',"
        " 'projectx._client', 'fastapi', 'typer']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_client_does_not_pull_polars_until_bars_are_used() -> None:
    code = (
        "import sys\nfrom projectx import ProjectX\n"
        "print([m for m in ('polars', 'pyarrow', 'projectx.emulator') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

import subprocess
import sys
import types
from importlib.metadata import version

import pytest

import corekit.errors
import timeline
from timeline.errors import ApiError, ChainConflictError, ConflictError, TimelineError


def test_version_comes_from_the_installed_metadata() -> None:
    assert timeline.__version__ == version("timeline")


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        n
        for n, v in vars(timeline).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    public -= {"annotations", "Any", "TYPE_CHECKING"}
    assert sorted(timeline.__all__) == timeline.__all__
    # The lazy names are in the namespace once something has loaded them.
    assert set(timeline.__all__) - {"__version__"} == public | {"create_app", "Settings"}
    assert callable(timeline.create_app)
    assert timeline.Settings().database_url.startswith("sqlite+aiosqlite")


def test_root_error_joins_the_workspace_error_tree() -> None:
    with pytest.raises(corekit.errors.CorekitError):
        raise TimelineError("boom")
    conflict = ChainConflictError("again")
    assert isinstance(conflict, ConflictError)
    assert isinstance(conflict, ApiError)
    assert (conflict.status_code, conflict.code) == (409, "CHAIN_CONFLICT")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        timeline.__getattr__("no_such_name")


def test_import_stays_light() -> None:
    code = (
        "import sys, timeline\n"
        "heavy = [m for m in ('fastapi', 'sqlalchemy', 'alembic') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

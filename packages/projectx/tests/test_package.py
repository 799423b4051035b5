from importlib.metadata import version

import pytest

import corekit.errors
import projectx
from projectx.errors import ProjectXError


def test_version_comes_from_the_installed_metadata() -> None:
    assert projectx.__version__ == version("projectx")


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in vars(projectx) if not n.startswith("_")}
    public -= {"annotations", "errors", "Any"}
    assert sorted(projectx.__all__) == projectx.__all__
    assert set(projectx.__all__) - {"__version__"} == public


def test_root_error_joins_the_workspace_error_tree() -> None:
    with pytest.raises(corekit.errors.CorekitError):
        raise ProjectXError("boom")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        projectx.__getattr__("no_such_name")

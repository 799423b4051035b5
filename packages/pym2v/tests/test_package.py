from importlib.metadata import version

import pytest

import corekit.errors
import pym2v
from pym2v.errors import M2VError


def test_version_comes_from_the_installed_metadata() -> None:
    assert pym2v.__version__ == version("pym2v")


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in vars(pym2v) if not n.startswith("_")}
    public -= {"annotations", "errors", "Any"}
    assert sorted(pym2v.__all__) == pym2v.__all__
    assert set(pym2v.__all__) - {"__version__"} == public


def test_root_error_joins_the_workspace_error_tree() -> None:
    with pytest.raises(corekit.errors.CorekitError):
        raise M2VError("boom")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        pym2v.__getattr__("no_such_name")

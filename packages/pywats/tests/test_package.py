from importlib.metadata import version

import pytest

import corekit.errors
import pywats
from pywats.errors import WATSError


def test_version_comes_from_the_installed_metadata() -> None:
    assert pywats.__version__ == version("pywats")


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in vars(pywats) if not n.startswith("_")}
    public -= {"annotations", "errors", "Any"}
    assert sorted(pywats.__all__) == pywats.__all__
    assert set(pywats.__all__) - {"__version__"} == public


def test_root_error_joins_the_workspace_error_tree() -> None:
    with pytest.raises(corekit.errors.CorekitError):
        raise WATSError("boom")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        pywats.__getattr__("no_such_name")

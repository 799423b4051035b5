from importlib.metadata import version

import pytest

import corekit.errors
import timeline
from timeline.errors import TimelineError


def test_version_comes_from_the_installed_metadata() -> None:
    assert timeline.__version__ == version("timeline")


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in vars(timeline) if not n.startswith("_")}
    public -= {"annotations", "errors", "Any"}
    assert sorted(timeline.__all__) == timeline.__all__
    assert set(timeline.__all__) - {"__version__"} == public


def test_root_error_joins_the_workspace_error_tree() -> None:
    with pytest.raises(corekit.errors.CorekitError):
        raise TimelineError("boom")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        timeline.__getattr__("no_such_name")

from importlib.metadata import version

import pytest

import corekit.errors
import parquetframe
from parquetframe.errors import ParquetFrameError


def test_version_comes_from_the_installed_metadata() -> None:
    assert parquetframe.__version__ == version("parquetframe")


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in vars(parquetframe) if not n.startswith("_")} - {
        "annotations",
        "errors",
        "Any",
    }
    assert sorted(parquetframe.__all__) == parquetframe.__all__
    assert set(parquetframe.__all__) - {"__version__"} == public


def test_root_error_joins_the_workspace_error_tree() -> None:
    with pytest.raises(corekit.errors.CorekitError):
        raise ParquetFrameError("boom")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        parquetframe.__getattr__("no_such_name")

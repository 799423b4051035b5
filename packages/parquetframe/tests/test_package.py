import subprocess
import sys
from importlib.metadata import version

import pytest

import corekit.errors
import parquetframe
from parquetframe.errors import ConfigError, ParquetFrameError


def test_version_comes_from_the_installed_metadata() -> None:
    assert parquetframe.__version__ == version("parquetframe")


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(parquetframe.__all__) == parquetframe.__all__
    assert dir(parquetframe) == parquetframe.__all__
    module_names = {"annotations", "importlib", "Any", "TYPE_CHECKING", "errors", "cli"}
    module_names |= {"distributed"}
    defined = {n for n in vars(parquetframe) if not n.startswith("_")} - module_names
    assert defined <= set(parquetframe.__all__)
    for name in parquetframe.__all__:
        assert getattr(parquetframe, name) is not None


def test_root_error_joins_the_workspace_error_tree() -> None:
    with pytest.raises(corekit.errors.CorekitError):
        raise ParquetFrameError("boom")
    assert issubclass(ConfigError, corekit.errors.ConfigurationError)
    assert issubclass(ConfigError, ValueError)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = parquetframe.no_such_name  # type: ignore[attr-defined]


def test_import_loads_no_dataframe_library() -> None:
    code = (
        "import sys, parquetframe\n"
        "heavy = [m for m in ('polars', 'pandas', 'dask', 'narwhals', 'pydantic', 'pyarrow')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

import subprocess
import sys
import types
from importlib.metadata import version

import pytest

import corekit.errors
import pym2v
import pym2v.errors
import pym2v.models
import pym2v.settings


def test_version_comes_from_the_installed_metadata() -> None:
    assert pym2v.__version__ == version("pym2v")


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(pym2v.__all__) == pym2v.__all__
    for name in pym2v.__all__:
        assert getattr(pym2v, name) is not None
    public = {
        n
        for n in dir(pym2v)
        if not n.startswith("_") and not isinstance(getattr(pym2v, n), types.ModuleType)
    }
    public -= {"annotations", "TYPE_CHECKING", "Any"}
    assert public == set(pym2v.__all__) - {"__version__"}


@pytest.mark.parametrize("module", [pym2v.errors, pym2v.models, pym2v.settings])
def test_public_modules_list_their_names(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    for name in names:
        assert getattr(module, name) is not None


def test_errors_join_the_corekit_tree_under_one_root() -> None:
    for name in pym2v.errors.__all__:
        cls = getattr(pym2v.errors, name)
        assert issubclass(cls, pym2v.Pym2vError)
        assert issubclass(cls, corekit.errors.CorekitError)
        twin = {"M2VStatusError": "HTTPStatusError"}.get(name, name.removeprefix("M2V"))
        if name.startswith("M2V"):
            assert issubclass(cls, getattr(corekit.errors, twin))


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        pym2v.__getattr__("no_such_name")


def test_import_stays_light() -> None:
    heavy = "{'polars', 'httpx2', 'pydantic_settings', 'tqdm'}"
    code = f"import sys, pym2v; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""Lazy package exports load each name once, on first access, and list it before that."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from importlib.metadata import version

import pytest

from corekit.lazy import lazy_exports


@pytest.fixture
def package() -> Iterator[types.ModuleType]:
    """A fresh package ``lazypkg`` whose ``Thing`` lives in module ``lazypkg_impl``."""
    impl = types.ModuleType("lazypkg_impl")
    impl.Thing = object()  # type: ignore[attr-defined]
    impl.loads = 0  # type: ignore[attr-defined]
    pkg = types.ModuleType("lazypkg")
    pkg.__all__ = ["Thing", "eager"]  # type: ignore[attr-defined]
    pkg.eager = 1  # type: ignore[attr-defined]
    hooks = lazy_exports("lazypkg", {"Thing": "lazypkg_impl"}, pkg.__all__, distribution="corekit")
    pkg.__getattr__, pkg.__dir__ = hooks  # type: ignore[attr-defined]
    sys.modules["lazypkg"] = pkg
    sys.modules["lazypkg_impl"] = impl
    yield pkg
    del sys.modules["lazypkg"], sys.modules["lazypkg_impl"]


def test_a_lazy_name_resolves_and_is_cached(package: types.ModuleType) -> None:
    assert "Thing" not in vars(package)
    thing = package.Thing
    assert thing is sys.modules["lazypkg_impl"].Thing
    assert vars(package)["Thing"] is thing  # later lookups skip __getattr__


def test_dir_lists_exports_before_they_load(package: types.ModuleType) -> None:
    assert {"Thing", "eager"} <= set(dir(package))


def test_unknown_names_raise_attribute_error_naming_the_package(
    package: types.ModuleType,
) -> None:
    with pytest.raises(AttributeError, match="'lazypkg' has no attribute 'Nope'"):
        _ = package.Nope


def test_version_comes_from_the_distribution(package: types.ModuleType) -> None:
    assert package.__version__ == version("corekit")


def test_without_a_distribution_there_is_no_version() -> None:
    getattr_, _ = lazy_exports("nowhere", {})
    with pytest.raises(AttributeError, match="__version__"):
        getattr_("__version__")

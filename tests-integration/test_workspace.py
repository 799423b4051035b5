"""Checks that span every package of the workspace."""

from __future__ import annotations

import importlib
from importlib.metadata import requires, version

import pytest
from packaging.requirements import Requirement

from corekit.errors import CorekitError

PRODUCTS = {
    "pym2v": "Pym2vError",
    "projectx": "ProjectXError",
    "pywats": "PyWATSError",
    "timeline": "TimelineError",
    "parquetframe": "ParquetFrameError",
}


@pytest.mark.parametrize(("package", "error_name"), PRODUCTS.items())
def test_every_product_error_is_caught_as_a_corekit_error(package: str, error_name: str) -> None:
    module = importlib.import_module(package)
    error = getattr(module, error_name)
    with pytest.raises(CorekitError):
        raise error("failure in " + package)


@pytest.mark.parametrize("package", PRODUCTS)
def test_each_product_accepts_the_corekit_in_the_workspace(package: str) -> None:
    declared = [Requirement(r) for r in requires(package) or []]
    corekit_reqs = [r for r in declared if r.name == "corekit" and r.marker is None]
    assert corekit_reqs, f"{package} must declare a dependency on corekit"
    assert all(r.specifier.contains(version("corekit")) for r in corekit_reqs)

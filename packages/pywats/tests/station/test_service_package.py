"""pywats.station's public names: sorted, complete, lazily loaded."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pywats.station as station


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert station.__all__ == sorted(station.__all__)
    for name in station.__all__:
        assert getattr(station, name) is not None, name
    assert set(station.__all__) <= set(dir(station))


def test_unknown_name() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        station.Nope  # noqa: B018


def test_import_is_lazy() -> None:
    code = (
        "import sys, pywats.station, pywats.cli; "
        "heavy = [m for m in ('pywats.station._queue', 'watchfiles', 'keyring', "
        "'cryptography', 'prometheus_client') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

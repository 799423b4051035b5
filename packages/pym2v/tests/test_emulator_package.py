"""The public face of ``pym2v.emulator``: exported names and lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pym2v.emulator


def test_all_lists_exactly_the_public_names() -> None:
    # Sorted the way ruff's RUF022 sorts: constants first, then case-sensitive.
    names = pym2v.emulator.__all__
    assert sorted(names, key=lambda n: (not n.isupper(), n)) == names
    for name in pym2v.emulator.__all__:
        assert getattr(pym2v.emulator, name) is not None
    public = {n for n in dir(pym2v.emulator) if not n.startswith("_")}
    assert public - {"annotations", "TYPE_CHECKING", "Any"} == set(pym2v.emulator.__all__)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = pym2v.emulator.no_such_name  # type: ignore[attr-defined]


def test_neither_pym2v_nor_the_cli_module_loads_the_web_stack() -> None:
    code = (
        "import sys, pym2v, pym2v.emulator, pym2v.emulator.__main__\n"
        "print(sorted(m for m in ('fastapi', 'polars', 'uvicorn') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = result.stdout.strip()
    assert "fastapi" not in loaded
    assert "uvicorn" not in loaded

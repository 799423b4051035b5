"""The converter plugin API: Validation, the registry and entry point loading."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from pywats.station._builtin_csv import CSVConverter
from pywats.station._builtin_wsjf import WSJFConverter
from pywats.station._builtin_wsxf import WSXFConverter
from pywats.station._converters import (
    ENTRY_POINT_GROUP,
    Converter,
    ConverterRegistry,
    Validation,
    matches,
    stable_report_id,
)
from pywats.station._errors import ConfigError


class EchoConverter:
    """A minimal plugin converter."""

    name = "echo"
    patterns: tuple[str, ...] = ("*.echo",)

    def validate(self, path: Path) -> Validation:
        return Validation(1.0, "always")

    def convert(self, path: Path, settings: Mapping[str, Any]) -> list[Any]:
        return []


ECHO = EchoConverter()


def broken_factory() -> EchoConverter:
    msg = "the plugin's licence file is missing"
    raise RuntimeError(msg)


class Nameless(EchoConverter):
    name = ""


class NotAConverter:
    name = "nope"


NOT_CALLABLE = 42


@pytest.fixture
def plugin_module() -> Iterator[str]:
    """This test module importable by name, so entry points can point into it."""
    name = "pywats_test_plugins"
    sys.modules[name] = sys.modules[__name__]
    yield name
    del sys.modules[name]


def test_validation_bounds_and_thresholds() -> None:
    assert Validation(0.1).rejected
    assert not Validation(0.2).rejected
    assert Validation(0.2).doubtful
    assert Validation(0.49).doubtful
    assert not Validation(0.5).doubtful
    assert not Validation(1.0).rejected
    with pytest.raises(ValueError, match="between 0 and 1"):
        Validation(1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        Validation(-0.1)


def test_builtins_are_registered_as_entry_points() -> None:
    registry = ConverterRegistry.load()
    assert {"csv", "wsjf", "wsxf"} <= set(registry.names())
    assert isinstance(registry.get("csv"), CSVConverter)
    assert isinstance(registry.get("wsjf"), WSJFConverter)
    assert isinstance(registry.get("wsxf"), WSXFConverter)
    assert "csv" in registry
    assert len(registry) == len(registry.names())
    assert [c.name for c in registry] == registry.names()
    assert registry.errors == []


def test_broken_plugins_are_reported_and_the_others_load(
    plugin_module: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    points = [
        EntryPoint("echo", f"{plugin_module}:ECHO", ENTRY_POINT_GROUP),
        EntryPoint("missing", "no_such_module_xyz:Thing", ENTRY_POINT_GROUP),
        EntryPoint("factory", f"{plugin_module}:broken_factory", ENTRY_POINT_GROUP),
        EntryPoint("nameless", f"{plugin_module}:Nameless", ENTRY_POINT_GROUP),
        EntryPoint("nope", f"{plugin_module}:NotAConverter", ENTRY_POINT_GROUP),
        EntryPoint("number", f"{plugin_module}:NOT_CALLABLE", ENTRY_POINT_GROUP),
        EntryPoint("zdup", f"{plugin_module}:EchoConverter", ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(
        "pywats.station._converters.entry_points", lambda group: points if group else []
    )
    with caplog.at_level(logging.ERROR, logger="pywats.station._converters"):
        registry = ConverterRegistry.load()
    assert registry.names() == ["echo"]
    problems = {p.name: p.message for p in registry.errors}
    assert set(problems) == {"missing", "factory", "nameless", "nope", "number", "zdup"}
    assert "ModuleNotFoundError" in problems["missing"]
    assert "licence file is missing" in problems["factory"]
    assert "has no name" in problems["nameless"]
    assert "is not a converter" in problems["nope"]
    assert "is not a converter" in problems["number"]
    assert "two converters are named 'echo'" in problems["zdup"]
    assert all("the other converters are loaded" in m for m in problems.values())
    assert len([r for r in caplog.records if "failed to load" in r.message]) == 6


def test_register_checks_shape_and_names() -> None:
    registry = ConverterRegistry([EchoConverter()])
    with pytest.raises(ConfigError, match="unique"):
        registry.register(EchoConverter())
    with pytest.raises(ConfigError, match="is not a converter"):
        registry.register(NotAConverter())  # type: ignore[arg-type]
    bad = EchoConverter()
    bad.patterns = "*.echo"  # type: ignore[assignment]
    bad.name = "bad"
    with pytest.raises(ConfigError, match="tuple of glob strings"):
        registry.register(bad)
    with pytest.raises(ConfigError, match="known converters: echo"):
        registry.get("csv")
    with pytest.raises(ConfigError, match="known converters: none"):
        ConverterRegistry().get("csv")


def test_for_file_and_matches() -> None:
    registry = ConverterRegistry([CSVConverter(), WSJFConverter(), WSXFConverter()])
    assert [c.name for c in registry.for_file(Path("a/LOG.CSV"))] == ["csv"]
    assert [c.name for c in registry.for_file(Path("r.wsjf"))] == ["wsjf"]
    assert registry.for_file(Path("notes.txt")) == []
    assert matches("Report.JSON", ("*.json",))
    assert not matches("report.json.tmp", ("*.json",))


def test_builtins_satisfy_the_protocol() -> None:
    for converter in (CSVConverter(), WSJFConverter(), WSXFConverter()):
        assert isinstance(converter, Converter)


def test_stable_report_id_depends_on_content_and_index() -> None:
    assert stable_report_id(b"abc") == stable_report_id(b"abc", 0)
    assert stable_report_id(b"abc") != stable_report_id(b"abd")
    assert stable_report_id(b"abc", 0) != stable_report_id(b"abc", 1)
    assert stable_report_id(b"abc").version == 5

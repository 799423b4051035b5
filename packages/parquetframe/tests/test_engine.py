from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest

import parquetframe as pf
from parquetframe._engine import estimate_size
from parquetframe._sources import resolve_source
from parquetframe.errors import EngineError


@pytest.fixture
def medium(tmp_path: Path) -> Path:
    """About 1.6 MB in memory, compressing to far less on disk."""
    path = tmp_path / "medium.parquet"
    pl.DataFrame({"x": list(range(200_000))}).write_parquet(path, row_group_size=50_000)
    return path


def test_size_comes_from_footers_not_file_size(medium: Path) -> None:
    size = estimate_size(resolve_source(medium))
    assert 1_500_000 < size < 1_700_000
    assert medium.stat().st_size < size


def test_default_is_polars_without_streaming(medium: Path) -> None:
    choice = pf.explain_engine(medium)
    assert (choice.engine, choice.streaming) == ("polars", False)
    assert "one machine with polars" in str(choice)


def test_pandas_threshold_is_honoured(medium: Path) -> None:
    with pf.config_context(pandas_threshold_mb=2):
        choice = pf.explain_engine(medium)
        assert choice.engine == "pandas"
        assert "pandas_threshold_mb=2" in choice.reason
        assert pf.read(medium).engine == "pandas"
    with pf.config_context(pandas_threshold_mb=1):
        assert pf.explain_engine(medium).engine == "polars"


def test_polars_threshold_switches_to_streaming(medium: Path) -> None:
    with pf.config_context(polars_threshold_mb=1):
        choice = pf.explain_engine(medium)
        assert (choice.engine, choice.streaming) == ("polars", True)
        assert "streams" in choice.reason
        frame = pf.read(medium)
        assert frame.streaming
        assert len(frame.filter(pf.col("x") > 10).collect()) == 199_989


def test_memory_fraction_switches_to_streaming(medium: Path) -> None:
    choice = pf.explain_engine(medium)
    fraction = choice.size_bytes / choice.available_bytes / 2
    with pf.config_context(memory_fraction=fraction):
        assert pf.explain_engine(medium).streaming


def test_engine_setting_and_env_var(medium: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pf.config_context(engine="pandas"):
        assert pf.explain_engine(medium).engine == "pandas"
        assert "setting" in pf.explain_engine(medium).reason
        assert pf.explain_engine(medium, "polars").engine == "polars"
    monkeypatch.setenv("PARQUETFRAME_ENGINE", "dask")
    pf.reset_config()
    assert pf.explain_engine(medium).engine == "dask"
    assert pf.read(medium).engine == "dask"


def test_configured_dask_address_picks_dask(medium: Path) -> None:
    with pf.config_context(dask_address="tcp://127.0.0.1:1"):
        choice = pf.explain_engine(medium)
    assert choice.engine == "dask"
    assert "dask_address" in choice.reason


def test_compressed_text_and_many_files(tmp_path: Path) -> None:
    (tmp_path / "a.csv.gz").write_bytes(b"x" * 1000)
    assert estimate_size(resolve_source(tmp_path / "a.csv.gz")) == 5000
    for i in range(70):
        pl.DataFrame({"x": [i] * 100}).write_parquet(tmp_path / f"p{i:02d}.parquet")
    size = estimate_size(resolve_source(str(tmp_path / "p*.parquet")))
    one = estimate_size(resolve_source(tmp_path / "p00.parquet"))
    assert 60 * one < size < 80 * one


def test_unknown_engine(medium: Path) -> None:
    with pytest.raises(EngineError, match="unknown engine"):
        pf.explain_engine(medium, "spark")


def test_verbose_logs_at_info(medium: Path, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger="parquetframe._engine"),
        pf.config_context(verbose=True),
    ):
        pf.explain_engine(medium)
    assert any("engine for" in r.getMessage() for r in caplog.records)

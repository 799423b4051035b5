from pathlib import Path

import pytest

import parquetframe as pf
from parquetframe.errors import ConfigError


def test_defaults() -> None:
    settings = pf.get_config()
    assert settings.engine == "auto"
    assert settings.pandas_threshold_mb == 0
    assert settings.polars_threshold_mb == 10_000
    assert settings.entity_format == "parquet"


def test_set_and_reset() -> None:
    pf.set_config(engine="pandas", pandas_threshold_mb=5)
    assert pf.get_config().engine == "pandas"
    assert pf.get_config().pandas_threshold_mb == 5
    pf.reset_config()
    assert pf.get_config().engine == "auto"


def test_unknown_keys_are_rejected_and_nothing_changes() -> None:
    with pytest.raises(ConfigError, match=r"unknown parquetframe setting.*no_such_key"):
        pf.set_config(engine="dask", no_such_key=1)
    assert pf.get_config().engine == "auto"


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ConfigError, match="engine"):
        pf.set_config(engine="spark")
    with pytest.raises(ConfigError, match="memory_fraction"):
        pf.set_config(memory_fraction=2)


def test_context_restores_previous_settings() -> None:
    pf.set_config(verbose=True)
    with pf.config_context(engine="dask", quiet=True) as inside:
        assert inside.engine == "dask"
        assert pf.get_config().quiet
    assert pf.get_config().engine == "auto"
    assert pf.get_config().verbose
    assert not pf.get_config().quiet


def test_environment_variables_use_upstream_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PARQUETFRAME_ENGINE", "polars")
    monkeypatch.setenv("PARQUETFRAME_PANDAS_THRESHOLD_MB", "12.5")
    monkeypatch.setenv("PARQUETFRAME_POLARS_THRESHOLD_MB", "300")
    monkeypatch.setenv("PARQUETFRAME_ENTITY_FORMAT", "avro")
    monkeypatch.setenv("PARQUETFRAME_ENTITY_BASE_PATH", str(tmp_path))
    monkeypatch.setenv("PARQUETFRAME_VERBOSE", "1")
    monkeypatch.setenv("PARQUETFRAME_QUIET", "true")
    monkeypatch.setenv("PARQUETFRAME_PROGRESS", "yes")
    settings = pf.reset_config()
    assert settings.engine == "polars"
    assert settings.pandas_threshold_mb == 12.5
    assert settings.polars_threshold_mb == 300
    assert settings.entity_format == "avro"
    assert settings.entity_base_path == tmp_path
    assert settings.verbose
    assert settings.quiet
    assert settings.progress

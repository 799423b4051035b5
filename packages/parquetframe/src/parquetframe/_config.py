"""Settings: one pydantic-settings model, a process-wide current value, and a context manager.

Every key changes behaviour somewhere (the docstring of :class:`Settings` says where), and
unknown keys are rejected, unlike parquetframe 2.0 where 13 of 15 keys were inert.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from parquetframe.errors import ConfigError

__all__ = ["Settings", "config_context", "get_config", "reset_config", "set_config"]

EngineName = Literal["auto", "polars", "pandas", "dask"]


class Settings(BaseSettings):
    """parquetframe's settings, read from ``PARQUETFRAME_*`` environment variables.

    Attributes:
        engine: ``auto`` lets :func:`parquetframe.explain_engine` decide; any other value
            forces that engine for every read without an explicit ``engine=``
            (``PARQUETFRAME_ENGINE``).
        pandas_threshold_mb: sources estimated below this many MB are read with pandas;
            ``0`` (the default) never picks pandas automatically
            (``PARQUETFRAME_PANDAS_THRESHOLD_MB``).
        polars_threshold_mb: sources estimated above this many MB are run on polars'
            streaming engine, for larger-than-memory work (``PARQUETFRAME_POLARS_THRESHOLD_MB``).
        memory_fraction: polars also streams when the estimate exceeds this fraction of the
            available memory (``PARQUETFRAME_MEMORY_FRACTION``).
        dask_address: a Dask scheduler address; when set, automatic choice picks Dask and
            :func:`parquetframe.distributed.connect` uses it (``PARQUETFRAME_DASK_ADDRESS``).
        compression: the Parquet codec for writes (``PARQUETFRAME_COMPRESSION``).
        entity_format: storage format of ``@entity`` classes that do not name one
            (``PARQUETFRAME_ENTITY_FORMAT``).
        entity_base_path: relative ``storage_path`` values of ``@entity`` are resolved
            against this directory (``PARQUETFRAME_ENTITY_BASE_PATH``).
        entity_fsync: fsync the entity log after every save (durable across power loss,
            much slower) (``PARQUETFRAME_ENTITY_FSYNC``).
        verbose: log engine choices at INFO instead of DEBUG; the CLI prints them
            (``PARQUETFRAME_VERBOSE``).
        quiet: the CLI prints no diagnostics on stderr (``PARQUETFRAME_QUIET``).
        progress: show tqdm progress bars while writing and converting
            (``PARQUETFRAME_PROGRESS``).
    """

    model_config = SettingsConfigDict(
        env_prefix="PARQUETFRAME_",
        extra="ignore",
        validate_assignment=True,
        env_file=None,
    )

    engine: EngineName = "auto"
    pandas_threshold_mb: float = Field(default=0.0, ge=0)
    polars_threshold_mb: float = Field(default=10_000.0, gt=0)
    memory_fraction: float = Field(default=0.5, gt=0, le=1)
    dask_address: str | None = None
    compression: Literal["zstd", "snappy", "gzip", "lz4", "brotli", "uncompressed"] = "zstd"
    entity_format: Literal["parquet", "avro"] = "parquet"
    entity_base_path: Path | None = None
    entity_fsync: bool = False
    verbose: bool = False
    quiet: bool = False
    progress: bool = False


_lock = threading.Lock()
_current: Settings | None = None


def get_config() -> Settings:
    """The current settings (read from the environment on first use)."""
    global _current  # noqa: PLW0603 - one process-wide value, like logging's configuration
    with _lock:
        if _current is None:
            _current = Settings()
        return _current


def _validated(base: Settings, changes: dict[str, Any]) -> Settings:
    unknown = sorted(set(changes) - set(Settings.model_fields))
    if unknown:
        known = ", ".join(sorted(Settings.model_fields))
        msg = f"unknown parquetframe setting(s) {unknown}; known settings: {known}"
        raise ConfigError(msg)
    try:
        return Settings.model_validate({**base.model_dump(), **changes})
    except ValidationError as exc:
        errors = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        msg = f"invalid parquetframe setting: {errors}"
        raise ConfigError(msg) from None


def set_config(**changes: Any) -> Settings:
    """Change settings for the whole process; returns the new settings.

    Raises:
        ConfigError: an unknown key or an invalid value (nothing is changed).
    """
    global _current  # noqa: PLW0603
    new = _validated(get_config(), changes)
    with _lock:
        _current = new
    return new


def reset_config() -> Settings:
    """Forget changes and read the environment again."""
    global _current  # noqa: PLW0603
    with _lock:
        _current = Settings()
        return _current


@contextlib.contextmanager
def config_context(**changes: Any) -> Iterator[Settings]:
    """Apply settings for the ``with`` block and restore the previous ones afterwards."""
    global _current  # noqa: PLW0603
    previous = get_config()
    new = set_config(**changes)
    try:
        yield new
    finally:
        with _lock:
            _current = previous

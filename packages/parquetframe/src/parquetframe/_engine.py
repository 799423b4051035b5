"""Engine choice: which engine reads a source, and why.

The policy, in order (documented in the engine guide and returned by
:func:`explain_engine`):

1. an explicit ``engine=`` argument;
2. the ``engine`` setting, when it is not ``auto``;
3. Dask, when a Dask client is active in this process or ``dask_address`` is set;
4. pandas, when the estimated size is under ``pandas_threshold_mb`` (0 turns this off);
5. polars otherwise, on its streaming engine when the estimate is over
   ``polars_threshold_mb`` or over ``memory_fraction`` of the available memory.

The size comes from metadata only: Parquet footers (uncompressed row-group sizes) and file
sizes, with a factor for compressed text. No data is scanned.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from dataclasses import dataclass

from parquetframe._config import get_config
from parquetframe._sources import Source, resolve_source
from parquetframe.errors import EngineError

__all__ = ["ENGINES", "EngineChoice", "choose_engine", "estimate_size", "explain_engine"]

logger = logging.getLogger(__name__)

ENGINES = ("polars", "pandas", "dask")
_MB = 1024 * 1024
# Rough in-memory expansion of compressed text (gzip/zstd CSV compresses 4-8x).
_COMPRESSED_TEXT_FACTOR = 5
# Parquet footers of more files than this are sampled and extrapolated by file size.
_MAX_FOOTERS = 64


@dataclass(frozen=True)
class EngineChoice:
    """What :func:`explain_engine` decided.

    Attributes:
        engine: ``polars``, ``pandas`` or ``dask``.
        streaming: whether polars runs on its streaming engine.
        reason: one sentence saying why.
        size_bytes: the estimated in-memory size, from metadata.
        available_bytes: memory available when the choice was made.
    """

    engine: str
    streaming: bool
    reason: str
    size_bytes: int
    available_bytes: int

    def __str__(self) -> str:
        mode = " (streaming)" if self.streaming else ""
        return f"{self.engine}{mode}: {self.reason}"


def _file_size(path: str, url: bool) -> int:
    if url:
        import fsspec  # type: ignore[import-untyped]

        fs, inner = fsspec.core.url_to_fs(path)
        return int(fs.size(inner) or 0)
    return os.path.getsize(path)


def _parquet_size(path: str, url: bool) -> int:
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    if url:
        import fsspec

        with fsspec.open(path, "rb") as f:
            meta = pq.read_metadata(f)
    else:
        meta = pq.read_metadata(path)
    return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))


def estimate_size(source: Source) -> int:
    """The estimated in-memory size of ``source`` in bytes, from metadata only."""
    if source.format == "parquet":
        files = source.files
        sample = files if len(files) <= _MAX_FOOTERS else files[:: len(files) // _MAX_FOOTERS]
        footer_total = sum(_parquet_size(f, source.url) for f in sample)
        if len(sample) == len(files):
            return footer_total
        sampled_disk = sum(_file_size(f, source.url) for f in sample) or 1
        all_disk = sum(_file_size(f, source.url) for f in files)
        return int(footer_total * all_disk / sampled_disk)
    disk = sum(_file_size(f, source.url) for f in source.files)
    return disk * _COMPRESSED_TEXT_FACTOR if source.compression else disk


def _available_memory() -> int:
    import psutil  # type: ignore[import-untyped]

    return int(psutil.virtual_memory().available)


def dask_client_active() -> bool:
    """Whether this process holds a Dask distributed client (never imports distributed)."""
    if "distributed" not in sys.modules:
        return False
    from distributed import default_client

    try:
        default_client()  # type: ignore[no-untyped-call]
    except ValueError:
        return False
    return True


def _require(engine: str) -> None:
    if engine not in ENGINES:
        msg = f"unknown engine {engine!r}; use one of polars, pandas, dask or auto"
        raise EngineError(msg)
    needed = {"dask": "dask.dataframe", "pandas": "pandas"}.get(engine)
    if needed and importlib.util.find_spec(needed.partition(".")[0]) is None:
        msg = f"engine {engine!r} needs {needed}: pip install 'parquetframe[dask]'"
        raise EngineError(msg)


def choose_engine(source: Source, requested: str | None = None) -> EngineChoice:
    """Choose the engine for ``source`` (see the module docstring for the policy).

    Raises:
        EngineError: the requested or configured engine is unknown or not installed.
    """
    settings = get_config()
    available = _available_memory()
    size = estimate_size(source)
    size_mb = size / _MB
    budget = settings.memory_fraction * available
    big = size_mb > settings.polars_threshold_mb or size > budget
    streaming_why = (
        f"; the estimate exceeds polars_threshold_mb={settings.polars_threshold_mb:g} "
        f"or memory_fraction={settings.memory_fraction:g} of {available / _MB:,.0f} MB "
        "available, so polars streams"
    )
    if requested not in (None, "auto"):
        engine = str(requested)
        reason = f"engine={engine!r} was requested"
    elif settings.engine != "auto":
        engine = settings.engine
        reason = f"the engine setting (PARQUETFRAME_ENGINE) is {engine!r}"
    elif dask_client_active():
        engine = "dask"
        reason = "a Dask distributed client is active in this process"
    elif settings.dask_address:
        engine = "dask"
        reason = "dask_address is set (PARQUETFRAME_DASK_ADDRESS)"
    elif size_mb < settings.pandas_threshold_mb:
        engine = "pandas"
        reason = (
            f"the estimated {size_mb:,.1f} MB is under "
            f"pandas_threshold_mb={settings.pandas_threshold_mb:g}"
        )
    else:
        engine = "polars"
        reason = f"the estimated {size_mb:,.1f} MB runs on one machine with polars"
    _require(engine)
    streaming = engine == "polars" and big
    if streaming:
        reason += streaming_why
    choice = EngineChoice(engine, streaming, reason, size, available)
    level = logging.INFO if settings.verbose else logging.DEBUG
    logger.log(level, "engine for %s: %s", source.path, choice)
    return choice


def explain_engine(
    source: str | os.PathLike[str],
    engine: str | None = None,
    *,
    format: str | None = None,
) -> EngineChoice:
    """Say which engine :func:`parquetframe.read` would use for ``source``, and why.

    Example::

        >>> print(parquetframe.explain_engine("sales.parquet"))  # doctest: +SKIP
        polars: the estimated 12.3 MB runs on one machine with polars
    """
    return choose_engine(resolve_source(source, format), engine)

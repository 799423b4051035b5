"""parquetframe: one dataframe API over polars, dask and pandas.

Read any common file (Parquet, CSV/TSV, JSON/NDJSON, Avro, ORC, Arrow IPC) from a path, glob,
directory or fsspec URL with :func:`read`; work with one polars-style API on a :class:`Frame`
whatever the engine; write atomically; run SQL; persist dataclasses with :func:`entity`.

Importing the package is cheap: polars, narwhals, pydantic and dask load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from parquetframe.errors import (
    ConfigError,
    EngineError,
    EntityError,
    EntityNotFoundError,
    FormatError,
    ParquetFrameError,
    SQLError,
)

if TYPE_CHECKING:
    from narwhals import col, len, lit, when

    from parquetframe._config import (
        Settings,
        config_context,
        get_config,
        reset_config,
        set_config,
    )
    from parquetframe._engine import EngineChoice, explain_engine
    from parquetframe._entity import entity, rel
    from parquetframe._frame import Frame, GroupBy
    from parquetframe._read import read
    from parquetframe._sql import sql

__all__ = [
    "ConfigError",
    "EngineChoice",
    "EngineError",
    "EntityError",
    "EntityNotFoundError",
    "FormatError",
    "Frame",
    "GroupBy",
    "ParquetFrameError",
    "SQLError",
    "Settings",
    "__version__",
    "col",
    "config_context",
    "entity",
    "explain_engine",
    "get_config",
    "len",
    "lit",
    "read",
    "rel",
    "reset_config",
    "set_config",
    "sql",
    "when",
]

# Public name -> module that defines it, imported on first access (PEP 562) so that
# `import parquetframe` does not pay for polars, narwhals or pydantic.
_LAZY = {
    "EngineChoice": "parquetframe._engine",
    "explain_engine": "parquetframe._engine",
    "Frame": "parquetframe._frame",
    "GroupBy": "parquetframe._frame",
    "Settings": "parquetframe._config",
    "config_context": "parquetframe._config",
    "get_config": "parquetframe._config",
    "reset_config": "parquetframe._config",
    "set_config": "parquetframe._config",
    "entity": "parquetframe._entity",
    "rel": "parquetframe._entity",
    "read": "parquetframe._read",
    "sql": "parquetframe._sql",
    "col": "narwhals",
    "len": "narwhals",
    "lit": "narwhals",
    "when": "narwhals",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("parquetframe")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(__all__)

"""parquetframe: one dataframe API over polars, dask and pandas.

One dataframe API over polars, dask and pandas with engine selection, fast readers and writers
(Parquet, CSV, JSON, Avro, ORC), SQL, an entity store and a CLI.
"""

from __future__ import annotations

from typing import Any

from parquetframe.errors import ParquetFrameError

__all__ = ["ParquetFrameError", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("parquetframe")
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)

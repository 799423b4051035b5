"""Arrow to pandas, and the functions Dask workers run; imports only pyarrow and pandas."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["arrow_to_pandas", "read_fragment"]


def _pandas_type(arrow_type: Any) -> Any:
    """The exact pandas dtype for ``arrow_type``, or ``None`` for pyarrow's default."""
    import pyarrow as pa  # type: ignore[import-untyped]

    # pandas-stubs is not a dependency: the module is used untyped, like pyarrow.
    pd: Any = importlib.import_module("pandas")

    if pa.types.is_integer(arrow_type):
        # numpy ints cannot hold nulls: pyarrow's default turns them into float64, which
        # loses integers above 2**53 and changes the type. Nullable ints keep both.
        return pd.api.types.pandas_dtype(
            str(arrow_type).replace("int", "Int").replace("uInt", "UInt")
        )
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    if pa.types.is_date(arrow_type):
        # Dates would become Python objects, which dask then turns into strings.
        return pd.ArrowDtype(arrow_type)
    return None


def arrow_to_pandas(table: Any) -> Any:
    """``table`` as a pandas DataFrame whose values and types survive the trip back to Arrow."""
    return table.to_pandas(types_mapper=_pandas_type)


def read_fragment(path: str, base: str | None, partition_schema: Any, filters: Any) -> Any:
    """One Dask partition: one Parquet file, its hive keys as columns, ``filters`` applied."""
    import pyarrow.dataset as ds  # type: ignore[import-untyped]

    partitioning = ds.partitioning(partition_schema, flavor="hive") if base else None
    dataset = ds.dataset(
        [path], format="parquet", partitioning=partitioning, partition_base_dir=base
    )
    return arrow_to_pandas(dataset.to_table(filter=filters))

"""Functions Dask workers run; this module imports only pyarrow so workers start quickly."""

from __future__ import annotations

from typing import Any

__all__ = ["read_fragment"]


def read_fragment(path: str, base: str | None, partition_schema: Any, filters: Any) -> Any:
    """One Dask partition: one Parquet file, its hive keys as columns, ``filters`` applied."""
    import pyarrow.dataset as ds  # type: ignore[import-untyped]

    partitioning = ds.partitioning(partition_schema, flavor="hive") if base else None
    dataset = ds.dataset(
        [path], format="parquet", partitioning=partitioning, partition_base_dir=base
    )
    return dataset.to_table(filter=filters).to_pandas()

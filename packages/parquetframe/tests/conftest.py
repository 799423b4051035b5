from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import parquetframe as pf


@pytest.fixture(autouse=True)
def _fresh_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("ENGINE", "PANDAS_THRESHOLD_MB", "POLARS_THRESHOLD_MB", "DASK_ADDRESS"):
        monkeypatch.delenv(f"PARQUETFRAME_{name}", raising=False)
    pf.reset_config()
    yield
    pf.reset_config()


@pytest.fixture
def sales() -> pl.DataFrame:
    """Eight rows with nulls, Unicode, a 13-digit integer and naive timestamps."""
    return pl.DataFrame(
        {
            "id": list(range(1, 9)),
            "category": ["a", "b", "a", "c", "b", "a", "c", "ü"],
            "store": pl.Series([1, 2, 1, 2, 1, 2, 1, 2], dtype=pl.Int32),
            "price": [10.0, 200.0, 150.0, None, 99.5, 101.0, 500.0, 120.0],
            "qty": pl.Series([1, 2, 3, 4, 5, 6, 7, 8], dtype=pl.Int32),
            "ts": [dt.datetime(2024, 1, d, 12, 30, 0, 123456) for d in range(1, 9)],
            "phone": [4155550123456 + i for i in range(8)],
        }
    )


@pytest.fixture
def sales_file(tmp_path: Path, sales: pl.DataFrame) -> Path:
    path = tmp_path / "sales.parquet"
    sales.write_parquet(path)
    return path

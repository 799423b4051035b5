from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from distributed import Client
from polars.testing import assert_frame_equal

import parquetframe as pf
from parquetframe.distributed import connect, is_connected
from parquetframe.errors import EngineError


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with connect(n_workers=2, threads_per_worker=1, processes=True) as c:
        yield c


def _query(frame: pf.Frame) -> pl.DataFrame:
    return (
        frame.filter(pf.col("price") > 50)
        .group_by("category", "store")
        .agg(pf.col("qty").sum(), pf.col("price").mean().alias("mean_price"), pf.len().alias("n"))
        .sort("category", "store")
        .to_polars()
    )


def test_work_runs_on_the_cluster_and_equals_polars(client: Client, tmp_path: Path) -> None:
    assert len(client.scheduler_info()["workers"]) == 2
    assert is_connected()
    data = pl.DataFrame(
        {
            "category": [f"c{i % 5}" for i in range(5000)],
            "store": [i % 3 for i in range(5000)],
            "price": [float(i % 200) for i in range(5000)],
            "qty": list(range(5000)),
        }
    )
    for part in range(4):
        data.slice(part * 1250, 1250).write_parquet(tmp_path / f"p{part}.parquet")
    pattern = str(tmp_path / "*.parquet")
    choice = pf.explain_engine(pattern)
    assert choice.engine == "dask"
    assert "client is active" in choice.reason
    on_cluster = pf.read(pattern)
    assert on_cluster.engine == "dask"
    expected = _query(pf.read(pattern, engine="polars"))
    assert_frame_equal(_query(on_cluster), expected, check_dtypes=False)
    processed = client.run(lambda: 1)
    assert len(processed) == 2


def test_connect_to_an_address(client: Client) -> None:
    other = connect(client.scheduler.address)
    try:
        assert other.scheduler.address == client.scheduler.address
    finally:
        other.close()


def test_unreachable_scheduler() -> None:
    with pytest.raises(EngineError, match="cannot reach"):
        connect("tcp://127.0.0.1:9", timeout=1)

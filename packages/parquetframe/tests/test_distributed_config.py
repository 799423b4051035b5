"""The ``dask_address`` setting sends Dask reads to that scheduler, not a local one."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from distributed import LocalCluster, default_client

import parquetframe as pf
from parquetframe.distributed import is_connected


def test_a_configured_address_is_where_dask_reads_compute(tmp_path: Path) -> None:
    pl.DataFrame({"a": list(range(100))}).write_parquet(tmp_path / "a.parquet")
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        assert not is_connected()
        with pf.config_context(dask_address=cluster.scheduler_address):
            frame = pf.read(tmp_path / "a.parquet")
            assert frame.engine == "dask"
            assert is_connected()
            client = default_client()
            try:
                assert client.scheduler.address == cluster.scheduler_address
                assert frame.filter(pf.col("a") >= 90).to_polars()["a"].to_list() == list(
                    range(90, 100)
                )
                # The work ran on the cluster's worker.
                assert sum(w.state.executed_count for w in cluster.workers.values()) > 0
                pf.read(tmp_path / "a.parquet")  # a second read reuses the same client
                assert default_client() is client
            finally:
                client.close()
    assert not is_connected()

"""The entity store pushes filters into the scan of its base, for Avro as for Parquet."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import fastavro
import polars as pl
import pytest

from parquetframe._store import FieldSpec, Store

FIELDS = [FieldSpec("k", "int"), FieldSpec("grp", "int"), FieldSpec("text", "str")]
N = 40_000


def _store(directory: Path, fmt: str) -> Store:
    return Store(directory, primary_key="k", fields=FIELDS, format=fmt, compact_min=10**9)


@pytest.fixture(scope="module")
def avro_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("avro-store")
    store = _store(directory, "avro")
    store.upsert([(i, i % 100, f"row {i} " + "x" * 60) for i in range(N)])
    store.compact()
    # A few newer versions and a delete in the log: they must win over the base.
    store.upsert([(3, 3, "newer"), (N + 1, 3, "new")])
    store.delete([103])
    return directory


@pytest.mark.parametrize("fmt", ["parquet", "avro"])
def test_the_predicate_is_inside_the_base_scan(tmp_path: Path, fmt: str) -> None:
    store = _store(tmp_path, fmt)
    store.upsert([(i, i % 2, "t") for i in range(10)])
    store.compact()
    with store._locked():
        plan = store._scan_base().filter(pl.col("grp") == 1).explain()
    scan = plan.splitlines()
    # The selection is printed under the scan node itself, not as a FILTER above it.
    assert not any(line.lstrip().startswith("FILTER") for line in scan)
    assert any("SELECTION" in line and 'col("grp")' in line for line in scan)
    assert "avro-base" in plan if fmt == "avro" else "Parquet SCAN" in plan


def test_avro_queries_decode_one_batch_at_a_time(avro_dir: Path) -> None:
    base = next(avro_dir.glob("base-*.avro"))
    with open(base, "rb") as f:
        blocks = [b.num_records for b in fastavro.block_reader(f)]
    assert max(blocks) == 4096  # compaction writes bounded blocks, so a scan can stream
    tracemalloc.start()
    with open(base, "rb") as f:
        assert len(list(fastavro.reader(f))) == N
    whole = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    store = _store(avro_dir, "avro")
    store.scan_batch = 500
    tracemalloc.start()
    rows = store.query(pl.col("grp") == 3)
    streamed = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Reading the whole base would hold every record at once; the scan holds one batch.
    assert streamed < whole / 5, (streamed, whole)
    texts = {r["k"]: r["text"] for r in rows}
    assert len(texts) == N // 100 - 1 + 1  # 103 deleted, N + 1 added
    assert texts[3] == "newer"
    assert texts[N + 1] == "new"
    assert 103 not in texts
    assert texts[203] == "row 203 " + "x" * 60


def test_avro_scan_limits_and_counts(avro_dir: Path) -> None:
    store = _store(avro_dir, "avro")
    store.scan_batch = 1000
    assert len(store.query(pl.col("grp") == 5, limit=7)) == 7
    assert [r["k"] for r in store.query(pl.col("k") < 3, limit=10)] == [0, 1, 2]
    assert store.count() == N  # one deleted, one added
    with store._locked():
        head = store._scan_base().select("text").head(2).collect()
        assert head["text"].to_list() == ["row 0 " + "x" * 60, "row 1 " + "x" * 60]
    assert store.get(N - 1) == {"k": N - 1, "grp": 99, "text": f"row {N - 1} " + "x" * 60}

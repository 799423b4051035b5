from __future__ import annotations

import os
import pickle
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

import parquetframe as pf
from parquetframe.errors import EngineError, FormatError

ENGINES = ["polars", "pandas", "dask"]


def _pipeline(frame: pf.Frame) -> pl.DataFrame:
    """The same polars-style code, whatever the engine underneath."""
    right = pf.Frame(pl.DataFrame({"category": ["a", "b", "c"], "label": ["A", "B", "C"]}))
    out = (
        frame.filter(pf.col("price") > 50)
        .with_columns(revenue=pf.col("price") * pf.col("qty"))
        .rename({"store": "shop"})
        .join(right, on="category", how="inner")
        .group_by("label", "shop")
        .agg(pf.col("revenue").sum(), pf.col("qty").mean().alias("mean_qty"), pf.len().alias("n"))
        .sort("label", "shop")
    )
    return out.to_polars()


def test_one_api_gives_equal_results_on_every_engine(sales_file: Path) -> None:
    expected = _pipeline(pf.read(sales_file, engine="polars"))
    assert expected.height == 5
    for engine in ("pandas", "dask"):
        got = _pipeline(pf.read(sales_file, engine=engine))
        assert_frame_equal(got, expected, check_dtypes=False)


@pytest.mark.parametrize("engine", ENGINES)
def test_select_unique_head_drop(sales_file: Path, engine: str) -> None:
    frame = pf.read(sales_file, engine=engine)
    cats = frame.select("category").unique().sort("category").to_polars()
    assert cats["category"].to_list() == ["a", "b", "c", "ü"]
    assert frame.drop("phone", "ts").columns == ["id", "category", "store", "price", "qty"]
    assert len(frame.drop_nulls()) == 7
    assert len(frame.sort("id").head(3)) == 3
    assert frame.pipe(lambda f, n: f.head(n), 2).to_polars().height == 2


def test_properties(sales_file: Path, sales: pl.DataFrame) -> None:
    lazy = pf.read(sales_file)
    assert lazy.engine == "polars"
    assert lazy.is_lazy
    assert isinstance(lazy.native, pl.LazyFrame)
    assert lazy.columns == sales.columns
    assert str(lazy.schema["ts"]).startswith("Datetime")
    assert len(lazy) == 8
    assert "polars lazy" in repr(lazy)
    eager = lazy.collect()
    assert not eager.is_lazy
    assert eager.collect() is eager
    assert len(eager) == 8
    assert eager.lazy().is_lazy
    assert pf.Frame(lazy).native is lazy.native


def test_construction_from_natives(sales: pl.DataFrame) -> None:
    assert pf.Frame(sales.to_arrow()).engine == "polars"
    assert pf.Frame(sales.to_pandas()).engine == "pandas"
    assert pf.Frame(dd.from_pandas(sales.to_pandas(), npartitions=2)).engine == "dask"
    with pytest.raises(EngineError, match="cannot make a Frame"):
        pf.Frame([1, 2, 3])


@pytest.mark.parametrize("engine", ENGINES)
def test_conversions_go_through_arrow(sales_file: Path, sales: pl.DataFrame, engine: str) -> None:
    frame = pf.read(sales_file, engine=engine)
    assert_frame_equal(frame.to_polars(), sales, check_dtypes=False)
    table = frame.to_arrow()
    assert isinstance(table, pa.Table)
    assert table.num_rows == 8
    assert "__index_level_0__" not in table.column_names
    pdf = frame.to_pandas()
    assert isinstance(pdf, pd.DataFrame)
    assert list(pdf.columns) == sales.columns
    ddf = frame.to_dask()
    assert isinstance(ddf, dd.DataFrame)
    assert len(ddf.compute()) == 8
    assert frame.to_dask(npartitions=3).npartitions == 3
    for target in ENGINES:
        moved = frame.to_engine(target)
        assert moved.engine == target
        assert len(moved) == 8
    assert frame.to_dicts()[0]["id"] in range(1, 9)
    with pytest.raises(EngineError, match="unknown engine"):
        frame.to_engine("spark")


def test_to_dask_partitions_by_size(sales: pl.DataFrame) -> None:
    ddf = pf.Frame(sales).to_dask()
    assert ddf.npartitions == max(os.cpu_count() or 1, 1)


@pytest.mark.parametrize("engine", ENGINES)
def test_frames_pickle(sales_file: Path, engine: str) -> None:
    frame = pf.read(sales_file, engine=engine).filter(pf.col("id") > 4)
    back = pickle.loads(pickle.dumps(frame))
    assert back.engine == engine
    assert sorted(back.to_polars()["id"].to_list()) == [5, 6, 7, 8]


WRITE_SUFFIXES = [
    "parquet",
    "csv",
    "tsv",
    "csv.gz",
    "ndjson",
    "ndjson.zst",
    "json",
    "json.gz",
    "avro",
    "orc",
    "arrow",
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("suffix", WRITE_SUFFIXES)
def test_write_every_format_from_every_engine(
    tmp_path: Path, sales_file: Path, sales: pl.DataFrame, suffix: str, engine: str
) -> None:
    target = tmp_path / "out" / f"copy.{suffix}"
    pf.read(sales_file, engine=engine).write(target)
    back = pf.read(target).to_polars().sort("id")
    assert back["id"].to_list() == list(range(1, 9))
    assert back["phone"].to_list() == sales["phone"].to_list()
    assert back["category"].to_list() == sales["category"].to_list()
    assert back["price"].to_list() == sales["price"].to_list()
    assert not [p for p in target.parent.iterdir() if p.name != target.name]


@pytest.mark.parametrize("suffix", ["parquet", "csv", "ndjson", "arrow"])
def test_eager_polars_and_progress_path(tmp_path: Path, sales: pl.DataFrame, suffix: str) -> None:
    target = tmp_path / f"x.{suffix}"
    with pf.config_context(progress=True):
        pf.Frame(sales).lazy().write(target)
    assert_frame_equal(pf.read(target).to_polars(), sales, check_dtypes=False)
    pf.Frame(sales).write(target)
    assert len(pf.read(target)) == 8


def test_empty_frame_writes_its_schema(tmp_path: Path) -> None:
    empty = pf.Frame(pl.DataFrame({"a": pl.Series([], dtype=pl.Int64)}))
    empty.write(tmp_path / "e.parquet")
    assert pf.read(tmp_path / "e.parquet").columns == ["a"]


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "data.avro"
    pf.Frame(pl.DataFrame({"a": [1]})).write(target)
    before = target.read_bytes()
    bad = pf.Frame(pl.DataFrame({"a": [1]}))
    with pytest.raises(FormatError):
        bad.write(
            target,
            schema={"type": "record", "name": "r", "fields": [{"name": "a", "type": "string"}]},
        )
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["data.avro"]


def test_write_errors(tmp_path: Path, sales: pl.DataFrame) -> None:
    with pytest.raises(FormatError, match="local paths"):
        pf.Frame(sales).write("s3://bucket/x.parquet")
    with pytest.raises(FormatError, match="suffix"):
        pf.Frame(sales).write(tmp_path / "x.unknown")
    pf.Frame(sales).write(tmp_path / "x.unknown", format="parquet")
    assert len(pf.read(tmp_path / "x.unknown", format="parquet")) == 8


def test_unique_keep_and_order_by(sales: pl.DataFrame) -> None:
    eager = pf.Frame(sales)
    first = eager.unique("category", keep="first").sort("id").to_polars()
    assert first["id"].to_list() == [1, 2, 4, 8]
    lazy = eager.lazy()
    last = lazy.unique("category", keep="last", order_by="id").sort("id").to_polars()
    assert last["id"].to_list() == [5, 6, 7, 8]
    assert len(lazy.unique("category", keep="none")) == 1


def _fail_on_x(part: pd.DataFrame) -> pd.DataFrame:
    if (part["s"] == "x").any():
        msg = "disk on fire"
        raise RuntimeError(msg)
    return part


@pytest.mark.parametrize("suffix", WRITE_SUFFIXES)
def test_a_write_failing_midway_leaves_the_old_file_and_no_temp(
    tmp_path: Path, suffix: str
) -> None:
    target = tmp_path / f"data.{suffix}"
    pf.Frame(pl.DataFrame({"s": ["old"]})).write(target)
    before = target.read_bytes()
    pdf = pd.DataFrame({"s": ["1", "2", "3", "x"]})
    # Dask writes one partition at a time: the first is written before the second fails.
    failing = dd.from_pandas(pdf, npartitions=2).map_partitions(_fail_on_x, meta=pdf.iloc[:0])
    with pytest.raises(FormatError, match="disk on fire"):
        pf.Frame(failing).write(target)
    # A lazy polars frame that fails while it streams into the sink.
    lazy = pl.LazyFrame({"s": ["1", "x"]}).select(pl.col("s").str.to_integer())
    with pytest.raises(FormatError):
        pf.Frame(lazy).write(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [target.name]

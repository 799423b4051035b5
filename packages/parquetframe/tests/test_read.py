from __future__ import annotations

import gzip
from pathlib import Path

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.orc as orc
import pytest
from polars.testing import assert_frame_equal

import parquetframe as pf
from parquetframe.errors import EngineError, FormatError

ENGINES = ["polars", "pandas", "dask"]
SUFFIXES = [
    "parquet",
    "csv",
    "tsv",
    "csv.gz",
    "tsv.zst",
    "ndjson",
    "jsonl.gz",
    "json",
    "avro",
    "orc",
    "arrow",
    "feather",
]


def _write_with_polars(frame: pl.DataFrame, path: Path) -> None:
    """Reference files written by polars/pyarrow directly, not by parquetframe."""
    name = path.name
    raw = path.with_name(name.removesuffix(".gz").removesuffix(".zst"))
    if raw.suffix in (".csv", ".tsv"):
        frame.write_csv(raw, separator="\t" if raw.suffix == ".tsv" else ",")
    elif raw.suffix in (".ndjson", ".jsonl"):
        frame.write_ndjson(raw)
    elif raw.suffix == ".json":
        frame.write_json(raw)
    elif raw.suffix == ".avro":
        frame.write_avro(raw)
    elif raw.suffix == ".orc":
        orc.write_table(frame.to_arrow(), str(raw))
    elif raw.suffix in (".arrow", ".feather"):
        frame.write_ipc(raw)
    else:
        frame.write_parquet(raw)
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(raw.read_bytes()))
    elif name.endswith(".zst"):
        with pa.CompressedOutputStream(str(path), "zstd") as out:
            out.write(raw.read_bytes())


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_format_reads_with_the_same_options_on_every_engine(
    tmp_path: Path, sales: pl.DataFrame, suffix: str, engine: str
) -> None:
    path = tmp_path / f"data.{suffix}"
    _write_with_polars(sales, path)
    frame = pf.read(
        path,
        engine=engine,
        columns=["id", "category", "price"],
        filters=[("price", ">", 100), ("category", "in", ["a", "b", "ü"])],
        n_rows=3,
    )
    assert frame.engine == engine
    assert frame.is_lazy == (engine != "pandas")
    got = frame.to_polars()
    assert got.columns == ["id", "category", "price"]
    # Filters first, then the first n_rows matches in file order (rows 2, 3, 6 and 8 match).
    assert got["id"].to_list() == [2, 3, 6]
    assert got["category"].to_list() == ["b", "a", "a"]
    assert got["price"].to_list() == [200.0, 150.0, 101.0]


def test_all_columns_and_types_survive_a_parquet_read(
    sales_file: Path, sales: pl.DataFrame
) -> None:
    assert_frame_equal(pf.read(sales_file).to_polars(), sales)


def test_csv_dates_are_parsed(tmp_path: Path, sales: pl.DataFrame) -> None:
    sales.write_csv(tmp_path / "s.csv")
    assert pf.read(tmp_path / "s.csv").schema["ts"] == pf.read(tmp_path / "s.csv").schema["ts"]
    assert pf.read(tmp_path / "s.csv").to_polars()["ts"].dtype == pl.Datetime("us")


def test_n_rows_and_not_in_and_equality(sales_file: Path) -> None:
    frame = pf.read(sales_file, filters=[("category", "not in", ["a"]), ("store", "=", 2)])
    assert sorted(frame.to_polars()["id"].to_list()) == [2, 4, 8]
    assert len(pf.read(sales_file, n_rows=3)) == 3
    ops = [("id", "!=", 1), ("id", "<", 5), ("id", "<=", 4), ("id", ">=", 3)]
    assert sorted(pf.read(sales_file, filters=ops).to_polars()["id"].to_list()) == [3, 4]


def test_glob_and_directory(tmp_path: Path, sales: pl.DataFrame) -> None:
    (tmp_path / "parts").mkdir()
    sales.head(4).write_parquet(tmp_path / "parts" / "a.parquet")
    sales.tail(4).write_parquet(tmp_path / "parts" / "b.parquet")
    (tmp_path / "parts" / "_SUCCESS").write_text("")
    for engine in ENGINES:
        assert len(pf.read(tmp_path / "parts" / "*.parquet", engine=engine)) == 8
        assert len(pf.read(tmp_path / "parts", engine=engine)) == 8


def test_csv_glob(tmp_path: Path, sales: pl.DataFrame) -> None:
    sales.head(3).write_csv(tmp_path / "a.csv")
    sales.tail(5).write_csv(tmp_path / "b.csv")
    assert len(pf.read(str(tmp_path / "*.csv"))) == 8


@pytest.mark.parametrize("engine", ENGINES)
def test_hive_partitions_become_columns(tmp_path: Path, sales: pl.DataFrame, engine: str) -> None:
    root = tmp_path / "hive"
    for store in (1, 2):
        part = root / f"store={store}"
        part.mkdir(parents=True)
        sales.filter(pl.col("store") == store).drop("store").write_parquet(part / "p.parquet")
    frame = pf.read(root, engine=engine, filters=[("store", "==", 2)])
    got = frame.to_polars()
    assert "store" in got.columns
    assert sorted(got["id"].to_list()) == [2, 4, 6, 8]
    picked = pf.read(
        root, engine=engine, columns=["id", "store"], filters=[("store", ">", 1)], n_rows=2
    ).to_polars()
    assert picked.columns == ["id", "store"]
    assert picked["store"].dtype.is_integer()
    assert picked["store"].to_list() == [2, 2]
    assert picked["id"].to_list() == [2, 4]


@pytest.mark.parametrize("suffix", ["parquet", "csv", "ndjson"])
def test_fsspec_urls(sales: pl.DataFrame, suffix: str) -> None:
    fs = fsspec.filesystem("memory")
    raw = pl.DataFrame(sales)
    with fs.open(f"/bucket/one.{suffix}", "wb") as f:
        getattr(
            raw, {"parquet": "write_parquet", "csv": "write_csv", "ndjson": "write_ndjson"}[suffix]
        )(f)
    frame = pf.read(f"memory://bucket/one.{suffix}", columns=["id"], filters=[("id", ">", 6)])
    assert frame.to_polars()["id"].to_list() == [7, 8]
    assert len(pf.read(f"memory://bucket/*.{suffix}")) == 8
    assert pf.explain_engine(f"memory://bucket/one.{suffix}").engine == "polars"
    fs.rm("/bucket", recursive=True)


def test_fsspec_directory() -> None:
    fs = fsspec.filesystem("memory")
    for i in range(2):
        with fs.open(f"/dir/p{i}.parquet", "wb") as f:
            pl.DataFrame({"x": [i]}).write_parquet(f)
    assert sorted(pf.read("memory://dir").to_polars()["x"].to_list()) == [0, 1]
    fs.rm("/dir", recursive=True)


def test_format_override_and_file_url(tmp_path: Path, sales: pl.DataFrame) -> None:
    sales.write_csv(tmp_path / "data.txt")
    assert len(pf.read(tmp_path / "data.txt", format="csv")) == 8
    sales.write_parquet(tmp_path / "x.parquet")
    assert len(pf.read(f"file://{tmp_path}/x.parquet")) == 8


def test_errors_say_what_to_do(tmp_path: Path, sales_file: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no data files"):
        pf.read(tmp_path / "missing.parquet")
    (tmp_path / "data.xyz").write_text("1")
    with pytest.raises(FormatError, match="pass format="):
        pf.read(tmp_path / "data.xyz")
    with pytest.raises(FormatError, match="unknown format"):
        pf.read(sales_file, format="xls")
    with pytest.raises(FormatError, match="operator"):
        pf.read(sales_file, filters=[("id", "~", 1)])
    with pytest.raises(FormatError, match="tuple"):
        pf.read(sales_file, filters=["id > 1"])
    with pytest.raises(EngineError, match="unknown engine"):
        pf.read(sales_file, engine="spark")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FormatError, match="cannot read"):
        pf.read(tmp_path / "bad.json")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("suffix", ["parquet", "csv", "avro"])
def test_bad_options_fail_alike_on_every_engine(
    tmp_path: Path, sales: pl.DataFrame, suffix: str, engine: str
) -> None:
    path = tmp_path / f"data.{suffix}"
    _write_with_polars(sales, path)
    with pytest.raises(FormatError, match="has no column 'nope'"):
        pf.read(path, engine=engine, columns=["id", "nope"])
    with pytest.raises(FormatError, match="has no column 'nope'"):
        pf.read(path, engine=engine, filters=[("nope", "==", 1)])
    with pytest.raises(FormatError, match="n_rows must be 0 or more"):
        pf.read(path, engine=engine, n_rows=-1)
    empty = pf.read(path, engine=engine, columns=["id"], n_rows=0).to_polars()
    assert empty.columns == ["id"]
    assert empty.height == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_n_rows_spans_files_in_order(tmp_path: Path, engine: str) -> None:
    data = pl.DataFrame({"a": list(range(30))})
    for i in range(3):  # one dask partition per file
        data.slice(i * 10, 10).write_parquet(tmp_path / f"p{i}.parquet")
    got = pf.read(tmp_path / "*.parquet", engine=engine, filters=[("a", ">", 8)], n_rows=5)
    assert got.to_polars()["a"].to_list() == [9, 10, 11, 12, 13]
    assert len(pf.read(tmp_path, engine=engine, n_rows=25)) == 25

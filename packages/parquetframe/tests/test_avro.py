from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import fastavro
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import parquetframe as pf
from parquetframe._avro import read_avro, write_avro
from parquetframe.errors import FormatError

UTC = dt.UTC


@pytest.fixture
def tricky() -> pl.DataFrame:
    """The values parquetframe 2.0 corrupted or could not write."""
    return pl.DataFrame(
        {
            "maybe_int": pl.Series([1, None, 3, 4], dtype=pl.Int64),
            "maybe_float": [1.0, None, 3.0, 2.5],
            "phone": [4155550123456, 1_000_000_000_000, 9_999_999_999_999, 4155550000000],
            "naive": [
                dt.datetime(2024, 1, 1, 12, 0, 0, 123456),
                None,
                dt.datetime(1969, 7, 20, 20, 17),
                dt.datetime(2262, 1, 1),
            ],
            "aware": pl.Series(
                [dt.datetime(2024, 1, 1, 12, tzinfo=UTC)] * 3 + [None],
                dtype=pl.Datetime("us", "UTC"),
            ),
            "berlin": pl.Series(
                [dt.datetime(2024, 6, 1, 12, tzinfo=ZoneInfo("Europe/Berlin"))] * 4,
                dtype=pl.Datetime("us", "Europe/Berlin"),
            ),
            "day": [dt.date(2024, 2, 29), dt.date(1970, 1, 1), None, dt.date(1900, 1, 1)],
            "text": ["héllo", "日本語", "😀 emoji", None],
            "flag": [True, False, None, True],
        }
    )


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy"])
def test_exact_round_trip(tmp_path: Path, tricky: pl.DataFrame, codec: str) -> None:
    path = tmp_path / "t.avro"
    pf.Frame(tricky).write(path, codec=codec)
    back = pf.read(path).to_polars()
    assert_frame_equal(back, tricky)


def test_fastavro_reads_our_files_exactly(tmp_path: Path, tricky: pl.DataFrame) -> None:
    path = tmp_path / "t.avro"
    pf.Frame(tricky).write(path)
    with open(path, "rb") as f:
        reader = fastavro.reader(f)
        records = list(reader)
        schema = reader.writer_schema
    assert records[0]["phone"] == 4155550123456
    assert records[1]["maybe_int"] is None
    assert records[0]["naive"] == dt.datetime(2024, 1, 1, 12, 0, 0, 123456)
    assert records[0]["naive"].tzinfo is None
    assert records[0]["aware"] == dt.datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert records[0]["berlin"] == dt.datetime(2024, 6, 1, 10, tzinfo=UTC)
    assert records[0]["day"] == dt.date(2024, 2, 29)
    assert records[2]["text"] == "😀 emoji"
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["berlin"]["parquetframe.timezone"] == "Europe/Berlin"


def test_we_read_fastavro_files_exactly(tmp_path: Path) -> None:
    schema = {
        "type": "record",
        "name": "r",
        "fields": [
            {"name": "n", "type": ["null", "long"]},
            {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
            {"name": "day", "type": {"type": "int", "logicalType": "date"}},
            {"name": "s", "type": "string"},
        ],
    }
    rows = [
        {
            "n": 4155550123456 if i % 2 else None,
            "ts": dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i),
            "local": dt.datetime(2024, 1, 1, 5) + dt.timedelta(microseconds=i),
            "day": dt.date(2024, 1, 1) + dt.timedelta(days=i),
            "s": f"ü{i}",
        }
        for i in range(1000)
    ]
    path = tmp_path / "fa.avro"
    with open(path, "wb") as f:
        fastavro.writer(f, schema, rows, codec="deflate")
    back = pf.read(path).to_dicts()
    assert back == rows


def test_fastavro_codecs_and_explicit_schema(tmp_path: Path, tricky: pl.DataFrame) -> None:
    path = tmp_path / "b.avro"
    pf.Frame(tricky).write(path, codec="bzip2")
    with open(path, "rb") as f:
        assert fastavro.reader(f).codec == "bzip2"
    assert_frame_equal(pf.read(path).to_polars(), tricky)
    schema = {
        "type": "record",
        "name": "explicit",
        "fields": [{"name": "phone", "type": "long"}, {"name": "text", "type": ["null", "string"]}],
    }
    pf.Frame(tricky.select("phone", "text")).write(tmp_path / "e.avro", schema=schema)
    with open(tmp_path / "e.avro", "rb") as f:
        assert fastavro.reader(f).writer_schema["name"] == "explicit"
    assert pf.read(tmp_path / "e.avro").to_polars()["phone"].to_list() == tricky["phone"].to_list()


def test_unions_polars_cannot_read_fall_back_to_fastavro(tmp_path: Path) -> None:
    schema = {
        "type": "record",
        "name": "r",
        "fields": [{"name": "v", "type": ["null", "long", "string"]}],
    }
    path = tmp_path / "u.avro"
    with open(path, "wb") as f:
        fastavro.writer(f, schema, [{"v": 1}, {"v": None}, {"v": 3}])
    assert pf.read(path, n_rows=2).to_polars()["v"].to_list() == [1, None]
    assert pf.read(path, columns=["v"]).columns == ["v"]


def test_bad_files_and_data(tmp_path: Path) -> None:
    (tmp_path / "bad.avro").write_bytes(b"not avro at all")
    with pytest.raises(FormatError, match="not an Avro"):
        pf.read(tmp_path / "bad.avro")
    with pytest.raises(FormatError, match="codec"):
        write_avro(pl.DataFrame({"a": [1]}), io.BytesIO(), codec="nonsense")
    with pytest.raises(FormatError, match="cannot write"):
        write_avro(
            pl.DataFrame({"a": [[1, 2]]}).with_columns(pl.col("a").cast(pl.Array(pl.Int64, 2))),
            io.BytesIO(),
        )


def test_read_avro_options() -> None:
    buffer = io.BytesIO()
    write_avro(pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}), buffer)
    buffer.seek(0)
    assert read_avro(buffer, columns=["b"], n_rows=2).to_dicts() == [{"b": "x"}, {"b": "y"}]


def test_types_avro_lacks_are_widened_losslessly(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "u32": pl.Series([0, 4_294_967_295], dtype=pl.UInt32),
            "u8": pl.Series([0, 255], dtype=pl.UInt8),
            "i8": pl.Series([-128, 127], dtype=pl.Int8),
            "cat": pl.Series(["x", "y"], dtype=pl.Categorical),
        }
    )
    pf.Frame(frame).write(tmp_path / "w.avro")
    back = pf.read(tmp_path / "w.avro").to_polars()
    assert back.schema == {"u32": pl.Int64, "u8": pl.Int32, "i8": pl.Int32, "cat": pl.String}
    assert back.rows() == frame.with_columns(pl.col("cat").cast(pl.String)).rows()
    too_big = pl.DataFrame({"u64": pl.Series([2**64 - 1], dtype=pl.UInt64)})
    with pytest.raises(FormatError, match="cannot write"):
        write_avro(too_big, io.BytesIO())


@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_exact_round_trip_through_every_engine(
    tmp_path: Path, tricky: pl.DataFrame, engine: str
) -> None:
    # Nullable and 13-digit ints must not become floats, nor dates and booleans strings.
    pf.Frame(tricky).write(tmp_path / "in.avro")
    frame = pf.read(tmp_path / "in.avro", engine=engine)
    assert_frame_equal(frame.to_polars(), tricky)
    frame.write(tmp_path / "out.avro")
    assert_frame_equal(pf.read(tmp_path / "out.avro").to_polars(), tricky)
    big = pl.DataFrame({"n": pl.Series([2**53 + 1, None], dtype=pl.Int64)})
    assert pf.Frame(big).to_engine(engine).to_polars()["n"].to_list() == [2**53 + 1, None]

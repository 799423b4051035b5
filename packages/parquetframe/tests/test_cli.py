from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import parquetframe as pf
from parquetframe.cli import app

runner = CliRunner()


def _ok(*args: str) -> tuple[str, str]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def test_help_lists_the_commands() -> None:
    out, _ = _ok("--help")
    for command in ("info", "head", "schema", "convert", "sql", "query", "explain"):
        assert command in out


def test_console_scripts_answer_help() -> None:
    for script in ("pf", "parquetframe"):
        exe = Path(sys.executable).with_name(script)
        result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
        assert "convert" in result.stdout


def test_info_shows_logical_types_row_groups_and_statistics(
    tmp_path: Path, sales: pl.DataFrame
) -> None:
    path = tmp_path / "s.parquet"
    sales.write_parquet(path, row_group_size=4)
    out, _ = _ok("info", str(path))
    assert "row groups: 2" in out
    assert "logical=Timestamp" in out
    assert "logical=String" in out
    assert "min=1 max=4 nulls=0" in out
    assert "engine: polars" in out
    sales.write_csv(tmp_path / "s.csv")
    out, _ = _ok("info", str(tmp_path / "s.csv"))
    assert "format: csv" in out
    assert "category: String" in out


def test_head_schema_and_output_formats(sales_file: Path) -> None:
    out, _ = _ok("head", str(sales_file), "-n", "2", "-O", "csv")
    assert out.splitlines()[0].startswith("id,category")
    assert len(out.splitlines()) == 3
    out, _ = _ok("head", str(sales_file), "-n", "1", "-O", "json")
    assert json.loads(out)["id"] == 1
    out, _ = _ok("head", str(sales_file))
    assert "shape: (8, 7)" in out
    out, _ = _ok("schema", str(sales_file))
    assert "phone\tInt64" in out.splitlines()


@pytest.mark.parametrize("target", ["out.csv.gz", "out.avro", "out.parquet", "out.jsonl"])
def test_convert_any_to_any(
    tmp_path: Path, sales_file: Path, sales: pl.DataFrame, target: str
) -> None:
    _, err = _ok("convert", str(sales_file), str(tmp_path / target))
    assert "wrote" in err
    back = pf.read(tmp_path / target).to_polars()
    assert_frame_equal(back, sales, check_dtypes=False)


def test_convert_quietly_with_format_overrides(tmp_path: Path, sales: pl.DataFrame) -> None:
    sales.write_csv(tmp_path / "in.txt")
    with pf.config_context(quiet=True):
        _, err = _ok(
            "convert",
            str(tmp_path / "in.txt"),
            str(tmp_path / "o.bin"),
            "--from",
            "csv",
            "--to",
            "parquet",
        )
    assert err == ""
    assert len(pf.read(tmp_path / "o.bin", format="parquet")) == 8


def test_sql_with_tables_and_params(tmp_path: Path, sales_file: Path) -> None:
    out, _ = _ok(
        "sql",
        "SELECT category, SUM(qty) AS q FROM s WHERE price > :p "
        "GROUP BY category ORDER BY category",
        "-t",
        f"s={sales_file}",
        "-p",
        "p=100",
        "-O",
        "csv",
    )
    assert out.splitlines() == ["category,q", "a,9", "b,2", "c,7", "ü,8"]
    _ok("sql", "SELECT * FROM s", "-t", f"s={sales_file}", "-o", str(tmp_path / "r.parquet"))
    assert len(pf.read(tmp_path / "r.parquet")) == 8


def test_query_filters_groups_sorts(sales_file: Path, tmp_path: Path) -> None:
    out, _ = _ok(
        "query",
        str(sales_file),
        "-w",
        "price>100",
        "-w",
        "category!=c",
        "-g",
        "category",
        "-a",
        "qty:sum",
        "-a",
        "price:max",
        "--sort",
        "-qty_sum",
        "-O",
        "csv",
    )
    assert out.splitlines() == [
        "category,qty_sum,price_max,count",
        "a,9,150.0,2",
        "ü,8,120.0,1",
        "b,2,200.0,1",
    ]
    out, _ = _ok(
        "query", str(sales_file), "-s", "id,category", "--sort", "id", "-n", "2", "-O", "csv"
    )
    assert out.splitlines() == ["id,category", "1,a", "2,b"]
    _ok("query", str(sales_file), "-w", "category=a", "-o", str(tmp_path / "q.csv"))
    assert len(pf.read(tmp_path / "q.csv")) == 3


def test_explain_and_verbose(sales_file: Path) -> None:
    out, _ = _ok("explain", str(sales_file))
    assert out.startswith("polars:")
    with pf.config_context(verbose=True):
        _, err = _ok("head", str(sales_file), "-n", "1")
    assert "engine: polars" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["head", "missing.parquet"], "no data files"),
        (["query", "{file}", "-w", "price"], "--where needs"),
        (["query", "{file}", "-g", "category", "-a", "qty:median"], "unknown aggregation"),
        (["sql", "SELECT 1", "-t", "nonsense"], "name=value"),
        (["head", "{file}", "-e", "spark"], "unknown engine"),
    ],
)
def test_errors_go_to_stderr_with_a_non_zero_exit(
    sales_file: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, [a.format(file=sales_file) for a in args])
    assert result.exit_code != 0
    assert message in result.stderr
    assert result.stdout == ""

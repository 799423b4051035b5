from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import polars as pl
import pytest

import parquetframe as pf
from parquetframe._sql import bind_parameters
from parquetframe.errors import SQLError


def test_sql_over_frames_with_bound_parameters(sales_file: Path) -> None:
    sales = pf.read(sales_file)
    stores = pl.DataFrame({"store": [1, 2], "city": ["Oslo", "Bergen"]})
    out = pf.sql(
        "SELECT s.city, SUM(t.qty) AS qty FROM t JOIN s ON t.store = s.store "
        "WHERE t.price > :min AND t.category IN :cats GROUP BY s.city ORDER BY s.city",
        t=sales,
        s=stores,
        params={"min": 100, "cats": ["a", "b", "c"]},
    )
    assert out.engine == "polars"
    assert out.to_dicts() == [{"city": "Bergen", "qty": 8}, {"city": "Oslo", "qty": 10}]


def test_values_are_never_spliced(sales_file: Path) -> None:
    hostile = "a' OR '1'='1"
    out = pf.sql(
        "SELECT id FROM t WHERE category = :c", t=pf.read(sales_file), params={"c": hostile}
    )
    assert len(out) == 0
    out = pf.sql("SELECT id FROM t WHERE category = $1", t=pf.read(sales_file), params=["ü"])
    assert out.to_dicts() == [{"id": 8}]


@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_result_comes_back_in_the_callers_engine(sales_file: Path, engine: str) -> None:
    frame = pf.read(sales_file, engine=engine)
    out = frame.sql("SELECT category, COUNT(*) AS n FROM df GROUP BY category ORDER BY category")
    assert out.engine == engine
    native = out.native
    assert isinstance(native, pd.DataFrame if engine == "pandas" else dd.DataFrame)
    assert out.to_polars()["n"].to_list() == [3, 2, 2, 1]


def test_placeholders_in_strings_comments_and_casts_are_left_alone() -> None:
    query = "SELECT a::int, ':x', \"c:y\" FROM t -- :z\nWHERE a > :x /* :q */ AND b = 'it''s :x'"
    text, tables = bind_parameters(query, {"x": 1})
    assert text.count("__pf_param_0") == 1
    assert "':x'" in text
    assert "-- :z" in text
    assert "/* :q */" in text
    assert "'it''s :x'" in text
    assert tables == {"__pf_param_0": 1}


def test_parameter_errors(sales_file: Path) -> None:
    frame = pf.read(sales_file)
    with pytest.raises(SQLError, match="has no value"):
        pf.sql("SELECT * FROM t WHERE id = :missing", t=frame)
    with pytest.raises(SQLError, match="not used"):
        pf.sql("SELECT * FROM t", t=frame, params={"unused": 1})
    with pytest.raises(SQLError, match="SQL failed"):
        pf.sql("SELECT nope FROM t", t=frame)
    with pytest.raises(SQLError, match="SQL failed"):
        pf.sql("SELEC", t=frame, engine="pandas")


def test_unterminated_comment_and_quote() -> None:
    assert bind_parameters("SELECT 1 /* open", None) == ("SELECT 1 /* open", {})
    assert bind_parameters("SELECT 'open", None) == ("SELECT 'open", {})

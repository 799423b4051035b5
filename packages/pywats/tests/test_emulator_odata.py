"""Properties of the emulator's OData evaluator (pure functions, no server)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pywats.emulator._odata import Field, Schema, apply_query, compile_filter

SCHEMA = Schema("row", [Field("name"), Field("n", "int")])
names = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@given(target=names, others=st.lists(names, max_size=5))
def test_eq_matches_exactly_the_equal_strings_ignoring_case(target: str, others: list[str]) -> None:
    rows = [{"name": name} for name in [target, *others]]
    predicate = compile_filter(f"name eq {quoted(target)}", SCHEMA)
    assert [r["name"] for r in rows if predicate(r)] == [
        r["name"] for r in rows if r["name"].casefold() == target.casefold()
    ]


@given(values=st.lists(st.integers(-5, 5), max_size=8), bound=st.integers(-5, 5))
def test_comparisons_agree_with_python(values: list[int], bound: int) -> None:
    rows = [{"n": v} for v in values]
    for op, check in (
        ("gt", int.__gt__),
        ("ge", int.__ge__),
        ("lt", int.__lt__),
        ("le", int.__le__),
    ):
        selected = apply_query(rows, {"$filter": f"n {op} {bound}"}, SCHEMA)
        assert [r["n"] for r in selected] == [v for v in values if check(v, bound)]


@given(
    values=st.lists(st.one_of(st.none(), st.integers(-3, 3)), max_size=8),
    top=st.integers(0, 4),
    skip=st.integers(0, 4),
)
def test_orderby_top_skip_page_a_sorted_list(values: list[int | None], top: int, skip: int) -> None:
    rows: list[dict[str, Any]] = [{"n": v} for v in values]
    page = apply_query(rows, {"$orderby": "n desc", "$top": str(top), "$skip": str(skip)}, SCHEMA)
    ordered = sorted(values, key=lambda v: (v is not None, v or 0), reverse=True)
    assert [r["n"] for r in page] == ordered[skip : skip + top]


def test_numbers_in_exponent_form_and_non_finite_spellings() -> None:
    # What pywats.odata.literal() writes for such floats.
    schema = Schema("row", [Field("x", "float")])
    rows = [{"x": 1e-6}, {"x": 0.5}, {"x": float("inf")}]

    def matching(text: str) -> list[float]:
        test = compile_filter(text, schema)
        return [r["x"] for r in rows if test(r)]

    assert matching("x lt 1e-05") == [1e-6]
    assert matching("x gt 2.5E-1") == [0.5, float("inf")]
    assert matching("x lt INF") == [1e-6, 0.5]
    assert matching("x gt -INF") == [1e-6, 0.5, float("inf")]
    assert matching("x eq NaN") == []
    assert matching("x eq 1") == []

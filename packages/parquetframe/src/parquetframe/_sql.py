"""SQL over frames on polars' SQL engine, with parameters bound rather than spliced.

polars' SQL has no placeholders, so each ``:name`` / ``$name`` / ``$1`` placeholder (outside
string literals, quoted identifiers and comments) is replaced by a scalar subquery over a
one-column table holding the value, ``(SELECT value FROM __pf_param_0)``. The value itself
never enters the query text, so no quoting or escaping can go wrong; a list value becomes a
multi-row table and works with ``IN``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from parquetframe.errors import SQLError

if TYPE_CHECKING:
    import polars as pl

    from parquetframe._frame import Frame

__all__ = ["bind_parameters", "sql"]

_PARAM_TABLE = "__pf_param_{}"


def _ident_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _skip_quoted(query: str, i: int) -> int:
    """The index after the quoted string or identifier starting at ``i``."""
    quote, end, n = query[i], i + 1, len(query)
    while end < n:
        if query[end] == quote:
            if end + 1 < n and query[end + 1] == quote:  # a doubled quote escapes itself
                end += 2
                continue
            return end + 1
        end += 1
    return n


def _skip_comment(query: str, i: int) -> int:
    """The index after the comment starting at ``i``, or ``i`` if none starts there."""
    if query.startswith("--", i):
        end = query.find("\n", i)
        return len(query) if end == -1 else end
    if query.startswith("/*", i):
        end = query.find("*/", i + 2)
        return len(query) if end == -1 else end + 2
    return i


def _placeholder_end(query: str, i: int) -> int:
    """The end of a ``:name``/``$name`` placeholder at ``i``, or ``i`` if there is none."""
    ch, n = query[i], len(query)
    if ch not in ":$" or i + 1 >= n or not _ident_char(query[i + 1]):
        return i
    # `a::int` is a cast and `:1` a slice, not placeholders.
    if ch == ":" and (query[i + 1].isdigit() or (i > 0 and query[i - 1] == ":")):
        return i
    end = i + 1
    while end < n and _ident_char(query[end]):
        end += 1
    return end


def bind_parameters(
    query: str, params: Mapping[str, Any] | Sequence[Any] | None
) -> tuple[str, dict[str, Any]]:
    """Rewrite placeholders in ``query``; returns the query and the tables to register.

    Raises:
        SQLError: a placeholder has no value, or a value is never used.
    """
    values: Mapping[str, Any] = (
        params
        if isinstance(params, Mapping)
        else {str(i): v for i, v in enumerate(params or (), start=1)}
    )
    out: list[str] = []
    tables: dict[str, Any] = {}
    names: dict[str, str] = {}
    i = 0
    while i < len(query):
        if query[i] in "'\"`":
            end = _skip_quoted(query, i)
        elif (end := _skip_comment(query, i)) == i and (end := _placeholder_end(query, i)) > i:
            name = query[i + 1 : end]
            if name not in values:
                msg = f"SQL parameter {query[i:end]!r} has no value; pass params={{{name!r}: ...}}"
                raise SQLError(msg)
            if name not in names:
                names[name] = _PARAM_TABLE.format(len(names))
                tables[names[name]] = values[name]
            # The table name is generated here; the value never enters the query text.
            out.append(f"(SELECT value FROM {names[name]})")  # noqa: S608
            i = end
            continue
        end = max(end, i + 1)
        out.append(query[i:end])
        i = end
    unused = sorted(set(values) - set(names))
    if unused:
        msg = f"SQL parameters {unused} are not used by the query (placeholders are :name or $name)"
        raise SQLError(msg)
    return "".join(out), tables


def _param_frame(value: Any) -> pl.LazyFrame:
    import polars as pl

    if isinstance(value, list | tuple | set | frozenset):
        return pl.LazyFrame({"value": list(value)})
    return pl.LazyFrame({"value": [value]})


def _as_polars(value: Any) -> tuple[pl.LazyFrame, str]:
    from parquetframe._frame import Frame

    frame = value if isinstance(value, Frame) else Frame(value)
    if frame.engine == "polars":
        return frame.lazy().native, "polars"
    return frame.to_polars().lazy(), frame.engine


def sql(
    query: str,
    *,
    params: Mapping[str, Any] | Sequence[Any] | None = None,
    engine: str | None = None,
    **frames: Any,
) -> Frame:
    """Run ``query`` over ``frames`` (each a table named by its keyword) on polars' SQL engine.

    Args:
        query: the SQL, with ``:name`` or ``$name`` placeholders (``$1`` for a list).
        params: the placeholder values, bound as one-row tables (lists work with ``IN``).
        engine: the result's engine; by default the engine of the first frame.
        **frames: the tables: Frames, or polars, pandas or dask DataFrames.

    Example::

        pf.sql("SELECT * FROM sales WHERE price > :min", sales=frame, params={"min": 100})

    Raises:
        SQLError: a parse or bind error, or an unknown table or column.
    """
    import polars as pl

    from parquetframe._frame import Frame

    text, tables = bind_parameters(query, params)
    ctx = pl.SQLContext()
    engines = []
    for name, value in frames.items():
        lazy, source_engine = _as_polars(value)
        engines.append(source_engine)
        ctx.register(name, lazy)
    for name, value in tables.items():
        ctx.register(name, _param_frame(value))
    target = engine or (engines[0] if engines else "polars")
    try:
        result = ctx.execute(text, eager=False)
        result.collect_schema()  # resolves the plan now: unknown tables and columns fail here
        if target == "polars":
            return Frame(result)
        collected = result.collect()
    except pl.exceptions.PolarsError as exc:
        msg = f"SQL failed: {exc}".splitlines()[0]
        raise SQLError(msg) from exc
    return Frame(collected).to_engine(target)

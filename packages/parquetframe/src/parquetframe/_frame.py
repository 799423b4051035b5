"""``Frame``: one polars-style API over polars, dask and pandas, through narwhals.

narwhals translates each call to the engine's own operation, so a frame stays lazy on lazy
engines and nothing is converted behind the user's back. Conversions between engines go
through Arrow.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from parquetframe.errors import EngineError

if TYPE_CHECKING:
    import narwhals as nw
    from pandas import DataFrame as PandasFrame  # type: ignore[import-untyped]
    from polars import DataFrame as PolarsFrame
    from pyarrow import Table as ArrowTable  # type: ignore[import-untyped]

__all__ = ["Frame", "GroupBy", "dask_partitions"]

_PARTITION_BYTES = 64 * 1024 * 1024


def dask_partitions(nbytes: int) -> int:
    """Partitions for ``nbytes`` of data: about 64 MB each, at least one per CPU."""
    return max(os.cpu_count() or 1, math.ceil(nbytes / _PARTITION_BYTES))


def _unwrap(value: Any) -> Any:
    return value._nw if isinstance(value, Frame) else value


def _to_narwhals(data: Any) -> nw.DataFrame[Any] | nw.LazyFrame[Any]:
    import narwhals as nw

    if isinstance(data, nw.DataFrame | nw.LazyFrame):
        return data
    if type(data).__module__.startswith("pyarrow"):
        import polars as pl

        data = pl.from_arrow(data)
    try:
        with warnings.catch_warnings():
            # narwhals announces that Dask support moves to a separate package, not yet
            # published; the support in narwhals itself is what we use and test.
            warnings.filterwarnings("ignore", "Dask support is moving", FutureWarning)
            wrapped: nw.DataFrame[Any] | nw.LazyFrame[Any] = nw.from_native(data)
            return wrapped
    except TypeError:
        msg = (
            f"cannot make a Frame from {type(data).__name__}; pass a polars, pandas or dask "
            "DataFrame (or a polars LazyFrame, or a pyarrow Table)"
        )
        raise EngineError(msg) from None


class Frame:
    """A dataframe on polars, pandas or dask with one polars-style API.

    Build one with :func:`parquetframe.read` or ``Frame(native)``. Expressions come from
    ``pf.col``, ``pf.lit``, ``pf.when`` and ``pf.len`` (narwhals expressions),
    so the same code runs on every engine::

        import parquetframe as pf

        out = (
            pf.Frame(native)
            .filter(pf.col("price") > 100)
            .group_by("category")
            .agg(pf.col("qty").sum())
            .collect()
        )

    Frames are immutable; every method returns a new one. They pickle (lazy plans included).
    """

    __slots__ = ("_nw", "_streaming")

    def __init__(self, data: Any, *, streaming: bool = False) -> None:
        if isinstance(data, Frame):
            streaming = streaming or data.streaming
            data = data._nw
        self._nw: Any = _to_narwhals(data)
        self._streaming = streaming

    def _wrap(self, result: Any) -> Frame:
        return Frame(result, streaming=self._streaming)

    # -- introspection --------------------------------------------------------------
    @property
    def native(self) -> Any:
        """The engine's own object (polars DataFrame/LazyFrame, pandas or dask DataFrame)."""
        return self._nw.to_native()

    @property
    def engine(self) -> str:
        """``polars``, ``pandas`` or ``dask``."""
        impl = self._nw.implementation
        if impl.is_polars():
            return "polars"
        if impl.is_dask():
            return "dask"
        if impl.is_pandas():
            return "pandas"
        return str(impl.value)  # pragma: no cover - only the three engines are built

    @property
    def is_lazy(self) -> bool:
        """Whether work is deferred until :meth:`collect` (polars LazyFrame, dask)."""
        import narwhals as nw

        return isinstance(self._nw, nw.LazyFrame)

    @property
    def streaming(self) -> bool:
        """Whether polars collects this frame on its streaming engine."""
        return self._streaming

    @property
    def schema(self) -> dict[str, Any]:
        """Column names and narwhals dtypes, from metadata (no data is read)."""
        return dict(self._nw.collect_schema())

    @property
    def columns(self) -> list[str]:
        """The column names, from metadata."""
        return list(self._nw.collect_schema().names())

    def __len__(self) -> int:
        """Row count; lazy frames count without materialising the columns."""
        import narwhals as nw

        if not self.is_lazy:
            return len(self._nw)
        counted = self._nw.select(nw.len().alias("n")).collect()
        return int(counted.item(0, "n"))

    def __repr__(self) -> str:
        kind = "lazy" if self.is_lazy else "eager"
        return f"<parquetframe.Frame {self.engine} {kind} columns={self.columns}>"

    def __getstate__(self) -> tuple[Any, bool]:
        return self.native, self._streaming

    def __setstate__(self, state: tuple[Any, bool]) -> None:
        self._nw = _to_narwhals(state[0])
        self._streaming = state[1]

    # -- transformations --------------------------------------------------------------
    def select(self, *exprs: Any, **named: Any) -> Frame:
        """Columns or expressions to keep (``select("a", pf.col("b") * 2)``)."""
        return self._wrap(self._nw.select(*exprs, **named))

    def filter(self, *predicates: Any, **equal: Any) -> Frame:
        """Rows where every predicate holds (``filter(pf.col("x") > 1, kind="a")``)."""
        return self._wrap(self._nw.filter(*predicates, **equal))

    def with_columns(self, *exprs: Any, **named: Any) -> Frame:
        """Add or replace columns."""
        return self._wrap(self._nw.with_columns(*exprs, **named))

    def group_by(self, *keys: str | Sequence[str], drop_null_keys: bool = False) -> GroupBy:
        """Group rows by ``keys``; finish with :meth:`GroupBy.agg`."""
        return GroupBy(self, self._nw.group_by(*keys, drop_null_keys=drop_null_keys))

    def join(
        self,
        other: Frame | Any,
        on: str | list[str] | None = None,
        how: str = "inner",
        *,
        left_on: str | list[str] | None = None,
        right_on: str | list[str] | None = None,
        suffix: str = "_right",
    ) -> Frame:
        """Join with ``other`` (converted to this frame's engine and laziness if needed)."""
        right = other if isinstance(other, Frame) else Frame(other)
        if right.engine != self.engine:
            right = right.to_engine(self.engine)
        if self.is_lazy and not right.is_lazy:
            right = right.lazy()
        elif right.is_lazy and not self.is_lazy:
            right = right.collect()
        return self._wrap(
            self._nw.join(
                right._nw, on=on, how=how, left_on=left_on, right_on=right_on, suffix=suffix
            )
        )

    def sort(
        self, by: str | Iterable[str], *more_by: str, descending: bool | Sequence[bool] = False
    ) -> Frame:
        """Sort by one or more columns."""
        return self._wrap(self._nw.sort(by, *more_by, descending=descending))

    def unique(
        self, subset: str | list[str] | None = None, *, keep: str = "any", order_by: Any = None
    ) -> Frame:
        """Drop duplicate rows (by ``subset`` when given).

        Lazy frames keep ``"any"`` or ``"none"`` of the duplicates, or ``"first"``/``"last"``
        by ``order_by``.
        """
        if order_by is None:
            return self._wrap(self._nw.unique(subset, keep=keep))
        return self._wrap(self._nw.unique(subset, keep=keep, order_by=order_by))

    def head(self, n: int = 5) -> Frame:
        """The first ``n`` rows."""
        return self._wrap(self._nw.head(n))

    def rename(self, mapping: Mapping[str, str]) -> Frame:
        """Rename columns."""
        return self._wrap(self._nw.rename(dict(mapping)))

    def drop(self, *columns: str) -> Frame:
        """Remove columns."""
        return self._wrap(self._nw.drop(*columns))

    def drop_nulls(self, subset: str | list[str] | None = None) -> Frame:
        """Remove rows with a null (in ``subset`` when given)."""
        return self._wrap(self._nw.drop_nulls(subset))

    def pipe(self, function: Callable[..., Frame], *args: Any, **kwargs: Any) -> Frame:
        """``function(self, *args, **kwargs)``, for chaining."""
        return function(self, *args, **kwargs)

    # -- evaluation and conversion ------------------------------------------------------
    def collect(self) -> Frame:
        """Run a lazy frame (polars on its streaming engine when chosen; dask gives pandas)."""
        if not self.is_lazy:
            return self
        if self.engine == "polars":
            return Frame(self.native.collect(engine="streaming" if self._streaming else "auto"))
        return Frame(self._nw.collect())

    def lazy(self) -> Frame:
        """A lazy frame over the same data (polars only; other engines return ``self``)."""
        if self.is_lazy or self.engine != "polars":
            return self
        return self._wrap(self.native.lazy())

    def to_arrow(self) -> ArrowTable:
        """The data as a pyarrow Table (collects lazy frames)."""
        collected = self.collect()
        if collected.engine == "pandas":
            import pyarrow as pa

            # The pandas index is row numbering here, never data: keep it out of the table.
            return pa.Table.from_pandas(collected.native, preserve_index=False)
        table: ArrowTable = collected._nw.to_arrow()
        return table

    def to_polars(self) -> PolarsFrame:
        """The data as a polars DataFrame (collects lazy frames; others go through Arrow)."""
        import polars as pl

        if self.engine == "polars":
            native = self.collect().native
            assert isinstance(native, pl.DataFrame)
            return native
        frame = pl.from_arrow(self.to_arrow())
        assert isinstance(frame, pl.DataFrame)
        return frame

    def to_pandas(self) -> PandasFrame:
        """The data as a pandas DataFrame (through Arrow)."""
        collected = self.collect()
        if collected.engine == "pandas":
            return collected.native
        from parquetframe._dask_parts import arrow_to_pandas

        out: PandasFrame = arrow_to_pandas(self.to_arrow())
        return out

    def to_dask(self, npartitions: int | None = None) -> Any:
        """The data as a dask DataFrame (about 64 MB per partition unless ``npartitions``)."""
        if self.engine == "dask":
            native = self.native
            return native if npartitions is None else native.repartition(npartitions=npartitions)
        from parquetframe._engine import _require

        _require("dask")
        import dask.dataframe as dd

        from parquetframe._dask_parts import arrow_to_pandas

        table = self.to_arrow()
        parts = npartitions or dask_partitions(table.nbytes)
        return dd.from_pandas(arrow_to_pandas(table), npartitions=parts)  # type: ignore[no-untyped-call]

    def to_engine(self, engine: str) -> Frame:
        """This frame on ``engine`` (``polars`` keeps laziness; others go through Arrow)."""
        if engine == self.engine:
            return self
        if engine == "polars":
            return Frame(self.to_polars(), streaming=self._streaming)
        if engine == "pandas":
            return Frame(self.to_pandas())
        if engine == "dask":
            return Frame(self.to_dask())
        msg = f"unknown engine {engine!r}; use polars, pandas or dask"
        raise EngineError(msg)

    def to_dicts(self) -> list[dict[str, Any]]:
        """The rows as dictionaries (collects)."""
        return self.to_polars().to_dicts()

    def write(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        **options: Any,
    ) -> None:
        """Write to ``path`` atomically, in the format of its suffix unless ``format=``.

        Lazy polars frames stream to disk; dask frames are written partition by partition.
        A failure leaves any previous file at ``path`` untouched and no partial file.
        """
        from parquetframe._write import write_frame

        write_frame(self, path, format, **options)

    def sql(self, query: str, *, params: Mapping[str, Any] | None = None, **frames: Any) -> Frame:
        """Run polars SQL over this frame (table ``df``) and ``frames``; result on this engine."""
        from parquetframe._sql import sql

        return sql(query, params=params, engine=self.engine, df=self, **frames)


class GroupBy:
    """Rows of a :class:`Frame` grouped by keys; call :meth:`agg`."""

    __slots__ = ("_frame", "_grouped")

    def __init__(self, frame: Frame, grouped: Any) -> None:
        self._frame = frame
        self._grouped = grouped

    def agg(self, *exprs: Any, **named: Any) -> Frame:
        """One row per group with the aggregated expressions."""
        return self._frame._wrap(self._grouped.agg(*exprs, **named))

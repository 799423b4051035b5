"""``read()``: any supported file, glob, directory or URL into a :class:`~parquetframe.Frame`.

Each engine gets its native lazy reader where one exists (polars ``scan_*``, dask
``read_*``); formats without one are read through polars or pyarrow and converted via Arrow.
``columns=``, ``filters=`` and ``n_rows=`` are applied through narwhals after the native
read, so they mean the same on every engine; lazy engines push them down into the scan.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from parquetframe._engine import choose_engine
from parquetframe._sources import Filter, Source, check_filters, resolve_source
from parquetframe.errors import EngineError, FormatError

if TYPE_CHECKING:
    import narwhals as nw
    import polars as pl

    from parquetframe._frame import Frame

__all__ = ["read", "to_expr"]

logger = logging.getLogger(__name__)


def to_expr(filters: Sequence[Filter]) -> nw.Expr | None:
    """One narwhals expression AND-ing ``filters`` (``None`` when there are none)."""
    import narwhals as nw

    combined: nw.Expr | None = None
    for column, op, value in filters:
        col = nw.col(column)
        if op == "==":
            expr = col == value
        elif op == "!=":
            expr = col != value
        elif op == "<":
            expr = col < value
        elif op == "<=":
            expr = col <= value
        elif op == ">":
            expr = col > value
        elif op == ">=":
            expr = col >= value
        elif op == "in":
            expr = col.is_in(value)
        else:
            expr = ~col.is_in(value)
        combined = expr if combined is None else combined & expr
    return combined


def _open_bytes(path: str, source: Source) -> bytes:
    """The (decompressed) bytes of one file, local or on an fsspec file system."""
    import pyarrow as pa  # type: ignore[import-untyped]

    if source.url:
        import fsspec  # type: ignore[import-untyped]

        with fsspec.open(path, "rb") as raw:
            data: bytes = raw.read()
        if source.compression:
            stream = pa.CompressedInputStream(pa.BufferReader(data), source.compression)
            data = stream.read()
        return data
    if source.compression:
        with pa.CompressedInputStream(path, source.compression) as stream:
            return bytes(stream.read())
    with open(path, "rb") as f:
        return f.read()


def _read_one_eager(path: str, source: Source, options: dict[str, Any]) -> pl.DataFrame:
    import polars as pl

    fmt = source.format
    if fmt == "avro":
        from parquetframe._avro import read_avro

        local = not source.url and source.compression is None
        return read_avro(path if local else io.BytesIO(_open_bytes(path, source)))
    data = _open_bytes(path, source)
    if fmt in ("csv", "tsv"):
        sep = options.pop("separator", options.pop("sep", "\t" if fmt == "tsv" else ","))
        options.setdefault("try_parse_dates", True)
        return pl.read_csv(data, separator=sep, **options)
    if fmt == "ndjson":
        return pl.read_ndjson(data, **options)
    if fmt == "json":
        return pl.read_json(data, **options)
    if fmt == "ipc":
        return pl.read_ipc(data, **options)
    if fmt == "orc":
        from pyarrow import orc

        table = orc.ORCFile(io.BytesIO(data)).read()
    else:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        table = pq.read_table(io.BytesIO(data))
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _scan_polars(source: Source, options: dict[str, Any]) -> pl.LazyFrame:
    import polars as pl

    fmt = source.format
    local = not source.url and source.compression is None
    target: str | list[str] = source.path if (source.glob or source.directory) else source.files[0]
    if fmt == "parquet" and not source.url:
        return pl.scan_parquet(
            target if not source.directory else source.path,
            hive_partitioning=source.hive,
            **options,
        )
    if fmt == "parquet":
        import fsspec
        import pyarrow.dataset as ds  # type: ignore[import-untyped]
        from pyarrow.fs import FSSpecHandler, PyFileSystem  # type: ignore[import-untyped]

        fs, _ = fsspec.core.url_to_fs(source.files[0])
        inner = [fs._strip_protocol(f) for f in source.files]
        dataset = ds.dataset(inner, filesystem=PyFileSystem(FSSpecHandler(fs)), format="parquet")
        return pl.scan_pyarrow_dataset(dataset)
    if local and fmt in ("csv", "tsv"):
        sep = options.pop("separator", options.pop("sep", "\t" if fmt == "tsv" else ","))
        options.setdefault("try_parse_dates", True)
        return pl.scan_csv(list(source.files), separator=sep, **options)
    if local and fmt == "ndjson":
        return pl.scan_ndjson(list(source.files), **options)
    if local and fmt == "ipc":
        return pl.scan_ipc(list(source.files), **options)
    frames = [_read_one_eager(f, source, dict(options)) for f in source.files]
    frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    return frame.lazy()


def _dask_parquet(source: Source, filters: list[Filter]) -> Any:
    # dask's own read_parquet raises pandas 3 deprecation warnings inside its workers;
    # one pyarrow dataset fragment per partition reads the same data without them.
    import dask.dataframe as dd
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    base = source.path if source.hive else None
    dataset = ds.dataset(
        source.path if source.directory else list(source.files),
        format="parquet",
        partitioning="hive" if source.hive else None,
    )
    partition_schema = dataset.partitioning.schema if source.hive else pa.schema([])
    expr = pq.filters_to_expression(filters) if filters else None
    paths = [fragment.path for fragment in dataset.get_fragments()]
    from parquetframe._dask_parts import arrow_to_pandas, read_fragment

    meta = arrow_to_pandas(dataset.schema.empty_table())

    return dd.from_map(  # type: ignore[no-untyped-call]
        read_fragment,
        paths,
        base=base,
        partition_schema=partition_schema,
        filters=expr,
        meta=meta,
        enforce_metadata=False,
    )


def _read_dask(source: Source, filters: list[Filter], options: dict[str, Any]) -> Any:
    import dask.dataframe as dd

    from parquetframe._frame import dask_partitions

    fmt = source.format
    files = list(source.files)
    if fmt == "parquet" and not source.url:
        return _dask_parquet(source, filters)
    text_ok = not source.url and source.compression in (None, "gzip", "bz2")
    if (fmt in ("csv", "tsv") and text_ok) or (
        fmt == "ndjson" and text_ok and not source.compression
    ):
        if fmt == "ndjson":
            return dd.read_json(files, lines=True, blocksize=64 * 2**20, **options)
        sep = options.pop("separator", options.pop("sep", "\t" if fmt == "tsv" else ","))
        return dd.read_csv(
            files,
            sep=sep,
            compression=source.compression,
            blocksize=None if source.compression else "64MB",
            **options,
        )
    lazy = _scan_polars(source, options)
    table = lazy.collect().to_arrow()
    from parquetframe._dask_parts import arrow_to_pandas

    pdf = arrow_to_pandas(table)
    return dd.from_pandas(pdf, npartitions=dask_partitions(table.nbytes))  # type: ignore[no-untyped-call]


def read(
    source: str | os.PathLike[str],
    engine: str | None = None,
    *,
    format: str | None = None,
    columns: Sequence[str] | None = None,
    filters: Sequence[Filter] | None = None,
    n_rows: int | None = None,
    **options: Any,
) -> Frame:
    """Read a file, a glob, a directory (hive partitions included) or an fsspec URL.

    The format comes from the suffix (``.parquet``, ``.csv``, ``.tsv``, ``.json``,
    ``.jsonl``/``.ndjson``, ``.avro``, ``.orc``, ``.arrow``/``.ipc``/``.feather``; text
    formats also with ``.gz`` or ``.zst``) unless ``format=`` names it.

    Args:
        source: what to read.
        engine: ``polars``, ``pandas``, ``dask`` or ``auto``/``None`` (see
            :func:`parquetframe.explain_engine`).
        format: the format, when the suffix does not tell.
        columns: keep only these columns.
        filters: keep rows matching every ``(column, operator, value)`` condition.
        n_rows: keep at most this many rows.
        **options: passed to the engine's reader (for example ``separator=";"``).

    Returns:
        A :class:`~parquetframe.Frame`, lazy on polars and dask.

    Raises:
        FileNotFoundError: nothing at ``source``.
        FormatError: an unknown format, bad ``filters``, ``columns`` or ``n_rows``, or a
            file that cannot be read.
        EngineError: an unknown engine, or dask without ``parquetframe[dask]``.
    """
    from parquetframe._frame import Frame

    resolved = resolve_source(source, format)
    checked = check_filters(filters)
    choice = choose_engine(resolved, engine)
    try:
        native: Any
        if choice.engine == "dask":
            from parquetframe.distributed import connect_configured

            connect_configured()
            native = _read_dask(resolved, checked, dict(options))
        else:
            native = _scan_polars(resolved, dict(options))
    except (OSError, FormatError, EngineError):
        raise
    except Exception as exc:
        msg = f"cannot read {resolved.path!r} as {resolved.format}: {exc}"
        raise FormatError(msg) from exc
    frame = Frame(native, streaming=choice.streaming)
    _check_options(frame, resolved, checked, columns, n_rows)
    return _apply(frame, checked, columns, n_rows, choice.engine)


def _check_options(
    frame: Frame,
    source: Source,
    filters: list[Filter],
    columns: Sequence[str] | None,
    n_rows: int | None,
) -> None:
    """Fail the same way on every engine, now rather than when a lazy frame is collected."""
    if n_rows is not None and n_rows < 0:
        msg = f"n_rows must be 0 or more, not {n_rows}"
        raise FormatError(msg)
    wanted = [*(columns or ()), *(f[0] for f in filters)]
    if not wanted:
        return
    known = frame.columns  # from the schema: no data is read
    missing = sorted({c for c in wanted if c not in known})
    if missing:
        msg = f"{source.path!r} has no column {', '.join(map(repr, missing))}; it has {known}"
        raise FormatError(msg)


def _apply(
    frame: Frame,
    filters: list[Filter],
    columns: Sequence[str] | None,
    n_rows: int | None,
    engine: str,
) -> Frame:
    expr = to_expr(filters)
    if expr is not None:
        frame = frame.filter(expr)
    if columns is not None:
        frame = frame.select(*columns)
    if n_rows is not None:
        frame = frame.head(n_rows)
    if engine == "pandas":
        return frame.to_engine("pandas")
    return frame

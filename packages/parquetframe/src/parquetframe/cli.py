"""The ``parquetframe`` command line (also installed as ``pf``).

Results go to stdout, diagnostics to stderr. Heavy libraries load inside the commands so
``--help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import polars as pl

    from parquetframe._frame import Frame

__all__ = ["app", "main"]

app = typer.Typer(
    name="parquetframe",
    help="Inspect, query and convert data files (Parquet, CSV/TSV, JSON, Avro, ORC, Arrow).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help text: rendering it with rich costs ~0.3 s of imports.
    rich_markup_mode=None,
)

Engine = Annotated[str | None, typer.Option("--engine", "-e", help="polars, pandas, dask or auto.")]
Format = Annotated[str | None, typer.Option("--format", "-f", help="Override the format.")]


def _diag(message: str) -> None:
    from parquetframe._config import get_config

    if not get_config().quiet:
        typer.echo(message, err=True)


def _print(frame: pl.DataFrame, output: str) -> None:
    import polars as pl

    if output == "csv":
        sys.stdout.write(frame.write_csv())
    elif output == "json":
        sys.stdout.write(frame.write_ndjson())
    else:
        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=60):
            typer.echo(str(frame))


Output = Annotated[str, typer.Option("--output-format", "-O", help="table, csv or json.")]


def _read(path: str, engine: str | None, fmt: str | None, **kw: Any) -> Frame:
    from parquetframe._config import get_config
    from parquetframe._read import read

    if get_config().verbose:
        from parquetframe._engine import explain_engine

        _diag(f"engine: {explain_engine(path, engine, format=fmt)}")
    return read(path, engine, format=fmt, **kw)


def _run(action: Any) -> None:
    from parquetframe.errors import ParquetFrameError

    try:
        action()
    except (ParquetFrameError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def head(
    path: str,
    n: Annotated[int, typer.Option("-n", "--rows", help="How many rows.")] = 10,
    engine: Engine = None,
    fmt: Format = None,
    output: Output = "table",
) -> None:
    """Print the first rows of a file."""
    _run(lambda: _print(_read(path, engine, fmt, n_rows=n).to_polars(), output))


@app.command()
def schema(path: str, fmt: Format = None) -> None:
    """Print column names and types (from metadata, no data scan)."""

    def show() -> None:
        for name, dtype in _read(path, "polars", fmt).schema.items():
            typer.echo(f"{name}\t{dtype}")

    _run(show)


@app.command()
def info(path: str, fmt: Format = None) -> None:
    """Print metadata: rows, row groups, physical and logical types, statistics."""
    _run(lambda: _info(path, fmt))


def _info(path: str, fmt: str | None) -> None:
    from parquetframe._engine import explain_engine
    from parquetframe._sources import resolve_source

    source = resolve_source(path, fmt)
    typer.echo(f"path: {source.path}")
    typer.echo(
        f"format: {source.format}" + (f" ({source.compression})" if source.compression else "")
    )
    typer.echo(f"files: {len(source.files)}")
    typer.echo(f"engine: {explain_engine(path, format=fmt)}")
    if source.format != "parquet" or source.url:
        for name, dtype in _read(path, "polars", fmt).schema.items():
            typer.echo(f"  {name}: {dtype}")
        return
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    for file in source.files:
        meta = pq.ParquetFile(file).metadata
        typer.echo(f"file: {file}")
        typer.echo(f"  rows: {meta.num_rows}  row groups: {meta.num_row_groups}")
        typer.echo(f"  created by: {meta.created_by}")
        schema = meta.schema
        typer.echo("  columns:")
        for i in range(len(schema)):
            column = schema.column(i)
            logical = str(column.logical_type)
            typer.echo(f"    {column.name}: physical={column.physical_type} logical={logical}")
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            typer.echo(f"  row group {g}: rows={group.num_rows} bytes={group.total_byte_size}")
            for c in range(group.num_columns):
                chunk = group.column(c)
                stats = chunk.statistics
                if stats is None:
                    typer.echo(f"    {chunk.path_in_schema}: no statistics")
                    continue
                bounds = (
                    f"min={stats.min!r} max={stats.max!r}" if stats.has_min_max else "min/max=n/a"
                )
                typer.echo(
                    f"    {chunk.path_in_schema}: {bounds} nulls={stats.null_count} "
                    f"compression={chunk.compression}"
                )


@app.command()
def convert(
    src: str,
    dst: str,
    engine: Engine = None,
    fmt: Annotated[str | None, typer.Option("--from", help="Source format override.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Target format override.")] = None,
) -> None:
    """Convert any supported format to any other (atomic write, progress bar)."""
    from parquetframe._config import get_config

    def work() -> None:
        from parquetframe._write import write_frame

        frame = _read(src, engine, fmt)
        write_frame(frame, dst, to, progress=not get_config().quiet)
        _diag(f"wrote {dst}")

    _run(work)


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            typer.echo(f"error: {what} must look like name=value, got {value!r}", err=True)
            raise typer.Exit(2)
        out[name] = rest
    return out


def _literal(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


@app.command("sql")
def sql_command(
    query: str,
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="name=path, repeatable.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value for :name, repeatable.")
    ] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Write the result here.")] = None,
    output: Output = "table",
) -> None:
    """Run SQL over files: ``pf sql "SELECT ... FROM s" -t s=sales.parquet``."""
    tables = _pairs(table, "--table")
    params = {k: _literal(v) for k, v in _pairs(param, "--param").items()}

    def work() -> None:
        from parquetframe._sql import sql

        frames = {name: _read(path, "polars", None) for name, path in tables.items()}
        result = sql(query, params=params, engine="polars", **frames)
        _emit(result, out, output)

    _run(work)


def _emit(result: Frame, out: str | None, output: str) -> None:
    if out:
        result.write(out)
        _diag(f"wrote {out}")
    else:
        _print(result.to_polars(), output)


_OPS = ("!=", ">=", "<=", "==", "=", ">", "<")


def _condition(text: str) -> tuple[str, str, Any]:
    for op in _OPS:
        column, sep, value = text.partition(op)
        if sep:
            return column.strip(), op, _literal(value.strip())
    typer.echo(f"error: --where needs column<op>value with one of {', '.join(_OPS)}", err=True)
    raise typer.Exit(2)


@app.command()
def query(  # noqa: PLR0917 - typer maps each option to a parameter
    path: str,
    where: Annotated[
        list[str] | None, typer.Option("--where", "-w", help="column<op>value, repeatable.")
    ] = None,
    select: Annotated[str | None, typer.Option("--select", "-s", help="a,b,c")] = None,
    group_by: Annotated[str | None, typer.Option("--group-by", "-g", help="a,b")] = None,
    agg: Annotated[
        list[str] | None, typer.Option("--agg", "-a", help="column:sum|mean|min|max|count")
    ] = None,
    sort: Annotated[str | None, typer.Option("--sort", help="a,b (prefix - to descend)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n")] = None,
    engine: Engine = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Write the result here.")] = None,
    output: Output = "table",
) -> None:
    """Filter, select, group and aggregate a file without writing code."""
    filters = [_condition(w) for w in where or []]

    def work() -> None:
        import narwhals as nw

        frame = _read(path, engine, None, filters=filters)
        if group_by:
            exprs = []
            for spec in agg or []:
                column, _, func = spec.partition(":")
                func = func or "sum"
                if func not in ("sum", "mean", "min", "max", "count"):
                    typer.echo(f"error: unknown aggregation {func!r}", err=True)
                    raise typer.Exit(2)
                exprs.append(getattr(nw.col(column), func)().alias(f"{column}_{func}"))
            exprs.append(nw.len().alias("count"))
            frame = frame.group_by(*group_by.split(",")).agg(*exprs)
        if select:
            frame = frame.select(*select.split(","))
        if sort:
            keys = sort.split(",")
            frame = frame.sort(
                [k.lstrip("-") for k in keys], descending=[k.startswith("-") for k in keys]
            )
        if limit is not None:
            frame = frame.head(limit)
        _emit(frame, out, output)

    _run(work)


@app.command()
def explain(path: str, engine: Engine = None, fmt: Format = None) -> None:
    """Say which engine would read PATH, and why."""

    def work() -> None:
        from parquetframe._engine import explain_engine

        typer.echo(str(explain_engine(path, engine, format=fmt)))

    _run(work)


def main() -> None:
    """Entry point of the ``parquetframe`` and ``pf`` commands."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

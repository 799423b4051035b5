"""Writing a :class:`~parquetframe.Frame` to any supported format, atomically.

Everything goes through :func:`corekit.files.atomic_writer`: data lands in a temp file in the
target's directory and replaces the target only when complete, so a failure never leaves a
half-written file (parquetframe 2.0 left header-only Avro files that read back as empty).

Lazy polars frames use polars' streaming sinks. Other frames are written batch by batch
through pyarrow writers (dask one partition at a time), with an optional tqdm bar.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from corekit.files import atomic_writer
from parquetframe._config import get_config
from parquetframe._sources import detect_format, is_url
from parquetframe.errors import FormatError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

    from parquetframe._frame import Frame

__all__ = ["arrow_batches", "write_frame"]

_SINKS = {"parquet", "csv", "tsv", "ndjson", "ipc"}


def arrow_batches(frame: Frame) -> Iterator[pa.Table]:
    """The frame's rows as a stream of Arrow tables (dask: one partition at a time)."""
    import pyarrow as pa

    if frame.engine == "dask":
        for part in frame.native.to_delayed():
            yield pa.Table.from_pandas(part.compute(), preserve_index=False)
    elif frame.engine == "polars" and frame.is_lazy:
        engine = "streaming" if frame.streaming else "auto"
        for batch in frame.native.collect_batches(engine=engine):
            yield batch.to_arrow()
    else:
        yield frame.to_arrow()


def _progress(enabled: bool | None, path: str) -> Any:
    import contextlib

    if enabled is None:
        enabled = get_config().progress
    if not enabled:
        return contextlib.nullcontext(None)
    from tqdm import tqdm  # type: ignore[import-untyped]

    return tqdm(desc=os.path.basename(path), unit=" rows", unit_scale=True, leave=False)


def _sink(frame: Frame, file: IO[bytes], fmt: str, options: dict[str, Any]) -> None:
    lazy = frame.native
    if fmt == "parquet":
        options.setdefault("compression", get_config().compression)
        lazy.sink_parquet(file, **options)
    elif fmt in ("csv", "tsv"):
        options.setdefault("separator", "\t" if fmt == "tsv" else ",")
        lazy.sink_csv(file, **options)
    elif fmt == "ndjson":
        lazy.sink_ndjson(file, **options)
    else:
        lazy.sink_ipc(file, **options)


def _write_batches(
    frame: Frame, file: IO[bytes], fmt: str, options: dict[str, Any], bar: Any
) -> None:
    import pyarrow as pa

    writer: Any = None
    try:
        for table in arrow_batches(frame):
            if writer is None:
                writer = _open_writer(file, fmt, table.schema, options)
            if fmt == "ndjson":
                import polars as pl

                frame_part = pl.from_arrow(table)
                assert isinstance(frame_part, pl.DataFrame)
                frame_part.write_ndjson(writer)
            else:
                writer.write_table(table) if fmt != "orc" else writer.write(table)
            if bar is not None:
                bar.update(table.num_rows)
        if writer is None:  # no batches at all: write the empty schema
            writer = _open_writer(file, fmt, pa.schema(frame.to_arrow().schema), options)
    finally:
        if writer is not None and fmt != "ndjson":
            writer.close()


def _open_writer(file: IO[bytes], fmt: str, schema: pa.Schema, options: dict[str, Any]) -> Any:
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        options.setdefault("compression", get_config().compression)
        if options["compression"] == "uncompressed":
            options["compression"] = "none"
        return pq.ParquetWriter(file, schema, **options)
    if fmt in ("csv", "tsv"):
        import pyarrow.csv as pacsv  # type: ignore[import-untyped]

        delimiter = options.pop("separator", "\t" if fmt == "tsv" else ",")
        return pacsv.CSVWriter(file, schema, write_options=pacsv.WriteOptions(delimiter=delimiter))
    if fmt == "ipc":
        return pa.ipc.new_file(file, schema)
    if fmt == "orc":
        from pyarrow import orc

        return orc.ORCWriter(file, **options)
    return file  # ndjson: appended batch by batch


def write_frame(
    frame: Frame,
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    progress: bool | None = None,
    **options: Any,
) -> None:
    """Write ``frame`` to ``path`` atomically (see the module docstring).

    Raises:
        FormatError: an unknown format, a URL target, or data the format cannot hold.
    """
    target = os.fspath(path)
    if is_url(target):
        msg = f"cannot write to {target!r}: writes go to local paths (they are atomic there)"
        raise FormatError(msg)
    fmt, compression = detect_format(target, format)
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    try:
        with atomic_writer(target, binary=True) as raw, _progress(progress, target) as bar:
            # polars' sinks are fastest but report no progress; with a bar, stream batches.
            sink = compression is None and fmt in _SINKS and bar is None
            if sink and frame.engine == "polars" and frame.is_lazy:
                _sink(frame, raw, fmt, dict(options))
            elif fmt in ("avro", "json"):
                rows = _write_whole(frame, raw, fmt, compression, dict(options))
                if bar is not None:
                    bar.update(rows)
            elif compression is not None:
                import pyarrow as pa

                with pa.CompressedOutputStream(raw, compression) as stream:
                    _write_batches(frame, stream, fmt, dict(options), bar)
            else:
                _write_batches(frame, raw, fmt, dict(options), bar)
    except FormatError:
        raise
    except Exception as exc:
        msg = f"cannot write {target!r} as {fmt}: {exc}"
        raise FormatError(msg) from exc


def _write_whole(
    frame: Frame, raw: IO[bytes], fmt: str, compression: str | None, options: dict[str, Any]
) -> int:
    import contextlib

    import pyarrow as pa

    data = frame.to_polars()
    with contextlib.ExitStack() as stack:
        out: Any = raw
        if compression is not None:
            out = stack.enter_context(pa.CompressedOutputStream(raw, compression))
        if fmt == "avro":
            from parquetframe._avro import write_avro

            write_avro(data, out, **options)
        else:
            data.write_json(out)
    return len(data)

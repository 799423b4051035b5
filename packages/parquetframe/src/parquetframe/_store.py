"""The entity store: an append-only log plus one compacted base segment per generation.

Layout of a store directory::

    _manifest.json        generation, current base and log names, base row count, and
                          whether each datetime field holds aware or naive values
    base-000003.parquet   every live record at the last compaction, sorted by primary key
    log-000003.jsonl      saves and deletes since then, one JSON line each
    .lock                 the lock every operation takes (several processes may write)

A save appends one line to the log (amortised O(1)); when the log holds more lines than half
the base (and at least ``compact_min``), the log is merged into a new base, so each record is
rewritten a bounded number of times on average. The base is written atomically and the manifest
switched last, so a crash leaves the old generation intact.

Types survive: the log decodes each value with the field's declared type (datetimes, dates,
``None`` stay themselves), and the base holds typed columns. Queries push their predicate into a
polars scan of the base and add the newer versions from the log. A Parquet base is scanned by
polars (row-group statistics skip whole groups); an Avro base is streamed block by block with
fastavro through a polars IO source, and each batch is filtered before the next is decoded, so a
query holds one batch plus its matches, never the whole base.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corekit.files import FileLock, atomic_write, atomic_writer
from parquetframe.errors import EntityError

if TYPE_CHECKING:
    import polars as pl

__all__ = ["FieldSpec", "Store"]

logger = logging.getLogger(__name__)

_KINDS = ("int", "float", "str", "bool", "datetime", "date", "json")
_MANIFEST = "_manifest.json"
_AVRO_BATCH = 4096  # records per Avro block, and decoded at a time when a base is scanned


@dataclass(frozen=True)
class FieldSpec:
    """One stored field: its name and kind (one of int, float, str, bool, datetime, date, json)."""

    name: str
    kind: str


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    msg = f"cannot store a {type(value).__name__} value"
    raise TypeError(msg)


def _decode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "float":
        return float(value)
    return value


class Store:
    """One entity class's storage directory (see the module docstring)."""

    def __init__(
        self,
        directory: Path,
        *,
        primary_key: str,
        fields: list[FieldSpec],
        format: str,
        fsync: bool = False,
        compact_min: int = 10_000,
        lock_timeout: float = 60.0,
    ) -> None:
        self.directory = directory
        self.primary_key = primary_key
        self.fields = fields
        self.names = [f.name for f in fields]
        self._kinds = {f.name: f.kind for f in fields}
        self._pk_index = self.names.index(primary_key)
        self.format = format
        self.fsync = fsync
        self.compact_min = compact_min
        self._file_lock = FileLock(directory / ".lock", timeout=lock_timeout)
        # Strings, not Paths: a save touches these several times and pathlib is slow.
        self._manifest_path = os.path.join(directory, _MANIFEST)
        self._created = False
        self._thread_lock = threading.Lock()
        self._manifest: dict[str, Any] | None = None
        self._manifest_stamp: tuple[int, int, int] | None = None
        self._log_offset = 0
        self._log_lines = 0
        self._log: dict[Any, tuple[Any, ...] | None] = {}  # pk -> newest record, None if deleted
        self._base: pl.DataFrame | None = None  # loaded on first find
        self._base_index: dict[Any, int] | None = None
        self.scan_batch = _AVRO_BATCH

    # -- locking and refreshing -----------------------------------------------------------
    def _locked(self) -> _Locked:
        return _Locked(self)

    def _read_manifest(self) -> None:
        path = self._manifest_path
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            self.directory.mkdir(parents=True, exist_ok=True)
            manifest: dict[str, Any] = {
                "generation": 0,
                "base": None,
                "log": "log-000000.jsonl",
                "rows": 0,
                "aware": {},
            }
            atomic_write(path, json.dumps(manifest))
            stat = os.stat(path)
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp == self._manifest_stamp:
            return
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
        if self._manifest is None or manifest["generation"] != self._manifest["generation"]:
            self._log, self._log_offset, self._log_lines = {}, 0, 0
            self._base, self._base_index = None, None
        self._manifest, self._manifest_stamp = manifest, stamp

    def _refresh(self) -> None:
        """Bring the in-memory view up to date with the files (called under the lock)."""
        self._read_manifest()
        assert self._manifest is not None
        log_path = os.path.join(self.directory, self._manifest["log"])
        try:
            size = os.stat(log_path).st_size
        except FileNotFoundError:
            return
        if size == self._log_offset:
            return
        with open(log_path, "rb") as f:
            f.seek(self._log_offset)
            chunk = f.read(size - self._log_offset)
        end = chunk.rfind(b"\n") + 1
        for line in chunk[:end].splitlines():
            self._apply(json.loads(line))
        self._log_offset += end
        if end < len(chunk):
            # Writers append only under the lock, which we hold: a line without its newline is
            # what a crashed writer left. Cut it off, or the next save would be glued to it.
            logger.warning("dropping a partial log line a crashed writer left in %s", log_path)
            os.truncate(log_path, self._log_offset)

    def _apply(self, entry: list[Any]) -> None:
        self._log_lines += 1
        if entry[0] == "d":
            self._log[entry[1]] = None
        else:
            record = tuple(
                _decode(self._kinds[n], v) for n, v in zip(self.names, entry[1], strict=True)
            )
            self._log[record[self._pk_index]] = record

    # -- writing --------------------------------------------------------------------------
    def _check_aware(self, records: Iterable[tuple[Any, ...]]) -> None:
        assert self._manifest is not None
        aware: dict[str, bool] = self._manifest["aware"]
        changed = False
        for i, name in enumerate(self.names):
            if self._kinds[name] != "datetime":
                continue
            for record in records:
                value = record[i]
                if value is None:
                    continue
                is_aware = value.tzinfo is not None
                if name not in aware:
                    aware[name], changed = is_aware, True
                elif aware[name] != is_aware:
                    kind = "aware" if aware[name] else "naive"
                    msg = (
                        f"field {name!r} holds {kind} datetimes in this store; "
                        f"store {kind} datetimes only (got {value!r})"
                    )
                    raise EntityError(msg)
        if changed:
            self._write_manifest(self._manifest)

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write(self._manifest_path, json.dumps(manifest))
        self._manifest = manifest
        stat = os.stat(self._manifest_path)
        self._manifest_stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def _append(self, entries: list[list[Any]]) -> None:
        assert self._manifest is not None
        data = "".join(json.dumps(e, default=_encode, ensure_ascii=False) + "\n" for e in entries)
        payload = data.encode()
        fd = os.open(
            os.path.join(self.directory, self._manifest["log"]),
            os.O_WRONLY | os.O_APPEND | os.O_CREAT,
            0o644,
        )
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(payload)
                while view:  # os.write may write less than asked (a full disk, a signal)
                    view = view[os.write(fd, view) :]
                if self.fsync:
                    os.fsync(fd)
            except BaseException:
                os.ftruncate(fd, start)  # a failed save leaves no partial line behind
                raise
        finally:
            os.close(fd)
        self._log_offset += len(payload)
        self._log_lines += len(entries)
        for op, value in entries:
            if op == "d":
                self._log[value] = None
            else:
                self._log[value[self._pk_index]] = tuple(value)

    def upsert(self, records: list[tuple[Any, ...]]) -> None:
        """Insert or replace ``records`` (tuples in field order)."""
        with self._locked():
            self._check_aware(records)
            self._append([["u", list(r)] for r in records])
            self._maybe_compact()

    def delete(self, keys: list[Any]) -> None:
        """Delete the records with these primary keys (missing keys are ignored)."""
        with self._locked():
            self._append([["d", k] for k in keys])
            self._maybe_compact()

    def delete_all(self) -> None:
        """Delete every record."""
        with self._locked():
            self._compact(drop_all=True)

    def _maybe_compact(self) -> None:
        assert self._manifest is not None
        base_rows = int(self._manifest["rows"])
        if self._log_lines >= max(self.compact_min, base_rows // 2):
            self._compact()

    def compact(self) -> None:
        """Merge the log into a new base segment now."""
        with self._locked():
            self._compact()

    def _compact(self, *, drop_all: bool = False) -> None:
        assert self._manifest is not None
        old = dict(self._manifest)
        generation = old["generation"] + 1
        base_name = None
        frame = None
        if not drop_all:
            frame = self._live_frame()
            base_name = f"base-{generation:06d}.{self.format}"
            frame = frame.sort(self.primary_key)
            with atomic_writer(self.directory / base_name, binary=True) as f:
                if self.format == "avro":
                    import polars as pl

                    from parquetframe._avro import write_avro

                    # polars writes one Avro block per chunk: bounded blocks keep scans bounded.
                    step = _AVRO_BATCH
                    blocks = [frame.slice(i, step) for i in range(0, len(frame), step)]
                    chunked = pl.concat(blocks, rechunk=False) if blocks else frame
                    write_avro(chunked, f, codec="deflate")
                else:
                    frame.write_parquet(f, row_group_size=8192, statistics=True)
        log_name = f"log-{generation:06d}.jsonl"
        (self.directory / log_name).touch()
        aware = {} if drop_all else old["aware"]
        new = {
            "generation": generation,
            "base": base_name,
            "log": log_name,
            "rows": 0 if frame is None else len(frame),
            "aware": aware,
        }
        self._write_manifest(new)
        keep = {_MANIFEST, ".lock", base_name, log_name}
        for name in os.listdir(self.directory):
            # The old generation, and whatever a writer killed mid-compaction left behind (an
            # unfinished ``.base-*.tmp`` or a generation it switched to but never cleaned up).
            stale = name.startswith(("base-", "log-")) or (
                name.startswith(".base-") and name.endswith(".tmp")
            )
            if stale and name not in keep:
                (self.directory / name).unlink(missing_ok=True)
        self._log, self._log_offset, self._log_lines = {}, 0, 0
        self._base = frame
        self._base_index = None

    # -- reading --------------------------------------------------------------------------
    def _schema(self) -> dict[str, Any]:
        import polars as pl

        assert self._manifest is not None
        aware = self._manifest["aware"]
        types = {
            "int": pl.Int64,
            "float": pl.Float64,
            "str": pl.String,
            "bool": pl.Boolean,
            "date": pl.Date,
            "json": pl.String,
        }
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.kind == "datetime":
                out[f.name] = pl.Datetime("us", "UTC" if aware.get(f.name) else None)
            else:
                out[f.name] = types[f.kind]
        return out

    def _records_frame(self, records: Iterable[tuple[Any, ...]]) -> pl.DataFrame:
        import polars as pl

        rows = list(records)
        columns: list[tuple[Any, ...]] = (
            list(zip(*rows, strict=True)) if rows else [() for _ in self.names]
        )
        schema = self._schema()
        data = {}
        for name, column in zip(self.names, columns, strict=True):
            values = list(column)
            if self._kinds[name] == "json":
                values = [None if v is None else json.dumps(v) for v in values]
            data[name] = pl.Series(name, values, dtype=schema[name], strict=False)
        return pl.DataFrame(data)

    def _scan_base(self) -> pl.LazyFrame:
        import polars as pl

        assert self._manifest is not None
        if not self._manifest["base"]:
            return self._records_frame([]).lazy()
        path = self.directory / self._manifest["base"]
        if self.format == "avro":
            return _scan_avro(str(path), self._schema(), self.scan_batch)
        return pl.scan_parquet(path)

    def _load_base(self) -> pl.DataFrame:
        """The whole base in memory, for ``get`` by key and for compaction."""
        if self._base is None:
            assert self._manifest is not None
            if self.format == "avro" and self._manifest["base"]:
                from parquetframe._avro import read_avro

                # polars' native reader is the fastest way to read a whole file.
                path = os.path.join(self.directory, self._manifest["base"])
                self._base = read_avro(path).cast(self._schema())  # type: ignore[arg-type]
            else:
                self._base = self._scan_base().collect()
        return self._base

    def _live_frame(self) -> pl.DataFrame:
        import polars as pl

        base = self._load_base()
        if self._log:
            base = base.filter(~pl.col(self.primary_key).is_in(list(self._log)))
        newer = self._records_frame(r for r in self._log.values() if r is not None)
        return pl.concat([base, newer], how="vertical_relaxed")

    def get(self, key: Any) -> dict[str, Any] | None:
        """The record with primary key ``key`` as a dict, or ``None``."""
        with self._locked():
            if key in self._log:
                record = self._log[key]
                return None if record is None else dict(zip(self.names, record, strict=True))
            base = self._load_base()
            if self._base_index is None:
                self._base_index = {k: i for i, k in enumerate(base[self.primary_key].to_list())}
            i = self._base_index.get(key)
            return None if i is None else self._decode_row(base.row(i, named=True))

    def _decode_row(self, row: dict[str, Any]) -> dict[str, Any]:
        for name, kind in self._kinds.items():
            if kind == "json" and row[name] is not None:
                row[name] = json.loads(row[name])
        return row

    def query(self, predicate: Any = None, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Records matching a polars ``predicate`` (all when ``None``), newest versions only.

        The predicate is pushed into the scan of the base segment; records changed since the
        last compaction come from the log.
        """
        import polars as pl

        with self._locked():
            base = self._scan_base()
            if self._log:
                base = base.filter(~pl.col(self.primary_key).is_in(list(self._log)))
            newer = self._records_frame(r for r in self._log.values() if r is not None).lazy()
            if predicate is not None:
                base, newer = base.filter(predicate), newer.filter(predicate)
            frame = pl.concat([base, newer], how="vertical_relaxed")
            if limit is not None:
                frame = frame.head(limit)
            rows = frame.collect().to_dicts()
        return [self._decode_row(r) for r in rows]

    def count(self) -> int:
        """How many live records the store holds."""
        import polars as pl

        with self._locked():
            base = self._scan_base()
            if self._log:
                base = base.filter(~pl.col(self.primary_key).is_in(list(self._log)))
            in_base = int(base.select(pl.len()).collect().item())
            return in_base + sum(1 for r in self._log.values() if r is not None)


def _scan_avro(path: str, schema: dict[str, Any], batch: int) -> pl.LazyFrame:
    """A lazy scan of an Avro base that applies projections, predicates and limits per batch."""
    import polars as pl
    from polars.io.plugins import register_io_source

    def source(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,  # noqa: ARG001 - the file's blocks set the batch size
    ) -> Iterator[pl.DataFrame]:
        import fastavro

        left = n_rows
        with open(path, "rb") as f:
            records = iter(fastavro.reader(f))
            while left is None or left > 0:
                chunk = list(itertools.islice(records, batch))
                if not chunk:
                    return
                # strict=False: fastavro gives aware datetimes in UTC for the aware columns.
                frame = pl.DataFrame(chunk, schema=schema, strict=False)
                if predicate is not None:
                    frame = frame.filter(predicate)
                if with_columns is not None:
                    frame = frame.select(with_columns)
                if left is not None:
                    frame = frame.head(left)
                    left -= len(frame)
                yield frame

    return register_io_source(source, schema=schema, explain_name="avro-base")


class _Locked:
    """Holds the thread lock and the file lock, and refreshes the store's view."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> None:
        store = self._store
        if not store._created:
            store.directory.mkdir(parents=True, exist_ok=True)
            store._created = True
        store._thread_lock.acquire()
        try:
            store._file_lock.acquire()
        except BaseException:
            store._thread_lock.release()
            raise
        try:
            store._refresh()
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            self._store._file_lock.release()
        finally:
            self._store._thread_lock.release()

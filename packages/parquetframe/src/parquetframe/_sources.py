"""Where data lives and in what format: paths, globs, directories, hive layouts, fsspec URLs.

Nothing here imports polars, pandas or dask, so resolving a source (and so choosing an
engine) stays cheap.
"""

from __future__ import annotations

import glob as globlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parquetframe.errors import FormatError

__all__ = [
    "FORMATS",
    "Filter",
    "Source",
    "detect_format",
    "resolve_source",
]

#: Formats parquetframe reads and writes, by name.
FORMATS = ("avro", "csv", "ipc", "json", "ndjson", "orc", "parquet", "tsv")

_SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".pqt": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "ndjson",
    ".ndjson": "ndjson",
    ".avro": "avro",
    ".orc": "orc",
    ".arrow": "ipc",
    ".ipc": "ipc",
    ".feather": "ipc",
}
_COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}
_GLOB_CHARS = frozenset("*?[")

#: One condition of ``filters=``: ``(column, operator, value)``; operators are ``==``, ``!=``,
#: ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``.
Filter = tuple[str, str, Any]


def detect_format(path: str, format: str | None = None) -> tuple[str, str | None]:
    """The format and the compression of ``path`` from its suffixes (``x.csv.gz`` is gzip CSV).

    Raises:
        FormatError: the suffix is unknown and no ``format`` was given.
    """
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    stem, dot, last = name.rpartition(".")
    compression = _COMPRESSIONS.get(f".{last}") if dot else None
    if compression is not None:
        name = stem
    if format is not None:
        fmt = format.lower()
        if fmt in ("jsonl", "feather", "arrow"):
            fmt = {"jsonl": "ndjson", "feather": "ipc", "arrow": "ipc"}[fmt]
        if fmt not in FORMATS:
            msg = f"unknown format {format!r}; use one of {', '.join(FORMATS)}"
            raise FormatError(msg)
        return fmt, compression
    suffix = "." + name.rpartition(".")[2] if "." in name else ""
    if suffix not in _SUFFIXES:
        known = ", ".join(sorted(_SUFFIXES))
        msg = (
            f"cannot tell the format of {path!r} from its suffix; pass format= "
            f"(one of {', '.join(FORMATS)}) or use a known suffix ({known}, "
            "optionally followed by .gz or .zst)"
        )
        raise FormatError(msg)
    return _SUFFIXES[suffix], compression


def is_url(path: str) -> bool:
    """Whether ``path`` names an fsspec URL (``s3://``, ``memory://``...) rather than a file."""
    head, sep, _ = path.partition("://")
    return bool(sep) and head.isidentifier() and len(head) > 1


@dataclass(frozen=True)
class Source:
    """A resolved data source.

    Attributes:
        path: the source as the user gave it (a file, a glob, a directory or a URL).
        format: one of :data:`FORMATS`.
        compression: ``gzip``, ``zstd``, ``bz2`` or ``None`` for text formats read whole.
        files: the data files it covers (URLs keep their protocol).
        url: whether the files live on an fsspec file system.
        hive: whether a directory uses ``key=value`` partition folders.
        directory: whether ``path`` is a directory.
    """

    path: str
    format: str
    compression: str | None
    files: tuple[str, ...]
    url: bool = False
    hive: bool = False
    directory: bool = False

    @property
    def glob(self) -> bool:
        """Whether the path is a glob pattern."""
        return any(c in self.path for c in _GLOB_CHARS)


def _data_file(name: str) -> bool:
    # Spark and Dask write _SUCCESS, _metadata and .crc files next to the data.
    return not name.startswith(("_", "."))


def _walk(directory: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if _data_file(d))
        found += [os.path.join(root, f) for f in sorted(files) if _data_file(f)]
    return found


def _url_files(path: str) -> tuple[list[str], bool]:
    import fsspec  # type: ignore[import-untyped]

    fs, inner = fsspec.core.url_to_fs(path)
    protocol = path.partition("://")[0]
    if any(c in inner for c in _GLOB_CHARS):
        names = sorted(fs.glob(inner))
        directory = False
    elif fs.isdir(inner):
        names = sorted(n for n in fs.find(inner) if _data_file(n.rsplit("/", 1)[-1]))
        directory = True
    else:
        names = [inner]
        directory = False
    return [n if "://" in n else f"{protocol}://{n.lstrip('/')}" for n in names], directory


def resolve_source(source: str | os.PathLike[str], format: str | None = None) -> Source:
    """Resolve ``source`` to its files and format.

    Raises:
        FileNotFoundError: nothing exists at ``source``.
        FormatError: the format cannot be told from the suffix.
    """
    path = os.fspath(source)
    if is_url(path) and not path.startswith("file://"):
        files, directory = _url_files(path)
        url = True
    else:
        path = path.removeprefix("file://")
        path = os.path.expanduser(path)
        url = False
        if any(c in path for c in _GLOB_CHARS):
            files = sorted(f for f in globlib.glob(path, recursive=True) if os.path.isfile(f))
            directory = False
        elif os.path.isdir(path):
            files, directory = _walk(path), True
        elif os.path.isfile(path):
            files, directory = [path], False
        else:
            files, directory = [], False
    if not files:
        msg = f"no data files at {path!r}: check the path, the glob or the directory"
        raise FileNotFoundError(msg)
    fmt, compression = detect_format(files[0], format)
    hive = directory and any(
        "=" in part for f in files[:1] for part in Path(f[len(path) :]).parts[:-1]
    )
    return Source(
        path=path,
        format=fmt,
        compression=compression,
        files=tuple(files),
        url=url,
        hive=hive,
        directory=directory,
    )


def check_filters(filters: Sequence[Any] | None) -> list[Filter]:
    """Validate ``filters=``.

    Raises:
        FormatError: a condition is not a ``(column, operator, value)`` tuple with a known
            operator.
    """
    out: list[Filter] = []
    for item in filters or ():
        if not (isinstance(item, tuple | list) and len(item) == 3 and isinstance(item[0], str)):
            msg = f"each filter must be a (column, operator, value) tuple, got {item!r}"
            raise FormatError(msg)
        column, op, value = item
        op = "==" if op == "=" else str(op).lower()
        if op not in ("==", "!=", "<", "<=", ">", ">=", "in", "not in"):
            msg = f"unknown filter operator {item[1]!r}; use ==, !=, <, <=, >, >=, in, not in"
            raise FormatError(msg)
        if op in ("in", "not in"):
            value = list(value)
        out.append((column, op, value))
    return out

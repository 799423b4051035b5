"""A bounded in-memory cache of bar frames, stored as Arrow IPC streams compressed with lz4.

Keys are absolute windows (contract, unit, start, end, ...): a request relative to "now" is
resolved to its absolute window before the lookup, so it can never be answered with the bars
of an older "now" (project-x-py's cache could, for five minutes). Only closed windows are
stored (see :func:`projectx.Bars.get`). Entries expire after ``ttl`` seconds; the least
recently used go first when the compressed bytes would pass ``max_bytes``.

By hand because the pieces are small and the policy is specific: cachetools has no byte-bounded
TTL cache with statistics, and the compression is pyarrow's.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corekit.clock import Clock, system_clock
from corekit.errors import ConfigurationError

if TYPE_CHECKING:
    from polars import DataFrame

__all__ = ["BarCache", "CacheKey", "CacheStats"]

CacheKey = tuple[str, int, int, str, str, bool, bool]
"""``(contract_id, unit, unit_number, start_iso, end_iso, include_partial, live)``."""


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of a :class:`BarCache`.

    Attributes:
        hits: lookups answered from the cache.
        misses: lookups that were not.
        entries: frames held now.
        bytes: compressed bytes held now.
        evictions: frames dropped to stay within ``max_bytes``.
    """

    hits: int
    misses: int
    entries: int
    bytes: int
    evictions: int

    @property
    def hit_ratio(self) -> float:
        """``hits / (hits + misses)``, ``0.0`` before any lookup."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class BarCache:
    """Bar frames as lz4-compressed Arrow IPC, bounded in bytes, with a TTL and statistics.

    Share one cache between clients by passing it to each :class:`projectx.ProjectX`.

    Args:
        max_bytes: most compressed bytes held (default 256 MiB).
        ttl: seconds an entry is served after it was stored.
        clock: time source of the TTL.

    Raises:
        ConfigurationError: ``max_bytes`` or ``ttl`` is not positive.
    """

    def __init__(
        self,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        ttl: float = 3600.0,
        clock: Clock = system_clock,
    ) -> None:
        size: object = max_bytes
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            msg = f"max_bytes must be a positive number of bytes, got {max_bytes!r}"
            raise ConfigurationError(msg)
        if not ttl > 0:
            msg = f"ttl must be a positive number of seconds, got {ttl!r}"
            raise ConfigurationError(msg)
        self.max_bytes = max_bytes
        self.ttl = float(ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[CacheKey, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    def get(self, key: CacheKey) -> DataFrame | None:
        """Return the frame stored under ``key``, or ``None`` (counted as a miss)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] <= self._clock.monotonic():
                self._drop(key)
                entry = None
            if entry is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            blob = entry[1]
        return _decode(blob)

    def put(self, key: CacheKey, frame: DataFrame) -> None:
        """Store ``frame`` under ``key``; a frame larger than ``max_bytes`` is not stored."""
        blob = _encode(frame)
        with self._lock:
            if key in self._entries:
                self._drop(key)
            if len(blob) > self.max_bytes:
                return
            while self._bytes + len(blob) > self.max_bytes:
                oldest = next(iter(self._entries))
                self._drop(oldest)
                self._evictions += 1
            self._entries[key] = (self._clock.monotonic() + self.ttl, blob)
            self._bytes += len(blob)

    def clear(self) -> None:
        """Drop every entry (the counters stay)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> CacheStats:
        """Return the counters."""
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                entries=len(self._entries),
                bytes=self._bytes,
                evictions=self._evictions,
            )

    def _drop(self, key: CacheKey) -> None:
        _, blob = self._entries.pop(key)
        self._bytes -= len(blob)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        s = self.stats()
        return f"BarCache(entries={s.entries}, bytes={s.bytes}, max_bytes={self.max_bytes})"


def _encode(frame: DataFrame) -> bytes:
    import pyarrow as pa  # type: ignore[import-untyped]

    table = frame.to_arrow()
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _decode(blob: bytes) -> DataFrame:
    import polars as pl
    import pyarrow as pa

    table = pa.ipc.open_stream(pa.py_buffer(blob)).read_all()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame

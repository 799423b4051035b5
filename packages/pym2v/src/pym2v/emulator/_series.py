"""The time-series generator: bucket labels, bucket means and the JSON of one series.

The raw signal of a series is a deterministic sum of two sines sampled every
``sample_interval_s`` seconds (sample ``k`` at ``k * sample_interval_s`` since the epoch). A
bucket's value is the exact mean of the samples inside it, computed in closed form (the sum of
``sin(w*k + phase)`` over consecutive ``k`` is a ratio of sines), so a bucket of any width costs
the same and the means of hourly buckets are the means of their minute buckets.

The work is vectorised with polars and the JSON of each series is cached per
(machine, series, window, interval, modes), so a long fetch repeated by a benchmark measures the
client, not the emulator.
"""

from __future__ import annotations

__all__ = ["SeriesCache", "SeriesSpec", "count_labels", "render_series"]

import collections
import math
import threading
from dataclasses import dataclass

import orjson
import polars as pl

from pym2v.emulator._settings import DataModes

DAY_MS = 86_400_000
_GOLDEN = 0.6180339887498949
_PERIOD_1_S = 86_400 * 1.0137  # about a day, never a whole multiple of a sample interval
_PERIOD_2_S = 5_400 * math.sqrt(2)  # irrational: sin(w/2) never vanishes
_MAX_ENTRIES = 65_536


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """What identifies the data of one series in one window."""

    machine_uuid: str
    machine_name: str
    item_uuid: str
    name: str
    key: int
    last_measurement: bool
    start: int
    end: int
    interval_ms: int
    sample_ms: int
    modes: DataModes


def _window(start: int, end: int, interval_ms: int) -> tuple[int, int, int | None]:
    """First and last multiple index in (start, end], and the partial end label (if any)."""
    end_s = end - end % 1000  # the last partial bucket is labelled with the end in whole seconds
    first = start // interval_ms + 1
    last = end_s // interval_ms
    partial = end_s if end_s % interval_ms and end_s > start else None
    return first, last, partial


def count_labels(start: int, end: int, interval_ms: int) -> int:
    """How many bucket labels a window has (before empty buckets are left out)."""
    first, last, partial = _window(start, end, interval_ms)
    return max(0, last - first + 1) + (partial is not None)


def _frame(spec: SeriesSpec) -> pl.DataFrame:
    """``timestamp`` (bucket end, ms) and ``value`` (bucket mean) of the non-empty buckets."""
    first, last, partial = _window(spec.start, spec.end, spec.interval_ms)
    labels = pl.int_range(first, max(first, last + 1), dtype=pl.Int64, eager=True)
    labels = labels * spec.interval_ms
    if partial is not None:
        labels = labels.append(pl.Series([partial], dtype=pl.Int64))
    step = spec.sample_ms
    sample_s = step / 1000
    ts = pl.col("timestamp")
    lo = pl.max_horizontal(((ts - 1) // spec.interval_ms) * spec.interval_ms, pl.lit(spec.start))
    frame = (
        pl.DataFrame({"timestamp": labels})
        .with_columns(k0=lo // step + 1, k1=ts // step)
        .with_columns(n=pl.col("k1") - pl.col("k0") + 1)
        .filter(pl.col("n") > 0)
    )
    key = spec.key
    base = 20.0 + 10.0 * (key % 9)
    terms = []
    for period, amplitude, salt in ((_PERIOD_1_S, 5.0 + key % 4, 1), (_PERIOD_2_S, 1.5, 2)):
        w = 2 * math.pi * sample_s / period
        phase = ((key * salt * _GOLDEN) % 1.0) * 2 * math.pi
        n = pl.col("n").cast(pl.Float64)
        mid = (pl.col("k0") + pl.col("k1")).cast(pl.Float64) * (w / 2)
        # sum_{k=k0}^{k1} sin(w k + phase) = sin(n w / 2) / sin(w / 2) * sin(phase + w (k0+k1)/2)
        terms.append(amplitude * (n * (w / 2)).sin() / (n * math.sin(w / 2)) * (mid + phase).sin())
    frame = frame.select("timestamp", value=pl.lit(base) + terms[0] + terms[1])
    return _apply_modes(frame, spec)


def _apply_modes(frame: pl.DataFrame, spec: SeriesSpec) -> pl.DataFrame:
    modes = spec.modes
    day = (pl.col("timestamp") - 1) // DAY_MS
    if modes.sparse:
        # A multiplicative hash of the bucket number, salted per series, kept within Int64.
        bucket = pl.col("timestamp") // spec.interval_ms % 2**31
        mixed = (bucket * 2_654_435_761 + spec.key * 40_503) % 2**32 // 8192
        frame = frame.filter(mixed % 3 != 0)
    if modes.missing_series and spec.last_measurement:
        frame = frame.filter(day % 2 == 0)
    if modes.integer_values:
        frame = frame.with_columns(whole=day % 2 == 0)
    return frame


def render_series(spec: SeriesSpec) -> tuple[bytes, float, float] | None:
    """The JSON of one ``results`` element with its min and max, or ``None`` without data."""
    frame = _frame(spec)
    if frame.height == 0:
        return None
    if "whole" in frame.columns:
        stamps = frame["timestamp"].to_list()
        values = frame["value"].to_list()
        wholes = frame["whole"].to_list()
        numbers = [round(v) if w else v for v, w in zip(values, wholes, strict=True)]
        points = orjson.dumps(
            [{"timestamp": t, "value": v} for t, v in zip(stamps, numbers, strict=True)]
        )
        low, high = min(numbers), max(numbers)
    else:
        points = frame.write_json().encode()
        low, high = frame["value"].min(), frame["value"].max()
    head = orjson.dumps(
        {
            "dataDefinitionKeyItemUuid": spec.item_uuid,
            "dataDefinitionKeyItemName": spec.name,
            "machineUuid": spec.machine_uuid,
            "machineName": spec.machine_name,
            "min": low,
            "max": high,
        }
    )
    return head[:-1] + b',"values":' + points + b"}", float(low), float(high)


class SeriesCache:
    """A thread-safe LRU of rendered series, bounded by total bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: collections.OrderedDict[SeriesSpec, tuple[bytes, float, float] | None] = (
            collections.OrderedDict()
        )
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, spec: SeriesSpec) -> tuple[bytes, float, float] | None:
        """The rendered series, from the cache or freshly generated."""
        with self._lock:
            if spec in self._items:
                self.hits += 1
                self._items.move_to_end(spec)
                return self._items[spec]
            self.misses += 1
        rendered = render_series(spec)
        size = len(rendered[0]) if rendered else 0
        if size > self.max_bytes:
            return rendered
        with self._lock:
            if spec not in self._items:
                self._items[spec] = rendered
                self._bytes += size
            while self._bytes > self.max_bytes or len(self._items) > _MAX_ENTRIES:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped[0]) if dropped else 0
        return rendered

    def clear(self) -> None:
        """Drop every cached series."""
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = 0
            self.misses = 0

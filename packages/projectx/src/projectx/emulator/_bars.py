"""Deterministic OHLCV bars for any contract, unit and window.

Prices follow a smooth path (weekly, daily and hourly waves around the contract's base price,
plus a little hashed noise), so a bar depends only on the contract, the seed and its own
start time: every window and every page of the same history agrees, and the open of a bar is
the close of the one before it. Bars start on multiples of their length from the Unix epoch
(weeks on Mondays, months on the 1st, all UTC); there are none on Saturdays and Sundays (UTC)
for units up to a day, the emulator's simplified trading calendar.
"""

from __future__ import annotations

__all__ = ["UNIT_SECONDS", "BarPath", "month_start"]

import datetime as dt
import functools
import math
import zlib
from collections.abc import Iterator
from typing import Any

import orjson

# AggregateBarUnit -> seconds; weeks (5) and months (6) are handled apart.
UNIT_SECONDS = {1: 1, 2: 60, 3: 3_600, 4: 86_400, 5: 604_800}
_DAY = 86_400
_MONDAY = 4 * _DAY  # 1970-01-05, the first Monday after the epoch
_MASK = (1 << 64) - 1
_EPOCH = dt.date(1970, 1, 1)
_TAU = 2 * math.pi
_MAX_ENCODED = 500_000
"""Most encoded bars kept per series (about a year of minute bars, under 100 MB)."""


def _mix(x: int) -> int:
    """splitmix64: a fast, well-spread integer hash (determinism, not cryptography)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def month_start(index: int) -> float:
    """Epoch seconds of the first day of month ``index`` (months since January 1970)."""
    year, month = divmod(index, 12)
    return dt.datetime(1970 + year, month + 1, 1, tzinfo=dt.UTC).timestamp()


@functools.lru_cache(maxsize=1_024)
def _day(day: int) -> str:
    return (_EPOCH + dt.timedelta(days=day)).isoformat()


def _iso(t: float) -> str:
    """A bar start (whole seconds) as ``2026-11-17T23:00:00+00:00``, without datetime objects."""
    day, second = divmod(int(t), _DAY)
    hour, second = divmod(second, 3_600)
    minute, second = divmod(second, 60)
    return f"{_day(day)}T{hour:02d}:{minute:02d}:{second:02d}+00:00"


def _weekend(start: float) -> bool:
    return (int(start // _DAY) + 3) % 7 >= 5


class BarPath:
    """The price path and bars of one contract."""

    def __init__(self, contract_id: str, base: float, tick: float, seed: int) -> None:
        self.base = base
        self.tick = tick
        self._digits = max(0, -math.floor(math.log10(tick))) + 2
        self._key = _mix(zlib.crc32(contract_id.encode()) ^ (seed & _MASK))
        phases = [(_mix(self._key + i) % 10_000) / 10_000 * _TAU for i in range(3)]
        self._phases = phases
        self._encoded: dict[tuple[int, int], dict[float, orjson.Fragment]] = {}

    def _hash(self, t: float, salt: int) -> int:
        return _mix(self._key ^ ((int(t) * 4 + salt) & _MASK))

    def raw(self, t: float) -> float:
        """The unrounded price at epoch second ``t``."""
        p0, p1, p2 = self._phases
        wave = (
            0.02 * math.sin(_TAU * t / 604_800 + p0)
            + 0.006 * math.sin(_TAU * t / 86_400 + p1)
            + 0.0015 * math.sin(_TAU * t / 3_600 + p2)
        )
        return self.base * (1 + wave)

    def round(self, price: float) -> float:
        """``price`` on the tick grid (and free of float noise such as ``...0000001``)."""
        return round(round(price / self.tick) * self.tick, self._digits)

    def price(self, t: float) -> float:
        """The price at epoch second ``t``, on the tick grid."""
        return self.round(self.raw(t))

    def bar(self, start: float, end: float) -> dict[str, Any]:
        """One bar over ``[start, end)`` as the Gateway sends it (``t o h l c v``)."""
        o = self.raw(start)
        c = self.raw(end)
        length = max(end - start, 1.0)
        swing = self.base * 0.0004 * math.sqrt(length / 60) / 1_024
        h = self._hash(start, 1)  # one hash gives both wicks and the volume
        return {
            "t": _iso(start),
            "o": self.round(o),
            "h": self.round(max(o, c) + (h & 0x3FF) * swing),
            "l": self.round(min(o, c) - ((h >> 10) & 0x3FF) * swing),
            "c": self.round(c),
            "v": 1 + (h >> 20) % int(20 + 40 * math.sqrt(length)),
        }

    def bars(
        self,
        unit: int,
        number: int,
        *,
        start: float,
        end: float,
        now: float,
        limit: int,
        partial: bool,
    ) -> list[orjson.Fragment]:
        """Bars starting in ``[start, end)``, newest first, at most ``limit`` of them, as JSON.

        A bar still running at ``now`` (the partial bar) is included only with ``partial``;
        bars starting after ``now`` never are. A closed bar never changes, so its JSON is kept
        and later windows (and pages) over the same history are served without recomputing it.
        """
        series = self._encoded.setdefault((unit, number), {})
        if len(series) > _MAX_ENCODED:
            series.clear()  # a bound on memory; the bars are recomputed on demand
        out: list[orjson.Fragment] = []
        for bar_start, bar_end in self._starts(unit, number, min(end, now + 1e-9)):
            if bar_start < start or len(out) >= limit:
                break
            if bar_end > now:
                if partial:
                    out.append(orjson.Fragment(orjson.dumps(self.bar(bar_start, now))))
                continue
            encoded = series.get(bar_start)
            if encoded is None:
                encoded = orjson.Fragment(orjson.dumps(self.bar(bar_start, bar_end)))
                series[bar_start] = encoded
            out.append(encoded)
        return out

    def _starts(self, unit: int, number: int, before: float) -> Iterator[tuple[float, float]]:
        """Bar ``(start, end)`` pairs with ``start < before``, newest first."""
        if unit == 6:
            first = dt.datetime.fromtimestamp(before, dt.UTC)
            index = ((first.year - 1970) * 12 + first.month - 1) // number * number
            while True:
                bar_start = month_start(index)
                if bar_start < before:
                    yield bar_start, month_start(index + number)
                index -= number
        length = UNIT_SECONDS[unit] * number
        origin = _MONDAY if unit == 5 else 0
        bar_start = math.floor((before - origin) / length) * length + origin
        if bar_start >= before:
            bar_start -= length
        skip = unit <= 4
        while True:
            if skip and _weekend(bar_start):
                day = int(bar_start // _DAY)
                saturday = (day - ((day + 3) % 7 - 5)) * _DAY
                bar_start = math.floor((saturday - 1) / length) * length
                continue
            yield bar_start, bar_start + length
            bar_start -= length

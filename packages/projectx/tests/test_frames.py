import datetime as dt

import orjson
import polars as pl
import pytest

from corekit.errors import ConfigurationError
from corekit.testing import FakeClock
from projectx import BAR_SCHEMA, BarCache, ContractNotFoundError
from projectx._bars import bars_frame, decode_page
from projectx._cache import CacheKey


def wire_bars(n: int, *, ints: bool = False) -> list[dict[str, object]]:
    start = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)
    bars = []
    for i in range(n):
        price: object = 100 + i if ints else 100.25 + i
        bars.append(
            {
                "t": (start + dt.timedelta(minutes=i)).isoformat(),
                "o": price,
                "h": price,
                "l": price,
                "c": price,
                "v": 10 + i,
            }
        )
    return list(reversed(bars))  # the Gateway sends newest first


def test_frames_have_a_fixed_schema_oldest_first_whatever_the_numbers_look_like() -> None:
    for ints in (False, True):
        frame = bars_frame(wire_bars(5, ints=ints))
        assert frame.schema == pl.Schema(BAR_SCHEMA)
        assert frame["timestamp"].is_sorted()
        assert frame["volume"].to_list() == [10, 11, 12, 13, 14]
    assert bars_frame([]).schema == pl.Schema(BAR_SCHEMA)


def test_other_iso_spellings_of_bar_times_are_read_as_the_same_instants() -> None:
    bars = [
        {"t": "2026-03-02T14:01:00.500Z", "o": 1, "h": 1, "l": 1, "c": 1, "v": 2.0},
        {"t": "2026-03-02T15:00:00+01:00", "o": 1, "h": 1, "l": 1, "c": 1, "v": 3},
    ]
    frame = bars_frame(bars)
    assert frame.schema == pl.Schema(BAR_SCHEMA)
    assert frame["timestamp"].to_list() == [
        dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 2, 14, 1, 0, 500_000, tzinfo=dt.UTC),
    ]
    assert frame["volume"].to_list() == [3, 2]


def answer(bars: object, **envelope: object) -> bytes:
    return orjson.dumps({"bars": bars, "success": True, "errorCode": 0, **envelope})


def test_answers_decode_to_the_same_frame_whichever_way_they_are_read() -> None:
    bars = wire_bars(50)
    expected = bars_frame(bars)
    fast = decode_page(answer(bars))  # cut out and read by polars
    spaced = decode_page(orjson.dumps({"success": True, "bars": bars}, option=orjson.OPT_INDENT_2))
    odd = [{**bar, "v": float(bar["v"])} for bar in bars]  # polars refuses 3.0 as Int64
    for frame in (fast, spaced, decode_page(answer(odd))):
        assert frame is not None
        assert bars_frame([]).schema == frame.schema
        assert frame.sort("timestamp").equals(expected)
    assert decode_page(answer([])) is None
    assert decode_page(orjson.dumps({"success": True, "bars": None})) is None


def test_a_refused_bars_request_raises_whichever_way_it_is_read() -> None:
    for bars in ([], None, wire_bars(2)):
        content = answer(bars, success=False, errorCode=1, errorMessage="no such contract")
        with pytest.raises(ContractNotFoundError, match="no such contract"):
            decode_page(content)


def test_duplicate_bars_from_overlapping_pages_are_kept_once() -> None:
    bars = wire_bars(3)
    assert bars_frame(bars + bars[:1]).height == 3


def test_frames_in_another_zone_keep_the_instants() -> None:
    frame = bars_frame(wire_bars(2), tz="America/Chicago")
    assert frame.schema["timestamp"] == pl.Datetime("us", "America/Chicago")
    assert frame["timestamp"][0] == dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)


def key(n: int) -> CacheKey:
    return ("CON.F.US.MNQ.H26", 2, 1, f"2026-01-0{n}", "2026-01-09", False, False)


def test_cache_round_trips_a_frame_and_counts_hits_and_misses() -> None:
    cache = BarCache(clock=FakeClock())
    frame = bars_frame(wire_bars(1000))
    assert cache.get(key(1)) is None
    cache.put(key(1), frame)
    again = cache.get(key(1))
    assert again is not None
    assert again.equals(frame)
    assert again.schema == frame.schema
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 1)
    assert stats.hit_ratio == 0.5
    # lz4 keeps a minute series well below its raw size.
    assert 0 < stats.bytes < frame.estimated_size()
    assert len(cache) == 1
    assert "entries=1" in repr(cache)
    cache.clear()
    assert cache.stats().bytes == 0
    assert cache.get(key(1)) is None
    assert BarCache().stats().hit_ratio == 0.0


def test_cache_entries_expire_after_the_ttl() -> None:
    clock = FakeClock()
    cache = BarCache(ttl=60, clock=clock)
    cache.put(key(1), bars_frame(wire_bars(10)))
    clock.advance(59)
    assert cache.get(key(1)) is not None
    clock.advance(1)
    assert cache.get(key(1)) is None
    assert cache.stats().entries == 0


def test_cache_stays_within_its_byte_bound_dropping_the_least_recently_used() -> None:
    frame = bars_frame(wire_bars(500))
    probe = BarCache()
    probe.put(key(9), frame)
    size = probe.stats().bytes
    cache = BarCache(max_bytes=size * 2 + size // 2, clock=FakeClock())
    cache.put(key(1), frame)
    cache.put(key(2), frame)
    assert cache.get(key(1)) is not None  # 1 is now the most recently used
    cache.put(key(3), frame)
    assert cache.get(key(2)) is None
    assert cache.get(key(1)) is not None
    stats = cache.stats()
    assert stats.evictions == 1
    assert stats.bytes <= cache.max_bytes
    cache.put(key(3), frame)  # replacing keeps the byte count right
    assert cache.stats().bytes == 2 * size
    tiny = BarCache(max_bytes=10)
    tiny.put(key(1), frame)  # larger than the whole cache: not stored
    assert len(tiny) == 0


@pytest.mark.parametrize(("max_bytes", "ttl"), [(0, 1.0), (True, 1.0), (10, 0.0)])
def test_cache_refuses_impossible_bounds(max_bytes: int, ttl: float) -> None:
    with pytest.raises(ConfigurationError):
        BarCache(max_bytes=max_bytes, ttl=ttl)

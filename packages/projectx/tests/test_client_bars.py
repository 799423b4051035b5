"""Bars as frames, paging past the 20,000-bar cap, the cache, and the two rate budgets."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import polars as pl
import pytest

from corekit.ratelimit import Rate, RateLimiter
from corekit.testing import FakeClock
from projectx import BAR_SCHEMA, BarCache, BarUnit, ProjectX, ProjectXError

if TYPE_CHECKING:
    from conftest import Gateway

pytestmark = pytest.mark.anyio

BARS = "/api/History/retrieveBars"


async def front(px: ProjectX) -> str:
    return (await px.contracts.front_month("MNQ")).id


def utc_now(clock: FakeClock) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.time(), dt.UTC)


async def test_a_window_past_the_cap_is_paged_and_joined_oldest_first(
    gateway: Gateway, clock: FakeClock
) -> None:
    end = utc_now(clock).replace(second=0, microsecond=0) - dt.timedelta(hours=1)
    start = end - dt.timedelta(days=30)
    async with gateway.client() as px:
        contract = await front(px)
        frame = await px.bars.get(contract, start, end)
        pages = gateway.count(BARS)
        middle = start + (end - start) / 2
        first = await px.bars.get(contract, start, middle)
        second = await px.bars.get(contract, middle, end)
    assert frame.height > 20_000
    assert pages >= 2
    assert frame.schema == pl.Schema(BAR_SCHEMA)
    assert frame["timestamp"].is_sorted()
    assert frame["timestamp"].n_unique() == frame.height
    joined = pl.concat([first, second]).unique("timestamp").sort("timestamp")
    assert frame.equals(joined)
    assert frame["timestamp"].min() >= start  # type: ignore[operator]
    assert frame["timestamp"].max() <= end  # type: ignore[operator]


async def test_units_zones_and_partial_bars_reach_the_gateway(
    gateway: Gateway, clock: FakeClock
) -> None:
    async with gateway.client(timezone="America/Chicago") as px:
        contract = await front(px)
        hours = await px.bars.get(
            contract,
            lookback=dt.timedelta(days=2),
            unit=BarUnit.HOUR,
            unit_number=4,
            include_partial=True,
        )
        assert hours.schema["timestamp"] == pl.Datetime("us", "America/Chicago")
        naive = await px.bars.get(contract, dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2))
        assert naive.schema["timestamp"] == pl.Datetime("us", "America/Chicago")
        utc = await px.bars.get(contract, lookback=dt.timedelta(hours=1), tz="UTC")
        assert utc.schema["timestamp"] == pl.Datetime("us", "UTC")
        with pytest.raises(ProjectXError, match="lookback"):
            await px.bars.get(contract)
        with pytest.raises(ProjectXError, match="after end"):
            await px.bars.get(contract, utc_now(clock), utc_now(clock) - dt.timedelta(days=1))
    body = gateway.emulator.calls("POST", BARS)[0].json()
    assert (body["unit"], body["unitNumber"], body["includePartialBar"]) == (3, 4, True)
    assert body["limit"] == 20_000
    assert body["contractId"] == contract
    naive_body = gateway.emulator.calls("POST", BARS)[1].json()
    assert naive_body["startTime"] == "2020-01-01T06:00:00Z"  # Chicago midnight in UTC


async def test_closed_windows_are_served_from_the_cache_relative_ones_never(
    gateway: Gateway, clock: FakeClock
) -> None:
    cache = BarCache(clock=clock)
    end = utc_now(clock) - dt.timedelta(hours=2)
    async with gateway.client(bar_cache=cache) as px:
        assert px.bars.cache is cache
        contract = await front(px)
        first = await px.bars.get(contract, end - dt.timedelta(days=1), end)
        again = await px.bars.get(contract, end - dt.timedelta(days=1), end)
        chicago = await px.bars.get(contract, end - dt.timedelta(days=1), end, tz="Asia/Tokyo")
        assert again.equals(first)
        assert chicago.schema["timestamp"] == pl.Datetime("us", "Asia/Tokyo")
        assert gateway.count(BARS) == 1
        # "The last hour" moves with the clock: never answered with an older hour.
        await px.bars.get(contract, lookback=dt.timedelta(hours=1))
        clock.advance(120)
        await px.bars.get(contract, lookback=dt.timedelta(hours=1))
        assert gateway.count(BARS) == 3
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (2, 1, 1)


class CountingLimiter(RateLimiter):
    """The Gateway's two budgets, counting the grants it gave."""

    granted = 0

    async def aacquire(self, bucket: str = "default", **options: Any) -> None:
        await super().aacquire(bucket, **options)
        self.granted += 1


class SettlingClock(FakeClock):
    """A fake clock that moves only once every granted request has reached the emulator.

    The Gateway counts requests when they arrive; the client can only time their departure.
    Fake time that jumps while requests are still in flight would stamp them late, so a
    waiter's sleep first lets the in-flight requests land (real time, but only milliseconds).
    """

    def __init__(self, settled: Callable[[], bool]) -> None:
        super().__init__(epoch=time.time())
        self.settled = settled

    async def asleep(self, seconds: float) -> None:
        # The server logs requests in its own thread: there is no event here to wait on.
        while not self.settled():  # noqa: ASYNC110
            await anyio.sleep(0.001)
        await super().asleep(seconds)


async def test_500_concurrent_calls_never_exceed_either_budget(
    start_gateway: Callable[..., Gateway],
) -> None:
    limiter: CountingLimiter | None = None
    gw: Gateway | None = None

    def settled() -> bool:
        return gw is None or limiter is None or len(gw.emulator.requests) >= limiter.granted

    clock = SettlingClock(settled)
    gw = start_gateway(shared_clock=clock)  # the Gateway's own budgets: 200/60 s, 50/30 s
    settings = gw.settings()
    limiter = CountingLimiter(
        {
            "bars": Rate(settings.bars_limit, settings.bars_period),
            "default": Rate(settings.requests_limit, settings.requests_period),
        },
        clock=clock,
    )
    end = utc_now(clock) - dt.timedelta(hours=1)
    async with ProjectX(settings, clock=clock, rate_limiter=limiter) as px:
        contract = await front(px)

        async def bars() -> None:
            await px.bars.get(contract, end - dt.timedelta(minutes=5), end)

        async with anyio.create_task_group() as tasks:
            for i in range(500):
                tasks.start_soon(bars if i % 5 == 0 else px.orders.open)
    log = gw.emulator.requests
    assert [r.status for r in log if r.status != 200] == []
    assert len(log) >= 500
    for is_bars, limit, period in ((True, 50, 30.0), (False, 200, 60.0)):
        starts = sorted(r.started for r in log if (r.path.lower() == BARS.lower()) == is_bars)
        busiest = max(sum(1 for t in starts[i:] if t < s + period) for i, s in enumerate(starts))
        assert busiest <= limit
    # The budgets were used, not just respected: the last calls waited for a new window.
    assert clock.monotonic() >= 120


async def test_a_long_window_is_fetched_as_chunks_below_the_cap(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    import projectx._bars

    # A smaller cap shows the chunking on a small window: 300 one-minute slots per request.
    monkeypatch.setattr(projectx._bars, "MAX_BARS_PER_REQUEST", 300)
    end = dt.datetime(2026, 11, 18, 14, 0, tzinfo=dt.UTC)  # a Wednesday: no weekend gap
    start = end - dt.timedelta(minutes=299 * 4)
    async with gateway.client() as px:
        contract = await front(px)
        frame = await px.bars.get(contract, start, end)
    bodies = [r.json() for r in gateway.emulator.calls("POST", BARS)]
    assert len(bodies) == 4
    assert all(b["limit"] == 300 for b in bodies)
    spans = [
        dt.datetime.fromisoformat(b["endTime"]) - dt.datetime.fromisoformat(b["startTime"])
        for b in sorted(bodies, key=lambda b: str(b["startTime"]))
    ]
    minutes = dt.timedelta(minutes=299)
    assert spans == [minutes, minutes, minutes, minutes + dt.timedelta(microseconds=1)]
    # Chunks meet end to start and the last one reaches just past ``end``: the emulator serves
    # [startTime, endTime), yet every minute of [start, end] comes once, none missing at the
    # seams nor at the end.
    assert frame.height == 4 * 299 + 1
    assert (frame["timestamp"].min(), frame["timestamp"].max()) == (start, end)
    assert frame["timestamp"].diff().drop_nulls().unique().to_list() == [dt.timedelta(minutes=1)]

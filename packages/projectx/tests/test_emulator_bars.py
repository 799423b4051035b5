"""History/retrieveBars: validation, order, windows, paging consistency, partial bars, calendar."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from corekit.testing import FakeClock, serve
from projectx.emulator import EmulatorSettings, create_app

EPOCH = 1_795_000_000.0  # 2026-11-18T11:06:40Z, a Wednesday
MNQ = "CON.F.US.MNQ.Z26"


class Bars:
    def __init__(self, http: httpx2.Client) -> None:
        self.http = http
        token = http.post(
            "/Auth/loginKey", json={"userName": "emulator", "apiKey": "emulator-api-key"}
        ).json()["token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "contractId": MNQ,
            "live": False,
            "startTime": "2026-11-16T00:00:00Z",
            "endTime": "2026-11-18T00:00:00Z",
            "unit": 3,
            "unitNumber": 1,
            "limit": 20_000,
            "includePartialBar": False,
        } | overrides
        response = self.http.post("/History/retrieveBars", json=body, headers=self.headers)
        assert response.status_code == 200
        data: dict[str, Any] = response.json()
        return data

    def bars(self, **overrides: Any) -> list[dict[str, Any]]:
        data = self.call(**overrides)
        assert data["success"] is True, data
        bars: list[dict[str, Any]] = data["bars"]
        return bars


@pytest.fixture(scope="module")
def api() -> Iterator[Bars]:
    emulator = create_app(EmulatorSettings(rate_limits=False), clock=FakeClock(epoch=EPOCH))
    with serve(emulator) as server, httpx2.Client(base_url=f"{server.url}/api") as http:
        yield Bars(http)


def starts(bars: list[dict[str, Any]]) -> list[dt.datetime]:
    return [dt.datetime.fromisoformat(b["t"]) for b in bars]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"contractId": "CON.F.US.NOPE.Z26"}, 1),
        ({"unit": 0}, 2),
        ({"unit": 7}, 2),
        ({"unitNumber": 0}, 3),
        ({"limit": 0}, 4),
    ],
)
def test_invalid_requests_get_the_bars_error_codes(
    api: Bars, overrides: dict[str, Any], code: int
) -> None:
    data = api.call(**overrides)
    assert (data["success"], data["errorCode"], data["bars"]) == (False, code, None)
    assert data["errorMessage"]


def test_hour_bars_are_newest_first_in_the_half_open_window(api: Bars) -> None:
    bars = api.bars()
    times = starts(bars)
    assert len(bars) == 48
    assert times[0] == dt.datetime(2026, 11, 17, 23, tzinfo=dt.UTC)
    assert times[-1] == dt.datetime(2026, 11, 16, 0, tzinfo=dt.UTC)
    assert times == sorted(times, reverse=True)
    assert bars[0]["t"] == "2026-11-17T23:00:00+00:00"
    for bar in bars:
        assert bar["l"] <= min(bar["o"], bar["c"]) <= max(bar["o"], bar["c"]) <= bar["h"]
        assert isinstance(bar["v"], int)
        assert bar["v"] >= 1
        assert isinstance(bar["o"], float)
        assert (bar["o"] / 0.25).is_integer()


def test_each_bar_opens_where_the_one_before_closed(api: Bars) -> None:
    bars = api.bars(
        unit=2, unitNumber=5, startTime="2026-11-17T10:00:00Z", endTime="2026-11-17T12:00:00Z"
    )
    oldest_first = bars[::-1]
    assert all(a["c"] == b["o"] for a, b in itertools.pairwise(oldest_first))


def test_limit_keeps_the_newest_bars_and_pages_agree(api: Bars) -> None:
    window = {
        "unit": 2,
        "unitNumber": 1,
        "startTime": "2026-11-17T00:00:00Z",
        "endTime": "2026-11-17T10:00:00Z",
    }
    whole = api.bars(**window)
    assert len(whole) == 600
    newest = api.bars(**window, limit=250)
    assert newest == whole[:250]
    older = api.bars(**window | {"endTime": newest[-1]["t"]}, limit=350)
    assert newest + older == whole


def test_limits_above_the_cap_are_capped() -> None:
    settings = EmulatorSettings(rate_limits=False, max_bars=100)
    emulator = create_app(settings, clock=FakeClock(epoch=EPOCH))
    with serve(emulator) as server, httpx2.Client(base_url=f"{server.url}/api") as http:
        bars = Bars(http).bars(unit=1, limit=5_000)
    assert len(bars) == 100


def test_twenty_thousand_second_bars_in_one_answer(api: Bars) -> None:
    bars = api.bars(unit=1, startTime="2026-11-10T00:00:00Z", endTime="2026-11-18T00:00:00Z")
    assert len(bars) == 20_000
    assert bars[0]["t"] == "2026-11-17T23:59:59+00:00"


def test_no_bars_start_on_weekends(api: Bars) -> None:
    bars = api.bars(unit=3, startTime="2026-11-13T00:00:00Z", endTime="2026-11-17T00:00:00Z")
    days = {t.date() for t in starts(bars)}
    assert days == {dt.date(2026, 11, 13), dt.date(2026, 11, 16)}
    daily = api.bars(unit=4, startTime="2026-11-01T00:00:00Z", endTime="2026-11-15T00:00:00Z")
    assert all(t.weekday() < 5 for t in starts(daily))
    assert len(daily) == 10


def test_the_partial_bar_only_on_request(api: Bars) -> None:
    window = {"startTime": "2026-11-18T09:00:00Z", "endTime": "2026-11-19T00:00:00Z"}
    complete = api.bars(**window)
    assert [b["t"] for b in complete] == ["2026-11-18T10:00:00+00:00", "2026-11-18T09:00:00+00:00"]
    with_partial = api.bars(**window, includePartialBar=True)
    assert with_partial[0]["t"] == "2026-11-18T11:00:00+00:00"
    assert with_partial[1:] == complete


def test_weeks_start_on_mondays_and_months_on_the_first(api: Bars) -> None:
    weeks = api.bars(unit=5, startTime="2026-09-01T00:00:00Z", endTime="2026-11-18T00:00:00Z")
    assert all(t.weekday() == 0 and t.hour == 0 for t in starts(weeks))
    assert starts(weeks)[0] == dt.datetime(2026, 11, 9, tzinfo=dt.UTC)
    months = api.bars(unit=6, startTime="2025-01-01T00:00:00Z", endTime="2026-11-18T00:00:00Z")
    assert starts(months)[0] == dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    assert starts(months)[-1] == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert len(months) == 22
    quarters = api.bars(unit=6, unitNumber=3, startTime="2025-01-01", endTime="2026-11-18")
    assert [t.month for t in starts(quarters)] == [7, 4, 1, 10, 7, 4, 1]


def test_the_same_seed_gives_the_same_bars_and_another_seed_others(api: Bars) -> None:
    first = api.bars()
    assert api.bars() == first
    emulator = create_app(EmulatorSettings(seed=7), clock=FakeClock(epoch=EPOCH))
    with serve(emulator) as server, httpx2.Client(base_url=f"{server.url}/api") as http:
        other = Bars(http).bars()
    assert starts(other) == starts(first)
    assert [b["c"] for b in other] != [b["c"] for b in first]


def test_a_window_in_the_future_or_reversed_is_empty(api: Bars) -> None:
    assert api.bars(startTime="2026-12-01T00:00:00Z", endTime="2026-12-02T00:00:00Z") == []
    assert api.bars(startTime="2026-11-17T00:00:00Z", endTime="2026-11-16T00:00:00Z") == []

"""The emulator's time-series endpoint: bucket semantics, modes, cache and faults."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx2
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corekit.testing import FakeClock, serve
from pym2v.emulator import TOKEN_PATH, DataModes, Emulator, EmulatorSettings, create_app

DATA = "/backend/machine-controller/postDataByRangeAndInterval"
DAY = 86_400_000
JAN1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, day 19723 since the epoch (odd)
NAMES = ["MW-Temperature", "MW-Pressure", "MW-pH", "MW-Flow", "MW-Level"]
INT_VALUE = re.compile(rb'"value":-?\d+[,}]')


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Emulator, str]]:
    app = create_app(EmulatorSettings(machines=2))
    with serve(app) as server:
        yield app, server.url


@pytest.fixture
def app(served: tuple[Emulator, str]) -> Emulator:
    served[0].reset()
    return served[0]


@pytest.fixture(scope="module")
def client(served: tuple[Emulator, str]) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=served[1], timeout=30) as http:
        form = {
            "grant_type": "password",
            "username": "user",
            "password": "password",
            "client_id": "backend",
            "client_secret": "secret",
        }
        token = http.post(TOKEN_PATH, data=form).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


@pytest.fixture(scope="module")
def machine(served: tuple[Emulator, str]) -> str:
    return next(iter(served[0].state.catalogue.machines))


def query(
    client: httpx2.Client,
    machine: str,
    names: list[str],
    start: int,
    end: int,
    interval: int = 60,
    status: int = 200,
) -> Any:
    body = {
        "condition": "",
        "values": names,
        "start": start,
        "end": end,
        "machineUuid": machine,
        "intervalInS": interval,
    }
    response = client.post(DATA, json=body)
    assert response.status_code == status, response.text
    return response.json()


def points(result: dict[str, Any]) -> list[tuple[int, float]]:
    return [(p["timestamp"], p["value"]) for p in result["values"]]


def test_one_day_at_one_minute(app: Emulator, client: httpx2.Client, machine: str) -> None:
    body = query(client, machine, NAMES[:2], JAN1, JAN1 + DAY)
    assert [r["dataDefinitionKeyItemName"] for r in body["results"]] == NAMES[:2]
    for result in body["results"]:
        stamps = [t for t, _ in points(result)]
        assert len(stamps) == 1440
        assert stamps[0] == JAN1 + 60_000
        assert stamps[-1] == JAN1 + DAY
        assert stamps == sorted(stamps)
        assert result["machineUuid"] == machine
        assert result["machineName"] == "Machine 001"
        assert result["dataDefinitionKeyItemUuid"]
        values = [v for _, v in points(result)]
        assert all(isinstance(v, float) for v in values)
        assert (result["min"], result["max"]) == (min(values), max(values))
    assert body["min"] == min(r["min"] for r in body["results"])
    assert body["max"] == max(r["max"] for r in body["results"])


def test_values_are_always_json_floats(app: Emulator, client: httpx2.Client, machine: str) -> None:
    body = {"condition": "", "values": NAMES, "start": JAN1, "end": JAN1 + DAY}
    response = client.post(DATA, json={**body, "machineUuid": machine, "intervalInS": 3600})
    assert b'"value":' in response.content
    assert INT_VALUE.search(response.content) is None


def test_last_partial_bucket_is_labelled_with_the_end_in_whole_seconds(
    app: Emulator, client: httpx2.Client, machine: str
) -> None:
    # The captured real query: 86.4 s at 60 s gave a minute label and the cut-off end.
    body = query(client, machine, ["MW-pH"], 1_732_000_024_905, 1_732_000_111_305)
    assert [t for t, _ in points(body["results"][0])] == [1_732_000_080_000, 1_732_000_111_000]


def test_batches_sharing_boundaries_never_repeat_a_timestamp(
    app: Emulator, client: httpx2.Client, machine: str
) -> None:
    whole = points(query(client, machine, ["MW-Flow"], JAN1, JAN1 + 3 * DAY, 300)["results"][0])
    batches: list[tuple[int, float]] = []
    for left in range(JAN1, JAN1 + 3 * DAY, DAY // 2):
        batches += points(
            query(client, machine, ["MW-Flow"], left, left + DAY // 2, 300)["results"][0]
        )
    assert batches == whole
    assert len({t for t, _ in batches}) == len(batches) == 3 * 288


def test_a_bucket_is_the_mean_of_its_samples(
    app: Emulator, client: httpx2.Client, machine: str
) -> None:
    minutes = points(query(client, machine, ["MW-Level"], JAN1, JAN1 + DAY)["results"][0])
    hours = points(query(client, machine, ["MW-Level"], JAN1, JAN1 + DAY, 3600)["results"][0])
    assert len(hours) == 24
    for hour, (stamp, value) in enumerate(hours):
        inside = [v for t, v in minutes[hour * 60 : hour * 60 + 60]]
        assert stamp == JAN1 + (hour + 1) * 3_600_000
        assert value == pytest.approx(sum(inside) / 60, rel=1e-9)
    # A window not on a bucket boundary: the first bucket is clipped to the window.
    clipped = points(
        query(client, machine, ["MW-Level"], JAN1 + 1_800_000, JAN1 + 3_600_000, 3600)["results"][0]
    )
    assert clipped == [(JAN1 + 3_600_000, pytest.approx(sum(v for _, v in minutes[30:60]) / 30))]


def test_buckets_without_samples_are_left_out() -> None:
    app = create_app(EmulatorSettings(sample_interval_s=60))
    with serve(app) as server, httpx2.Client(base_url=server.url) as http:
        form = {
            "grant_type": "password",
            "username": "user",
            "password": "password",
            "client_id": "backend",
            "client_secret": "secret",
        }
        http.headers["Authorization"] = (
            "Bearer " + http.post(TOKEN_PATH, data=form).json()["access_token"]
        )
        machine = next(iter(app.state.catalogue.machines))
        result = query(http, machine, ["MW-pH"], JAN1, JAN1 + 600_000, interval=30)["results"][0]
    assert [t for t, _ in points(result)] == [JAN1 + m * 60_000 for m in range(1, 11)]


def test_results_follow_the_request_order_and_skip_unknown_names(
    app: Emulator, client: httpx2.Client, machine: str
) -> None:
    names = ["MW-pH", "nope", "SP-Temperature", "MW-Temperature", "MW-pH"]
    body = query(client, machine, names, JAN1, JAN1 + 3_600_000)
    assert [r["dataDefinitionKeyItemName"] for r in body["results"]] == [
        "MW-pH",
        "SP-Temperature",
        "MW-Temperature",
    ]


@pytest.mark.parametrize(
    ("names", "start", "end"),
    [(["nope"], JAN1, JAN1 + DAY), ([], JAN1, JAN1 + DAY), (NAMES, JAN1 + DAY, JAN1)],
)
def test_no_data_gives_empty_results_and_null_extremes(
    app: Emulator, client: httpx2.Client, machine: str, names: list[str], start: int, end: int
) -> None:
    assert query(client, machine, names, start, end) == {"results": [], "min": None, "max": None}


@pytest.mark.parametrize(
    ("change", "status", "word"),
    [
        ({"intervalInS": 0}, 400, "intervalInS"),
        ({"intervalInS": 60.0}, 400, "intervalInS"),
        ({"intervalInS": 10**15}, 400, "intervalInS"),
        ({"start": -1}, 400, "start"),
        ({"end": 10**18}, 400, "end"),
        ({"start": "2024-01-01"}, 400, "start"),
        ({"values": None}, 400, "values"),
        ({"machineUuid": "nope"}, 404, "nope"),
        ({"end": JAN1 + 365 * DAY, "intervalInS": 1}, 400, "points"),
    ],
)
def test_invalid_queries(
    app: Emulator,
    client: httpx2.Client,
    machine: str,
    change: dict[str, Any],
    status: int,
    word: str,
) -> None:
    body = {
        "condition": "",
        "values": NAMES,
        "start": JAN1,
        "end": JAN1 + DAY,
        "machineUuid": machine,
        "intervalInS": 60,
        "machine": "ignored",
    }
    body = {k: v for k, v in {**body, **change}.items() if v is not None}
    response = client.post(DATA, json=body)
    assert response.status_code == status
    assert word in response.json()["message"]


def test_body_must_be_json(app: Emulator, client: httpx2.Client) -> None:
    response = client.post(DATA, content=b"values=1", headers={"content-type": "text/plain"})
    assert response.status_code == 400


def test_data_needs_a_token(app: Emulator, served: tuple[Emulator, str], machine: str) -> None:
    response = httpx2.post(served[1] + DATA, json={})
    assert response.status_code == 401


def test_sparse_mode(app: Emulator, client: httpx2.Client, machine: str) -> None:
    dense = query(client, machine, NAMES[:2], JAN1, JAN1 + DAY)["results"]
    app.configure(sparse=True)
    sparse = query(client, machine, NAMES[:2], JAN1, JAN1 + DAY)["results"]
    kept = [dict(points(r)) for r in sparse]
    for full, part in zip(dense, kept, strict=True):
        assert 0.55 * 1440 < len(part) < 0.8 * 1440
        assert set(part.items()) <= set(points(full))
    assert set(kept[0]) != set(kept[1])


def test_missing_series_mode(app: Emulator, client: httpx2.Client, machine: str) -> None:
    app.configure(missing_series=True)
    odd_day = query(client, machine, NAMES, JAN1, JAN1 + DAY)  # 2024-01-01: day 19723
    assert [r["dataDefinitionKeyItemName"] for r in odd_day["results"]] == NAMES[:4]
    even_day = query(client, machine, NAMES, JAN1 + DAY, JAN1 + 2 * DAY)
    assert [r["dataDefinitionKeyItemName"] for r in even_day["results"]] == NAMES
    both = query(client, machine, ["MW-Level"], JAN1, JAN1 + 2 * DAY)["results"][0]
    assert len(both["values"]) == 1440
    assert both["values"][0]["timestamp"] == JAN1 + DAY + 60_000


def test_integer_values_mode(app: Emulator, client: httpx2.Client, machine: str) -> None:
    app.configure(integer_values=True)
    odd_day = client.post(
        DATA,
        json={
            "condition": "",
            "values": NAMES[:2],
            "start": JAN1,
            "end": JAN1 + DAY,
            "machineUuid": machine,
            "intervalInS": 600,
        },
    )
    assert INT_VALUE.search(odd_day.content) is None
    even_day = query(client, machine, NAMES[:2], JAN1 + DAY, JAN1 + 2 * DAY, 600)
    for result in even_day["results"]:
        assert all(type(p["value"]) is int for p in result["values"])
        assert isinstance(result["min"], int)
    day = datetime(2024, 1, 2, tzinfo=UTC).timestamp() * 1000
    assert (int(day) // DAY) % 2 == 0


def test_reordered_results_mode(app: Emulator, client: httpx2.Client, machine: str) -> None:
    app.configure(reordered_results=True)
    orders = [
        [
            r["dataDefinitionKeyItemName"]
            for r in query(client, machine, NAMES[:3], JAN1, JAN1 + 3_600_000)["results"]
        ]
        for _ in range(3)
    ]
    assert orders == [NAMES[2::-1], NAMES[:3], NAMES[2::-1]]


def test_modes_from_settings() -> None:
    modes = DataModes(sparse=True, reordered_results=True)
    assert create_app(EmulatorSettings(modes=modes)).settings.modes == modes


def test_same_settings_same_bytes(app: Emulator, machine: str) -> None:
    one = create_app(EmulatorSettings(machines=2)).state
    two = create_app(EmulatorSettings(machines=2)).state
    record = one.catalogue.machines[machine]
    assert one.series_response(record, NAMES, JAN1, JAN1 + DAY, 60) == two.series_response(
        two.catalogue.machines[machine], NAMES, JAN1, JAN1 + DAY, 60
    )
    other = create_app(EmulatorSettings(machines=2, seed=5)).state
    other_machine = next(iter(other.catalogue.machines.values()))
    assert other.series_response(other_machine, NAMES, JAN1, JAN1 + DAY, 60) != (
        one.series_response(record, NAMES, JAN1, JAN1 + DAY, 60)
    )


def test_repeated_queries_come_from_the_cache(
    app: Emulator, client: httpx2.Client, machine: str
) -> None:
    cache = app.state.cache
    first = client.post(
        DATA,
        json={
            "condition": "",
            "values": NAMES,
            "start": JAN1,
            "end": JAN1 + 30 * DAY,
            "machineUuid": machine,
            "intervalInS": 60,
        },
    )
    hits = cache.hits
    second = client.post(DATA, content=first.request.content, headers=first.request.headers)
    assert second.content == first.content
    assert cache.hits == hits + len(NAMES)


def test_cache_stays_within_its_byte_budget(machine: str) -> None:
    state = create_app(EmulatorSettings(machines=2, cache_bytes=500_000)).state
    record = state.catalogue.machines[machine]
    for day in range(5):
        state.series_response(record, NAMES, JAN1 + day * DAY, JAN1 + (day + 1) * DAY, 60)
    assert 0 < state.cache._bytes <= 500_000
    assert len(state.cache._items) < 25
    big = state.series_response(record, NAMES[:1], JAN1, JAN1 + 30 * DAY, 60)
    assert len(big) > 500_000
    assert state.cache._bytes <= 500_000
    state.cache.clear()
    assert state.cache._bytes == 0


def test_injected_faults_and_the_request_log(
    app: Emulator, client: httpx2.Client, machine: str
) -> None:
    app.fail(DATA, 500)
    app.fail(DATA, 200, body="<html>maintenance</html>")
    body = {
        "condition": "",
        "values": ["MW-pH"],
        "start": JAN1,
        "end": JAN1 + 3_600_000,
        "machineUuid": machine,
        "intervalInS": 60,
    }
    assert client.post(DATA, json=body).status_code == 500
    not_json = client.post(DATA, json=body)
    assert (not_json.status_code, not_json.text) == (200, "<html>maintenance</html>")
    assert client.post(DATA, json=body).status_code == 200
    calls = app.calls("POST", DATA)
    assert [c.status for c in calls] == [500, 200, 200]
    assert [c.fault for c in calls] == ["status", "status", None]
    assert calls[-1].json() == body


def test_latency_on_the_fake_clock() -> None:
    clock = FakeClock()
    app = create_app(clock=clock)
    with serve(app) as server:
        app.delay("/backend/*", 6.0)
        before = clock.monotonic()
        assert httpx2.get(server.url + "/backend/user-controller/meGUI").status_code == 401
        assert clock.monotonic() - before == 6.0


def test_concurrent_batches_are_all_answered(
    app: Emulator, client: httpx2.Client, machine: str
) -> None:
    # Five batches at once, as upstream's aget_frame_from_names sends them.
    windows = [(JAN1 + d * DAY, JAN1 + (d + 1) * DAY) for d in range(5)]
    with ThreadPoolExecutor(5) as pool:
        bodies = list(pool.map(lambda w: query(client, machine, NAMES, *w), windows))
    for (start, end), body in zip(windows, bodies, strict=True):
        assert [r["dataDefinitionKeyItemName"] for r in body["results"]] == NAMES
        stamps = [p["timestamp"] for p in body["results"][0]["values"]]
        assert (stamps[0], stamps[-1], len(stamps)) == (start + 60_000, end, 1440)
    assert len(app.calls("POST", DATA)) == 5


PROPERTY_STATE = create_app(EmulatorSettings(machines=1, measurements=1)).state
PROPERTY_MACHINE = next(iter(PROPERTY_STATE.catalogue.machines.values()))


def series_points(start: int, end: int, interval: int) -> list[tuple[int, float]]:
    body = orjson.loads(
        PROPERTY_STATE.series_response(PROPERTY_MACHINE, ["MW-Temperature"], start, end, interval)
    )
    return [(p["timestamp"], p["value"]) for r in body["results"] for p in r["values"]]


@given(
    start=st.integers(JAN1, JAN1 + DAY),
    interval=st.sampled_from([10, 60, 300, 3600]),
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=6),
)
@settings(max_examples=60, deadline=None)
def test_batches_cut_on_bucket_ends_equal_one_request(
    start: int, interval: int, lengths: list[int]
) -> None:
    step = interval * 1000
    cuts = [start]
    first = (start // step + 1) * step
    for n, length in enumerate(lengths):
        cuts.append((first if n == 0 else cuts[-1]) + length * step)
    batches = [
        p for left, right in itertools.pairwise(cuts) for p in series_points(left, right, interval)
    ]
    assert batches == series_points(cuts[0], cuts[-1], interval)


@given(
    start=st.integers(JAN1, JAN1 + DAY),
    cuts=st.lists(st.integers(1, 6 * 3_600_000), min_size=1, max_size=6),
    interval=st.sampled_from([1, 7, 60, 900]),
)
@settings(max_examples=60, deadline=None)
def test_any_batching_gives_increasing_labels_inside_the_window(
    start: int, cuts: list[int], interval: int
) -> None:
    bounds = list(itertools.accumulate(cuts, initial=start))
    stamps: list[int] = []
    for left, right in itertools.pairwise(bounds):
        labels = [t for t, _ in series_points(left, right, interval)]
        # A label is a bucket end on the interval grid, or the batch end in whole seconds.
        assert all(t % (interval * 1000) == 0 or t == right - right % 1000 for t in labels)
        assert all(left < t <= right for t in labels)
        stamps += labels
    assert stamps == sorted(set(stamps))

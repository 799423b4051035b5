"""Frame semantics of both clients against the emulator (part 2 of the issue)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pym2v import Settings
from pym2v.emulator import Emulator
from pym2v.errors import M2VConfigurationError, ResponseFormatError

if TYPE_CHECKING:
    from conftest import Face

pytestmark = pytest.mark.anyio

DATA = "/backend/machine-controller/postDataByRangeAndInterval"
UTC = dt.UTC
START = dt.datetime(2025, 1, 1, tzinfo=UTC)
MINUTE = dt.timedelta(minutes=1)
UTC_MS = pl.Datetime("ms", "UTC")


async def test_frame_schema_values_and_request_body(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    end = START + dt.timedelta(hours=1)
    frame = await face.call(api, "get_frame_from_names", uuid, names, START, end, MINUTE)
    assert frame.columns == ["timestamp", *names]
    assert frame.schema["timestamp"] == UTC_MS
    assert all(frame.schema[n] == pl.Float64 for n in names)
    assert frame.height == 60
    # Buckets are labelled with their end, inside (start, end].
    assert frame["timestamp"][0] == START + MINUTE
    assert frame["timestamp"][-1] == end
    assert frame.null_count().sum_horizontal().item() == 0
    assert emulator.calls("POST", DATA)[0].json() == {
        "condition": "",
        "values": names,
        "start": 1735689600000,
        "end": 1735693200000,
        "machineUuid": uuid,
        "intervalInS": 60,
    }


async def test_naive_datetimes_mean_utc(
    face: Face, settings: Settings, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    naive = await face.call(
        api,
        "get_frame_from_names",
        uuid,
        names,
        dt.datetime(2025, 1, 1),
        dt.datetime(2025, 1, 1, 0, 10),
        MINUTE,
    )
    berlin = dt.timezone(dt.timedelta(hours=1))
    aware = await face.call(
        api,
        "get_frame_from_names",
        uuid,
        names,
        dt.datetime(2025, 1, 1, 1, tzinfo=berlin),
        "2025-01-01T00:10:00Z",
        60,
    )
    assert_frame_equal(naive, aware)
    assert naive["timestamp"][0] == dt.datetime(2025, 1, 1, 0, 1, tzinfo=UTC)


async def test_columns_follow_the_requested_names_and_missing_ones_are_null(
    face: Face, settings: Settings, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    wanted = [names[2], "no-such-series", names[0], names[2]]
    end = START + dt.timedelta(minutes=5)
    frame = await face.call(api, "get_frame_from_names", uuid, wanted, START, end, MINUTE)
    assert frame.columns == ["timestamp", names[2], "no-such-series", names[0]]
    assert frame.schema["no-such-series"] == pl.Float64
    assert frame["no-such-series"].null_count() == 5
    assert frame[names[0]].null_count() == 0


async def test_empty_result_keeps_the_full_schema(
    face: Face, settings: Settings, uuid: str
) -> None:
    api = face.api(settings)
    end = START + dt.timedelta(days=3)
    wide = await face.call(
        api, "get_long_frame_from_names", uuid, ["x", "y"], START, end, MINUTE, dt.timedelta(days=1)
    )
    long = await face.call(api, "get_frame_from_names", uuid, ["x"], START, end, MINUTE, long=True)
    assert wide.schema == pl.Schema({"timestamp": UTC_MS, "x": pl.Float64, "y": pl.Float64})
    assert wide.height == 0
    assert long.schema == pl.Schema({"timestamp": UTC_MS, "name": pl.String, "value": pl.Float64})
    assert long.height == 0


async def test_long_format_lists_each_point_once(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    emulator.configure(sparse=True)
    api = face.api(settings)
    end = START + dt.timedelta(hours=6)
    args = (uuid, names[:3], START, end, MINUTE)
    wide = await face.call(api, "get_frame_from_names", *args)
    long = await face.call(
        api, "get_long_frame_from_names", *args, dt.timedelta(hours=1), long=True
    )
    assert long.columns == ["timestamp", "name", "value"]
    assert long.schema["timestamp"] == UTC_MS
    points = sum(wide[n].count() for n in names[:3])
    assert long.height == points
    # Sorted by time, then by the requested order of names.
    assert long["timestamp"].is_sorted()
    first = long.filter(pl.col("timestamp") == long["timestamp"][0])["name"].to_list()
    assert first == [n for n in names[:3] if n in first]
    back = long.pivot(on="name", index="timestamp", values="value").select(wide.columns)
    assert_frame_equal(back.sort("timestamp"), wide)


@pytest.mark.parametrize(
    "mode",
    ["sparse", "missing_series", "integer_values", "reordered_results"],
)
async def test_batches_merge_whatever_the_server_leaves_out_or_reorders(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str], mode: str
) -> None:
    emulator.configure(**{mode: True})
    api = face.api(settings)
    end = START + dt.timedelta(days=4)
    interval = dt.timedelta(minutes=15)
    whole = await face.call(api, "get_frame_from_names", uuid, names, START, end, interval)
    batched = await face.call(
        api, "get_long_frame_from_names", uuid, names, START, end, interval, dt.timedelta(hours=12)
    )
    assert len(emulator.calls("POST", DATA)) == 1 + 8
    assert batched.columns == ["timestamp", *names]
    assert all(batched.schema[n] == pl.Float64 for n in names)
    assert batched["timestamp"].is_unique().all()
    assert batched["timestamp"].is_sorted()
    assert_frame_equal(batched, whole)
    if mode == "missing_series":
        # The last series has no data on odd days: those rows hold null in its column.
        assert batched[names[-1]].null_count() > 0
        assert batched[names[0]].null_count() == 0
    if mode == "integer_values":
        assert (batched[names[0]] % 1 != 0).any()  # odd days keep their fractions


async def test_unaligned_start_gives_the_same_frame_batched_or_not(
    face: Face, settings: Settings, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    start = START + dt.timedelta(seconds=17)
    end = start + dt.timedelta(hours=5, seconds=29)
    whole = await face.call(api, "get_frame_from_names", uuid, names, start, end, MINUTE)
    batched = await face.call(
        api, "get_long_frame_from_names", uuid, names, start, end, MINUTE, dt.timedelta(minutes=47)
    )
    assert_frame_equal(batched, whole)
    assert batched["timestamp"][-1] == end.replace(microsecond=0)


async def test_duplicates_at_batch_boundaries_are_dropped(
    face: Face, settings: Settings, emulator: Emulator, uuid: str
) -> None:
    # A server that also returns the point at the window start (and repeats one) must not
    # produce a timestamp twice.
    edge = 1735689600000
    values = [{"timestamp": edge + 60_000 * i, "value": float(i)} for i in (0, 1, 1, 2)]
    body = {"results": [{"dataDefinitionKeyItemName": "a", "values": values}]}
    emulator.fail(DATA, 200, body=body, count=None)
    api = face.api(settings)
    end = START + dt.timedelta(minutes=2)
    frame = await face.call(api, "get_frame_from_names", uuid, ["a"], START, end, MINUTE)
    assert frame["timestamp"].to_list() == [START + MINUTE, START + 2 * MINUTE]
    assert frame["a"].to_list() == [1.0, 2.0]


async def test_integer_values_are_never_truncated(
    face: Face, settings: Settings, emulator: Emulator, uuid: str
) -> None:
    values = [
        {"timestamp": 1735689660000 + 60_000 * i, "value": v}
        for i, v in enumerate([1, 2, 2.5, None])
    ]
    body = {"results": [{"dataDefinitionKeyItemName": "a", "values": values}]}
    emulator.fail(DATA, 200, body=body)
    api = face.api(settings)
    frame = await face.call(
        api, "get_frame_from_names", uuid, ["a"], START, START + 4 * MINUTE, MINUTE
    )
    assert frame["a"].dtype == pl.Float64
    assert frame["a"].to_list() == [1.0, 2.0, 2.5, None]


def _one_point(timestamp: object, value: object) -> dict[str, object]:
    point = {"timestamp": timestamp, "value": value}
    return {"results": [{"dataDefinitionKeyItemName": "a", "values": [point]}]}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>maintenance</html>", "not JSON"),
        ({"error": "nope"}, "'results'"),
        ({"results": [{"values": []}]}, "dataDefinitionKeyItemName"),
        ({"results": [{"dataDefinitionKeyItemName": "a", "values": [{"t": 1}]}]}, "'timestamp'"),
        (
            {
                "results": [
                    {"dataDefinitionKeyItemName": "a", "values": [{"timestamp": "x", "value": 1}]}
                ]
            },
            "epoch milliseconds",
        ),
        (
            {
                "results": [
                    {"dataDefinitionKeyItemName": "a", "values": [{"timestamp": 1, "value": "x"}]}
                ]
            },
            "not a number",
        ),
        ({"results": ["a"]}, "not an object"),
        ([1, 2], "'results'"),
    ],
)
async def test_unexpected_answers_raise_a_clear_error(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, body: object, problem: str
) -> None:
    emulator.fail(DATA, 200, body=body)
    api = face.api(settings)
    with pytest.raises(ResponseFormatError, match=problem) as caught:
        await face.call(api, "get_frame_from_names", uuid, ["a"], START, START + MINUTE, MINUTE)
    assert caught.value.status_code == 200
    assert caught.value.url.endswith(DATA)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"end": START}, "start must be before end"),
        ({"end": START - MINUTE}, "start must be before end"),
        ({"interval": dt.timedelta(milliseconds=500)}, "at least one second"),
        ({"interval": dt.timedelta(seconds=1.5)}, "whole number of seconds"),
        ({"interval": "60"}, "timedelta or a number"),
        ({"max_frame_length": dt.timedelta(0)}, "max_frame_length must be positive"),
        ({"max_frame_length": dt.timedelta(days=-1)}, "max_frame_length must be positive"),
        ({"names": []}, "non-empty list"),
        ({"names": ["a", ""]}, "non-empty strings"),
        ({"start": "yesterday"}, "ISO 8601"),
        ({"start": 1735689600}, "datetime"),
        ({"machine_uuid": None}, "machine_uuid"),
        ({"names": ["a", "timestamp"]}, "long=True"),
    ],
)
async def test_invalid_arguments_fail_before_any_request(
    face: Face,
    settings: Settings,
    emulator: Emulator,
    uuid: str,
    change: dict[str, object],
    message: str,
) -> None:
    api = face.api(settings)
    args: dict[str, object] = {
        "machine_uuid": uuid,
        "names": ["a"],
        "start": START,
        "end": START + dt.timedelta(days=1),
        "interval": MINUTE,
        "max_frame_length": dt.timedelta(hours=1),
    }
    args.update(change)
    with pytest.raises(M2VConfigurationError, match=message):
        await face.call(api, "get_long_frame_from_names", **args)
    assert emulator.requests == []


async def test_historical_data_is_the_raw_answer(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    data = await face.call(
        api, "get_historical_data", uuid, names[:2], 1735689600000, 1735689900000, 60
    )
    assert [r["dataDefinitionKeyItemName"] for r in data["results"]] == names[:2]
    assert len(data["results"][0]["values"]) == 5
    with pytest.raises(M2VConfigurationError, match="start must be before end"):
        await face.call(api, "get_historical_data", uuid, names, 5, 5, 60)
    with pytest.raises(M2VConfigurationError, match="interval_in_s"):
        await face.call(api, "get_historical_data", uuid, names, 0, 5, 0)


async def test_progress_bar_goes_to_stderr(
    face: Face,
    settings: Settings,
    uuid: str,
    names: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = face.api(settings)
    end = START + dt.timedelta(days=2)
    await face.call(
        api,
        "get_long_frame_from_names",
        uuid,
        names,
        START,
        end,
        MINUTE,
        dt.timedelta(days=1),
        True,
    )
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "pym2v:" in captured.err
    assert "/2 [" in captured.err


def _compact(points: str, name: str = "a") -> bytes:
    head = '{"results":[{"dataDefinitionKeyItemUuid":"u","dataDefinitionKeyItemName":"'
    return (
        head + name + '","machineUuid":"m","values":[' + points + ']}],"min":1,"max":2}'
    ).encode()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # As the platform writes it: the fast path.
        (
            _compact(
                '{"timestamp":1735689660000,"value":1},{"timestamp":1735689720000,"value":null}'
            ),
            [1.0, None],
        ),
        (
            _compact(
                '{"timestamp":1735689660000,"value":-1.5e-3},'
                '{"timestamp":1735689720000,"value":1E+2}'
            ),
            [-0.0015, 100.0],
        ),
        # Other key order, spaces, extra keys: the general decoder, same result.
        (
            _compact(
                '{"value":1.5,"timestamp":1735689660000},{"value":2,"timestamp":1735689720000}'
            ),
            [1.5, 2.0],
        ),
        (
            _compact(
                '{"timestamp": 1735689660000, "value": 3.25}, {"timestamp":1735689720000,"value":4}'
            ),
            [3.25, 4.0],
        ),
        (
            _compact(
                '{"timestamp":1735689660000,"value":5,"q":1},{"timestamp":1735689720000,"value":6}'
            ),
            [5.0, 6.0],
        ),
    ],
)
async def test_compact_and_other_json_layouts_decode_alike(
    face: Face,
    settings: Settings,
    emulator: Emulator,
    uuid: str,
    body: bytes,
    expected: list[float | None],
) -> None:
    emulator.fail(DATA, 200, body=body, headers={"content-type": "application/json"})
    api = face.api(settings)
    frame = await face.call(
        api, "get_frame_from_names", uuid, ["a"], START, START + 2 * MINUTE, MINUTE
    )
    assert frame["a"].to_list() == expected
    assert frame["timestamp"].to_list() == [START + MINUTE, START + 2 * MINUTE]


@pytest.mark.parametrize(
    ("points", "problem"),
    [
        ('{"timestamp":1.5,"value":1}', "epoch milliseconds"),
        ('{"timestamp":1735689660000,"value":"x"}', "not a number"),
        ('{"timestamp":1735689660000}', "'timestamp' and 'value'"),
    ],
)
async def test_compact_answers_with_bad_points_are_reported(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, points: str, problem: str
) -> None:
    emulator.fail(DATA, 200, body=_compact(points), headers={"content-type": "application/json"})
    api = face.api(settings)
    with pytest.raises(ResponseFormatError, match=problem):
        await face.call(api, "get_frame_from_names", uuid, ["a"], START, START + MINUTE, MINUTE)


async def test_a_measurement_named_timestamp_fits_the_long_format() -> None:
    from pym2v import _frames

    stamps = pl.Series("timestamp", [60_000, 120_000], pl.Int64)
    found = _frames.Series("timestamp", stamps, pl.Series("timestamp", [1.0, 2.5]))
    batch = _frames.long_batch([found], ["timestamp"], 0, 120_000)
    assert batch.to_dicts() == [
        {"timestamp": 60_000, "name": 0, "value": 1.0},
        {"timestamp": 120_000, "name": 0, "value": 2.5},
    ]

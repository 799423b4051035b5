"""Retries, timeouts, faults and concurrency of both clients against the emulator (part 4)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from corekit import errors as core
from corekit.testing import FakeClock
from pym2v import Settings
from pym2v.emulator import Emulator
from pym2v.errors import (
    M2VClientError,
    M2VConnectError,
    M2VRateLimitedError,
    M2VResponseTooLargeError,
    M2VServerError,
    M2VTimeoutError,
    M2VTransportError,
    Pym2vError,
)

if TYPE_CHECKING:
    from conftest import Face

pytestmark = pytest.mark.anyio

DATA = "/backend/machine-controller/postDataByRangeAndInterval"
MACHINES = "/backend/machine-gui-controller/filter"
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def _settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "base_url": url,
        "username": "ada",
        "password": "pa55-w0rd-ada",
        "client_id": "backend",
        "client_secret": "s3cret-backend-42",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def test_transient_statuses_are_retried_until_success(
    face: Face, settings: Settings, emulator: Emulator, clock: FakeClock, uuid: str
) -> None:
    api = face.api(settings)
    emulator.fail(DATA, 503, count=2)
    frame = await face.call(api, "get_frame_from_names", uuid, ["MW-pH"], START, START + HOUR, 60)
    assert frame.height == 60
    assert [c.status for c in emulator.calls("POST", DATA)] == [503, 503, 200]
    assert len(clock.sleeps) == 2  # backoff waits, on the fake clock


@pytest.mark.parametrize("status", [400, 403, 404, 422])
async def test_client_errors_are_never_retried(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, status: int
) -> None:
    api = face.api(settings)
    emulator.fail(DATA, status, body={"message": "x" * 5000})
    with pytest.raises(M2VClientError) as caught:
        await face.call(api, "get_frame_from_names", uuid, ["a"], START, START + HOUR, 60)
    error = caught.value
    assert error.status_code == status
    assert error.method == "POST"
    assert error.url.endswith(DATA)
    assert len(error.body) < 1100  # truncated
    assert "more bytes" in error.body
    assert isinstance(error, Pym2vError)
    assert isinstance(error, core.ClientError)
    assert len(emulator.calls("POST", DATA)) == 1


async def test_retries_stop_after_the_configured_attempts(
    face: Face, served: tuple[Emulator, str], emulator: Emulator, uuid: str
) -> None:
    api = face.api(_settings(served[1], retry_attempts=3))
    emulator.fail(DATA, 500, count=None)
    with pytest.raises(M2VServerError, match="after 3 attempts") as caught:
        await face.call(api, "get_frame_from_names", uuid, ["a"], START, START + HOUR, 60)
    assert caught.value.status_code == 500
    assert len(emulator.calls("POST", DATA)) == 3


async def test_retry_after_is_honoured(
    face: Face, settings: Settings, emulator: Emulator, clock: FakeClock
) -> None:
    api = face.api(settings)
    emulator.rate_limit(MACHINES, 7)
    page = await face.call(api, "get_machines")
    assert page["maxCount"] == 5
    assert 7 in clock.sleeps
    assert [c.status for c in emulator.calls("GET", MACHINES)] == [429, 200]


async def test_retry_after_beyond_the_limit_fails_at_once(
    face: Face, served: tuple[Emulator, str], emulator: Emulator
) -> None:
    api = face.api(_settings(served[1], max_retry_after=5))
    emulator.rate_limit(MACHINES, 600)
    with pytest.raises(M2VRateLimitedError) as caught:
        await face.call(api, "get_machines")
    assert caught.value.retry_after == 600
    assert len(emulator.calls("GET", MACHINES)) == 1


async def test_a_dropped_connection_is_retried_for_reads(
    face: Face, settings: Settings, emulator: Emulator, uuid: str
) -> None:
    api = face.api(settings)
    emulator.drop(DATA)
    frame = await face.call(api, "get_frame_from_names", uuid, ["MW-pH"], START, START + HOUR, 60)
    assert frame.height == 60
    assert len(emulator.calls("POST", DATA)) == 2


async def test_dropped_connections_end_in_a_transport_error(
    face: Face, served: tuple[Emulator, str], emulator: Emulator
) -> None:
    api = face.api(_settings(served[1], retry_attempts=2))
    emulator.drop(MACHINES, count=None)
    with pytest.raises(M2VTransportError):
        await face.call(api, "get_machines")
    assert len(emulator.calls("GET", MACHINES)) == 2


async def test_a_setpoint_write_is_not_repeated_on_a_server_error(
    face: Face, settings: Settings, emulator: Emulator, uuid: str
) -> None:
    api = face.api(settings)
    emulator.fail("*/set-point", 503, count=None)
    with pytest.raises(M2VServerError):
        await face.call(api, "set_machine_setpoint", uuid, "item-uuid", 1)
    assert len(emulator.calls("POST", "*/set-point")) == 1


async def test_unreachable_platform_is_a_connect_error(face: Face, clock: FakeClock) -> None:
    api = face.api(_settings("http://127.0.0.1:9", retry_attempts=2))
    with pytest.raises(M2VConnectError, match="EUROGARD_BASE_URL"):
        await face.call(api, "get_user_info")


async def test_a_slow_answer_is_a_timeout_error(
    face: Face, realtime: tuple[Emulator, str], uuid: str
) -> None:
    emulator, url = realtime
    api = face.api(_settings(url, timeout=0.3, retry_attempts=1))
    await face.call(api, "get_user_info")  # the token, before the slow call
    emulator.delay(DATA, 2.0)
    with pytest.raises(M2VTimeoutError, match="EUROGARD_TIMEOUT"):
        await face.call(api, "get_frame_from_names", uuid, ["a"], START, START + HOUR, 60)


async def test_an_oversized_answer_is_refused(
    face: Face, served: tuple[Emulator, str], emulator: Emulator, uuid: str, names: list[str]
) -> None:
    api = face.api(_settings(served[1], max_response_bytes=4096))
    with pytest.raises(M2VResponseTooLargeError, match="max_frame_length"):
        await face.call(api, "get_frame_from_names", uuid, names, START, START + HOUR, 60)


async def test_in_flight_batches_never_exceed_the_limit(
    face: Face, realtime: tuple[Emulator, str]
) -> None:
    emulator, url = realtime
    uuid = next(iter(emulator.state.catalogue.machines))
    api = face.api(_settings(url, max_concurrent_requests=3))
    emulator.delay(DATA, 0.15, count=None)
    frame = await face.call(
        api, "get_long_frame_from_names", uuid, ["MW-pH"], START, START + 10 * HOUR, 60, HOUR
    )
    assert frame.height == 600
    calls = emulator.calls("POST", DATA)
    assert len(calls) == 10
    edges = sorted(
        [(c.started, 1) for c in calls] + [(c.started + c.duration, -1) for c in calls],
        key=lambda edge: (edge[0], edge[1]),
    )
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    assert 2 <= peak <= 3


async def test_the_first_failed_batch_cancels_the_others(
    face: Face, realtime: tuple[Emulator, str]
) -> None:
    emulator, url = realtime
    uuid = next(iter(emulator.state.catalogue.machines))
    api = face.api(_settings(url, max_concurrent_requests=2))
    await face.call(api, "get_user_info")
    emulator.fail(DATA, 400)
    emulator.delay(DATA, 0.3, count=None)
    with pytest.raises(M2VClientError):
        await face.call(
            api, "get_long_frame_from_names", uuid, ["MW-pH"], START, START + 20 * HOUR, 60, HOUR
        )
    assert len(emulator.calls("POST", DATA)) <= 3  # 20 batches; the rest never started


def _peak_in_flight(emulator: Emulator) -> int:
    calls = emulator.calls("POST", DATA)
    edges = sorted(
        [(c.started, 1) for c in calls] + [(c.started + c.duration, -1) for c in calls],
        key=lambda edge: (edge[0], edge[1]),
    )
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return peak


async def test_big_answers_are_fetched_fewer_at_a_time(
    face: Face, realtime: tuple[Emulator, str]
) -> None:
    emulator, url = realtime
    uuid = next(iter(emulator.state.catalogue.machines))
    # An hour of one-minute points is 61 * 56 bytes per name: a 4 KiB budget holds one batch.
    api = face.api(_settings(url, max_concurrent_requests=4, max_buffered_bytes=4096))
    emulator.delay(DATA, 0.1, count=None)
    frame = await face.call(
        api, "get_long_frame_from_names", uuid, ["MW-pH"], START, START + 6 * HOUR, 60, HOUR
    )
    assert frame.height == 360
    assert len(emulator.calls("POST", DATA)) == 6
    assert _peak_in_flight(emulator) == 1

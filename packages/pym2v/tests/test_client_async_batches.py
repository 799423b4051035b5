"""The async client's long fetches: batches sent from worker threads, nothing left running."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any
from unittest import mock

import anyio
import anyio.from_thread
import pytest

from pym2v import AsyncEurogardAPI, Settings
from pym2v.emulator import Emulator

pytestmark = pytest.mark.anyio

DATA = "/backend/machine-controller/postDataByRangeAndInterval"
TOKEN = "/auth/realms/iiot-platform/protocol/openid-connect/token"
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


async def test_batches_go_out_from_worker_threads_not_the_event_loop(
    settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    async with AsyncEurogardAPI(settings, max_concurrent_requests=3) as api:
        real_send = api._send_batch

        def spy(*args: Any) -> Any:
            seen.append(threading.get_ident())
            return real_send(*args)

        with mock.patch.object(api, "_send_batch", spy):
            frame = await api.get_long_frame_from_names(
                uuid, names[:2], START, START + dt.timedelta(days=1), HOUR, HOUR * 6
            )
            # A second fetch reuses the client's blocking pool and its token.
            again = await api.get_frame_from_names(uuid, names[:2], START, START + HOUR, MINUTE)
    assert frame.height == 24
    assert frame.columns == ["timestamp", *names[:2]]
    assert again.height == 60
    assert len(seen) == 5
    assert loop_thread not in seen
    assert len(emulator.calls("POST", TOKEN)) == 1  # one token for both pools


async def test_a_cancelled_fetch_returns_with_no_request_left_running(
    realtime: tuple[Emulator, str], settings: Settings
) -> None:
    emulator, url = realtime
    uuid = next(iter(emulator.state.catalogue.machines))
    lock = threading.Lock()
    counts = {"started": 0, "finished": 0}
    sent = anyio.Event()
    options = {"base_url": url, "max_concurrent_requests": 2}
    async with AsyncEurogardAPI(settings.model_copy(update=options)) as api:
        await api.get_user_info()  # the token, before the slow calls
        real_send = api._send_batch

        def spy(*args: Any) -> Any:
            with lock:
                counts["started"] += 1
            anyio.from_thread.run_sync(sent.set)
            try:
                return real_send(*args)
            finally:
                with lock:
                    counts["finished"] += 1

        async def fetch() -> None:
            await api.get_long_frame_from_names(
                uuid, ["MW-pH"], START, START + 20 * HOUR, MINUTE, HOUR
            )

        emulator.delay(DATA, 0.4, count=None)
        with mock.patch.object(api, "_send_batch", spy):
            async with anyio.create_task_group() as group:
                group.start_soon(fetch)
                await sent.wait()  # a request is on its way: cancel the fetch now
                group.cancel_scope.cancel()
        # Returned only once the requests already sent had finished: none runs on (or
        # retries) behind the caller's back, and the batches not started never are.
        with lock:
            done = dict(counts)
    assert 1 <= done["started"] <= 2
    assert done["finished"] == done["started"]
    assert len(emulator.calls("POST", DATA)) == done["started"]

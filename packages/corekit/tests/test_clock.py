from __future__ import annotations

import threading
import time

import anyio
import pytest

from corekit.clock import Clock, SystemClock, system_clock
from corekit.testing import FakeClock


def test_system_clock_reads_real_time() -> None:
    before = time.time()
    assert before - 1 <= system_clock.time() <= time.time() + 1
    first = system_clock.monotonic()
    assert system_clock.monotonic() >= first
    assert isinstance(system_clock, Clock)
    assert repr(SystemClock()) == "SystemClock()"


def test_system_clock_ignores_non_positive_sleeps() -> None:
    start = time.monotonic()
    system_clock.sleep(0)
    system_clock.sleep(-5)
    assert time.monotonic() - start < 0.5


@pytest.mark.anyio
async def test_system_clock_async_sleep_yields() -> None:
    order: list[str] = []

    async def other() -> None:
        order.append("other")

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
        await system_clock.asleep(0)
        order.append("me")
    assert order == ["other", "me"]


def test_fake_clock_is_a_clock_and_starts_where_told() -> None:
    clock = FakeClock(10.0, epoch=1_000.0)
    assert isinstance(clock, Clock)
    assert clock.monotonic() == 10.0
    assert clock.time() == 1_000.0


def test_fake_clock_advance_moves_both_readings() -> None:
    clock = FakeClock()
    wall = clock.time()
    clock.advance(2.5)
    assert clock.monotonic() == 2.5
    assert clock.time() == wall + 2.5


@pytest.mark.parametrize("seconds", [-1.0, float("nan")])
def test_fake_clock_refuses_to_run_backwards(seconds: float) -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="non-negative"):
        clock.advance(seconds)
    assert clock.monotonic() == 0.0


def test_fake_clock_sleep_advances_and_records() -> None:
    clock = FakeClock()
    clock.sleep(1.5)
    clock.sleep(0.5)
    assert clock.monotonic() == 2.0
    assert clock.sleeps == [1.5, 0.5]


@pytest.mark.anyio
async def test_concurrent_async_sleepers_share_time() -> None:
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.asleep(seconds)
        woke.append((name, clock.monotonic()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper, "a", 1.0)
        tg.start_soon(sleeper, "b", 1.0)
    # Two tasks sleeping one second side by side take one second of fake time, not two.
    assert clock.monotonic() == 1.0
    assert sorted(t for _, t in woke) == [1.0, 1.0]


def test_fake_clock_is_thread_safe() -> None:
    clock = FakeClock()

    def work() -> None:
        for _ in range(1000):
            clock.advance(0.001)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.monotonic() == pytest.approx(4.0)
    assert "FakeClock(monotonic=" in repr(clock)

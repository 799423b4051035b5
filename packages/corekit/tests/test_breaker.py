from __future__ import annotations

import contextlib
import logging
import math
import random
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import corekit.breaker
from corekit.breaker import (
    BreakerSnapshot,
    Circuit,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
)
from corekit.errors import ConfigurationError
from corekit.testing import FakeClock

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN

Event = tuple[str, CircuitState, CircuitState]


class Boom(Exception):
    pass


class Ignored(Exception):
    pass


class Abort(BaseException):
    """Stands for cancellation / KeyboardInterrupt on the sync faces."""


def make(clock: FakeClock, events: list[Event] | None = None, **kwargs: Any) -> CircuitBreaker:
    kwargs.setdefault("failure_threshold", 3)
    kwargs.setdefault("recovery_time", 10.0)
    hook = None if events is None else (lambda k, o, n: events.append((k, o, n)))
    return CircuitBreaker(clock=clock, on_state_change=hook, name="api", **kwargs)


def trip(breaker: CircuitBreaker, key: str = "default", n: int = 3) -> None:
    for _ in range(n):
        breaker.before_call(key)
        breaker.record_failure(key)


def test_public_names() -> None:
    assert corekit.breaker.__all__ == [
        "Admission",
        "BreakerSnapshot",
        "Circuit",
        "CircuitBreaker",
        "CircuitOpenError",
        "CircuitState",
    ]


# -- low-level protocol -----------------------------------------------------------------------


def test_closed_counts_consecutive_failures_and_success_resets(clock: FakeClock) -> None:
    breaker = make(clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.snapshot()["default"].failures == 2
    breaker.before_call()
    breaker.record_success()
    assert breaker.snapshot() == {}
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state() is CLOSED
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state() is OPEN


def test_open_refuses_until_recovery_time_then_admits_a_probe(clock: FakeClock) -> None:
    clock.advance(100.0)
    breaker = make(clock)
    trip(breaker)
    clock.advance(9.5)
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call()
    assert info.value.key == "default"
    assert info.value.retry_at == 110.0
    message = str(info.value)
    assert "'api'" in message
    assert "3 failures" in message
    assert "0.5 s" in message
    assert breaker.state() is OPEN
    clock.advance(0.5)  # exactly at retry_at
    breaker.before_call()
    assert breaker.state() is HALF_OPEN
    assert breaker.snapshot()["default"].probes_in_flight == 1
    breaker.record_success()
    assert breaker.state() is CLOSED
    assert breaker.snapshot() == {}


def test_reading_state_moves_open_to_half_open(clock: FakeClock) -> None:
    events: list[Event] = []
    breaker = make(clock, events)
    trip(breaker)
    clock.advance(10.0)
    assert breaker.state() is HALF_OPEN
    assert events == [("default", CLOSED, OPEN), ("default", OPEN, HALF_OPEN)]
    assert breaker.snapshot()["default"].probes_in_flight == 0


def test_half_open_failure_reopens_and_restarts_timer(clock: FakeClock) -> None:
    breaker = make(clock)
    trip(breaker)
    clock.advance(15.0)
    breaker.before_call()
    breaker.record_failure()
    snap = breaker.snapshot()["default"]
    assert snap.state is OPEN
    assert snap.opened_at == 15.0
    assert snap.retry_at == 25.0
    assert snap.failures == 4
    clock.advance(9.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call()
    assert info.value.retry_at == 25.0
    clock.advance(1.0)
    breaker.before_call()
    assert breaker.state() is HALF_OPEN


def test_probe_limit_and_release(clock: FakeClock) -> None:
    breaker = make(clock, half_open_max_calls=2, success_threshold=5)
    trip(breaker)
    clock.advance(10.0)
    breaker.before_call()
    breaker.before_call()
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call()
    assert info.value.retry_at == clock.monotonic()
    assert "half-open" in str(info.value)
    breaker.release()
    snap = breaker.snapshot()["default"]
    assert (snap.state, snap.probes_in_flight, snap.probe_successes) == (HALF_OPEN, 1, 0)
    breaker.before_call()  # the freed slot
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    breaker.record_success()
    assert breaker.snapshot()["default"].probe_successes == 1
    breaker.before_call()


def test_success_threshold_needs_that_many_probe_successes(clock: FakeClock) -> None:
    breaker = make(clock, success_threshold=3)
    trip(breaker)
    clock.advance(10.0)
    for expected in (1, 2):
        breaker.before_call()
        breaker.record_success()
        snap = breaker.snapshot()["default"]
        assert (snap.state, snap.probe_successes) == (HALF_OPEN, expected)
    breaker.before_call()
    breaker.record_success()
    assert breaker.state() is CLOSED


def test_outcome_reported_while_open_changes_nothing(clock: FakeClock) -> None:
    breaker = make(clock)
    breaker.before_call()  # a slow call admitted while closed
    trip(breaker)
    clock.advance(20.0)  # recovery time is up, but nobody asked yet
    breaker.record_success()
    snap = breaker.snapshot()["default"]
    assert snap.state is HALF_OPEN
    assert snap.probe_successes == 0


def test_keys_are_independent(clock: FakeClock) -> None:
    breaker = make(clock)
    trip(breaker, "a")
    breaker.before_call("b")
    breaker.record_failure("b")
    assert breaker.state("a") is OPEN
    assert breaker.state("b") is CLOSED
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call("a")
    assert info.value.key == "a"
    assert "'a'" in str(info.value)
    breaker.before_call("b")
    breaker.before_call("c")
    assert set(breaker.snapshot()) == {"a", "b"}


def test_closed_keys_without_failures_take_no_memory(clock: FakeClock) -> None:
    breaker = make(clock)
    for i in range(1000):
        key = f"host-{i}"
        breaker.before_call(key)
        breaker.record_failure(key)
        breaker.before_call(key)
        breaker.record_success(key)
        breaker.state(key)
    assert breaker.snapshot() == {}
    trip(breaker, "x")
    clock.advance(10.0)
    breaker.before_call("x")
    breaker.record_success("x")
    assert breaker.snapshot() == {}


def test_reset_one_key_or_all(clock: FakeClock) -> None:
    events: list[Event] = []
    breaker = make(clock, events)
    trip(breaker, "a")
    trip(breaker, "b")
    breaker.before_call("c")
    breaker.record_failure("c")
    breaker.reset("a")
    assert breaker.state("a") is CLOSED
    assert breaker.state("b") is OPEN
    breaker.reset()
    assert breaker.snapshot() == {}
    assert [e for e in events if e[2] is CLOSED] == [("a", OPEN, CLOSED), ("b", OPEN, CLOSED)]
    breaker.reset("never-seen")


def test_snapshot_fields(clock: FakeClock) -> None:
    breaker = make(clock, half_open_max_calls=2, success_threshold=2)
    clock.advance(5.0)
    trip(breaker, "a")
    breaker.before_call("b")
    breaker.record_failure("b")
    snapshot = breaker.snapshot()
    assert snapshot["a"] == BreakerSnapshot(
        state=OPEN, failures=3, opened_at=5.0, retry_at=15.0, probes_in_flight=0, probe_successes=0
    )
    assert snapshot["b"] == BreakerSnapshot(
        state=CLOSED,
        failures=1,
        opened_at=None,
        retry_at=None,
        probes_in_flight=0,
        probe_successes=0,
    )
    clock.advance(10.0)
    breaker.before_call("a")
    breaker.before_call("a")
    breaker.record_success("a")
    assert breaker.snapshot()["a"] == BreakerSnapshot(
        state=HALF_OPEN,
        failures=3,
        opened_at=5.0,
        retry_at=None,
        probes_in_flight=1,
        probe_successes=1,
    )


def test_infinite_recovery_time_stays_open_until_reset(clock: FakeClock) -> None:
    breaker = make(clock, recovery_time=math.inf)
    trip(breaker)
    clock.advance(1e9)
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call()
    assert info.value.retry_at == math.inf
    breaker.reset()
    breaker.before_call()


# -- hooks ------------------------------------------------------------------------------------


def test_hooks_see_every_transition_in_order(clock: FakeClock) -> None:
    events: list[Event] = []
    breaker = make(clock, events, success_threshold=2)
    trip(breaker)
    clock.advance(10.0)
    breaker.before_call()
    breaker.record_failure()
    clock.advance(10.0)
    breaker.before_call()
    breaker.record_success()
    breaker.before_call()
    breaker.record_success()
    assert events == [
        ("default", CLOSED, OPEN),
        ("default", OPEN, HALF_OPEN),
        ("default", HALF_OPEN, OPEN),
        ("default", OPEN, HALF_OPEN),
        ("default", HALF_OPEN, CLOSED),
    ]


def test_raising_hook_is_logged_and_changes_nothing(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[Event] = []

    def hook(key: str, old: CircuitState, new: CircuitState) -> None:
        calls.append((key, old, new))
        raise RuntimeError("hook bug")

    breaker = CircuitBreaker(
        failure_threshold=1, recovery_time=1.0, clock=clock, on_state_change=hook
    )
    with caplog.at_level(logging.ERROR, logger="corekit._breaker"):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state() is OPEN
    clock.advance(1.0)
    breaker.before_call()
    breaker.record_success()
    assert breaker.state() is CLOSED
    assert [c[2] for c in calls] == [OPEN, HALF_OPEN, CLOSED]
    failures = [r for r in caplog.records if "hook" in r.getMessage()]
    assert failures
    assert failures[0].exc_info is not None


def test_hook_may_call_back_into_the_breaker(clock: FakeClock) -> None:
    seen: list[tuple[Event, CircuitState]] = []

    def hook(key: str, old: CircuitState, new: CircuitState) -> None:
        # Reading the state re-enters the breaker; with a hook held under the lock this
        # would deadlock. The nested transition (OPEN -> HALF_OPEN) is queued, not lost.
        clock.advance(10.0)
        seen.append(((key, old, new), breaker.state(key)))

    breaker = CircuitBreaker(
        failure_threshold=1, recovery_time=10.0, clock=clock, on_state_change=hook
    )
    breaker.before_call()
    breaker.record_failure()
    assert [s[0] for s in seen] == [
        ("default", CLOSED, OPEN),
        ("default", OPEN, HALF_OPEN),
    ]
    assert seen[0][1] is HALF_OPEN


def test_transitions_are_logged(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    breaker = make(clock)
    with caplog.at_level(logging.INFO, logger="corekit._breaker"):
        trip(breaker, "db")
        clock.advance(10.0)
        breaker.state("db")
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (logging.WARNING, messages[0][1]) == messages[0]
    assert "opened for key 'db' after 3 failures" in messages[0][1]
    assert messages[1] == (logging.INFO, "circuit breaker 'api' key 'db': open -> half_open")


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("failure_threshold", 0),
        ("failure_threshold", 1.5),
        ("failure_threshold", True),
        ("half_open_max_calls", 0),
        ("success_threshold", -1),
        ("recovery_time", 0),
        ("recovery_time", -2.0),
        ("recovery_time", math.nan),
        ("recovery_time", "30"),
    ],
)
def test_invalid_settings_raise_configuration_error(argument: str, value: object) -> None:
    settings: dict[str, Any] = {argument: value}
    with pytest.raises(ConfigurationError, match=argument) as info:
        CircuitBreaker(**settings)
    assert repr(value) in str(info.value)
    assert isinstance(info.value, ValueError)


# -- the guard / call faces, sync and async ------------------------------------------------------

FACES = ["guard", "aguard", "call", "acall"]


async def through(
    face: str, breaker: CircuitBreaker, key: str, body: Callable[[], object]
) -> object:
    """Run ``body`` as one call through ``breaker`` using the given face."""
    circuit: CircuitBreaker | Circuit = breaker if key == "default" else breaker.for_key(key)
    if face == "guard":
        with breaker.guard(key):
            return body()
    if face == "aguard":
        async with breaker.aguard(key):
            await anyio.lowlevel.checkpoint()
            return body()
    if face == "call":
        return circuit.call(body)

    async def abody() -> object:
        await anyio.lowlevel.checkpoint()
        return body()

    return await circuit.acall(abody)


def ok() -> str:
    return "ok"


def boom() -> None:
    raise Boom


def ignored() -> None:
    raise Ignored


def abort() -> None:
    raise Abort


@pytest.fixture(params=FACES)
def face(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
@pytest.mark.parametrize("key", ["default", "host-a"])
async def test_face_full_cycle(face: str, key: str, clock: FakeClock) -> None:
    events: list[Event] = []
    breaker = make(clock, events)
    assert await through(face, breaker, key, ok) == "ok"
    for _ in range(3):
        with pytest.raises(Boom):
            await through(face, breaker, key, boom)
    with pytest.raises(CircuitOpenError) as info:
        await through(face, breaker, key, ok)
    assert (info.value.key, info.value.retry_at) == (key, 10.0)
    clock.advance(10.0)
    with pytest.raises(Boom):
        await through(face, breaker, key, boom)  # failed probe
    assert breaker.state(key) is OPEN
    clock.advance(10.0)
    assert await through(face, breaker, key, ok) == "ok"
    assert breaker.state(key) is CLOSED
    assert [e[1:] for e in events] == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]
    assert {e[0] for e in events} == {key}


@pytest.mark.anyio
async def test_face_is_failure_filters_exceptions(face: str, clock: FakeClock) -> None:
    seen: list[BaseException] = []

    def is_failure(exc: BaseException) -> bool:
        seen.append(exc)
        return not isinstance(exc, Ignored)

    breaker = make(clock, is_failure=is_failure, failure_threshold=1)
    for _ in range(5):
        with pytest.raises(Ignored):
            await through(face, breaker, "default", ignored)
    assert breaker.snapshot() == {}
    assert len(seen) == 5
    with pytest.raises(Boom):
        await through(face, breaker, "default", boom)
    assert breaker.state() is OPEN


@pytest.mark.anyio
async def test_face_non_failures_free_the_probe_slot(face: str, clock: FakeClock) -> None:
    breaker = make(clock, is_failure=lambda exc: not isinstance(exc, Ignored))
    trip(breaker)
    clock.advance(10.0)
    for body in (ignored, abort):
        with pytest.raises((Ignored, Abort)):
            await through(face, breaker, "default", body)
        snap = breaker.snapshot()["default"]
        assert (snap.state, snap.probes_in_flight, snap.probe_successes) == (HALF_OPEN, 0, 0)
    assert await through(face, breaker, "default", ok) == "ok"
    assert breaker.state() is CLOSED


@pytest.mark.anyio
async def test_face_success_threshold(face: str, clock: FakeClock) -> None:
    breaker = make(clock, success_threshold=2)
    trip(breaker)
    clock.advance(10.0)
    await through(face, breaker, "default", ok)
    assert breaker.state() is HALF_OPEN
    await through(face, breaker, "default", ok)
    assert breaker.state() is CLOSED


@pytest.mark.anyio
async def test_face_raising_is_failure_counts_as_failure(
    face: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def is_failure(exc: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    breaker = make(clock, failure_threshold=1, is_failure=is_failure)
    with caplog.at_level(logging.ERROR, logger="corekit._breaker"), pytest.raises(Boom):
        await through(face, breaker, "default", boom)
    assert breaker.state() is OPEN
    assert any("is_failure" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
@pytest.mark.parametrize("face_name", ["aguard", "acall"])
async def test_async_cancellation_releases_the_probe(face_name: str, clock: FakeClock) -> None:
    breaker = make(clock)
    trip(breaker)
    clock.advance(10.0)
    entered = anyio.Event()

    async def hang() -> None:
        entered.set()
        await anyio.sleep_forever()

    async def run() -> None:
        if face_name == "aguard":
            async with breaker.aguard():
                await hang()
        else:
            await breaker.acall(hang)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await entered.wait()
        assert breaker.snapshot()["default"].probes_in_flight == 1
        with pytest.raises(CircuitOpenError):
            breaker.before_call()
        tg.cancel_scope.cancel()
    snap = breaker.snapshot()["default"]
    assert (snap.state, snap.probes_in_flight) == (HALF_OPEN, 0)


@pytest.mark.anyio
@pytest.mark.parametrize("face_name", ["guard", "aguard"])
async def test_call_started_before_opening_is_not_a_probe(face_name: str, clock: FakeClock) -> None:
    breaker = make(clock, half_open_max_calls=1)
    async with contextlib.AsyncExitStack() as stack:
        # A slow call admitted while CLOSED ...
        if face_name == "guard":
            stale = contextlib.ExitStack()
            stale.enter_context(breaker.guard())
        else:
            stale_async = contextlib.AsyncExitStack()
            await stale_async.enter_async_context(breaker.aguard())
        trip(breaker)
        clock.advance(10.0)
        # ... the real probe ...
        if face_name == "guard":
            stack.enter_context(breaker.guard())
        else:
            await stack.enter_async_context(breaker.aguard())
        # ... and the slow call ends well: it neither closes the circuit nor frees the slot.
        if face_name == "guard":
            stale.close()
        else:
            await stale_async.aclose()
        assert breaker.state() is HALF_OPEN
        with pytest.raises(CircuitOpenError):
            breaker.before_call()
    assert breaker.state() is CLOSED  # the real probe succeeded


def test_call_passes_arguments_and_keyword_named_key(clock: FakeClock) -> None:
    breaker = make(clock)

    def fn(a: int, *, key: str) -> str:
        return f"{a}-{key}"

    assert breaker.call(fn, 1, key="k") == "1-k"
    assert breaker.for_key("other").call(fn, 2, key="k") == "2-k"
    circuit = breaker.for_key("h")
    assert (circuit.breaker, circuit.key) == (breaker, "h")
    circuit.before_call()
    circuit.record_failure()
    assert breaker.snapshot()["h"].failures == 1
    circuit.before_call()
    circuit.release()
    assert circuit.state() is CLOSED
    circuit.record_success()
    assert breaker.snapshot() == {}
    trip(breaker, "h")
    assert circuit.state() is OPEN
    circuit.reset()
    assert circuit.state() is CLOSED
    assert repr(circuit) == "Circuit(breaker='api', key='h')"


# -- threads ----------------------------------------------------------------------------------


@contextlib.contextmanager
def fast_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def test_threads_never_admit_more_than_the_probe_limit(clock: FakeClock) -> None:
    """Rounds of 12 threads racing into a half-open circuit: exactly 2 get in each round."""
    breaker = make(clock, half_open_max_calls=2, success_threshold=10**9)
    trip(breaker)
    clock.advance(10.0)
    n_threads = 12
    for _ in range(5):
        start = threading.Barrier(n_threads)
        finish = threading.Event()
        admitted: list[int] = []
        refused: list[int] = []
        done = threading.Semaphore(0)

        def worker(i: int) -> None:
            start.wait(timeout=10)  # noqa: B023 - each round's threads finish within it
            try:
                with breaker.guard():
                    admitted.append(i)  # noqa: B023
                    done.release()  # noqa: B023
                    assert finish.wait(timeout=10)  # noqa: B023
            except CircuitOpenError:
                refused.append(i)  # noqa: B023
                done.release()  # noqa: B023

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for _ in range(n_threads):
            assert done.acquire(timeout=10)
        assert (len(admitted), len(refused)) == (2, n_threads - 2)
        finish.set()
        for t in threads:
            t.join(timeout=10)
        assert breaker.snapshot()["default"].probes_in_flight == 0


def test_threads_chaos_keeps_probe_limit_and_hook_order() -> None:
    clock = FakeClock()
    events: list[Event] = []
    breaker = make(
        clock, events, failure_threshold=2, recovery_time=1.0, half_open_max_calls=2,
        success_threshold=3,
    )  # fmt: skip
    lock = threading.Lock()
    inside: dict[str, int] = {"a": 0, "b": 0}
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(300):
                key = rng.choice("ab")
                if rng.random() < 0.05:
                    clock.advance(rng.choice([0.5, 1.0]))
                try:
                    with breaker.guard(key):
                        with lock:
                            inside[key] += 1
                        try:
                            roll = rng.random()
                            if roll < 0.3:
                                raise Boom
                            if roll < 0.4:
                                raise Abort
                        finally:
                            with lock:
                                inside[key] -= 1
                except (CircuitOpenError, Boom, Abort):
                    pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with fast_switching():
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert not errors
    final = {key: breaker.state(key) for key in "ab"}
    for key in "ab":
        assert inside[key] == 0
        snap = breaker.snapshot().get(key)
        assert snap is None or snap.probes_in_flight == 0
    assert any(e[2] is OPEN for e in events)
    # Hooks arrive in transition order: per key, every event starts where the last one ended.
    for key in "ab":
        state = CLOSED
        for k, old, new in events:
            if k == key:
                assert old is state, (key, old, state)
                state = new
        assert state is final[key]


def test_admission_keeps_stale_outcomes_from_settling_a_half_open_circuit(
    clock: FakeClock,
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_time=10.0, clock=clock)
    slow = breaker.before_call("h")  # admitted while CLOSED, finishes much later
    assert slow.period is None
    breaker.record_failure("h", breaker.before_call("h"))  # opens the circuit
    clock.advance(10.0)
    probe = breaker.before_call("h")  # the one probe of this half-open period
    assert probe.period is not None
    breaker.record_success("h", slow)  # stale: must neither close nor free the probe slot
    assert breaker.state("h") is CircuitState.HALF_OPEN
    with pytest.raises(CircuitOpenError):
        breaker.before_call("h")
    breaker.record_success("h", probe)
    assert breaker.state("h") is CircuitState.CLOSED


def test_outcomes_without_admission_count_as_probe_outcomes(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_time=10.0, clock=clock)
    breaker.before_call("h")
    breaker.record_failure("h")
    clock.advance(10.0)
    breaker.before_call("h")
    breaker.record_success("h")
    assert breaker.state("h") is CircuitState.CLOSED

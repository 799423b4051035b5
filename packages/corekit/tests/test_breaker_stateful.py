"""Hypothesis state machines: CircuitBreaker against a small reference model.

Two machines drive the same model: one through the low-level protocol (``before_call`` /
``record_*`` / ``release``), one through ``guard`` (which remembers whether each call is a
probe of the current half-open period, so the real number of running probes can be checked).
Reading the state moves OPEN to HALF_OPEN, so reads are rules, not invariants: invariants only
look at the model and at what the machine holds.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)

from corekit.breaker import CircuitBreaker, CircuitOpenError, CircuitState
from corekit.testing import FakeClock

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
RECOVERY = 10.0
KEYS = st.sampled_from(["a", "b", "c"])
OUTCOMES = st.sampled_from(["success", "failure", "release"])


class Boom(Exception):
    pass


class Cancelled(BaseException):
    pass


@dataclass
class KeyModel:
    state: CircuitState = CLOSED
    failures: int = 0
    opened_at: float | None = None
    in_flight: int = 0
    successes: int = 0
    period: int = 0


@dataclass
class Model:
    failure_threshold: int
    half_open_max_calls: int
    success_threshold: int
    keys: dict[str, KeyModel] = field(default_factory=dict)
    events: list[tuple[str, CircuitState, CircuitState]] = field(default_factory=list)
    periods: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def key(self, key: str) -> KeyModel:
        return self.keys.setdefault(key, KeyModel())

    def move(self, key: str, new: CircuitState, now: float) -> None:
        k = self.key(key)
        self.events.append((key, k.state, new))
        k.state, k.in_flight, k.successes = new, 0, 0
        if new is OPEN:
            k.opened_at = now
        elif new is HALF_OPEN:
            k.period = next(self.periods)
        else:
            k.failures, k.opened_at = 0, None

    def tick(self, key: str, now: float) -> KeyModel:
        k = self.key(key)
        if k.state is OPEN:
            assert k.opened_at is not None
            if now >= k.opened_at + RECOVERY:
                self.move(key, HALF_OPEN, now)
        return k

    def admit(self, key: str, now: float) -> tuple[bool, int | None, float | None]:
        """Return (admitted, probe period, retry_at of the refusal)."""
        k = self.tick(key, now)
        if k.state is CLOSED:
            return True, None, None
        if k.state is HALF_OPEN:
            if k.in_flight < self.half_open_max_calls:
                k.in_flight += 1
                return True, k.period, None
            return False, None, now
        assert k.opened_at is not None
        assert now < k.opened_at + RECOVERY  # OPEN refuses only before the recovery time
        return False, None, k.opened_at + RECOVERY

    def settle(self, key: str, outcome: str, now: float, period: int | None, guarded: bool) -> None:
        k = self.key(key)
        if k.state is CLOSED:
            if outcome == "failure":
                k.failures += 1
                if k.failures >= self.failure_threshold:
                    self.move(key, OPEN, now)
            elif outcome == "success":
                k.failures = 0
        elif k.state is HALF_OPEN and (not guarded or period == k.period):
            k.in_flight = max(0, k.in_flight - 1)
            if outcome == "success":
                k.successes += 1
                if k.successes >= self.success_threshold:
                    self.move(key, CLOSED, now)
            elif outcome == "failure":
                k.failures += 1
                self.move(key, OPEN, now)


@dataclass
class Call:
    key: str
    period: int | None
    guard: contextlib.AbstractContextManager[None] | None


class LowLevelMachine(RuleBasedStateMachine):
    guarded = False
    calls = Bundle("calls")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.events: list[tuple[str, CircuitState, CircuitState]] = []
        self.open_calls: list[Call] = []

    @initialize(
        failure_threshold=st.integers(1, 3),
        half_open_max_calls=st.integers(1, 3),
        success_threshold=st.integers(1, 3),
    )
    def setup(
        self, failure_threshold: int, half_open_max_calls: int, success_threshold: int
    ) -> None:
        self.model = Model(failure_threshold, half_open_max_calls, success_threshold)
        self.breaker = CircuitBreaker(
            failure_threshold=failure_threshold,
            recovery_time=RECOVERY,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            clock=self.clock,
            on_state_change=lambda *event: self.events.append(event),
        )

    def now(self) -> float:
        return self.clock.monotonic()

    @rule(target=calls, key=KEYS)
    def begin(self, key: str) -> object:
        admitted, period, retry_at = self.model.admit(key, self.now())
        guard = self.breaker.guard(key) if self.guarded else None
        refusal: CircuitOpenError | None = None
        try:
            if guard is None:
                self.breaker.before_call(key)
            else:
                guard.__enter__()
        except CircuitOpenError as exc:
            refusal = exc
        if refusal is not None:
            assert not admitted
            assert (refusal.key, refusal.retry_at) == (key, retry_at)
            return multiple()
        assert admitted
        call = Call(key, period, guard)
        self.open_calls.append(call)
        return call

    @rule(call=consumes(calls), outcome=OUTCOMES)
    def finish(self, call: Call, outcome: str) -> None:
        self.open_calls.remove(call)
        self.model.settle(call.key, outcome, self.now(), call.period, self.guarded)
        if call.guard is None:
            {
                "success": self.breaker.record_success,
                "failure": self.breaker.record_failure,
                "release": self.breaker.release,
            }[outcome](call.key)
            return
        exc: BaseException | None = {"success": None, "failure": Boom(), "release": Cancelled()}[
            outcome
        ]
        if exc is None:
            call.guard.__exit__(None, None, None)
        else:
            # The guard re-raises: __exit__ reports "not suppressed" by returning False.
            assert call.guard.__exit__(type(exc), exc, None) is False

    @rule(seconds=st.one_of(st.sampled_from([RECOVERY, RECOVERY / 2]), st.floats(0, 2 * RECOVERY)))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(key=KEYS)
    def observe_state(self, key: str) -> None:
        assert self.breaker.state(key) is self.model.tick(key, self.now()).state
        self.check_events()

    @rule()
    def observe_snapshot(self) -> None:
        snapshot = self.breaker.snapshot()
        for key in list(self.model.keys):
            k = self.model.tick(key, self.now())
            if k.state is CLOSED and k.failures == 0:
                assert key not in snapshot  # such keys take no memory
                continue
            s = snapshot[key]
            assert (s.state, s.failures, s.opened_at) == (k.state, k.failures, k.opened_at)
            assert (s.probes_in_flight, s.probe_successes) == (k.in_flight, k.successes)
        assert set(snapshot) <= set(self.model.keys)
        self.check_events()

    @rule(key=st.one_of(st.none(), KEYS))
    def reset(self, key: str | None) -> None:
        self.breaker.reset(key)
        for k in [key] if key is not None else list(self.model.keys):
            if self.model.key(k).state is not CLOSED:
                self.model.move(k, CLOSED, self.now())
            self.model.key(k).failures = 0

    def check_events(self) -> None:
        # One snapshot may move several keys in dict order; per key, the order is exact.
        for key in self.model.keys:
            got = [e for e in self.events if e[0] == key]
            assert got == [e for e in self.model.events if e[0] == key]

    @invariant()
    def model_invariants(self) -> None:
        if not hasattr(self, "model"):
            return
        for key, k in self.model.keys.items():
            assert k.state in (CLOSED, OPEN, HALF_OPEN)
            assert k.failures >= 0
            assert 0 <= k.in_flight <= self.model.half_open_max_calls
            assert k.successes < self.model.success_threshold
            if k.state is not HALF_OPEN:
                assert (k.in_flight, k.successes) == (0, 0)
            if self.guarded and k.state is HALF_OPEN:
                # Real probes of this half-open period, not just the breaker's counter.
                probes = [c for c in self.open_calls if c.key == key and c.period == k.period]
                assert len(probes) == k.in_flight <= self.model.half_open_max_calls

    def teardown(self) -> None:
        if hasattr(self, "breaker"):
            self.observe_snapshot()


class GuardMachine(LowLevelMachine):
    guarded = True


_settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TestLowLevelProtocol = LowLevelMachine.TestCase
TestLowLevelProtocol.settings = _settings
TestGuard = GuardMachine.TestCase
TestGuard.settings = _settings

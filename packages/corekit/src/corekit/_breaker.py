"""Circuit breaker: closed / open / half-open with limited probes, per key, sync and async.

Written by hand (see reference/aesthetics.md §B.3): pybreaker is sync-only (its "async" runs on
Tornado), aiobreaker and purgatory are stale (purgatory pins ``redis<6``) and circuitbreaker has
no locks, no hooks and no clock injection. None offers, together, an asyncio-native and a sync
face, an injectable clock, per-key circuits, a limit on half-open probes and event hooks. The
state machine is small; pybreaker's listener design is the reference for the hook, not its code.

One :class:`threading.Lock` guards all keys. It is held only for the arithmetic of a transition,
never while user code runs or while awaiting, so one breaker serves threads and event loops at
once: no transition ever needs to wait.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from corekit.clock import Clock, system_clock
from corekit.errors import CircuitOpenError, ConfigurationError

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_KEY = "default"


class CircuitState(enum.StrEnum):
    """The three states of one circuit."""

    CLOSED = "closed"
    """Calls pass; consecutive failures are counted."""
    OPEN = "open"
    """Calls are refused until ``recovery_time`` has passed."""
    HALF_OPEN = "half_open"
    """A limited number of probe calls test whether the remote side recovered."""


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """The state of one key at one moment, for metrics and diagnostics.

    Attributes:
        state: the circuit's state.
        failures: failures since the circuit was last closed (consecutive failures while CLOSED).
        opened_at: ``clock.monotonic()`` when the circuit last opened, or ``None``.
        retry_at: ``clock.monotonic()`` from which probes are allowed (OPEN only), or ``None``.
        probes_in_flight: admitted half-open probes that have not finished.
        probe_successes: successful probes in the current half-open period.
    """

    state: CircuitState
    failures: int
    opened_at: float | None
    retry_at: float | None
    probes_in_flight: int
    probe_successes: int


@dataclass(slots=True)
class _Circuit:
    state: CircuitState = CircuitState.CLOSED
    failures: int = 0
    opened_at: float | None = None
    probes_in_flight: int = 0
    probe_successes: int = 0
    # Identifies the current half-open period, so a probe admitted in an earlier period cannot
    # free a slot or count a success in this one.
    period: int = 0


class _Outcome(enum.Enum):
    SUCCESS = enum.auto()
    FAILURE = enum.auto()
    RELEASE = enum.auto()


_Event = tuple[str, CircuitState, CircuitState, int]


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"CircuitBreaker {name} must be an integer >= 1, got {value!r}"
        raise ConfigurationError(msg)
    return value


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        msg = (
            f"CircuitBreaker {name} must be a number of seconds > 0 "
            f"(math.inf: stay open until reset()), got {value!r}"
        )
        raise ConfigurationError(msg)
    return float(value)


@dataclass(frozen=True, slots=True)
class Admission:
    """The ticket :meth:`CircuitBreaker.before_call` hands out for one admitted call.

    Attributes:
        period: the half-open period the call probes, or ``None`` when it is not a probe.
    """

    period: int | None


class CircuitBreaker:
    """Per-key circuit breaker shared by sync and async callers.

    Each key (a host, an endpoint family) has its own circuit:

    * CLOSED: calls pass. ``failure_threshold`` consecutive failures open the circuit.
    * OPEN: calls are refused with :class:`~corekit.errors.CircuitOpenError` until
      ``recovery_time`` seconds have passed; then the circuit turns HALF_OPEN.
    * HALF_OPEN: at most ``half_open_max_calls`` probes run at once, the rest are refused.
      ``success_threshold`` successful probes close the circuit; one failed probe opens it
      again and restarts the recovery timer.

    Keys that are CLOSED with no failures take no memory.

    Two ways to use it. The low-level protocol, for pipelines that classify outcomes
    themselves: call :meth:`before_call`, then exactly one of :meth:`record_success`,
    :meth:`record_failure` or :meth:`release`. An outcome reported this way while HALF_OPEN is
    taken as a probe's outcome. The high-level faces :meth:`guard`, :meth:`aguard`,
    :meth:`call` and :meth:`acall` do that bookkeeping, and also remember whether their call
    was a probe of the current half-open period: a call that started before the circuit opened
    cannot close it or free a probe's slot. ``call``/``acall`` use the key ``"default"``;
    ``breaker.for_key(key)`` gives the same faces for another key, so a callable's own keyword
    arguments never clash with the key::

        breaker = CircuitBreaker(failure_threshold=3, recovery_time=10.0)
        breaker.for_key("api.example.com").call(fetch, url)
        async with breaker.aguard("api.example.com"):
            await afetch(url)

    Args:
        failure_threshold: consecutive failures that open a closed circuit.
        recovery_time: seconds an open circuit refuses calls before admitting probes.
        half_open_max_calls: probes admitted at once while half-open.
        success_threshold: successful probes that close a half-open circuit.
        is_failure: decides whether an exception raised inside a guard counts as a failure
            (default: every :class:`Exception`). Exceptions it rejects, and cancellation or
            other non-``Exception`` errors, free the call's slot and change nothing else.
        on_state_change: called as ``hook(key, old, new)`` after every transition, outside the
            lock and in the order the transitions happened. An exception from it is logged and
            otherwise ignored. When threads race, one thread may run another's hooks.
        clock: time source (``clock.monotonic()``).
        name: names the breaker in error messages and logs.

    Raises:
        ConfigurationError: a threshold below 1 or a ``recovery_time`` that is not positive.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        recovery_time: float = 30.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        is_failure: Callable[[BaseException], bool] | None = None,
        on_state_change: Callable[[str, CircuitState, CircuitState], None] | None = None,
        clock: Clock = system_clock,
        name: str = "breaker",
    ) -> None:
        self._failure_threshold = _check_count("failure_threshold", failure_threshold)
        self._half_open_max_calls = _check_count("half_open_max_calls", half_open_max_calls)
        self._success_threshold = _check_count("success_threshold", success_threshold)
        self._recovery_time = _check_seconds("recovery_time", recovery_time)
        self._is_failure = is_failure
        self._on_state_change = on_state_change
        self._clock = clock
        self.name = name
        self._lock = threading.Lock()
        self._circuits: dict[str, _Circuit] = {}
        self._periods = itertools.count(1)
        self._events: deque[_Event] = deque()
        self._draining = False

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(name={self.name!r}, failure_threshold={self._failure_threshold}, "
            f"recovery_time={self._recovery_time}, half_open_max_calls="
            f"{self._half_open_max_calls}, success_threshold={self._success_threshold})"
        )

    # -- transitions (all called with self._lock held) ------------------------------------

    def _move(self, key: str, circuit: _Circuit, new: CircuitState) -> None:
        old = circuit.state
        circuit.state = new
        circuit.probes_in_flight = 0
        circuit.probe_successes = 0
        if new is CircuitState.OPEN:
            circuit.opened_at = self._clock.monotonic()
        elif new is CircuitState.HALF_OPEN:
            circuit.period = next(self._periods)
        else:
            circuit.failures = 0
            circuit.opened_at = None
            del self._circuits[key]
        self._events.append((key, old, new, circuit.failures))

    def _current(self, key: str) -> _Circuit | None:
        """Return the key's circuit after applying the passage of time."""
        circuit = self._circuits.get(key)
        if (
            circuit is not None
            and circuit.state is CircuitState.OPEN
            and circuit.opened_at is not None
            and self._clock.monotonic() >= circuit.opened_at + self._recovery_time
        ):
            self._move(key, circuit, CircuitState.HALF_OPEN)
        return circuit

    # -- hooks -----------------------------------------------------------------------------

    def _log_transition(
        self, key: str, old: CircuitState, new: CircuitState, failures: int
    ) -> None:
        if new is CircuitState.OPEN:
            logger.warning(
                "circuit breaker %r opened for key %r after %d failures; probes in %.3g s",
                self.name,
                key,
                failures,
                self._recovery_time,
            )
        else:
            logger.info("circuit breaker %r key %r: %s -> %s", self.name, key, old.value, new.value)

    def _run_hooks(self) -> None:
        """Log queued transitions and run the hook, in order, outside the lock.

        One thread drains at a time, which keeps the order; a thread that finds another
        draining leaves its events to it. A hook that calls back into the breaker queues its
        own transitions behind the current one instead of deadlocking.
        """
        # Unlocked fast path: a transition queued concurrently is drained by its own thread.
        if not self._events:
            return
        with self._lock:
            if self._draining:
                return
            self._draining = True
        try:
            while True:
                with self._lock:
                    if not self._events:
                        self._draining = False
                        return
                    key, old, new, failures = self._events.popleft()
                self._log_transition(key, old, new, failures)
                if self._on_state_change is None:
                    continue
                try:
                    self._on_state_change(key, old, new)
                except Exception:
                    logger.exception(
                        "on_state_change hook of circuit breaker %r failed for key %r (%s -> %s)",
                        self.name,
                        key,
                        old.value,
                        new.value,
                    )
        except BaseException:
            with self._lock:
                self._draining = False
            raise

    # -- the low-level protocol -----------------------------------------------------------

    def state(self, key: str = DEFAULT_KEY) -> CircuitState:
        """Return the state of ``key``'s circuit.

        Reading turns an OPEN circuit whose ``recovery_time`` has passed into HALF_OPEN.
        """
        with self._lock:
            circuit = self._current(key)
            state = CircuitState.CLOSED if circuit is None else circuit.state
        self._run_hooks()
        return state

    def _admit(self, key: str) -> int | None:
        """Admit a call or raise; return the half-open period if the call is a probe."""
        error: CircuitOpenError | None = None
        period: int | None = None
        with self._lock:
            circuit = self._current(key)
            if circuit is None or circuit.state is CircuitState.CLOSED:
                pass
            elif circuit.state is CircuitState.HALF_OPEN:
                if circuit.probes_in_flight < self._half_open_max_calls:
                    circuit.probes_in_flight += 1
                    period = circuit.period
                else:
                    error = CircuitOpenError(
                        f"circuit breaker {self.name!r} is half-open for key {key!r} after "
                        f"{circuit.failures} failures: all {self._half_open_max_calls} probe "
                        "call(s) are in flight; retry when they finish",
                        key=key,
                        retry_at=self._clock.monotonic(),
                    )
            else:
                assert circuit.opened_at is not None
                retry_at = circuit.opened_at + self._recovery_time
                wait = retry_at - self._clock.monotonic()
                error = CircuitOpenError(
                    f"circuit breaker {self.name!r} is open for key {key!r} after "
                    f"{circuit.failures} failures; it admits a probe call in {wait:.3g} s "
                    f"(at monotonic {retry_at:.3f})",
                    key=key,
                    retry_at=retry_at,
                )
        self._run_hooks()
        if error is not None:
            raise error
        return period

    def before_call(self, key: str = DEFAULT_KEY) -> Admission:
        """Admit a call for ``key`` or refuse it.

        After it returns, report the call's end with exactly one of :meth:`record_success`,
        :meth:`record_failure` or :meth:`release`, passing the returned :class:`Admission`
        so that a call admitted before the circuit last opened cannot close it or take a
        probe's slot (without it, any outcome reported while half-open counts as a probe's).

        Returns:
            The call's admission ticket.

        Raises:
            CircuitOpenError: the circuit is OPEN (``retry_at`` is when probes are allowed), or
                HALF_OPEN with all probe slots taken (``retry_at`` is now).
        """
        return Admission(self._admit(key))

    def _settle(self, key: str, outcome: _Outcome, *, guarded: bool, period: int | None) -> None:
        with self._lock:
            # No time-based OPEN -> HALF_OPEN here: an outcome reported while OPEN belongs to a
            # call admitted before the circuit opened, even if the recovery time is up.
            circuit = self._circuits.get(key)
            if circuit is None or circuit.state is CircuitState.CLOSED:
                if outcome is _Outcome.FAILURE:
                    if circuit is None:
                        circuit = self._circuits[key] = _Circuit()
                    circuit.failures += 1
                    if circuit.failures >= self._failure_threshold:
                        self._move(key, circuit, CircuitState.OPEN)
                elif outcome is _Outcome.SUCCESS and circuit is not None:
                    del self._circuits[key]
            elif circuit.state is CircuitState.HALF_OPEN and (
                not guarded or period == circuit.period
            ):
                circuit.probes_in_flight = max(0, circuit.probes_in_flight - 1)
                if outcome is _Outcome.SUCCESS:
                    circuit.probe_successes += 1
                    if circuit.probe_successes >= self._success_threshold:
                        self._move(key, circuit, CircuitState.CLOSED)
                elif outcome is _Outcome.FAILURE:
                    circuit.failures += 1
                    self._move(key, circuit, CircuitState.OPEN)
            # OPEN, or a guarded call that is not a probe of this half-open period: the call
            # began before the latest opening and says nothing about the remote side now.
        self._run_hooks()

    def record_success(self, key: str = DEFAULT_KEY, admission: Admission | None = None) -> None:
        """Report that an admitted call succeeded.

        CLOSED: resets the consecutive-failure count. HALF_OPEN: frees a probe slot and counts
        a success; ``success_threshold`` of them close the circuit.
        """
        self._settle(
            key,
            _Outcome.SUCCESS,
            guarded=admission is not None,
            period=None if admission is None else admission.period,
        )

    def record_failure(self, key: str = DEFAULT_KEY, admission: Admission | None = None) -> None:
        """Report that an admitted call failed.

        CLOSED: counts a consecutive failure; ``failure_threshold`` of them open the circuit.
        HALF_OPEN: opens the circuit again and restarts the recovery timer.
        """
        self._settle(
            key,
            _Outcome.FAILURE,
            guarded=admission is not None,
            period=None if admission is None else admission.period,
        )

    def release(self, key: str = DEFAULT_KEY, admission: Admission | None = None) -> None:
        """Report that an admitted call ended with neither success nor failure.

        Use it for cancellation or errors that do not count: it frees the call's probe slot
        and changes nothing else.
        """
        self._settle(
            key,
            _Outcome.RELEASE,
            guarded=admission is not None,
            period=None if admission is None else admission.period,
        )

    def reset(self, key: str | None = None) -> None:
        """Close ``key``'s circuit (every circuit when ``key`` is ``None``) and forget failures."""
        with self._lock:
            keys = list(self._circuits) if key is None else [key]
            for k in keys:
                circuit = self._circuits.get(k)
                if circuit is None:
                    continue
                if circuit.state is CircuitState.CLOSED:
                    del self._circuits[k]
                else:
                    self._move(k, circuit, CircuitState.CLOSED)
        self._run_hooks()

    def snapshot(self) -> dict[str, BreakerSnapshot]:
        """Return the state of every key that is not CLOSED with zero failures.

        Like :meth:`state`, this turns OPEN circuits whose recovery time has passed HALF_OPEN.
        """
        result: dict[str, BreakerSnapshot] = {}
        with self._lock:
            for key in list(self._circuits):
                circuit = self._current(key)
                assert circuit is not None
                retry_at = None
                if circuit.state is CircuitState.OPEN and circuit.opened_at is not None:
                    retry_at = circuit.opened_at + self._recovery_time
                result[key] = BreakerSnapshot(
                    state=circuit.state,
                    failures=circuit.failures,
                    opened_at=circuit.opened_at,
                    retry_at=retry_at,
                    probes_in_flight=circuit.probes_in_flight,
                    probe_successes=circuit.probe_successes,
                )
        self._run_hooks()
        return result

    # -- the high-level faces -------------------------------------------------------------

    def _finish(self, key: str, period: int | None, exc: BaseException | None) -> None:
        if exc is None:
            outcome = _Outcome.SUCCESS
        elif not isinstance(exc, Exception):
            outcome = _Outcome.RELEASE  # cancellation, KeyboardInterrupt, SystemExit
        elif self._is_failure is None:
            outcome = _Outcome.FAILURE
        else:
            try:
                counts = self._is_failure(exc)
            except Exception:
                logger.exception(
                    "is_failure of circuit breaker %r raised; counting the call as a failure",
                    self.name,
                )
                counts = True
            outcome = _Outcome.FAILURE if counts else _Outcome.RELEASE
        self._settle(key, outcome, guarded=True, period=period)

    @contextlib.contextmanager
    def guard(self, key: str = DEFAULT_KEY) -> Iterator[None]:
        """Run the ``with`` block as one call through ``key``'s circuit.

        The block's outcome is recorded on exit (success, failure per ``is_failure``, or a
        release for cancellation); exceptions propagate unchanged.

        Raises:
            CircuitOpenError: on entry, when the circuit refuses the call.
        """
        period = self._admit(key)
        try:
            yield
        except BaseException as exc:
            self._finish(key, period, exc)
            raise
        self._finish(key, period, None)

    @contextlib.asynccontextmanager
    async def aguard(self, key: str = DEFAULT_KEY) -> AsyncIterator[None]:
        """Async twin of :meth:`guard`, for ``async with``.

        Raises:
            CircuitOpenError: on entry, when the circuit refuses the call.
        """
        period = self._admit(key)
        try:
            yield
        except BaseException as exc:
            self._finish(key, period, exc)
            raise
        self._finish(key, period, None)

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn(*args, **kwargs)`` through the ``"default"`` key's circuit.

        Use ``breaker.for_key(key).call(...)`` for another key.

        Raises:
            CircuitOpenError: when the circuit refuses the call.
        """
        with self.guard():
            return fn(*args, **kwargs)

    async def acall(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` through the ``"default"`` key's circuit.

        Raises:
            CircuitOpenError: when the circuit refuses the call.
        """
        async with self.aguard():
            return await fn(*args, **kwargs)

    def for_key(self, key: str) -> Circuit:
        """Return the faces of this breaker bound to ``key``."""
        return Circuit(self, key)


class Circuit:
    """One key of a :class:`CircuitBreaker`, from :meth:`CircuitBreaker.for_key`.

    It holds no state of its own; every method delegates to the breaker with :attr:`key`.

    Attributes:
        breaker: the breaker this circuit belongs to.
        key: the key it is bound to.
    """

    __slots__ = ("breaker", "key")

    def __init__(self, breaker: CircuitBreaker, key: str) -> None:
        self.breaker = breaker
        self.key = key

    def __repr__(self) -> str:
        return f"Circuit(breaker={self.breaker.name!r}, key={self.key!r})"

    def state(self) -> CircuitState:
        """See :meth:`CircuitBreaker.state`."""
        return self.breaker.state(self.key)

    def before_call(self) -> None:
        """See :meth:`CircuitBreaker.before_call`.

        Raises:
            CircuitOpenError: when the circuit refuses the call.
        """
        self.breaker.before_call(self.key)

    def record_success(self) -> None:
        """See :meth:`CircuitBreaker.record_success`."""
        self.breaker.record_success(self.key)

    def record_failure(self) -> None:
        """See :meth:`CircuitBreaker.record_failure`."""
        self.breaker.record_failure(self.key)

    def release(self) -> None:
        """See :meth:`CircuitBreaker.release`."""
        self.breaker.release(self.key)

    def guard(self) -> contextlib.AbstractContextManager[None]:
        """See :meth:`CircuitBreaker.guard`."""
        return self.breaker.guard(self.key)

    def aguard(self) -> contextlib.AbstractAsyncContextManager[None]:
        """See :meth:`CircuitBreaker.aguard`."""
        return self.breaker.aguard(self.key)

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn(*args, **kwargs)`` through this circuit (see :meth:`CircuitBreaker.call`).

        Raises:
            CircuitOpenError: when the circuit refuses the call.
        """
        with self.breaker.guard(self.key):
            return fn(*args, **kwargs)

    async def acall(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` through this circuit.

        Raises:
            CircuitOpenError: when the circuit refuses the call.
        """
        async with self.breaker.aguard(self.key):
            return await fn(*args, **kwargs)

    def reset(self) -> None:
        """Close this circuit (see :meth:`CircuitBreaker.reset`)."""
        self.breaker.reset(self.key)

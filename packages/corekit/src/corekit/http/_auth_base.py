"""The token state machine shared by every corekit auth flow, written once for both faces.

:class:`TokenFlowAuth` is an :class:`httpx2.Auth` that keeps one token, applies it to each
request, renews it shortly before it expires and once more when the API answers 401, then sends
the request again. Subclasses supply two steps: how to *obtain* a token and how to *apply* it.

Both faces run the same code. The flow is a generator (the httpx ``auth_flow`` pattern) that
yields *effects* instead of doing I/O itself:

* :class:`Send` - send this request through the client's transport, hand back the response
  (read first when the flow needs the body, e.g. a token endpoint answer);
* :class:`Call` - call this function (a login callable), hand back its result or throw its
  exception into the flow;
* ``LOCK`` / ``UNLOCK`` - enter and leave the one-renewal-at-a-time section.

``sync_auth_flow`` executes the effects with blocking primitives (``threading.Lock``, plain
calls); ``async_auth_flow`` with async ones (an ``anyio.Lock`` per event loop, awaiting
coroutine functions and running sync callables in a worker thread). Renewals are serialised per
face: threads of a sync client share the thread lock, tasks of one event loop share that loop's
anyio lock, and the double check under the lock means a task that waited finds the token its
predecessor fetched and sends no request of its own.

Why by hand: Authlib's httpx clients have no lazy first fetch, no lock around the sync refresh,
no 401-driven renewal and no re-grant without a refresh token (see the workspace's aesthetics
study, section B.7); httpx-auth is httpx-only and stalled. The protocol pieces stay Authlib's
(see ``_oauth2.py``); only this state machine is ours.
"""

from __future__ import annotations

import abc
import inspect
import logging
import math
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import anyio
import anyio.to_thread
import httpx2
from anyio.lowlevel import RunVar

from corekit.clock import Clock, system_clock
from corekit.errors import ConfigurationError

logger = logging.getLogger(__name__)

T = TypeVar("T")

Reason = Literal["missing", "expired", "rejected"]
"""Why a token is renewed: none yet, (about to) expire, or refused by the API (401/invalidate)."""


@dataclass(frozen=True, slots=True)
class Send:
    """Effect: send ``request`` through the client; read the body first if ``read_body``."""

    request: httpx2.Request
    read_body: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    """Effect: call ``function(*args)``; sync on the sync face, awaited or threaded on async."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    argument: str = "login"
    """Constructor argument that supplied ``function``, named in misuse errors."""


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


LOCK = _Marker("LOCK")
UNLOCK = _Marker("UNLOCK")

Effect = Send | Call | _Marker
Flow = Generator[Effect, Any, T]
"""A sub-flow yields effects, receives their outcomes and returns a ``T``."""


@dataclass(frozen=True, slots=True)
class _Held(Generic[T]):
    token: T
    renew_at: float | None
    """Clock time (epoch seconds) from which the token counts as stale; None: never."""
    rejected: bool = False


def check_leeway(leeway: float) -> float:
    """Return ``leeway`` as a float, or raise ConfigurationError if it is negative or not finite."""
    if isinstance(leeway, bool) or not isinstance(leeway, int | float):
        msg = f"leeway must be a number of seconds >= 0, got {leeway!r}"
        raise ConfigurationError(msg)
    if not (math.isfinite(leeway) and leeway >= 0):
        msg = f"leeway must be a finite number of seconds >= 0, got {leeway!r}"
        raise ConfigurationError(msg)
    return float(leeway)


def check_callable(name: str, value: object, *, required: bool = False) -> None:
    """Raise ConfigurationError unless ``value`` is callable (or None when not ``required``)."""
    if (value is not None or required) and not callable(value):
        msg = f"{name} must be a callable, got {type(value).__name__}"
        raise ConfigurationError(msg)


class TokenFlowAuth(httpx2.Auth, abc.ABC, Generic[T]):
    """Base of the corekit auth flows: one token, renewed before expiry and on 401.

    Subclasses implement :meth:`_obtain` (a sub-flow returning a new token), :meth:`_apply`,
    :meth:`_expiry` and :meth:`_notify`.

    Args:
        leeway: renew this many seconds before the token expires. Capped at half the token's
            lifetime, so a short-lived token is not renewed on every request.
        clock: time source for expiry decisions.
    """

    # The request is sent a second time after a 401, so a streamed body must be buffered.
    requires_request_body = True
    # Token endpoint answers are read inside the flow (``Send.read_body``); API responses are
    # left to the client, which may stream them.
    requires_response_body = False

    def __init__(self, *, leeway: float = 60.0, clock: Clock = system_clock) -> None:
        self._leeway = check_leeway(leeway)
        self._clock = clock
        self._held: _Held[T] | None = None
        self._thread_lock = threading.Lock()
        self._lock_owner: int | None = None
        """Thread id holding ``_thread_lock``, to refuse a renewal nested in a renewal."""
        self._async_lock: RunVar[anyio.Lock] = RunVar(f"corekit-auth-lock-{id(self):x}")

    # -- subclass hooks ----------------------------------------------------------------------

    @abc.abstractmethod
    def _obtain(self, current: T | None, reason: Reason, request: httpx2.Request) -> Flow[T]:
        """Sub-flow that returns a new token (may yield Send and Call effects).

        ``request`` is the API request that needs the token (e.g. to borrow its timeouts).
        """

    @abc.abstractmethod
    def _apply(self, request: httpx2.Request, token: T) -> None:
        """Put ``token`` on ``request``."""

    @abc.abstractmethod
    def _expiry(self, token: T) -> tuple[float | None, float | None]:
        """Return ``(expires_at, lifetime)`` of ``token``; either may be unknown (None)."""

    @abc.abstractmethod
    def _notify(self, token: T) -> None:
        """Tell the user's ``on_token`` hook about a new token (must not raise)."""

    # -- state -------------------------------------------------------------------------------

    def _hold(self, token: T) -> _Held[T]:
        expires_at, lifetime = self._expiry(token)
        if expires_at is None:
            return _Held(token, None)
        leeway = self._leeway if lifetime is None else min(self._leeway, max(lifetime, 0.0) / 2)
        return _Held(token, expires_at - leeway)

    def _is_stale(self, held: _Held[T]) -> bool:
        return held.rejected or (held.renew_at is not None and self._clock.time() >= held.renew_at)

    def _current(self) -> T | None:
        held = self._held
        return None if held is None else held.token

    def invalidate(self) -> None:
        """Mark the current token as refused; the next request obtains a new one first."""
        held = self._held
        if held is not None:
            self._held = _Held(held.token, held.renew_at, rejected=True)

    # -- the flow (sans I/O) -----------------------------------------------------------------

    def _renew(
        self, seen: _Held[T] | None, reason: Reason, request: httpx2.Request
    ) -> Flow[_Held[T]]:
        yield LOCK
        current = self._held
        # Double check: whoever held the lock before us may already have replaced the token
        # we found stale or that the server refused.
        if current is not None and current is not seen and not self._is_stale(current):
            yield UNLOCK
            return current
        if current is not None and current is not seen:
            # Someone else's token, already stale: renew it as they would have.
            reason = "rejected" if current.rejected else "expired"
        elif current is not None and current.rejected:
            reason = "rejected"
        old = None if current is None else current.token
        logger.debug("%s: obtaining a token (%s)", type(self).__name__, reason)
        token = yield from self._obtain(old, reason, request)
        held = self._hold(token)
        self._held = held
        self._notify(token)
        yield UNLOCK
        return held

    def _flow(self, request: httpx2.Request) -> Flow[None]:
        held = self._held
        if held is None:
            held = yield from self._renew(None, "missing", request)
        elif self._is_stale(held):
            reason: Reason = "rejected" if held.rejected else "expired"
            held = yield from self._renew(held, reason, request)
        self._apply(request, held.token)
        response: httpx2.Response = yield Send(request)
        if response.status_code != httpx2.codes.UNAUTHORIZED:
            return
        logger.debug(
            "%s: %s %s answered 401; renewing the token and sending once more",
            type(self).__name__,
            request.method,
            request.url.copy_with(query=None, username=None),
        )
        held = yield from self._renew(held, "rejected", request)
        self._apply(request, held.token)
        # A second 401 goes back to the caller as it is: the credentials are not the problem
        # a new token could solve.
        yield Send(request)

    # -- drivers -----------------------------------------------------------------------------

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        """Run the flow synchronously (same as :meth:`sync_auth_flow`)."""
        return self.sync_auth_flow(request)

    def sync_auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        """Drive the flow with blocking primitives for :class:`httpx2.Client`."""
        if self.requires_request_body:
            request.read()
        flow = self._flow(request)
        locked = False
        outcome: Any = None
        error: Exception | None = None
        try:
            while True:
                try:
                    effect = flow.send(outcome) if error is None else flow.throw(error)
                except StopIteration:
                    return
                outcome, error = None, None
                if isinstance(effect, Send):
                    response = yield effect.request
                    if effect.read_body:
                        response.read()
                    outcome = response
                elif isinstance(effect, Call):
                    try:
                        outcome = _call_sync(effect)
                    except Exception as exc:  # thrown into the flow, which decides
                        error = exc
                elif effect is LOCK:
                    if self._lock_owner == threading.get_ident():
                        raise self._nested_renewal()
                    self._thread_lock.acquire()
                    self._lock_owner = threading.get_ident()
                    locked = True
                else:
                    self._lock_owner = None
                    self._thread_lock.release()
                    locked = False
        finally:
            if locked:
                self._lock_owner = None
                self._thread_lock.release()
            flow.close()

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        """Drive the flow with async primitives for :class:`httpx2.AsyncClient`."""
        if self.requires_request_body:
            await request.aread()
        flow = self._flow(request)
        held_lock: anyio.Lock | None = None
        outcome: Any = None
        error: Exception | None = None
        try:
            while True:
                try:
                    effect = flow.send(outcome) if error is None else flow.throw(error)
                except StopIteration:
                    return
                outcome, error = None, None
                if isinstance(effect, Send):
                    response = yield effect.request
                    if effect.read_body:
                        await response.aread()
                    outcome = response
                elif isinstance(effect, Call):
                    try:
                        outcome = await _call_async(effect)
                    except Exception as exc:  # thrown into the flow, which decides
                        error = exc
                elif effect is LOCK:
                    lock = self._loop_lock()
                    if lock.statistics().owner == anyio.get_current_task():
                        raise self._nested_renewal()
                    await lock.acquire()
                    held_lock = lock
                else:
                    assert held_lock is not None
                    held_lock.release()
                    held_lock = None
        finally:
            if held_lock is not None:
                held_lock.release()
            flow.close()

    def _nested_renewal(self) -> ConfigurationError:
        # Waiting would deadlock: the renewal in progress waits for this very request.
        msg = (
            f"{type(self).__name__}: a request made while obtaining a token (e.g. by the login "
            f"or refresh callable) went through this same auth and would wait for itself: send "
            f"it with auth=None (client.post(..., auth=None)) or through a client without "
            f"this auth"
        )
        return ConfigurationError(msg)

    def _loop_lock(self) -> anyio.Lock:
        # An anyio/asyncio lock belongs to one event loop; a RunVar gives each loop its own
        # (kept as long as that loop lives), so one auth object works across asyncio.run() calls.
        lock = self._async_lock.get(None)
        if lock is None:
            lock = anyio.Lock()
            self._async_lock.set(lock)
        return lock


def _call_sync(effect: Call) -> Any:
    if inspect.iscoroutinefunction(effect.function):
        raise _awaitable_on_sync_face(effect)
    result = effect.function(*effect.args)
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()  # never awaited: close it so no "was never awaited" warning fires
        raise _awaitable_on_sync_face(effect)
    return result


async def _call_async(effect: Call) -> Any:
    if inspect.iscoroutinefunction(effect.function):
        return await effect.function(*effect.args)
    # A sync login does blocking I/O: keep it off the event loop.
    result = await anyio.to_thread.run_sync(effect.function, *effect.args)
    if inspect.isawaitable(result):
        result = await result
    return result


def _awaitable_on_sync_face(effect: Call) -> ConfigurationError:
    name = getattr(effect.function, "__qualname__", repr(effect.function))
    msg = (
        f"{effect.argument}={name} is asynchronous, but the auth flow runs in a sync "
        f"httpx2.Client, which cannot await it: use an AsyncClient, or pass a sync "
        f"{effect.argument} callable"
    )
    return ConfigurationError(msg)

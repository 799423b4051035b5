"""Fault injection and a request log for emulators: a plain ASGI middleware with a control API.

:class:`FaultInjector` wraps an emulator app. It records every request into a bounded log and
applies queued faults (an error status, added latency, a dropped connection, a 429 with
``Retry-After``) to matching requests. Tests in the same process drive it through its Python
methods; tests or users running the emulator as a separate process drive it over HTTP under
``/_emulator/`` (see :class:`FaultInjector` for the routes).

Why hand-written: fault-injection tools are either network proxies in their own process
(Toxiproxy) that cannot answer with a protocol-correct status or see requests, or service-mesh
features; Starlette/FastAPI have no such middleware, and corekit must not depend on them. The
middleware is plain ASGI so it wraps any framework's app.
"""

from __future__ import annotations

__all__ = ["FaultInjector"]

import collections
import dataclasses
import inspect
import itertools
import json
import logging
import math
import threading
from collections.abc import Callable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import anyio

from corekit.clock import Clock, system_clock
from corekit.errors import ConfigurationError
from corekit.testing._faultspec import Fault, build_fault, encode_body
from corekit.testing._requestlog import (
    BodyTap,
    RecordedRequest,
    redact_body,
    redact_headers,
    redact_query,
)
from corekit.testing._server import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

_MAX_CONTROL_BODY = 1024 * 1024


class _DroppedConnection(Exception):
    """Raised after the response start so that uvicorn closes the connection mid-response."""


class FaultInjector:
    """ASGI middleware that injects faults into an emulator and logs its requests.

    Wrap the emulator app and serve the injector::

        injector = FaultInjector(app, on_reset=store.clear)
        with serve(injector) as server:
            injector.fail("/api/items", 503, count=2)
            ...
            assert injector.calls("GET", "/api/items")[0].status == 503

    Each request (except control calls) takes the oldest queued fault that matches its method
    and path, uses up one of its ``count`` and is answered accordingly; at most one fault
    applies to a request. Faults with ``count=None`` apply until removed.

    A dropped connection (:meth:`drop`) sends the response head (``200``, chunked) and then
    aborts; uvicorn closes the socket and logs "Exception in ASGI application". httpx2 raises
    ``httpx2.RemoteProtocolError`` ("peer closed connection without sending complete message
    body"), a ``httpx2.TransportError``: the same family as a connection reset mid-response.
    With ``after_app=True`` the app handles the request first (an order gets booked) and only
    its response is lost: the case a client must treat as "outcome unknown".

    Injected latency ends early when the client disconnects (e.g. after its read timeout);
    the app is then called as usual, as a slow server would still handle the request.

    The control API under ``prefix`` (JSON in and out):

    ========  =====================================  =============================================
    POST      ``/_emulator/faults``                  queue a fault; body ``{"kind": ..., "path":
                                                     ...}`` plus the fields of the kind (the
                                                     arguments of the methods below); 201
    GET       ``/_emulator/faults``                  ``{"faults": [...]}``
    DELETE    ``/_emulator/faults``                  remove all faults; ``{"cleared": n}``
    GET       ``/_emulator/requests``                ``{"requests": [...]}``; ``?method=&path=``
    POST      ``/_emulator/reset``                   :meth:`reset`
    POST      ``/_emulator/actions/<name>``          call ``actions[name](body)``; its result
    ========  =====================================  =============================================

    Unknown control paths answer 404, a wrong method 405, an invalid body 422; each with
    ``{"detail": message}`` naming the field and what is accepted.

    Only ``http`` requests are intercepted; ``lifespan`` and ``websocket`` scopes pass through.
    All methods are thread-safe: the app runs in the server's thread, tests in theirs.

    Args:
        app: the emulator's ASGI app.
        clock: the clock latency faults sleep on and the log's timings come from.
        prefix: path prefix of the control API.
        on_reset: called by :meth:`reset` (and ``POST /_emulator/reset``) to reset the
            emulator's own state; runs in the caller's thread.
        actions: emulator-specific control actions, called with the JSON object posted to
            ``/_emulator/actions/<name>``; may be async; the result is answered as JSON. A
            ``ValueError`` raised by an action answers 422 with its message.
        log_limit: how many requests the log keeps (oldest dropped first).
        body_limit: how many bytes of each request body the log keeps (``0``: none).
        ignore_case: match fault and log paths regardless of letter case, for emulators of
            services that route paths case-insensitively (ProjectX, WATS).
        error_body: the body of an injected ``status`` or ``rate_limit`` fault queued without
            one, given the status: lets an emulator answer injected errors in its service's
            own error shape. ``None``: ``{"detail": <reason phrase>}`` (plus ``retry_after``
            for a 429).

    Raises:
        ConfigurationError: an argument is invalid (``on_reset`` must be a plain function:
            :meth:`reset` runs it in the caller's thread, so it cannot be awaited).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        clock: Clock = system_clock,
        prefix: str = "/_emulator",
        on_reset: Callable[[], object] | None = None,
        actions: Mapping[str, Callable[[dict[str, Any]], Any]] | None = None,
        log_limit: int = 10_000,
        body_limit: int = 64 * 1024,
        ignore_case: bool = False,
        error_body: Callable[[int], Any] | None = None,
    ) -> None:
        _check_init(app, prefix, on_reset, actions, log_limit, body_limit=body_limit)
        self.body_limit = body_limit
        self.ignore_case = bool(ignore_case)
        self.error_body = error_body
        self.app = app
        self.clock = clock
        self.prefix = prefix
        self.on_reset = on_reset
        self.actions: dict[str, Callable[[dict[str, Any]], Any]] = dict(actions or {})
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._log: collections.deque[RecordedRequest] = collections.deque(maxlen=log_limit)
        self._ids = itertools.count(1)

    # -- Python API ------------------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int,
        *,
        count: int | None = 1,
        method: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer ``status`` to matching requests instead of calling the app.

        Args:
            path: exact path or :mod:`fnmatch` pattern.
            status: status to answer (200-599).
            count: how many matching requests to affect; ``None`` until reset.
            method: method to match; ``None`` for any.
            body: JSON data, a ``str`` (sent as ``text/plain``) or ``bytes`` (sent as is);
                ``None`` answers the injector's ``error_body``.
            headers: extra response headers (may override ``content-type``).

        Returns:
            The queued fault.
        """
        return self.add(
            "status", path, count=count, method=method, status=status, body=body, headers=headers
        )

    def delay(
        self, path: str, seconds: float, *, count: int | None = 1, method: str | None = None
    ) -> Fault:
        """Sleep ``seconds`` on the injector's clock, then call the app as usual.

        Returns:
            The queued fault.
        """
        return self.add("latency", path, count=count, method=method, seconds=seconds)

    def drop(
        self,
        path: str,
        *,
        count: int | None = 1,
        method: str | None = None,
        after_app: bool = False,
    ) -> Fault:
        """Drop the connection of matching requests after the response head (see the class doc).

        Args:
            path: exact path or :mod:`fnmatch` pattern.
            count: how many matching requests to affect; ``None`` until reset.
            method: method to match; ``None`` for any.
            after_app: let the app handle the request first and drop its response, so the
                request takes effect but the client never learns the outcome.

        Returns:
            The queued fault.
        """
        return self.add("drop", path, count=count, method=method, after_app=after_app)

    def rate_limit(
        self,
        path: str,
        retry_after: float,
        *,
        count: int | None = 1,
        method: str | None = None,
        http_date: bool = False,
        body: Any = None,
    ) -> Fault:
        """Answer 429 with ``Retry-After`` to matching requests.

        Args:
            path: exact path or :mod:`fnmatch` pattern.
            retry_after: seconds to announce; rounded up to whole seconds in the header.
            count: how many matching requests to affect; ``None`` until reset.
            method: method to match; ``None`` for any.
            http_date: announce an HTTP date (the injector clock's time plus ``retry_after``)
                instead of seconds.
            body: as for :meth:`fail`; ``None`` answers the injector's ``error_body`` or
                ``{"detail": "Too Many Requests", "retry_after": <seconds>}``.

        Returns:
            The queued fault.
        """
        return self.add(
            "rate_limit",
            path,
            count=count,
            method=method,
            retry_after=retry_after,
            http_date=http_date,
            body=body,
        )

    def add(self, kind: str, path: str, **fields: Any) -> Fault:
        """Queue a fault of ``kind`` with the fields of that kind (what the HTTP API posts).

        Raises:
            ConfigurationError: ``kind`` or a field is invalid; the message names it and
                says what is accepted.
        """
        return self._add({"kind": kind, "path": path, **fields})

    def _add(self, spec: Mapping[str, Any]) -> Fault:
        fault = build_fault(f"fault-{next(self._ids)}", spec)
        with self._lock:
            self._faults.append(fault)
        logger.debug("queued fault %s: %s", fault.id, fault.to_dict())
        return fault

    @property
    def faults(self) -> list[Fault]:
        """The queued faults, oldest first (a snapshot)."""
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> int:
        """Remove all queued faults; returns how many there were."""
        with self._lock:
            cleared = len(self._faults)
            self._faults.clear()
        return cleared

    @property
    def requests(self) -> list[RecordedRequest]:
        """The request log, in order of completion (a snapshot)."""
        with self._lock:
            return list(self._log)

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """The logged requests with ``method`` (any case) and a path matching ``path``.

        ``path`` is exact or an :mod:`fnmatch` pattern; ``None`` matches anything.
        """
        return [r for r in self.requests if r.matches(method, path, ignore_case=self.ignore_case)]

    def reset(self) -> None:
        """Clear the faults and the request log, then call ``on_reset``."""
        with self._lock:
            self._faults.clear()
            self._log.clear()
        if self.on_reset is not None:
            self.on_reset()

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection: control call, faulted request, or pass-through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == self.prefix or path.startswith(self.prefix + "/"):
            await self._control(scope, receive, send, path[len(self.prefix) :])
            return
        await self._handle(scope, receive, send)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method, path, ignore_case=self.ignore_case):
                    if fault.remaining is None:
                        return fault
                    if fault.remaining <= 1:
                        del self._faults[index]
                    else:
                        self._faults[index] = dataclasses.replace(
                            fault, remaining=fault.remaining - 1
                        )
                    return fault
        return None

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = self.clock.monotonic()
        method: str = scope["method"]
        fault = self._take_fault(method, scope["path"])
        tap = BodyTap(receive, self.body_limit)
        status: int | None = None
        logged = False
        dropping = fault is not None and fault.kind == "drop"

        def log() -> None:
            nonlocal logged
            if logged:
                return
            logged = True
            headers = redact_headers(scope.get("headers", ()))
            record = RecordedRequest(
                method=method.upper(),
                path=scope["path"],
                query=redact_query(bytes(scope.get("query_string", b"")).decode("latin-1")),
                headers=headers,
                body_size=tap.size,
                body=redact_body(b"".join(tap.chunks), headers.get("content-type", "")),
                status=status,
                fault=fault.kind if fault is not None else None,
                fault_id=fault.id if fault is not None else None,
                started=started,
                duration=self.clock.monotonic() - started,
            )
            with self._lock:
                self._log.append(record)

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Logged before the last chunk goes out: a client that has its response
                # always finds the request in the log.
                log()
            if not dropping:  # a dropped request's response is lost with the connection
                await send(message)

        try:
            if fault is None or fault.kind == "latency":
                if fault is not None:
                    tap.source = await self._delay(fault.seconds or 0.0, receive)
                await self.app(scope, tap.receive, watching_send)
            elif fault.kind == "drop":
                if fault.after_app:
                    await self.app(scope, tap.receive, watching_send)
                else:
                    await _drain(tap.receive)
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                msg = f"connection dropped by corekit.testing fault {fault.id}"
                raise _DroppedConnection(msg)
            else:
                await _drain(tap.receive)
                await self._answer(fault, method, watching_send)
        finally:
            log()

    async def _delay(self, seconds: float, receive: Receive) -> Receive:
        """Sleep ``seconds`` on the clock, or until the client disconnects.

        Returns:
            The ``receive`` for the app: it first replays what was read while waiting.
        """
        pending: collections.deque[Message] = collections.deque()

        async def watch(scope: anyio.CancelScope) -> None:
            while True:
                message = await receive()
                pending.append(message)
                if message["type"] == "http.disconnect":
                    scope.cancel()
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, tg.cancel_scope)
            await self.clock.asleep(seconds)
            tg.cancel_scope.cancel()

        async def replay() -> Message:
            return pending.popleft() if pending else await receive()

        return replay

    async def _answer(self, fault: Fault, method: str, send: Send) -> None:
        status = fault.status or 429
        headers: dict[str, str] = {}
        body = fault.body
        if fault.kind == "rate_limit":
            seconds = math.ceil(fault.retry_after or 0.0)
            headers["retry-after"] = (
                formatdate(math.ceil(self.clock.time()) + seconds, usegmt=True)
                if fault.http_date
                else str(seconds)
            )
            if body is None and self.error_body is None:
                body = {"detail": HTTPStatus(429).phrase, "retry_after": seconds}
        if body is None:
            body = (
                self.error_body(status)
                if self.error_body is not None
                else {"detail": HTTPStatus(status).phrase}
            )
        payload, content_type = encode_body(body)
        headers["content-type"] = content_type
        headers.update({name.lower(): value for name, value in fault.headers.items()})
        if status in {204, 304}:
            payload = b""
            headers.pop("content-type", None)
        else:
            headers["content-length"] = str(len(payload))
        await _respond(send, status, payload if method.upper() != "HEAD" else b"", headers)

    # -- control API -----------------------------------------------------------------------

    async def _control(self, scope: Scope, receive: Receive, send: Send, sub: str) -> None:
        method: str = scope["method"].upper()
        raw = await _drain(receive, limit=_MAX_CONTROL_BODY)
        if raw is None:
            await _send_json(send, 413, {"detail": f"body over {_MAX_CONTROL_BODY} bytes"})
            return
        allowed = self._allowed_methods(sub)
        if allowed is None:
            await _send_json(send, 404, {"detail": self._not_found(scope["path"])})
            return
        if method not in allowed:
            detail = f"{method} is not allowed on {scope['path']}; allowed: {', '.join(allowed)}"
            await _send_json(send, 405, {"detail": detail}, {"allow": ", ".join(allowed)})
            return
        try:
            status, payload = await self._dispatch(method, sub, raw, scope)
        except ConfigurationError as exc:
            await _send_json(send, 422, {"detail": str(exc)})
            return
        await _send_json(send, status, payload)

    def _allowed_methods(self, sub: str) -> tuple[str, ...] | None:
        if sub == "/faults":
            return ("DELETE", "GET", "POST")
        if sub == "/requests":
            return ("GET",)
        if sub == "/reset":
            return ("POST",)
        if sub.startswith("/actions/") and sub[len("/actions/") :] in self.actions:
            return ("POST",)
        return None

    def _not_found(self, path: str) -> str:
        p = self.prefix
        names = ", ".join(sorted(self.actions)) or "none"
        return (
            f"no control endpoint at {path}; available: GET/POST/DELETE {p}/faults, "
            f"GET {p}/requests, POST {p}/reset, POST {p}/actions/<name> (registered: {names})"
        )

    async def _dispatch(self, method: str, sub: str, raw: bytes, scope: Scope) -> tuple[int, Any]:
        if sub == "/faults":
            if method == "GET":
                return 200, {"faults": [f.to_dict() for f in self.faults]}
            if method == "DELETE":
                return 200, {"cleared": self.clear_faults()}
            return 201, self._add(_json_object(raw, required=True)).to_dict()
        if sub == "/requests":
            query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
            method_filter = query.get("method", [None])[0]
            path_filter = query.get("path", [None])[0]
            records = self.calls(method_filter, path_filter)
            return 200, {"requests": [r.to_dict() for r in records]}
        if sub == "/reset":
            self.reset()
            return 200, {"reset": True}
        name = sub[len("/actions/") :]
        payload = _json_object(raw, required=False)
        try:
            result = self.actions[name](payload)
            if inspect.isawaitable(result):
                result = await result
        except ValueError as exc:
            raise ConfigurationError(f"action {name!r} refused the request: {exc}") from exc
        return 200, result


# -- helpers -----------------------------------------------------------------------------------


def _check_init(
    app: object,
    prefix: object,
    on_reset: object,
    actions: object,
    log_limit: object,
    *,
    body_limit: object,
) -> None:
    if not callable(app):
        msg = f"FaultInjector(app=...) must be an ASGI app (a callable), got {app!r}"
        raise ConfigurationError(msg)
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
        msg = (
            f"FaultInjector(prefix=...) must be a path starting with '/' and not ending "
            f"with '/' (e.g. '/_emulator'), got {prefix!r}"
        )
        raise ConfigurationError(msg)
    if on_reset is not None and (not callable(on_reset) or inspect.iscoroutinefunction(on_reset)):
        msg = (
            f"FaultInjector(on_reset=...) must be a plain (not async) callable or None, "
            f"got {on_reset!r}"
        )
        raise ConfigurationError(msg)
    if actions is not None:
        if not isinstance(actions, Mapping):
            msg = (
                f"FaultInjector(actions=...) must be a mapping of name to callable, got {actions!r}"
            )
            raise ConfigurationError(msg)
        for name, action in actions.items():
            if not isinstance(name, str) or not name or "/" in name or not callable(action):
                msg = (
                    f"FaultInjector(actions=...) entry {name!r}: {action!r} must map a non-empty "
                    f"name without '/' to a callable taking the posted JSON object"
                )
                raise ConfigurationError(msg)
    if isinstance(log_limit, bool) or not isinstance(log_limit, int) or log_limit < 1:
        msg = f"FaultInjector(log_limit=...) must be a positive int, got {log_limit!r}"
        raise ConfigurationError(msg)
    if isinstance(body_limit, bool) or not isinstance(body_limit, int) or body_limit < 0:
        msg = f"FaultInjector(body_limit=...) must be an int >= 0 (bytes), got {body_limit!r}"
        raise ConfigurationError(msg)


def _json_object(raw: bytes, *, required: bool) -> dict[str, Any]:
    if not raw.strip() and not required:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        msg = f"body: expected a JSON object, got invalid JSON ({exc})"
        raise ConfigurationError(msg) from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"body: expected a JSON object, got {type(data).__name__}")
    return data


async def _drain(receive: Receive, limit: int | None = None) -> bytes | None:
    """Read the request body; ``None`` once it exceeds ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is None or size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return None if limit is not None and size > limit else b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, headers: Mapping[str, str]) -> None:
    raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_json(
    send: Send, status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> None:
    body = json.dumps(payload).encode()
    all_headers = {"content-type": "application/json", "content-length": str(len(body))}
    all_headers.update(headers or {})
    await _respond(send, status, body, all_headers)

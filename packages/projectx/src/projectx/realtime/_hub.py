"""One SignalR hub connection: negotiate, JSON hub protocol over a WebSocket, reconnection.

The protocol subset the Gateway's hubs speak (ASP.NET Core SignalR, JSON protocol v1):

1. ``POST {hub}/negotiate?negotiateVersion=1&access_token=<jwt>`` answers ``connectionId`` (and
   ``connectionToken`` from version 1);
2. a WebSocket to ``{hub}?id=<token or id>&access_token=<jwt>``; the client sends the handshake
   ``{"protocol":"json","version":1}`` and the server answers ``{}`` (or ``{"error": ...}``);
3. JSON records, each ended by the record separator ``0x1e``: invocations (type 1) both ways,
   pings (6) and close (7).

Subscriptions are invocations without an ``invocationId`` (fire and forget), remembered and
sent again after every reconnection. The client sends SignalR's own keep-alive ping (type 6),
never the non-standard ``Heartbeat`` invocation of project-x-py. No maintained SignalR client
for Python runs on anyio over our HTTP stack (pysignalr uses aiohttp/websockets), hence by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import orjson

from corekit.clock import Clock
from corekit.errors import AuthenticationError, CorekitError, TimeoutError
from corekit.http import AsyncClient
from corekit.retry import RetryPolicy
from corekit.websocket import AsyncWebSocket, WebSocketClosed, aconnect
from projectx.errors import ProjectXError

logger = logging.getLogger(__name__)

RECORD_SEPARATOR = "\x1e"
_HANDSHAKE = '{"protocol":"json","version":1}' + RECORD_SEPARATOR
_PING = '{"type":6}' + RECORD_SEPARATOR
_INVOCATION, _PING_TYPE, _CLOSE = 1, 6, 7


class HubError(ProjectXError):
    """The hub refused the connection or the handshake."""


Dispatch = Callable[[str, str, list[Any]], Awaitable[None]]
"""``(hub, target, arguments)`` of each server invocation."""


class HubConnection:
    """A SignalR hub that stays connected: reconnects with backoff and re-subscribes.

    Args:
        name: ``"user"`` or ``"market"`` (labels events and logs).
        url: the hub URL, e.g. ``https://rtc.topstepx.com/hubs/user``.
        token: ``token(renew, refused)`` returns a valid session JWT; ``renew=True`` with
            the refused JWT after the hub refused it (a revoked session).
        dispatch: called with every server invocation.
        clock: waits between reconnection attempts.
        keepalive: seconds between SignalR pings the client sends.
        server_timeout: seconds of server silence after which the connection counts as dead.
        backoff_initial: first wait before reconnecting; doubles per failed attempt.
        backoff_max: the longest wait between attempts.
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        token: Callable[[bool, str | None], Awaitable[str]],
        dispatch: Dispatch,
        clock: Clock,
        keepalive: float = 15.0,
        server_timeout: float = 30.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self._token = token
        self._used: str | None = None  # the JWT of the last connection attempt
        self._dispatch = dispatch
        self._clock = clock
        self._keepalive = keepalive
        self._server_timeout = server_timeout
        # Reconnection waits follow corekit's backoff (doubling, capped), without jitter.
        self._reconnect = RetryPolicy(
            wait_initial=backoff_initial, wait_max=backoff_max, wait_jitter=0.0
        )
        self._http = AsyncClient(timeout=30.0, retry=None, name=f"projectx-{name}-hub")
        self._subscriptions: dict[tuple[str, str], list[Any]] = {}
        self._socket: AsyncWebSocket | None = None
        self._send_lock = anyio.Lock()
        self.connected = anyio.Event()
        self.ready = anyio.Event()
        self.failure: HubError | None = None
        self.connections = 0
        """How many times the hub has connected (1 + reconnections)."""

    # -- subscriptions -----------------------------------------------------------------------

    async def invoke(self, target: str, *arguments: Any, remember: bool = True) -> None:
        """Send an invocation; with ``remember``, send it again after each reconnection."""
        if remember:
            self._subscriptions[(target, orjson.dumps(arguments).decode())] = list(arguments)
        await self._send(target, list(arguments))

    async def forget(self, subscribe: str, unsubscribe: str, *arguments: Any) -> None:
        """Drop a remembered ``subscribe`` invocation and send ``unsubscribe``."""
        self._subscriptions.pop((subscribe, orjson.dumps(arguments).decode()), None)
        await self._send(unsubscribe, list(arguments))

    async def _send(self, target: str, arguments: list[Any]) -> None:
        socket = self._socket
        if socket is None:
            return  # sent on (re)connection from the remembered subscriptions
        message = {"type": _INVOCATION, "target": target, "arguments": arguments}
        async with self._send_lock:
            try:
                await socket.send_text(orjson.dumps(message).decode() + RECORD_SEPARATOR)
            except WebSocketClosed:
                logger.info("%s hub: %s not sent, the connection is down", self.name, target)

    # -- connection --------------------------------------------------------------------------

    async def run(self) -> None:
        """Stay connected until cancelled, reconnecting with backoff after a drop.

        :attr:`ready` is set after the first handshake, or with :attr:`failure` when the
        first connection was refused (bad URL, token or handshake); ``run`` then returns.
        """
        attempt = 0
        renew = False
        while True:
            before = self.connections
            try:
                await self._session(renew=renew)
            except BaseException as raised:
                exc = _connection_failure(raised)
                if exc is None:
                    raise  # cancellation or a bug: not a reason to reconnect
                if self.connections == 0:
                    msg = f"{self.name} hub at {self.url}: could not connect ({exc})"
                    self.failure = HubError(msg)
                    self.failure.__cause__ = exc
                    self.ready.set()
                    return
                # A refused token (401/403) is renewed before the next attempt.
                renew = isinstance(exc, AuthenticationError)
                attempt = 1 if self.connections > before else attempt + 1
                wait = self._reconnect.backoff(attempt)
                logger.warning(
                    "%s hub: connection lost (%s); reconnecting in %.1f s", self.name, exc, wait
                )
                await self._clock.asleep(wait)

    async def _session(self, *, renew: bool) -> None:
        token = await self._token(renew, self._used if renew else None)
        self._used = token
        negotiated = await self._http.post(
            f"{self.url}/negotiate",
            params={"negotiateVersion": 1, "access_token": token},
            idempotent=True,
        )
        answer = orjson.loads(negotiated.content)
        if not isinstance(answer, dict) or "error" in answer:
            msg = f"{self.name} hub refused to negotiate: {answer!r}"
            raise HubError(msg)
        connection = answer.get("connectionToken") or answer.get("connectionId")
        params = {"access_token": token}
        if isinstance(connection, str):
            params["id"] = connection
        async with aconnect(self._http, self.url, params=params) as socket:
            await socket.send_text(_HANDSHAKE)
            pending = await self._handshake(socket)
            self._socket = socket
            self.connections += 1
            try:
                for (target, _), arguments in list(self._subscriptions.items()):
                    await self._send(target, arguments)
                self.connected.set()
                logger.info("%s hub: connected (%d)", self.name, self.connections)
                self.ready.set()
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(self._pings, socket)
                    await self._receive(socket, pending)
                    tasks.cancel_scope.cancel()
            finally:
                self._socket = None
                self.connected = anyio.Event()

    async def _handshake(self, socket: AsyncWebSocket) -> str:
        text = await socket.receive_text(timeout=self._server_timeout)
        first, _, rest = text.partition(RECORD_SEPARATOR)
        reply = orjson.loads(first or "{}")
        if isinstance(reply, dict) and reply.get("error"):
            msg = f"{self.name} hub refused the handshake: {reply['error']}"
            raise HubError(msg)
        return rest

    async def _pings(self, socket: AsyncWebSocket) -> None:
        while True:
            await anyio.sleep(self._keepalive)
            async with self._send_lock:
                await socket.send_text(_PING)

    async def _receive(self, socket: AsyncWebSocket, pending: str) -> None:
        buffer = pending
        while True:
            *records, buffer = buffer.split(RECORD_SEPARATOR)
            for record in records:
                if record:
                    await self._handle(orjson.loads(record))
            try:
                buffer += await socket.receive_text(timeout=self._server_timeout)
            except TimeoutError as exc:
                msg = f"{self.name} hub silent for {self._server_timeout:g} s"
                raise WebSocketClosed(msg) from exc

    async def _handle(self, message: Any) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == _INVOCATION:
            await self._dispatch(
                self.name, str(message.get("target")), message.get("arguments") or []
            )
        elif kind == _CLOSE:
            msg = f"{self.name} hub closed the connection: {message.get('error') or 'no reason'}"
            raise WebSocketClosed(msg)
        # Pings and completions need no answer.

    async def aclose(self) -> None:
        """Close the HTTP client used for negotiation."""
        await self._http.aclose()


def _connection_failure(exc: BaseException) -> Exception | None:
    """Return the network failure inside ``exc`` (task groups wrap it), or ``None``."""
    if isinstance(exc, CorekitError | OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        found = [_connection_failure(e) for e in exc.exceptions]
        if found and all(f is not None for f in found):
            return found[0]
    return None

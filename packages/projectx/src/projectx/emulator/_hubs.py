"""The Gateway's two SignalR hubs (``/hubs/user``, ``/hubs/market``) over WebSockets.

SignalR's JSON hub protocol, as ASP.NET Core serves it and the Gateway's clients use it:

1. ``POST /hubs/<hub>/negotiate?access_token=<jwt>`` answers a ``connectionId`` and a
   ``connectionToken`` (WebSockets being the one transport);
2. the WebSocket at ``/hubs/<hub>?id=<either of them>&access_token=<jwt>`` (or an
   ``Authorization`` header) starts with the handshake ``{"protocol":"json","version":1}``,
   answered by ``{}``;
3. then JSON records, each followed by the record separator ``0x1e``: invocations (type 1)
   both ways, completions (3) for invocations that carry an ``invocationId``, pings (6), close (7).

The user hub pushes ``GatewayUserAccount`` / ``GatewayUserOrder`` / ``GatewayUserPosition`` /
``GatewayUserTrade`` (one argument, the entity) to subscribers of that account, whenever a
REST call or a price move changes it. The market hub pushes ``GatewayQuote``,
``GatewayTrade`` and ``GatewayDepth`` (``[contractId, payload]``) for subscribed contracts:
the current quote and book at once on subscription, then on every trade and price move.
Unknown targets (such as the SDK's ``Heartbeat``) are ignored, as ASP.NET does.

Written by hand: there is no maintained SignalR server for Python, and the protocol subset
a Gateway serves is small.
"""

from __future__ import annotations

__all__ = ["RECORD_SEPARATOR", "Hubs"]

import asyncio
import contextlib
import logging
import secrets
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from projectx.emulator._entities import Event, GatewayFailure
from projectx.emulator._rest import Runtime
from projectx.emulator._tokens import Session

logger = logging.getLogger(__name__)

RECORD_SEPARATOR = "\x1e"
_HUBS = ("user", "market")
# Hub method -> (subscription kind, whether its argument is an account id).
_USER_METHODS = {"Accounts": "accounts", "Orders": "orders", "Positions": "positions"}
_USER_METHODS |= {"Trades": "trades"}
_MARKET_METHODS = {"ContractQuotes": "quotes", "ContractTrades": "tape"}
_MARKET_METHODS |= {"ContractMarketDepth": "depth"}
_EVENT_KINDS = {
    "GatewayUserAccount": "accounts",
    "GatewayUserOrder": "orders",
    "GatewayUserPosition": "positions",
    "GatewayUserTrade": "trades",
    "GatewayQuote": "quotes",
    "GatewayTrade": "tape",
    "GatewayDepth": "depth",
}
_CLOSE = object()  # queued to end a connection from the server side


def _frame(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode() + RECORD_SEPARATOR


class _Connection:
    """One hub connection: its subscriptions and the queue its writer drains."""

    def __init__(self, hub: str, session: Session) -> None:
        self.hub = hub
        self.session = session
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.subscriptions: set[tuple[str, object]] = set()

    def put(self, item: object) -> None:
        """Queue a frame from any thread, keeping the order of the calls."""
        if threading.get_ident() == self.thread:
            self.queue.put_nowait(item)
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: the connection is gone
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def deliver(self, event: Event) -> None:
        """Forward ``event`` if this connection subscribed to it (called from any thread)."""
        kind = _EVENT_KINDS.get(event.target)
        if kind is None or (self.hub == "user") != event.target.startswith("GatewayUser"):
            return
        key: object = event.contract_id if self.hub == "market" else event.account_id
        if kind == "accounts":
            key = None  # SubscribeAccounts takes no argument: every account of the user
        if (kind, key) in self.subscriptions:
            self.put(_frame({"type": 1, "target": event.target, "arguments": event.arguments}))


class Hubs:
    """Negotiation and WebSocket handling of both hubs, and the market-data script."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lock = threading.Lock()
        # Negotiated ids, each mapped to its twin (connectionId <-> connectionToken): a client
        # connects with either, and both are then used up.
        self._negotiated: dict[str, str] = {}
        self._connections: set[_Connection] = set()
        runtime.on_logout.append(self.logout)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the market-data script (if configured) while the app is up."""
        async with anyio.create_task_group() as tg:
            if self.runtime.settings.market_interval > 0:
                tg.start_soon(self._script)
            yield
            tg.cancel_scope.cancel()

    async def _script(self) -> None:
        gateway = self.runtime.gateway
        while True:
            await anyio.sleep(self.runtime.settings.market_interval)
            now = self.runtime.clock.time()
            with gateway.lock:
                fronts = [
                    c.id for c in gateway.market.contracts.values() if gateway.market.is_front(c)
                ]
            for contract_id in fronts:
                gateway.set_price(contract_id, gateway.market.path(contract_id).price(now))

    def _token(self, query: Any, headers: Any) -> str:
        token = query.get("access_token")
        if token:
            return str(token)
        scheme, _, credential = str(headers.get("authorization", "")).partition(" ")
        return credential.strip() if scheme.lower() == "bearer" else ""

    def negotiate(self, hub: str, request: Request) -> Response:
        """``POST /hubs/<hub>/negotiate``: a connection id for the WebSocket."""
        if hub.lower() not in _HUBS:
            return Response(status_code=404)
        token = self._token(request.query_params, request.headers)
        _, problem = self.runtime.sessions.check(token)
        if problem is not None:
            return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
        connection_id, connection_token = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        with self._lock:
            self._negotiated[connection_id] = connection_token
            self._negotiated[connection_token] = connection_id
        version = 1 if request.query_params.get("negotiateVersion", "0") != "0" else 0
        answer = {
            "negotiateVersion": version,
            "connectionId": connection_id,
            "availableTransports": [
                {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
            ],
        }
        if version:
            answer["connectionToken"] = connection_token
        return Response(orjson.dumps(answer), media_type="application/json")

    async def serve(self, hub: str, websocket: WebSocket) -> None:
        """Handle one WebSocket connection to a hub until either side closes it."""
        hub = hub.lower()
        token = self._token(websocket.query_params, websocket.headers)
        session, problem = self.runtime.sessions.check(token)
        connection_id = websocket.query_params.get("id")
        with self._lock:
            known = connection_id is None or connection_id in self._negotiated
            if connection_id is not None and known:
                self._negotiated.pop(self._negotiated.pop(connection_id), None)
        if hub not in _HUBS or problem is not None or session is None or not known:
            # Refused before the upgrade: the client sees an HTTP 403.
            await websocket.close(code=1008)
            return
        await websocket.accept()
        connection = _Connection(hub, session)
        with self._lock:
            self._connections.add(connection)
        self.runtime.gateway.add_listener(connection.deliver)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._write, websocket, connection, tg.cancel_scope)
                await self._read(websocket, connection)
                # The writer sends what is queued (an error, a close) before it stops.
                connection.put(_CLOSE)
        finally:
            self.runtime.gateway.remove_listener(connection.deliver)
            with self._lock:
                self._connections.discard(connection)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
            await websocket.close()

    def logout_all(self) -> None:
        """Tell every connection its session ended (``GatewayLogout``), then close it."""
        self.logout(None)

    def logout(self, session: Session | None) -> None:
        """Tell the connections of ``session`` (``None``: all) that it ended, then close them."""
        with self._lock:
            connections = [
                c for c in self._connections if session is None or c.session.jti == session.jti
            ]
        for connection in connections:
            connection.put(_frame({"type": 1, "target": "GatewayLogout", "arguments": []}))
            connection.put(_frame({"type": 7, "error": "Session ended", "allowReconnect": False}))
            connection.put(_CLOSE)

    async def _write(
        self, websocket: WebSocket, connection: _Connection, scope: anyio.CancelScope
    ) -> None:
        ping = _frame({"type": 6})
        interval = self.runtime.settings.hub_ping_interval
        try:
            while True:
                item: object = ping
                with anyio.move_on_after(interval):
                    item = await connection.queue.get()
                if item is _CLOSE:
                    break
                await websocket.send_text(str(item))
        except (WebSocketDisconnect, RuntimeError, OSError):
            logger.debug("hub connection closed while sending")
        scope.cancel()

    async def _read(self, websocket: WebSocket, connection: _Connection) -> None:
        buffer = ""
        shaken = False
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text")
            if data is None:
                data = (message.get("bytes") or b"").decode("utf-8", "replace")
            buffer += data
            *records, buffer = buffer.split(RECORD_SEPARATOR)
            for record in records:
                try:
                    parsed = orjson.loads(record)
                except orjson.JSONDecodeError:
                    parsed = None
                if not isinstance(parsed, dict):
                    connection.put(_frame({"type": 7, "error": "Invalid JSON record"}))
                    connection.put(_CLOSE)
                    return
                if not shaken:
                    if not self._handshake(parsed, connection):
                        return
                    shaken = True
                elif not self._handle(parsed, connection):
                    return

    @staticmethod
    def _handshake(request: dict[str, Any], connection: _Connection) -> bool:
        protocol, version = request.get("protocol"), request.get("version")
        if protocol != "json" or version != 1:
            error = f"The protocol '{protocol}' version {version} is not supported; use json 1"
            connection.put(_frame({"error": error}))
            connection.put(_CLOSE)
            return False
        connection.put("{}" + RECORD_SEPARATOR)
        return True

    def _handle(self, message: dict[str, Any], connection: _Connection) -> bool:
        """Act on one record; False when the connection should end."""
        kind = message.get("type")
        if kind == 7:
            return False
        if kind != 1:  # pings, and stream messages the Gateway does not use
            return True
        target = str(message.get("target", ""))
        arguments = message.get("arguments") or []
        invocation = message.get("invocationId")
        try:
            known = self._invoke(
                connection, target, arguments if isinstance(arguments, list) else []
            )
            error = None if known else f"Unknown hub method '{target}'"
        except (GatewayFailure, ValueError, TypeError) as exc:
            error = getattr(exc, "message", str(exc))
        if invocation is not None:
            reply: dict[str, Any] = {"type": 3, "invocationId": invocation}
            reply |= {"error": error} if error else {"result": None}
            connection.put(_frame(reply))
        elif error and target.startswith(("Subscribe", "Unsubscribe")):
            logger.info("hub %s: %s", connection.hub, error)
        return True

    def _invoke(self, connection: _Connection, target: str, arguments: list[Any]) -> bool:
        """Apply a subscription method; False for a method the hub does not have."""
        for prefix, adding in (("Subscribe", True), ("Unsubscribe", False)):
            if not target.startswith(prefix):
                continue
            name = target[len(prefix) :]
            methods = _USER_METHODS if connection.hub == "user" else _MARKET_METHODS
            kind = methods.get(name)
            if kind is None:
                return False
            key = self._key(connection, kind, arguments)
            if adding:
                connection.subscriptions.add((kind, key))
                self._snapshot(connection, kind, key)
            else:
                connection.subscriptions.discard((kind, key))
            return True
        return False

    def _key(self, connection: _Connection, kind: str, arguments: list[Any]) -> object:
        gateway = self.runtime.gateway
        if kind == "accounts":
            return None
        if not arguments:
            what = "account" if connection.hub == "user" else "contract"
            raise ValueError(f"expected one argument, the {what} id")
        with gateway.lock:
            if connection.hub == "user":
                account_id = arguments[0]
                if isinstance(account_id, bool) or not isinstance(account_id, int):
                    raise TypeError(f"expected an account id (an integer), got {account_id!r}")
                return gateway.account(account_id).id
            return gateway.market.contract(str(arguments[0])).id

    def _snapshot(self, connection: _Connection, kind: str, key: object) -> None:
        market = self.runtime.gateway.market
        with self.runtime.gateway.lock:
            if kind == "quotes":
                event = market.quote_event(str(key))
            elif kind == "depth":
                event = market.depth_event(str(key))
            else:
                return
        connection.put(_frame({"type": 1, "target": event.target, "arguments": event.arguments}))

"""The two hubs of a client as callbacks and async iterators (see :mod:`projectx.realtime`)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from corekit.clock import Clock, system_clock
from projectx.realtime._hub import HubConnection

if TYPE_CHECKING:
    from projectx._client import ProjectX

__all__ = ["EventStream", "Realtime", "RealtimeEvent"]

logger = logging.getLogger(__name__)

USER_EVENTS = ("GatewayUserAccount", "GatewayUserOrder", "GatewayUserPosition", "GatewayUserTrade")
MARKET_EVENTS = ("GatewayQuote", "GatewayTrade", "GatewayDepth")


@dataclass(frozen=True, slots=True)
class RealtimeEvent:
    """One event pushed by a hub.

    Attributes:
        hub: ``"user"`` or ``"market"``.
        target: the event name, e.g. ``"GatewayQuote"`` or ``"GatewayUserOrder"``.
        contract_id: the contract of a market event, else ``None``.
        data: the payload (the entity for user events, unwrapped from ``{"action", "data"}``).
        arguments: the invocation's raw arguments.
    """

    hub: str
    target: str
    contract_id: str | None
    data: Any
    arguments: list[Any]


Callback = Callable[[RealtimeEvent], object]


class EventStream:
    """Events as they arrive (from :meth:`Realtime.events`): ``async for event in stream``."""

    def __init__(
        self, receive: MemoryObjectReceiveStream[RealtimeEvent], close: Callable[[], None]
    ) -> None:
        self._receive = receive
        self._close = close

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> RealtimeEvent:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Stop collecting events."""
        self._close()
        self._receive.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class Realtime:
    """Both hubs of one :class:`~projectx.ProjectX` client, as callbacks and async iterators.

    Args:
        client: a connected (entered) client; its settings give the hub URLs and its session
            the tokens.
        clock: waits between reconnection attempts.
        buffer: events each :meth:`events` iterator holds before the oldest are dropped.
        keepalive: seconds between the client's SignalR pings.
        server_timeout: seconds of silence after which a hub is reconnected.
    """

    def __init__(
        self,
        client: ProjectX,
        *,
        clock: Clock = system_clock,
        buffer: int = 10_000,
        keepalive: float = 15.0,
        server_timeout: float = 30.0,
    ) -> None:
        self._client = client
        self._callbacks: dict[str, list[Callback]] = {}
        self._streams: list[tuple[frozenset[str], MemoryObjectSendStream[RealtimeEvent]]] = []
        self._buffer = buffer
        self._iterators: list[EventStream] = []
        self.dropped = 0
        """Events dropped because an iterator's buffer was full."""
        settings = client.settings
        options: dict[str, Any] = {
            "token": client.token,
            "dispatch": self._dispatch,
            "clock": clock,
            "keepalive": keepalive,
            "server_timeout": server_timeout,
        }
        self.user = HubConnection("user", settings.user_hub_url, **options)
        self.market = HubConnection("market", settings.market_hub_url, **options)
        self._tasks: anyio.abc.TaskGroup | None = None

    # -- events ------------------------------------------------------------------------------

    def on(self, target: str, callback: Callback) -> None:
        """Call ``callback(event)`` for every ``target`` event (may be a coroutine function)."""
        self._callbacks.setdefault(target, []).append(callback)

    def events(self, *targets: str) -> EventStream:
        """Return an async iterator of events of ``targets`` (all events when none given).

        It collects from the moment it is created (subscribe afterwards, miss nothing) until
        closed (``aclose()``, ``async with``, or the end of the :class:`Realtime` block).
        """
        send, receive = anyio.create_memory_object_stream[RealtimeEvent](self._buffer)
        entry = (frozenset(targets), send)
        self._streams.append(entry)
        stream = EventStream(receive, lambda: self._unregister(entry))
        self._iterators.append(stream)
        return stream

    def _unregister(
        self, entry: tuple[frozenset[str], MemoryObjectSendStream[RealtimeEvent]]
    ) -> None:
        if entry in self._streams:
            self._streams.remove(entry)
        entry[1].close()

    async def _dispatch(self, hub: str, target: str, arguments: list[Any]) -> None:
        event = _event(hub, target, arguments)
        for callback in self._callbacks.get(target, []):
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("realtime callback for %s failed", target)
        for targets, stream in list(self._streams):
            if targets and target not in targets:
                continue
            try:
                stream.send_nowait(event)
            except anyio.WouldBlock:
                self.dropped += 1
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass

    # -- subscriptions -----------------------------------------------------------------------

    def _account(self, account_id: int | None) -> int:
        return self._client.account.id if account_id is None else account_id

    async def subscribe_accounts(self) -> None:
        """Receive ``GatewayUserAccount`` events (balance changes)."""
        await self.user.invoke("SubscribeAccounts")

    async def subscribe_orders(self, account_id: int | None = None) -> None:
        """Receive ``GatewayUserOrder`` events of the account (default: the client's)."""
        await self.user.invoke("SubscribeOrders", self._account(account_id))

    async def subscribe_positions(self, account_id: int | None = None) -> None:
        """Receive ``GatewayUserPosition`` events of the account."""
        await self.user.invoke("SubscribePositions", self._account(account_id))

    async def subscribe_trades(self, account_id: int | None = None) -> None:
        """Receive ``GatewayUserTrade`` events (the account's fills)."""
        await self.user.invoke("SubscribeTrades", self._account(account_id))

    async def subscribe_quotes(self, contract_id: str) -> None:
        """Receive ``GatewayQuote`` events of a contract."""
        await self.market.invoke("SubscribeContractQuotes", contract_id)

    async def subscribe_market_trades(self, contract_id: str) -> None:
        """Receive ``GatewayTrade`` events (the tape) of a contract."""
        await self.market.invoke("SubscribeContractTrades", contract_id)

    async def subscribe_depth(self, contract_id: str) -> None:
        """Receive ``GatewayDepth`` events (the order book) of a contract."""
        await self.market.invoke("SubscribeContractMarketDepth", contract_id)

    async def unsubscribe_quotes(self, contract_id: str) -> None:
        """Stop ``GatewayQuote`` events of a contract."""
        await self.market.forget(
            "SubscribeContractQuotes", "UnsubscribeContractQuotes", contract_id
        )

    async def unsubscribe_orders(self, account_id: int | None = None) -> None:
        """Stop ``GatewayUserOrder`` events of the account."""
        account = self._account(account_id)
        await self.user.forget("SubscribeOrders", "UnsubscribeOrders", account)

    # -- lifetime ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        tasks = anyio.create_task_group()
        await tasks.__aenter__()
        try:
            for hub in (self.user, self.market):
                tasks.start_soon(hub.run)
                await hub.ready.wait()
                if hub.failure is not None:
                    raise hub.failure
        except BaseException:
            tasks.cancel_scope.cancel()
            await tasks.__aexit__(None, None, None)
            await self._close_hubs()
            raise
        self._tasks = tasks
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks, self._tasks = self._tasks, None
        try:
            if tasks is not None:
                tasks.cancel_scope.cancel()
                await tasks.__aexit__(exc_type, exc, tb)
        finally:
            for iterator in self._iterators:
                await iterator.aclose()
            self._iterators.clear()
            await self._close_hubs()

    async def _close_hubs(self) -> None:
        await self.user.aclose()
        await self.market.aclose()


def _event(hub: str, target: str, arguments: list[Any]) -> RealtimeEvent:
    contract_id: str | None = None
    data: Any = arguments[0] if arguments else None
    if hub == "market" and len(arguments) >= 2 and isinstance(arguments[0], str):
        contract_id, data = arguments[0], arguments[1]
    elif isinstance(data, dict) and set(data) == {"action", "data"}:
        data = data["data"]
    return RealtimeEvent(hub, target, contract_id, data, list(arguments))

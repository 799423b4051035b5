"""Orders, positions and trades of one account.

Order-changing calls (place, modify, cancel, close, partial close) go through
:meth:`Session.mutate`: sent once, never retried blindly, an unknown outcome raised as
:class:`~projectx.errors.OrderSubmissionUncertain`, which :meth:`Orders.reconcile` settles.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Any, Literal

from projectx._models import Bracket, Order, OrderSide, OrderType, Position, Trade, as_utc
from projectx._session import Session
from projectx.errors import OrderSubmissionUncertain, ProjectXError

__all__ = ["Orders", "Positions", "Trades"]

logger = logging.getLogger(__name__)

Side = OrderSide | Literal["buy", "sell"]
DEFAULT_LOOKBACK = dt.timedelta(days=30)
# Clocks of client and Gateway differ a little; a reconciliation window allows for it.
_SKEW = dt.timedelta(seconds=60)


def _side(side: Side) -> OrderSide:
    if isinstance(side, OrderSide):
        return side
    if side in ("buy", "sell"):
        return OrderSide.BUY if side == "buy" else OrderSide.SELL
    msg = f"side must be OrderSide.BUY/SELL or 'buy'/'sell', got {side!r}"
    raise ProjectXError(msg)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _bracket(value: Bracket | int | None, default: OrderType) -> dict[str, int] | None:
    if value is None:
        return None
    bracket = value if isinstance(value, Bracket) else Bracket(ticks=value, type=default)
    return {"ticks": bracket.ticks, "type": int(bracket.type)}


class _AccountScoped:
    def __init__(self, session: Session, account: Callable[[], int]) -> None:
        self._session = session
        self._account = account

    def _account_id(self, account_id: int | None) -> int:
        return self._account() if account_id is None else account_id

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._session.clock.time(), dt.UTC)

    def _window(
        self, start: dt.datetime | None, end: dt.datetime | None, account_id: int | None
    ) -> dict[str, Any]:
        """The body of a time-window search (``Order/search``, ``Trade/search``)."""
        # Naive datetimes are wall times in the client's zone, as for bars.
        zone = self._session.settings.timezone
        begin = self._now() - DEFAULT_LOOKBACK if start is None else as_utc(start, zone)
        body: dict[str, Any] = {
            "accountId": self._account_id(account_id),
            "startTimestamp": _iso(begin),
        }
        if end is not None:
            body["endTimestamp"] = _iso(as_utc(end, zone))
        return body


class Orders(_AccountScoped):
    """Place, change, cancel and find orders (``client.orders``).

    Every method takes ``account_id=``; by default the client's selected account.
    """

    async def place(
        self,
        contract_id: str,
        side: Side,
        size: int,
        *,
        type: OrderType = OrderType.MARKET,
        limit_price: float | None = None,
        stop_price: float | None = None,
        trail_price: float | None = None,
        custom_tag: str | None = None,
        stop_loss: Bracket | int | None = None,
        take_profit: Bracket | int | None = None,
        account_id: int | None = None,
    ) -> int:
        """Place an order and return its id (``Order/place``).

        Args:
            contract_id: e.g. ``"CON.F.US.MNQ.H26"``.
            side: ``OrderSide.BUY`` / ``"buy"`` or ``OrderSide.SELL`` / ``"sell"``.
            size: number of contracts (> 0).
            type: the order type.
            limit_price: for limit orders.
            stop_price: for stop orders.
            trail_price: for trailing stops.
            custom_tag: your id for the order, unique per account. When ``None`` and the
                ``auto_tag`` setting is on, a unique ``px-...`` tag is sent, so that
                :meth:`reconcile` can find the order after an uncertain submission.
            stop_loss: bracket ``ticks`` away (an int means a stop order), or a Bracket.
            take_profit: bracket ``ticks`` away (an int means a limit order), or a Bracket.
            account_id: the account; default the client's.

        Raises:
            OrderSubmissionUncertain: sent, outcome unknown: call :meth:`reconcile`.
            OrderRejectedError: refused (a subclass names why); nothing was traded.
        """
        if custom_tag is None and self._session.settings.auto_tag:
            custom_tag = f"px-{uuid.uuid4().hex[:20]}"
        body: dict[str, Any] = {
            "accountId": self._account_id(account_id),
            "contractId": contract_id,
            "type": int(type),
            "side": int(_side(side)),
            "size": size,
            "limitPrice": limit_price,
            "stopPrice": stop_price,
            "trailPrice": trail_price,
        }
        if custom_tag is not None:
            body["customTag"] = custom_tag
        if (sl := _bracket(stop_loss, OrderType.STOP)) is not None:
            body["stopLossBracket"] = sl
        if (tp := _bracket(take_profit, OrderType.LIMIT)) is not None:
            body["takeProfitBracket"] = tp
        data = await self._session.mutate("Order/place", body)
        order_id = int(data["orderId"])
        logger.info("placed order %s (%s) on account %s", order_id, custom_tag, body["accountId"])
        return order_id

    async def market(self, contract_id: str, side: Side, size: int, **options: Any) -> int:
        """Place a market order; ``options`` as for :meth:`place`."""
        return await self.place(contract_id, side, size, type=OrderType.MARKET, **options)

    async def limit(
        self, contract_id: str, side: Side, size: int, price: float, **options: Any
    ) -> int:
        """Place a limit order at ``price``; ``options`` as for :meth:`place`."""
        return await self.place(
            contract_id, side, size, type=OrderType.LIMIT, limit_price=price, **options
        )

    async def stop(
        self, contract_id: str, side: Side, size: int, price: float, **options: Any
    ) -> int:
        """Place a stop order triggering at ``price``; ``options`` as for :meth:`place`."""
        return await self.place(
            contract_id, side, size, type=OrderType.STOP, stop_price=price, **options
        )

    async def trailing_stop(
        self, contract_id: str, side: Side, size: int, trail: float, **options: Any
    ) -> int:
        """Place a trailing stop ``trail`` price units away; ``options`` as for :meth:`place`."""
        return await self.place(
            contract_id, side, size, type=OrderType.TRAILING_STOP, trail_price=trail, **options
        )

    async def modify(
        self,
        order_id: int,
        *,
        size: int | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        trail_price: float | None = None,
        account_id: int | None = None,
    ) -> None:
        """Change an open order; only the given fields are sent (``Order/modify``).

        Raises:
            OrderSubmissionUncertain: sent, outcome unknown: call :meth:`reconcile`.
            OrderNotFoundError: no such order.
        """
        body: dict[str, Any] = {"accountId": self._account_id(account_id), "orderId": order_id}
        changes = {
            "size": size,
            "limitPrice": limit_price,
            "stopPrice": stop_price,
            "trailPrice": trail_price,
        }
        body.update({k: v for k, v in changes.items() if v is not None})
        await self._session.mutate("Order/modify", body)

    async def cancel(self, order_id: int, *, account_id: int | None = None) -> None:
        """Cancel an open order (``Order/cancel``).

        Raises:
            OrderSubmissionUncertain: sent, outcome unknown: call :meth:`reconcile`.
            OrderNotFoundError: no such order.
        """
        body = {"accountId": self._account_id(account_id), "orderId": order_id}
        await self._session.mutate("Order/cancel", body)

    async def search(
        self,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        *,
        account_id: int | None = None,
    ) -> list[Order]:
        """Return the orders created in ``[start, end]`` (default: the last 30 days), any status."""
        data = await self._session.call("Order/search", self._window(start, end, account_id))
        return [Order.model_validate(o) for o in data.get("orders") or []]

    async def open(self, *, account_id: int | None = None) -> list[Order]:
        """Return the account's working orders (``Order/searchOpen``)."""
        body = {"accountId": self._account_id(account_id)}
        data = await self._session.call("Order/searchOpen", body)
        return [Order.model_validate(o) for o in data.get("orders") or []]

    async def get(self, order_id: int, *, account_id: int | None = None) -> Order:
        """Return one order by id (``Order/searchById``).

        Raises:
            OrderNotFoundError: no such order.
        """
        body = {"accountId": self._account_id(account_id), "orderId": order_id}
        data = await self._session.call("Order/searchById", body)
        return Order.model_validate(data["order"])

    async def reconcile(
        self, uncertain: OrderSubmissionUncertain, *, attempts: int = 3, interval: float = 1.0
    ) -> Order | None:
        """Settle an uncertain submission by asking the Gateway what happened.

        * ``Order/place``: finds the order by its custom tag, or else by contract, side, size
          and type among orders created from shortly before the request was sent. Returns it,
          or ``None`` if it was never booked (then placing it again is safe).
        * ``Order/modify`` / ``Order/cancel``: returns the order's current state; compare it
          with what you asked for.

        The search is repeated ``attempts`` times, ``interval`` seconds apart, since a
        booked order may show up a moment later.

        Raises:
            ProjectXError: ``uncertain`` is for a position call; check
                :meth:`Positions.open` instead.
        """
        endpoint = uncertain.endpoint.lower()
        account_id = uncertain.account_id
        if endpoint in ("order/modify", "order/cancel"):
            return await self.get(int(uncertain.payload["orderId"]), account_id=account_id)
        if endpoint != "order/place":
            msg = (
                f"cannot reconcile {uncertain.endpoint}: check ProjectX.positions.open() to "
                f"see whether the position changed"
            )
            raise ProjectXError(msg)
        since = dt.datetime.fromtimestamp(uncertain.sent_at, dt.UTC) - _SKEW
        for attempt in range(max(attempts, 1)):
            if attempt:
                await self._session.clock.asleep(interval)
            found = _match(await self.search(since, account_id=account_id), uncertain.payload)
            if found is not None:
                logger.info("reconciled uncertain Order/place: order %s exists", found.id)
                return found
        logger.info("reconciled uncertain Order/place: no such order was booked")
        return None


def _match(orders: list[Order], payload: dict[str, Any]) -> Order | None:
    tag = payload.get("customTag")
    if tag is not None:
        return next((o for o in orders if o.custom_tag == tag), None)
    candidates = [
        o
        for o in orders
        if o.contract_id == payload.get("contractId")
        and int(o.side) == payload.get("side")
        and o.size == payload.get("size")
        and int(o.type) == payload.get("type")
        and _same_price(o.limit_price, payload.get("limitPrice"))
        and _same_price(o.stop_price, payload.get("stopPrice"))
    ]
    # The latest match: an earlier identical order is the one the caller already knew.
    return max(candidates, key=lambda o: (o.creation_timestamp, o.id), default=None)


def _same_price(booked: float | None, sent: object) -> bool:
    # A price that was not sent cannot tell orders apart (a market order's, a stop's limit);
    # one that was sent must be the booked one, or an earlier look-alike order is taken for
    # the uncertain one (and a lost order reported as placed).
    if not isinstance(sent, int | float) or booked is None:
        return True
    return abs(booked - sent) < 1e-9 * max(1.0, abs(sent))


class Positions(_AccountScoped):
    """Open positions: list, close, partially close (``client.positions``)."""

    async def open(self, *, account_id: int | None = None) -> list[Position]:
        """Return the account's open positions (``Position/searchOpen``)."""
        body = {"accountId": self._account_id(account_id)}
        data = await self._session.call("Position/searchOpen", body)
        return [Position.model_validate(p) for p in data.get("positions") or []]

    async def close(self, contract_id: str, *, account_id: int | None = None) -> None:
        """Flatten the position in ``contract_id`` at market (``Position/closeContract``).

        Raises:
            OrderSubmissionUncertain: sent, outcome unknown: check :meth:`open`.
            PositionNotFoundError: no open position in that contract.
        """
        body = {"accountId": self._account_id(account_id), "contractId": contract_id}
        await self._session.mutate("Position/closeContract", body)

    async def partial_close(
        self, contract_id: str, size: int, *, account_id: int | None = None
    ) -> None:
        """Close ``size`` contracts of the position (``Position/partialCloseContract``).

        Raises:
            OrderSubmissionUncertain: sent, outcome unknown: check :meth:`open`.
            InvalidRequestError: ``size`` is not between 1 and the position's size.
        """
        body = {
            "accountId": self._account_id(account_id),
            "contractId": contract_id,
            "size": size,
        }
        await self._session.mutate("Position/partialCloseContract", body)


class Trades(_AccountScoped):
    """The account's fills (``client.trades``)."""

    async def search(
        self,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        *,
        contract_id: str | None = None,
        account_id: int | None = None,
    ) -> list[Trade]:
        """Return fills in ``[start, end]`` (default: the last 30 days), maybe of one contract."""
        data = await self._session.call("Trade/search", self._window(start, end, account_id))
        trades = [Trade.model_validate(t) for t in data.get("trades") or []]
        if contract_id is not None:
            trades = [t for t in trades if t.contract_id == contract_id]
        return trades

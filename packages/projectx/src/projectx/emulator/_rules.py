"""The order rules of the matching engine: validation, prices and when a resting order fills.

Pure functions over an order, its contract and the last price, so that the engine
(:mod:`projectx.emulator._engine`) keeps only the bookkeeping.
"""

from __future__ import annotations

__all__ = [
    "PLACEABLE",
    "check_basics",
    "check_brackets",
    "check_stop_side",
    "marketable",
    "price",
    "set_prices",
    "trail_level",
    "triggered",
]

from projectx.emulator._bars import BarPath
from projectx.emulator._entities import Failure, GatewayFailure, Order, OrderType
from projectx.emulator._market import Market
from projectx.emulator._settings import ContractSpec

PLACEABLE = frozenset(
    {
        OrderType.LIMIT,
        OrderType.MARKET,
        OrderType.STOP,
        OrderType.TRAILING_STOP,
        OrderType.JOIN_BID,
        OrderType.JOIN_ASK,
    }
)
_LIMITS = (OrderType.LIMIT, OrderType.JOIN_BID, OrderType.JOIN_ASK)


def _refuse(message: str) -> GatewayFailure:
    return GatewayFailure(Failure.ORDER_REJECTED, message)


def check_brackets(
    stop_loss: tuple[int, int] | None, take_profit: tuple[int, int] | None
) -> list[tuple[int, int]]:
    """The ``(type, ticks)`` of the given brackets, or OrderRejected for an unusable one."""
    brackets = []
    for name, bracket, kinds in (
        ("stopLossBracket", stop_loss, (OrderType.STOP, OrderType.TRAILING_STOP)),
        ("takeProfitBracket", take_profit, (OrderType.LIMIT,)),
    ):
        if bracket is None:
            continue
        kind, ticks = bracket
        if kind not in kinds or ticks == 0:
            accepted = " or ".join(f"{int(k)} ({k.name.title()})" for k in kinds)
            msg = f"{name} needs a non-zero ticks and type {accepted}; got {kind}, {ticks}"
            raise _refuse(msg)
        brackets.append(bracket)
    return brackets


def check_basics(side: int, size: int) -> None:
    """OrderRejected unless ``side`` is 0 or 1 and ``size`` at least 1."""
    if side not in (0, 1):
        raise _refuse(f"side must be 0 (Bid, buy) or 1 (Ask, sell), got {side}")
    if size < 1:
        raise _refuse(f"size must be at least 1, got {size}")


def price(name: str, value: float | None, contract: ContractSpec, path: BarPath) -> float:
    """``value`` as a price of ``contract``; OrderRejected if missing or off the tick grid."""
    if value is None:
        raise _refuse(f"{name} is required for this order type")
    steps = value / contract.tick_size
    if value <= 0 or abs(steps - round(steps)) > 1e-6:
        msg = (
            f"{name} {value} is not a positive multiple of the tick size "
            f"{contract.tick_size} of {contract.id}"
        )
        raise _refuse(msg)
    return path.round(value)


def set_prices(
    order: Order,
    contract: ContractSpec,
    market: Market,
    *,
    limit_price: float | None,
    stop_price: float | None,
    trail_price: float | None,
) -> None:
    """Give a new order the prices its type needs (and only those)."""
    last = market.last(contract.id)
    path = market.path(contract.id)
    if order.type == OrderType.LIMIT:
        order.limit_price = price("limitPrice", limit_price, contract, path)
    elif order.type == OrderType.STOP:
        order.stop_price = price("stopPrice", stop_price, contract, path)
        check_stop_side(order, last)
    elif order.type == OrderType.TRAILING_STOP:
        order.trail = price("trailPrice", trail_price, contract, path)
        order.anchor = last
        order.stop_price = trail_level(order, path)
    elif order.type in (OrderType.JOIN_BID, OrderType.JOIN_ASK):
        offset = -contract.tick_size if order.type == OrderType.JOIN_BID else contract.tick_size
        order.limit_price = path.round(last + offset)


def check_stop_side(order: Order, last: float) -> None:
    """OrderRejected unless a stop lies beyond the market (a buy stop above ``last``)."""
    assert order.stop_price is not None
    if (order.is_buy and order.stop_price <= last) or (
        not order.is_buy and order.stop_price >= last
    ):
        where = "above" if order.is_buy else "below"
        msg = (
            f"a {'buy' if order.is_buy else 'sell'} stop must be {where} the last price "
            f"{last}; got stopPrice {order.stop_price}"
        )
        raise _refuse(msg)


def trail_level(order: Order, path: BarPath) -> float:
    """The trigger of a trailing stop: its distance from the best price since it was placed."""
    assert order.anchor is not None
    assert order.trail is not None
    level = order.anchor + order.trail if order.is_buy else order.anchor - order.trail
    return path.round(level)


def marketable(order: Order, last: float) -> bool:
    """Whether a limit order would fill at once at ``last``."""
    if order.type in _LIMITS:
        assert order.limit_price is not None
        return last <= order.limit_price if order.is_buy else last >= order.limit_price
    return False


def triggered(order: Order, last: float, path: BarPath) -> float | None:
    """The fill price of a resting order at ``last``, or None if it does not fill.

    A trailing stop first follows ``last`` if it is a new best price.
    """
    if order.type in _LIMITS:
        return order.limit_price if marketable(order, last) else None
    if order.type == OrderType.TRAILING_STOP:
        assert order.anchor is not None
        order.anchor = min(order.anchor, last) if order.is_buy else max(order.anchor, last)
        order.stop_price = trail_level(order, path)
    assert order.stop_price is not None
    crossed = last >= order.stop_price if order.is_buy else last <= order.stop_price
    return last if crossed else None

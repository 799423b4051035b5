"""The emulator's records (orders, positions, trades) and the codes and failures of its engine.

Each record renders itself as the Gateway's JSON (camelCase, ISO-8601 timestamps with
``+00:00``), the shape REST answers and hub events share.
"""

from __future__ import annotations

__all__ = [
    "Event",
    "Failure",
    "GatewayFailure",
    "Order",
    "OrderStatus",
    "OrderType",
    "Position",
    "Trade",
    "iso",
]

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any


def iso(epoch: float) -> str:
    """Epoch seconds as the Gateway writes them: ``2026-11-20T22:37:45.585674+00:00``."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


class OrderType(enum.IntEnum):
    """Order types as on the wire."""

    UNKNOWN = 0
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7


class OrderStatus(enum.IntEnum):
    """Order statuses as on the wire."""

    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6
    PENDING_CANCELLATION = 7
    SUSPENDED = 8


class Failure(enum.Enum):
    """Why the engine refused a request; each endpoint maps it to its own ``errorCode``."""

    ACCOUNT_NOT_FOUND = "account not found"
    ACCOUNT_REJECTED = "account rejected"
    CONTRACT_NOT_FOUND = "contract not found"
    CONTRACT_NOT_ACTIVE = "contract not active"
    ORDER_NOT_FOUND = "order not found"
    ORDER_REJECTED = "order rejected"
    ORDER_NOT_OPEN = "order not open"
    POSITION_NOT_FOUND = "position not found"
    INVALID_CLOSE_SIZE = "invalid close size"


class GatewayFailure(Exception):
    """A business failure: answered as HTTP 200 with ``success: false``."""

    def __init__(self, failure: Failure, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message


@dataclass(slots=True)
class Order:
    """An order and its bracket links."""

    id: int
    account_id: int
    contract_id: str
    symbol_id: str
    created: float
    type: OrderType
    side: int
    size: int
    status: OrderStatus = OrderStatus.OPEN
    updated: float | None = None
    limit_price: float | None = None
    stop_price: float | None = None
    trail: float | None = None
    anchor: float | None = None
    fill_volume: int = 0
    filled_price: float | None = None
    custom_tag: str | None = None
    parent_id: int | None = None
    sibling_id: int | None = None
    brackets: list[tuple[int, int]] = field(default_factory=list)

    @property
    def is_buy(self) -> bool:
        """Whether the order buys (side 0, Bid)."""
        return self.side == 0

    def to_wire(self) -> dict[str, Any]:
        """The Gateway's order model."""
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract_id,
            "symbolId": self.symbol_id,
            "creationTimestamp": iso(self.created),
            "updateTimestamp": iso(self.updated) if self.updated is not None else None,
            "status": int(self.status),
            "type": int(self.type),
            "side": self.side,
            "size": self.size,
            "limitPrice": self.limit_price,
            "stopPrice": self.stop_price,
            "fillVolume": self.fill_volume,
            "filledPrice": self.filled_price,
            "customTag": self.custom_tag,
        }


@dataclass(slots=True)
class Position:
    """A net position of one account in one contract (``size`` 0 once flat)."""

    id: int
    account_id: int
    contract_id: str
    created: float
    long: bool
    size: int
    average_price: float

    def to_wire(self) -> dict[str, Any]:
        """The Gateway's position model (``type`` 1 long, 2 short)."""
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract_id,
            "creationTimestamp": iso(self.created),
            "type": 1 if self.long else 2,
            "size": self.size,
            "averagePrice": self.average_price,
        }


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill: ``profit_and_loss`` is ``None`` when it only opened or added to a position."""

    id: int
    account_id: int
    contract_id: str
    created: float
    price: float
    profit_and_loss: float | None
    fees: float
    side: int
    size: int
    order_id: int
    voided: bool = False

    def to_wire(self) -> dict[str, Any]:
        """The Gateway's trade model."""
        return {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract_id,
            "creationTimestamp": iso(self.created),
            "price": self.price,
            "profitAndLoss": self.profit_and_loss,
            "fees": self.fees,
            "side": self.side,
            "size": self.size,
            "voided": self.voided,
            "orderId": self.order_id,
        }


@dataclass(frozen=True, slots=True)
class Event:
    """A hub event: ``target`` with ``arguments``, for one account's or one contract's subscribers.

    Attributes:
        target: the hub method the client receives, e.g. ``GatewayUserOrder``.
        arguments: the invocation's arguments (user events: the entity; market events:
            ``[contractId, payload]``).
        account_id: the account a user event belongs to.
        contract_id: the contract a market event belongs to.
    """

    target: str
    arguments: list[Any]
    account_id: int | None = None
    contract_id: str | None = None

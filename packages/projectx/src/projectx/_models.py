"""The Gateway's codes as enums and its entities as pydantic models.

Models read the Gateway's camelCase JSON, ignore fields they do not know (the Gateway adds
some over time) and are frozen. Python names are snake_case.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import IntEnum

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "Account",
    "BarUnit",
    "Bracket",
    "Contract",
    "DomType",
    "Order",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Position",
    "PositionType",
    "Trade",
    "TradeLogType",
    "as_utc",
]


class OrderType(IntEnum):
    """``type`` of an order (and of a bracket)."""

    UNKNOWN = 0
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7


class OrderSide(IntEnum):
    """``side`` of an order or trade: 0 buys (bid), 1 sells (ask)."""

    BUY = 0
    SELL = 1


class OrderStatus(IntEnum):
    """``status`` of an order."""

    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6
    PENDING_CANCELLATION = 7
    SUSPENDED = 8

    @property
    def is_terminal(self) -> bool:
        """Whether the order can no longer change (filled, cancelled, expired, rejected)."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
)


class PositionType(IntEnum):
    """``type`` of a position."""

    UNDEFINED = 0
    LONG = 1
    SHORT = 2


class BarUnit(IntEnum):
    """``unit`` of ``History/retrieveBars``."""

    SECOND = 1
    MINUTE = 2
    HOUR = 3
    DAY = 4
    WEEK = 5
    MONTH = 6


class TradeLogType(IntEnum):
    """``type`` of a market trade event: the aggressor bought or sold."""

    BUY = 0
    SELL = 1


class DomType(IntEnum):
    """``type`` of a market depth row."""

    UNKNOWN = 0
    ASK = 1
    BID = 2
    BEST_ASK = 3
    BEST_BID = 4
    TRADE = 5
    RESET = 6
    SESSION_LOW = 7
    SESSION_HIGH = 8
    NEW_BEST_BID = 9
    NEW_BEST_ASK = 10
    FILL = 11


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class Account(_Model):
    """A trading account (``Account/search``)."""

    id: int
    name: str
    balance: float
    can_trade: bool
    is_visible: bool = True
    simulated: bool = False


_MONTH_CODES = "FGHJKMNQUVXZ"
_EXPIRY = re.compile(r"([FGHJKMNQUVXZ])(\d{1,2})$")


class Contract(_Model):
    """A futures contract (``Contract/search``, ``searchById``, ``available``)."""

    id: str
    name: str
    description: str = ""
    tick_size: float
    tick_value: float
    active_contract: bool = False
    symbol_id: str | None = None

    @property
    def expiry_month(self) -> tuple[int, int] | None:
        """``(year, month)`` of expiry from the month code (``MNQH26`` -> ``(2026, 3)``).

        ``None`` when the name carries no month code. A one-digit year is the year ending in
        that digit from last year on (``H6`` -> 2026 in 2026, ``H0`` -> 2030 in 2029).
        """
        last = self.id.rsplit(".", 1)[-1]
        match = _EXPIRY.search(last) or _EXPIRY.search(self.name)
        if match is None:
            return None
        month = _MONTH_CODES.index(match.group(1)) + 1
        digits = match.group(2)
        if len(digits) == 2:
            return 2000 + int(digits), month
        return one_digit_year(int(digits), dt.datetime.now(dt.UTC).year), month

    @property
    def product(self) -> str:
        """The product the contract belongs to (``symbolId`` such as ``F.US.MNQ``, or a guess)."""
        if self.symbol_id:
            return self.symbol_id
        parts = self.id.split(".")
        return ".".join(parts[1:-1]) if len(parts) > 2 else _EXPIRY.sub("", self.name)


def one_digit_year(digit: int, this_year: int) -> int:
    """The year ending in ``digit`` that a contract listed around ``this_year`` expires in.

    Listed contracts expire from this year on (last year's may still be quoted), so the answer
    is the first such year from ``this_year - 1``.
    """
    first = this_year - 1
    year = first - first % 10 + digit
    return year if year >= first else year + 10


class Bracket(_Model):
    """A stop-loss or take-profit bracket, ``ticks`` away from the fill."""

    ticks: int
    type: OrderType


class Order(_Model):
    """An order (``Order/search``, ``searchOpen``, ``searchById``)."""

    id: int
    account_id: int
    contract_id: str
    symbol_id: str | None = None
    creation_timestamp: dt.datetime
    update_timestamp: dt.datetime | None = None
    status: OrderStatus
    type: OrderType
    side: OrderSide
    size: int
    limit_price: float | None = None
    stop_price: float | None = None
    fill_volume: int = Field(
        default=0, validation_alias=AliasChoices("fillVolume", "filledSize", "fill_volume")
    )
    filled_price: float | None = None
    custom_tag: str | None = None


class Position(_Model):
    """An open position (``Position/searchOpen``); ``size`` is positive, ``type`` gives the side."""

    id: int
    account_id: int
    contract_id: str
    creation_timestamp: dt.datetime
    type: PositionType
    size: int
    average_price: float


class Trade(_Model):
    """A fill of one of the account's orders (``Trade/search``).

    ``profit_and_loss`` is ``None`` on a fill that opened or added to a position.
    """

    id: int
    account_id: int
    contract_id: str
    creation_timestamp: dt.datetime
    price: float
    profit_and_loss: float | None = None
    fees: float = Field(default=0.0, validation_alias=AliasChoices("fees", "commissions"))
    side: OrderSide
    size: int
    voided: bool = False
    order_id: int


def as_utc(moment: dt.datetime, tz: str) -> dt.datetime:
    """``moment`` in UTC; a naive ``moment`` is read as wall time in zone ``tz``."""
    if moment.tzinfo is None:
        from zoneinfo import ZoneInfo

        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.astimezone(dt.UTC)

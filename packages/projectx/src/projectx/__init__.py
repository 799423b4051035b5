"""projectx: async SDK for the ProjectX Gateway trading API.

``import projectx`` is light: the client, polars frames, the cache and the realtime hubs load on
first use of their names. See :class:`ProjectX` to start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corekit.lazy import lazy_exports as _lazy_exports
from projectx.errors import (
    AccountNotFoundError,
    AccountSelectionError,
    ContractNotActiveError,
    ContractNotFoundError,
    GatewayError,
    InsufficientFundsError,
    InvalidRequestError,
    LoginError,
    OrderNotFoundError,
    OrderPendingError,
    OrderRejectedError,
    OrderSubmissionUncertain,
    PositionNotFoundError,
    ProjectXError,
    SessionError,
    SettingsError,
)

if TYPE_CHECKING:
    from projectx._bars import BAR_SCHEMA, Bars
    from projectx._cache import BarCache, CacheStats
    from projectx._client import ProjectX
    from projectx._contracts import Accounts, Contracts
    from projectx._models import (
        Account,
        BarUnit,
        Bracket,
        Contract,
        DomType,
        Order,
        OrderSide,
        OrderStatus,
        OrderType,
        Position,
        PositionType,
        Trade,
        TradeLogType,
    )
    from projectx._settings import ProjectXSettings
    from projectx._trading import Orders, Positions, Trades

__all__ = [
    "BAR_SCHEMA",
    "Account",
    "AccountNotFoundError",
    "AccountSelectionError",
    "Accounts",
    "BarCache",
    "BarUnit",
    "Bars",
    "Bracket",
    "CacheStats",
    "Contract",
    "ContractNotActiveError",
    "ContractNotFoundError",
    "Contracts",
    "DomType",
    "GatewayError",
    "InsufficientFundsError",
    "InvalidRequestError",
    "LoginError",
    "Order",
    "OrderNotFoundError",
    "OrderPendingError",
    "OrderRejectedError",
    "OrderSide",
    "OrderStatus",
    "OrderSubmissionUncertain",
    "OrderType",
    "Orders",
    "Position",
    "PositionNotFoundError",
    "PositionType",
    "Positions",
    "ProjectX",
    "ProjectXError",
    "ProjectXSettings",
    "SessionError",
    "SettingsError",
    "Trade",
    "TradeLogType",
    "Trades",
    "__version__",
]

# Where each lazily loaded name lives; loaded on first attribute access (PEP 562).
_LAZY = {
    "BAR_SCHEMA": "projectx._bars",
    "Bars": "projectx._bars",
    "BarCache": "projectx._cache",
    "CacheStats": "projectx._cache",
    "ProjectX": "projectx._client",
    "Accounts": "projectx._contracts",
    "Contracts": "projectx._contracts",
    "ProjectXSettings": "projectx._settings",
    "Orders": "projectx._trading",
    "Positions": "projectx._trading",
    "Trades": "projectx._trading",
    **dict.fromkeys(
        [
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
        ],
        "projectx._models",
    ),
}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, __all__, distribution="projectx")

"""The contract catalogue, last prices and the market-hub payloads (quotes, tape, depth).

The front month of a product is its earliest contract not yet expired on the clock's date;
it alone has ``activeContract: true``. Expired months are found by ``Contract/searchById``
(clients probe them) but not listed by searches and cannot be traded.
"""

from __future__ import annotations

__all__ = ["Market"]

import datetime as dt
from typing import Any

from corekit.clock import Clock
from projectx.emulator._bars import BarPath
from projectx.emulator._catalogue import default_contracts
from projectx.emulator._entities import Event, Failure, GatewayFailure, iso
from projectx.emulator._settings import ContractSpec, EmulatorSettings

_DEPTH_LEVELS = 5


class Market:
    """Contracts and their prices (guarded by the :class:`Gateway`'s lock)."""

    def __init__(self, settings: EmulatorSettings, clock: Clock) -> None:
        self.clock = clock
        listed = settings.contracts or default_contracts(self._today())
        self.contracts = {c.id: c for c in listed}
        self._lookup = {c.id.lower(): c for c in listed}
        self._paths = {c.id: BarPath(c.id, c.price, c.tick_size, settings.seed) for c in listed}
        self.reset()

    def reset(self) -> None:
        """Every last price back to its contract's starting price; session stats cleared."""
        self._last = {c.id: self._paths[c.id].round(c.price) for c in self.contracts.values()}
        self._open = dict(self._last)
        self._high = dict(self._last)
        self._low = dict(self._last)
        self._volume = dict.fromkeys(self.contracts, 0)

    # -- catalogue -----------------------------------------------------------------------

    def contract(self, contract_id: str) -> ContractSpec:
        """The contract (ids match regardless of case), or ContractNotFound."""
        contract = self._lookup.get(contract_id.lower())
        if contract is None:
            msg = f"Contract {contract_id} not found; Contract/search lists contract ids"
            raise GatewayFailure(Failure.CONTRACT_NOT_FOUND, msg)
        return contract

    def path(self, contract_id: str) -> BarPath:
        """The price path (and bar generator) of a known contract."""
        return self._paths[contract_id]

    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock.time(), dt.UTC).date()

    def is_tradable(self, contract: ContractSpec) -> bool:
        """Whether the contract has not expired."""
        return contract.expiry >= self._today()

    def is_front(self, contract: ContractSpec) -> bool:
        """Whether the contract is its product's front month."""
        today = self._today()
        months = [
            c.expiry
            for c in self.contracts.values()
            if c.symbol_id == contract.symbol_id and c.expiry >= today
        ]
        return contract.expiry >= today and contract.expiry == min(months)

    def to_wire(self, contract: ContractSpec) -> dict[str, Any]:
        """The Gateway's contract model."""
        return {
            "id": contract.id,
            "name": contract.name,
            "description": contract.description,
            "tickSize": contract.tick_size,
            "tickValue": contract.tick_value,
            "activeContract": self.is_front(contract),
            "symbolId": contract.symbol_id,
        }

    def listed(self, *, live: bool, text: str = "") -> list[dict[str, Any]]:
        """Unexpired contracts whose name, id, product or description contains ``text``.

        Ordered by product, then expiry; ``live`` leaves out sim-only contracts.
        """
        needle = text.strip().lower()
        found = [
            c
            for c in self.contracts.values()
            if self.is_tradable(c)
            and (c.live or not live)
            and any(needle in s.lower() for s in (c.name, c.id, c.symbol_id, c.description))
        ]
        found.sort(key=lambda c: (c.symbol_id, c.expiry))
        return [self.to_wire(c) for c in found]

    # -- prices --------------------------------------------------------------------------

    def last(self, contract_id: str) -> float:
        """The contract's last price."""
        return self._last[contract_id]

    def move(self, contract_id: str, price: float) -> list[Event]:
        """Set the last price (rounded to the tick grid); returns the market events."""
        if not price > 0:
            msg = f"price must be a positive number, got {price!r}"
            raise ValueError(msg)
        price = self._paths[contract_id].round(price)
        up = price >= self._last[contract_id]
        return self.traded(contract_id, price, 1, buy=up)

    def traded(self, contract_id: str, price: float, size: int, *, buy: bool) -> list[Event]:
        """Record a trade at ``price`` (a fill or a scripted tick); returns the market events."""
        self._last[contract_id] = price
        self._high[contract_id] = max(self._high[contract_id], price)
        self._low[contract_id] = min(self._low[contract_id], price)
        self._volume[contract_id] += size
        now = iso(self.clock.time())
        contract = self.contracts[contract_id]
        tape = [
            {
                "symbolId": contract.symbol_id,
                "price": price,
                "timestamp": now,
                "type": 0 if buy else 1,
                "volume": size,
            }
        ]
        return [
            self.quote_event(contract_id),
            Event("GatewayTrade", [contract_id, tape], contract_id=contract_id),
            self.depth_event(contract_id),
        ]

    def quote_event(self, contract_id: str) -> Event:
        """``GatewayQuote`` with the contract's current quote."""
        contract = self.contracts[contract_id]
        last = self._last[contract_id]
        path = self._paths[contract_id]
        change = path.round(last - self._open[contract_id])
        quote = {
            "symbol": contract.symbol_id,
            "symbolName": contract.name,
            "lastPrice": last,
            "bestBid": path.round(last - contract.tick_size),
            "bestAsk": path.round(last + contract.tick_size),
            "bidSize": 10,
            "askSize": 10,
            "change": change,
            "changePercent": round(change / self._open[contract_id] * 100, 4),
            "open": self._open[contract_id],
            "high": self._high[contract_id],
            "low": self._low[contract_id],
            "volume": self._volume[contract_id],
            "lastUpdated": iso(self.clock.time()),
            "timestamp": iso(self.clock.time()),
        }
        return Event("GatewayQuote", [contract_id, quote], contract_id=contract_id)

    def depth_event(self, contract_id: str) -> Event:
        """``GatewayDepth``: a Reset row, then five levels a side around the last price."""
        contract = self.contracts[contract_id]
        last = self._last[contract_id]
        path = self._paths[contract_id]
        now = iso(self.clock.time())
        rows: list[dict[str, Any]] = [
            {"timestamp": now, "type": 6, "price": 0.0, "volume": 0, "currentVolume": 0}
        ]
        for level in range(1, _DEPTH_LEVELS + 1):
            for dom_type, sign in ((1, 1), (2, -1)):  # 1 Ask, 2 Bid
                volume = 10 * level
                rows.append(
                    {
                        "timestamp": now,
                        "type": dom_type,
                        "price": path.round(last + sign * level * contract.tick_size),
                        "volume": volume,
                        "currentVolume": volume,
                    }
                )
        return Event("GatewayDepth", [contract_id, rows], contract_id=contract_id)

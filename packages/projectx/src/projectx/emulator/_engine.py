"""The emulated Gateway's trading state and its deterministic matching engine.

Fills happen at known prices only, so tests can assert exact P&L:

* market orders fill at once at the contract's last price;
* a limit order that is marketable when placed fills at the last price, otherwise it rests
  and fills at its limit when the last price reaches it;
* a stop order must be on the far side of the market and fills at the last price once
  the last price reaches its stop; a trailing stop follows the best price by its distance;
* JoinBid / JoinAsk are limits at one tick below / above the last price;
* bracket children (``stopLossBracket`` / ``takeProfitBracket``) wait Suspended until
  their parent fills, then rest at the given ticks from the fill price; when one fills the
  other is cancelled, and both are cancelled when the position goes flat.

The last price moves only through :meth:`Gateway.set_price` (a test, the ``set-price``
action, or the market hub's script). Every change is published as hub events.
"""

from __future__ import annotations

__all__ = ["Gateway"]

import dataclasses
import itertools
import threading
from collections.abc import Callable, Iterable
from typing import Any

from corekit.clock import Clock
from projectx.emulator import _rules as rules
from projectx.emulator._entities import (
    Event,
    Failure,
    GatewayFailure,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Trade,
)
from projectx.emulator._market import Market
from projectx.emulator._settings import AccountSpec, ContractSpec, EmulatorSettings

Listener = Callable[[Event], None]


class Gateway:
    """Accounts, orders, positions and trades of one emulated user (thread-safe).

    Args:
        settings: the emulator's settings (accounts, contracts, fees).
        clock: the time source for timestamps and the front-month choice.
    """

    def __init__(self, settings: EmulatorSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.market = Market(settings, clock)
        self.lock = threading.RLock()
        self._listeners: list[Listener] = []
        self.reset()

    # -- housekeeping --------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the settings' starting state (balances, prices; no orders or positions)."""
        with self.lock:
            self.accounts: dict[int, AccountSpec] = {a.id: a for a in self.settings.accounts}
            self.balances = {a.id: a.balance for a in self.settings.accounts}
            self.orders: dict[int, Order] = {}
            self.positions: dict[tuple[int, str], Position] = {}
            self.trades: list[Trade] = []
            self._order_ids = itertools.count(7_000_001)
            self._position_ids = itertools.count(3_000_001)
            self._trade_ids = itertools.count(9_000_001)
            self.market.reset()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` with every event (from the thread that caused it)."""
        with self.lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        with self.lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _emit(self, events: Iterable[Event]) -> None:
        # Called under the lock, so every listener sees events in the order they happened;
        # listeners only queue them.
        for event in events:
            for listener in list(self._listeners):
                listener(event)

    # -- lookups -------------------------------------------------------------------------

    def account(self, account_id: int) -> AccountSpec:
        """The account, or AccountNotFound."""
        account = self.accounts.get(account_id)
        if account is None:
            msg = f"Account {account_id} not found; Account/search lists the user's accounts"
            raise GatewayFailure(Failure.ACCOUNT_NOT_FOUND, msg)
        return account

    def account_wire(self, account: AccountSpec) -> dict[str, Any]:
        """The Gateway's account model, with the current balance."""
        return {
            "id": account.id,
            "name": account.name,
            "balance": round(self.balances[account.id], 2),
            "canTrade": account.can_trade,
            "isVisible": True,
            "simulated": account.simulated,
        }

    def list_accounts(self, *, only_active: bool) -> list[dict[str, Any]]:
        """``Account/search``."""
        with self.lock:
            return [
                self.account_wire(a) for a in self.accounts.values() if a.active or not only_active
            ]

    def _tradable(self, account_id: int, contract_id: str) -> tuple[AccountSpec, ContractSpec]:
        account = self.account(account_id)
        if not account.can_trade:
            msg = f"Account {account.name} ({account.id}) cannot trade (canTrade is false)"
            raise GatewayFailure(Failure.ACCOUNT_REJECTED, msg)
        contract = self.market.contract(contract_id)
        if not self.market.is_tradable(contract):
            msg = f"Contract {contract.id} expired on {contract.expiry}; trade the front month"
            raise GatewayFailure(Failure.CONTRACT_NOT_ACTIVE, msg)
        return account, contract

    def _order(self, account_id: int, order_id: int) -> Order:
        self.account(account_id)
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id:
            msg = f"Order {order_id} not found in account {account_id}"
            raise GatewayFailure(Failure.ORDER_NOT_FOUND, msg)
        return order

    # -- orders --------------------------------------------------------------------------

    def place_order(
        self,
        *,
        account_id: int,
        contract_id: str,
        type: int,
        side: int,
        size: int,
        limit_price: float | None = None,
        stop_price: float | None = None,
        trail_price: float | None = None,
        custom_tag: str | None = None,
        stop_loss: tuple[int, int] | None = None,
        take_profit: tuple[int, int] | None = None,
    ) -> int:
        """``Order/place``: validate, book, match; returns the new order id."""
        events: list[Event] = []
        with self.lock:
            _, contract = self._tradable(account_id, contract_id)
            if type not in rules.PLACEABLE:
                msg = f"Order type {type} cannot be placed; use 1, 2, 4, 5, 6 or 7"
                raise GatewayFailure(Failure.ORDER_REJECTED, msg)
            rules.check_basics(side, size)
            if custom_tag is not None and any(
                o.custom_tag == custom_tag and o.account_id == account_id
                for o in self.orders.values()
            ):
                msg = f"customTag {custom_tag!r} is already used in account {account_id}"
                raise GatewayFailure(Failure.ORDER_REJECTED, msg)
            order = Order(
                id=next(self._order_ids),
                account_id=account_id,
                contract_id=contract.id,
                symbol_id=contract.symbol_id,
                created=self.clock.time(),
                type=OrderType(type),
                side=side,
                size=size,
                custom_tag=custom_tag,
            )
            rules.set_prices(
                order,
                contract,
                self.market,
                limit_price=limit_price,
                stop_price=stop_price,
                trail_price=trail_price,
            )
            order.brackets = rules.check_brackets(stop_loss, take_profit)
            self.orders[order.id] = order
            events.append(self._order_event(order))
            self._suspend_children(order, contract, events)
            if order.type == OrderType.MARKET or rules.marketable(
                order, self.market.last(contract.id)
            ):
                self._fill(order, contract, self.market.last(contract.id), events)
            self._match(contract, events)
            self._emit(events)
        return order.id

    def _suspend_children(self, parent: Order, contract: ContractSpec, events: list[Event]) -> None:
        """Book the parent's bracket children as Suspended until the parent fills."""
        children = []
        for kind, ticks in parent.brackets:
            child = Order(
                id=next(self._order_ids),
                account_id=parent.account_id,
                contract_id=contract.id,
                symbol_id=contract.symbol_id,
                created=parent.created,
                type=OrderType(kind),
                side=1 - parent.side,
                size=parent.size,
                status=OrderStatus.SUSPENDED,
                parent_id=parent.id,
            )
            child.brackets = [(kind, ticks)]  # remembered to price the child on activation
            self.orders[child.id] = child
            children.append(child)
            events.append(self._order_event(child))
        if len(children) == 2:
            children[0].sibling_id, children[1].sibling_id = children[1].id, children[0].id

    def cancel_order(self, account_id: int, order_id: int) -> None:
        """``Order/cancel``: an open or suspended order becomes Cancelled."""
        events: list[Event] = []
        with self.lock:
            order = self._order(account_id, order_id)
            if order.status not in (OrderStatus.OPEN, OrderStatus.SUSPENDED):
                msg = f"Order {order_id} is {order.status.name.title()}; only open orders cancel"
                raise GatewayFailure(Failure.ORDER_NOT_OPEN, msg)
            self._cancel(order, events)
            for child in self.orders.values():
                if child.parent_id == order.id and child.status == OrderStatus.SUSPENDED:
                    self._cancel(child, events)
            self._emit(events)

    def _cancel(self, order: Order, events: list[Event]) -> None:
        order.status = OrderStatus.CANCELLED
        order.updated = self.clock.time()
        events.append(self._order_event(order))

    def modify_order(
        self,
        account_id: int,
        order_id: int,
        *,
        size: int | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        trail_price: float | None = None,
    ) -> None:
        """``Order/modify``: change the given fields of an open order, then match it."""
        events: list[Event] = []
        with self.lock:
            order = self._order(account_id, order_id)
            if order.status != OrderStatus.OPEN:
                msg = f"Order {order_id} is {order.status.name.title()}; only open orders modify"
                raise GatewayFailure(Failure.ORDER_NOT_OPEN, msg)
            contract = self.market.contract(order.contract_id)
            path = self.market.path(contract.id)
            if size is not None:
                rules.check_basics(order.side, size)
            changed = dataclasses.replace(order)
            if size is not None:
                changed.size = size
            if limit_price is not None:
                if order.limit_price is None:
                    raise GatewayFailure(Failure.ORDER_REJECTED, "this order has no limitPrice")
                changed.limit_price = rules.price("limitPrice", limit_price, contract, path)
            if stop_price is not None:
                if order.type != OrderType.STOP:
                    raise GatewayFailure(Failure.ORDER_REJECTED, "this order has no stopPrice")
                changed.stop_price = rules.price("stopPrice", stop_price, contract, path)
                rules.check_stop_side(changed, self.market.last(contract.id))
            if trail_price is not None:
                if order.type != OrderType.TRAILING_STOP:
                    raise GatewayFailure(Failure.ORDER_REJECTED, "this order has no trailPrice")
                changed.trail = rules.price("trailPrice", trail_price, contract, path)
                changed.stop_price = rules.trail_level(changed, path)
            for name in ("size", "limit_price", "stop_price", "trail"):
                setattr(order, name, getattr(changed, name))
            order.updated = self.clock.time()
            events.append(self._order_event(order))
            if rules.marketable(order, self.market.last(contract.id)):
                self._fill(order, contract, self.market.last(contract.id), events)
            self._match(contract, events)
            self._emit(events)

    def find_orders(
        self, account_id: int, *, start: float | None = None, end: float | None = None
    ) -> list[dict[str, Any]]:
        """``Order/search``: every order created in ``[start, end]``, oldest first."""
        return self._orders(
            account_id,
            lambda o: (start is None or o.created >= start) and (end is None or o.created <= end),
        )

    def open_orders(self, account_id: int) -> list[dict[str, Any]]:
        """``Order/searchOpen``: Open orders only (Suspended bracket children are not)."""
        return self._orders(account_id, lambda o: o.status == OrderStatus.OPEN)

    def order(self, account_id: int, order_id: int) -> dict[str, Any]:
        """``Order/searchById``."""
        with self.lock:
            return self._order(account_id, order_id).to_wire()

    def query_orders(
        self, account_id: int, statuses: list[int] | None, contract_id: str | None
    ) -> list[dict[str, Any]]:
        """``Order/v2/query``: orders filtered by status and contract, oldest first."""
        return self._orders(
            account_id,
            lambda o: (
                (not statuses or int(o.status) in statuses)
                and (contract_id is None or o.contract_id == contract_id)
            ),
        )

    def _orders(self, account_id: int, keep: Callable[[Order], bool]) -> list[dict[str, Any]]:
        """The account's orders that ``keep`` accepts, oldest first, as on the wire."""
        with self.lock:
            self.account(account_id)
            return [
                o.to_wire() for o in self.orders.values() if o.account_id == account_id and keep(o)
            ]

    # -- fills ---------------------------------------------------------------------------

    def _order_event(self, order: Order) -> Event:
        return Event("GatewayUserOrder", [order.to_wire()], account_id=order.account_id)

    def _fill(
        self, order: Order, contract: ContractSpec, price: float, events: list[Event]
    ) -> None:
        now = self.clock.time()
        order.status = OrderStatus.FILLED
        order.fill_volume = order.size
        order.filled_price = price
        order.updated = now
        events.append(self._order_event(order))
        pnl = self._book(order, contract, price, now, events)
        fees = round(contract.fee * order.size, 2)
        trade = Trade(
            id=next(self._trade_ids),
            account_id=order.account_id,
            contract_id=contract.id,
            created=now,
            price=price,
            profit_and_loss=pnl,
            fees=fees,
            side=order.side,
            size=order.size,
            order_id=order.id,
        )
        self.trades.append(trade)
        events.append(Event("GatewayUserTrade", [trade.to_wire()], account_id=order.account_id))
        self.balances[order.account_id] += (pnl or 0.0) - fees
        account = self.accounts[order.account_id]
        events.append(
            Event("GatewayUserAccount", [self.account_wire(account)], account_id=account.id)
        )
        events.extend(self.market.traded(contract.id, price, order.size, buy=order.is_buy))
        self._after_fill(order, contract, price, events)

    def _after_fill(
        self, order: Order, contract: ContractSpec, price: float, events: list[Event]
    ) -> None:
        path = self.market.path(contract.id)
        for child in self.orders.values():
            if child.parent_id == order.id and child.status == OrderStatus.SUSPENDED:
                _, ticks = child.brackets[0]
                # Ticks count away from the fill: below it for a long's stop, above for its target.
                distance = abs(ticks) * contract.tick_size
                stop = child.type in (OrderType.STOP, OrderType.TRAILING_STOP)
                below = order.is_buy == stop
                level = path.round(price - distance if below else price + distance)
                if child.type == OrderType.TRAILING_STOP:
                    child.trail, child.anchor = path.round(distance), price
                if stop:
                    child.stop_price = level
                else:
                    child.limit_price = level
                child.status = OrderStatus.OPEN
                child.updated = self.clock.time()
                events.append(self._order_event(child))
        if order.sibling_id is not None:
            sibling = self.orders[order.sibling_id]
            if sibling.status in (OrderStatus.OPEN, OrderStatus.SUSPENDED):
                self._cancel(sibling, events)

    def _book(
        self, order: Order, contract: ContractSpec, price: float, now: float, events: list[Event]
    ) -> float | None:
        """Apply a fill to the net position; returns the realised P&L of any closed part."""
        key = (order.account_id, contract.id)
        position = self.positions.get(key)
        size = order.size
        pnl: float | None = None
        if position is None or position.size == 0:
            position = Position(
                id=next(self._position_ids),
                account_id=order.account_id,
                contract_id=contract.id,
                created=now,
                long=order.is_buy,
                size=size,
                average_price=price,
            )
            self.positions[key] = position
        elif position.long == order.is_buy:
            total = position.size + size
            average = (position.average_price * position.size + price * size) / total
            position.average_price = round(average, 10)
            position.size = total
        else:
            closed = min(size, position.size)
            per_point = contract.tick_value / contract.tick_size
            move = (
                price - position.average_price if position.long else position.average_price - price
            )
            pnl = round(move * closed * per_point, 2)
            position.size -= closed
            if size > closed:  # the fill reversed the position: the rest opens the other side
                position.long = order.is_buy
                position.size = size - closed
                position.average_price = price
                position.created = now
        events.append(
            Event("GatewayUserPosition", [position.to_wire()], account_id=order.account_id)
        )
        if position.size == 0:
            del self.positions[key]
            for other in self.orders.values():
                if (
                    other.account_id == order.account_id
                    and other.contract_id == contract.id
                    and other.parent_id is not None
                    and other.status in (OrderStatus.OPEN, OrderStatus.SUSPENDED)
                    and other.id != order.id
                ):
                    self._cancel(other, events)
        return pnl

    def _match(self, contract: ContractSpec, events: list[Event]) -> None:
        # A fill can activate bracket children that are marketable at once: match until quiet.
        for _ in range(len(self.orders) + 1):
            last = self.market.last(contract.id)
            resting = [
                o
                for o in self.orders.values()
                if o.contract_id == contract.id and o.status == OrderStatus.OPEN
            ]
            filled = False
            for order in resting:
                if order.status != OrderStatus.OPEN:
                    continue  # cancelled as the sibling of an order filled in this pass
                price = rules.triggered(order, last, self.market.path(contract.id))
                if price is not None:
                    self._fill(order, contract, price, events)
                    filled = True
            if not filled:
                return

    # -- positions and trades ------------------------------------------------------------

    def open_positions(self, account_id: int) -> list[dict[str, Any]]:
        """``Position/searchOpen``."""
        with self.lock:
            self.account(account_id)
            return [p.to_wire() for (a, _), p in self.positions.items() if a == account_id]

    def close_position(self, account_id: int, contract_id: str, size: int | None = None) -> None:
        """``Position/closeContract`` (``size`` None) and ``Position/partialCloseContract``."""
        with self.lock:
            _, contract = self._tradable(account_id, contract_id)
            contract_id = contract.id
            position = self.positions.get((account_id, contract_id))
            if position is None:
                msg = f"No open position in {contract_id} for account {account_id}"
                raise GatewayFailure(Failure.POSITION_NOT_FOUND, msg)
            if size is not None and not 0 < size <= position.size:
                msg = f"size must be from 1 to the position's size {position.size}, got {size}"
                raise GatewayFailure(Failure.INVALID_CLOSE_SIZE, msg)
            side = 1 if position.long else 0
            close_size = position.size if size is None else size
            self.place_order(
                account_id=account_id, contract_id=contract_id, type=2, side=side, size=close_size
            )

    def find_trades(
        self,
        account_id: int,
        *,
        start: float | None,
        end: float | None,
        contract_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """``Trade/search``: fills in ``[start, end]``, oldest first."""
        with self.lock:
            self.account(account_id)
            return [
                t.to_wire()
                for t in self.trades
                if t.account_id == account_id
                and (start is None or t.created >= start)
                and (end is None or t.created <= end)
                and (contract_id is None or t.contract_id == contract_id)
            ]

    # -- market --------------------------------------------------------------------------

    def set_price(self, contract_id: str, price: float) -> list[dict[str, Any]]:
        """Move the last price (on the tick grid), publish it and fill what it reaches.

        Returns:
            The orders filled by the move, in the Gateway's order model.
        """
        events: list[Event] = []
        with self.lock:
            contract = self.market.contract(contract_id)
            before = {o.id for o in self.orders.values() if o.status == OrderStatus.FILLED}
            events.extend(self.market.move(contract.id, price))
            self._match(contract, events)
            filled = [
                o.to_wire()
                for o in self.orders.values()
                if o.status == OrderStatus.FILLED and o.id not in before
            ]
            self._emit(events)
        return filled

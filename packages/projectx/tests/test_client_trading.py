"""Orders, positions and trades, and the order-safety rules, against the emulator."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from corekit.errors import ConnectError, RateLimitedError
from corekit.testing import FakeClock
from projectx import (
    Bracket,
    ContractNotFoundError,
    InvalidRequestError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderSide,
    OrderStatus,
    OrderSubmissionUncertain,
    OrderType,
    PositionNotFoundError,
    PositionType,
    ProjectX,
    ProjectXError,
)

if TYPE_CHECKING:
    from conftest import Gateway

pytestmark = pytest.mark.anyio

PLACE = "/api/Order/place"


async def front(px: ProjectX) -> str:
    return (await px.contracts.front_month("MNQ")).id


async def test_limit_order_rests_is_modified_cancelled_and_found(gateway: Gateway) -> None:
    async with gateway.client() as px:
        contract = await front(px)
        order_id = await px.orders.limit(contract, "buy", 2, 20_000.0, custom_tag="mine-1")
        [working] = await px.orders.open()
        assert working.id == order_id
        assert working.status is OrderStatus.OPEN
        assert working.custom_tag == "mine-1"
        await px.orders.modify(order_id, limit_price=20_010.25, size=3)
        changed = await px.orders.get(order_id)
        assert (changed.limit_price, changed.size) == (20_010.25, 3)
        await px.orders.cancel(order_id)
        assert (await px.orders.get(order_id)).status is OrderStatus.CANCELLED
        assert await px.orders.open() == []
        assert [o.id for o in await px.orders.search()] == [order_id]
        with pytest.raises(OrderRejectedError):
            await px.orders.cancel(order_id)
        with pytest.raises(OrderNotFoundError):
            await px.orders.get(999_999)
    modify = gateway.emulator.calls("POST", "/api/Order/modify")[0].json()
    assert set(modify) == {"accountId", "orderId", "limitPrice", "size"}


async def test_market_order_opens_a_position_and_closing_realises_pnl(gateway: Gateway) -> None:
    async with gateway.client() as px:
        contract = await front(px)
        await px.orders.market(contract, OrderSide.BUY, 3)
        [position] = await px.positions.open()
        assert (position.type, position.size) == (PositionType.LONG, 3)
        gateway.emulator.set_price(contract, 21_010.0)
        await px.positions.partial_close(contract, 1)
        [position] = await px.positions.open()
        assert position.size == 2
        with pytest.raises(InvalidRequestError):
            await px.positions.partial_close(contract, 5)
        await px.positions.close(contract)
        assert await px.positions.open() == []
        with pytest.raises(PositionNotFoundError):
            await px.positions.close(contract)
        trades = await px.trades.search(contract_id=contract)
        assert [t.profit_and_loss is None for t in trades] == [True, False, False]
        assert sum(t.profit_and_loss or 0 for t in trades) == pytest.approx(3 * 10 / 0.25 * 0.5)
        assert await px.trades.search(contract_id="CON.F.US.OTHER.Z26") == []
        now = dt.datetime.now(dt.UTC)
        old = await px.trades.search(now - dt.timedelta(days=400), now - dt.timedelta(days=300))
        assert old == []
        assert await px.orders.search(end=now + dt.timedelta(days=1))


async def test_stop_trailing_and_bracket_orders_go_out_as_the_gateway_expects(
    gateway: Gateway,
) -> None:
    async with gateway.client(auto_tag=False) as px:
        contract = await front(px)
        await px.orders.stop(contract, "sell", 1, 20_500.0)
        await px.orders.trailing_stop(contract, "sell", 1, 10.0)
        await px.orders.limit(
            contract,
            "buy",
            1,
            20_000.0,
            stop_loss=8,
            take_profit=Bracket(ticks=16, type=OrderType.LIMIT),
        )
        kinds = {o.type for o in await px.orders.search()}
        assert {OrderType.STOP, OrderType.TRAILING_STOP, OrderType.LIMIT} <= kinds
        with pytest.raises(ProjectXError, match="side"):
            await px.orders.market(contract, "hold", 1)  # type: ignore[arg-type]
    bodies = [r.json() for r in gateway.emulator.calls("POST", PLACE)]
    assert bodies[0]["stopPrice"] == 20_500.0
    assert bodies[0]["limitPrice"] is None
    assert bodies[1]["trailPrice"] == 10.0
    assert bodies[2]["stopLossBracket"] == {"ticks": 8, "type": 4}
    assert bodies[2]["takeProfitBracket"] == {"ticks": 16, "type": 1}
    assert all("customTag" not in b for b in bodies)


async def test_gateway_refusals_raise_specific_errors(gateway: Gateway) -> None:
    async with gateway.client() as px:
        with pytest.raises(ContractNotFoundError):
            await px.orders.market("CON.F.US.NOPE.Z26", "buy", 1)
        with pytest.raises(OrderRejectedError, match="size"):
            await px.orders.market(await front(px), "buy", 0)
        with pytest.raises(ContractNotFoundError):
            await px.contracts.get("CON.F.US.NOPE.Z26")
        with pytest.raises(ContractNotFoundError, match="NOPE"):
            await px.contracts.front_month("NOPE")


async def test_a_dropped_answer_after_booking_is_uncertain_then_reconciled(
    gateway: Gateway,
) -> None:
    async with gateway.client() as px:
        contract = await front(px)
        gateway.emulator.drop(PLACE, after_app=True)
        with pytest.raises(OrderSubmissionUncertain) as caught:
            await px.orders.market(contract, "buy", 1)
        uncertain = caught.value
        assert uncertain.custom_tag is not None
        assert uncertain.account_id == px.account.id
        assert "reconcile" in str(uncertain)
        order = await px.orders.reconcile(uncertain)
        assert order is not None
        assert order.custom_tag == uncertain.custom_tag
        assert order.status is OrderStatus.FILLED
    # Never re-sent: exactly one Order/place reached the Gateway, and one order exists.
    assert gateway.count(PLACE) == 1


async def test_a_request_lost_before_booking_reconciles_to_none(
    gateway: Gateway, clock: FakeClock
) -> None:
    async with gateway.client() as px:
        contract = await front(px)
        gateway.emulator.drop(PLACE)
        with pytest.raises(OrderSubmissionUncertain) as caught:
            await px.orders.limit(contract, "buy", 1, 20_000.0)
        assert await px.orders.reconcile(caught.value, attempts=2, interval=0.5) is None
        assert 0.5 in clock.sleeps
        assert await px.orders.open() == []


async def test_reconcile_without_a_tag_matches_by_contract_side_size_and_type(
    gateway: Gateway,
) -> None:
    async with gateway.client(auto_tag=False) as px:
        contract = await front(px)
        gateway.emulator.drop(PLACE, after_app=True)
        with pytest.raises(OrderSubmissionUncertain) as caught:
            await px.orders.limit(contract, "sell", 2, 22_000.0)
        assert caught.value.custom_tag is None
        order = await px.orders.reconcile(caught.value)
        assert order is not None
        assert (order.side, order.size, order.type) == (OrderSide.SELL, 2, OrderType.LIMIT)


async def test_reconcile_without_a_tag_never_takes_an_earlier_order_at_another_price(
    gateway: Gateway,
) -> None:
    async with gateway.client(auto_tag=False) as px:
        contract = await front(px)
        earlier = await px.orders.limit(contract, "buy", 1, 20_000.0)
        gateway.emulator.drop(PLACE)  # lost before the Gateway booked it
        with pytest.raises(OrderSubmissionUncertain) as caught:
            await px.orders.limit(contract, "buy", 1, 20_100.0)
        assert await px.orders.reconcile(caught.value, attempts=1) is None
        gateway.emulator.drop(PLACE, after_app=True)  # booked, answer lost
        with pytest.raises(OrderSubmissionUncertain) as booked:
            await px.orders.limit(contract, "buy", 1, 20_200.0)
        found = await px.orders.reconcile(booked.value, attempts=1)
        assert found is not None
        assert found.id != earlier
        assert found.limit_price == 20_200.0


async def test_uncertain_cancel_reconciles_to_the_order_state_and_close_cannot(
    gateway: Gateway,
) -> None:
    async with gateway.client() as px:
        contract = await front(px)
        order_id = await px.orders.limit(contract, "buy", 1, 20_000.0)
        gateway.emulator.fail("/api/Order/cancel", 503)
        with pytest.raises(OrderSubmissionUncertain) as caught:
            await px.orders.cancel(order_id)
        state = await px.orders.reconcile(caught.value)
        assert state is not None
        assert state.status is OrderStatus.OPEN  # the 503 came before the Gateway acted
        await px.orders.market(contract, "buy", 1)
        gateway.emulator.drop("/api/Position/closeContract")
        with pytest.raises(OrderSubmissionUncertain) as closing:
            await px.positions.close(contract)
        with pytest.raises(ProjectXError, match=r"positions\.open"):
            await px.orders.reconcile(closing.value)
    assert gateway.count("/api/Order/cancel") == 1  # a 5xx on a cancel is not retried


async def test_searches_retry_on_server_errors(gateway: Gateway) -> None:
    async with gateway.client() as px:
        gateway.emulator.fail("/api/Order/searchOpen", 503, count=2)
        assert await px.orders.open() == []
    assert gateway.count("/api/Order/searchOpen") == 3


async def test_429_waits_for_retry_after_also_for_orders(
    gateway: Gateway, clock: FakeClock
) -> None:
    async with gateway.client() as px:
        contract = await front(px)
        gateway.emulator.rate_limit("/api/Position/searchOpen", retry_after=7)
        assert await px.positions.open() == []
        assert 7 in clock.sleeps
        gateway.emulator.rate_limit(PLACE, retry_after=3)
        await px.orders.market(contract, "buy", 1)  # refused unexecuted: safe to resend
        assert 3 in clock.sleeps
        assert 60 not in clock.sleeps  # never the fixed minute of project-x-py
        assert len(await px.orders.search()) == 1
        gateway.emulator.rate_limit(PLACE, retry_after=500)
        with pytest.raises(RateLimitedError):
            await px.orders.market(contract, "buy", 1)  # longer than max_retry_after


async def test_an_unreachable_gateway_is_a_connect_error_not_uncertain(gateway: Gateway) -> None:
    async with gateway.client() as px:
        contract = await front(px)
        px2 = gateway.client(api_url="http://127.0.0.1:9/api", retry_attempts=1)
        px2._account = px.account  # the account is known; the Gateway is gone
        with pytest.raises(ConnectError):
            await px2.orders.market(contract, "buy", 1)
        await px2.aclose()


async def test_unreadable_answers(gateway: Gateway) -> None:
    async with gateway.client() as px:
        contract = await front(px)
        gateway.emulator.fail(PLACE, 200, body="<html>proxy error</html>")
        with pytest.raises(OrderSubmissionUncertain, match="not JSON"):
            await px.orders.market(contract, "buy", 1)
        gateway.emulator.fail("/api/Order/searchOpen", 200, body=[1, 2])
        with pytest.raises(ProjectXError, match="list"):
            await px.orders.open()


async def test_naive_search_times_are_wall_times_in_the_client_zone(gateway: Gateway) -> None:
    async with gateway.client(timezone="America/Chicago") as px:
        await px.orders.search(dt.datetime(2026, 7, 1, 9, 30), dt.datetime(2026, 7, 1, 16, 0))
        await px.trades.search(dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC))
    orders = gateway.emulator.calls("POST", "/api/Order/search")[0].json()
    assert orders["startTimestamp"] == "2026-07-01T14:30:00+00:00"  # CDT is UTC-5
    assert orders["endTimestamp"] == "2026-07-01T21:00:00+00:00"
    trades = gateway.emulator.calls("POST", "/api/Trade/search")[0].json()
    assert trades["startTimestamp"] == "2026-01-05T08:00:00+00:00"

"""The realtime client against the emulator's SignalR hubs over a real WebSocket."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from corekit.testing import FakeClock
from projectx.realtime import EventStream, HubError, Realtime, RealtimeEvent

if TYPE_CHECKING:
    from conftest import Gateway

pytestmark = pytest.mark.anyio

MNQ = "CON.F.US.MNQ.Z26"


async def next_event(events: EventStream, seconds: float = 10.0) -> RealtimeEvent:
    with anyio.fail_after(seconds):
        return await anext(events)


async def test_order_events_reach_iterators_and_callbacks(
    gateway: Gateway, clock: FakeClock
) -> None:
    seen: list[RealtimeEvent] = []

    async def remember(event: RealtimeEvent) -> None:
        seen.append(event)

    async with gateway.client() as px, Realtime(px, clock=clock) as live:
        live.on("GatewayUserOrder", remember)
        live.on("GatewayUserOrder", lambda event: 1 / 0)  # a failing callback is logged only
        orders = live.events("GatewayUserOrder")
        await live.subscribe_orders()
        await live.subscribe_positions()
        await live.subscribe_trades()
        await live.subscribe_accounts()
        await anyio.sleep(0.2)  # the invocations are fire and forget
        order_id = await px.orders.limit(MNQ, "buy", 1, 20_000.0)
        event = await next_event(orders)
        assert event.hub == "user"
        assert event.contract_id is None
        assert event.data["id"] == order_id
        assert seen
        assert seen[0].data["id"] == order_id
        await orders.aclose()


async def test_market_events_carry_the_contract(gateway: Gateway, clock: FakeClock) -> None:
    async with gateway.client() as px, Realtime(px, clock=clock) as live:
        quotes = live.events("GatewayQuote")
        await live.subscribe_quotes(MNQ)
        await live.subscribe_market_trades(MNQ)
        await live.subscribe_depth(MNQ)
        quote = await next_event(quotes)
        assert quote.hub == "market"
        assert quote.contract_id == MNQ
        assert "lastPrice" in quote.data
        await live.unsubscribe_quotes(MNQ)
        await quotes.aclose()


async def test_a_dropped_hub_reconnects_with_a_new_token_and_resubscribes(
    gateway: Gateway, clock: FakeClock
) -> None:
    async with gateway.client() as px, Realtime(px, clock=clock) as live:
        orders = live.events("GatewayUserOrder")
        await live.subscribe_orders()
        first = await px.token()
        gateway.emulator.revoke_tokens()  # ends the sessions and closes both hubs
        with anyio.fail_after(10):
            # The reconnection happens in the hub's task: poll its counters.
            while not all(  # noqa: ASYNC110
                hub.connections >= 2 and hub.connected.is_set() for hub in (live.user, live.market)
            ):
                await anyio.sleep(0.02)
        assert await px.token() != first
        # Both hubs were refused the revoked token at once, yet one new login served both:
        # a hub renews only the token it was refused, not the one the other hub just got.
        assert gateway.count("/api/Auth/loginKey") == 2
        order_id = await px.orders.market(MNQ, "buy", 1)
        while (event := await next_event(orders)).data["id"] != order_id:
            pass
        assert event.data["id"] == order_id
        await live.unsubscribe_orders()
        await orders.aclose()
    negotiations = gateway.emulator.calls("POST", "/hubs/user/negotiate")
    assert len(negotiations) >= 2


async def test_no_heartbeat_invocations_are_invented(gateway: Gateway, clock: FakeClock) -> None:
    async with gateway.client() as px, Realtime(px, clock=clock, keepalive=0.05) as live:
        await anyio.sleep(0.3)  # several keep-alive periods: SignalR pings only
        assert live.user.connected.is_set()
    # The emulator logs HTTP requests only; what matters is that the hubs stayed up on pings.


async def test_an_unreachable_hub_is_a_hub_error(gateway: Gateway, clock: FakeClock) -> None:
    async with gateway.client(user_hub_url="http://127.0.0.1:9/hubs/user") as px:
        with pytest.raises(HubError, match="user hub"):
            async with Realtime(px, clock=clock):
                pass


def test_public_names() -> None:
    import projectx.realtime

    assert projectx.realtime.__all__ == ["EventStream", "HubError", "Realtime", "RealtimeEvent"]

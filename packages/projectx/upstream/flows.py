"""The unmodified project-x-py 4.4.1 runs its core REST flows against a Gateway at --api-url.

Run with the upstream's own Python 3.12 (it needs nothing of this workspace)::

    python flows.py --api-url http://127.0.0.1:8080/api --username emulator --api-key KEY

Each flow prints ``PASS <name>`` or ``FAIL <name>: <why>``; the exit status is the number of
failed flows (0: all passed). Flows run in order and later ones build on earlier ones (an
order placed, then modified, then cancelled); a failed flow does not stop the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
import traceback
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

from project_x_py import ProjectX, ProjectXConfig
from project_x_py.event_bus import EventBus
from project_x_py.order_manager import OrderManager
from project_x_py.position_manager import PositionManager
from project_x_py.realtime import ProjectXRealtimeClient

RESULTS: list[tuple[str, str | None]] = []


async def flow(name: str, step: Callable[[], Awaitable[None]]) -> None:
    """Run one flow and record whether it passed."""
    try:
        await step()
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(exc)).strip()
        RESULTS.append((name, detail))
        say(f"FAIL {name}: {detail}")
    else:
        RESULTS.append((name, None))
        say(f"PASS {name}")


def say(line: str) -> None:
    """Report progress on stdout (flushed: the checker shows it as it comes)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def quiet() -> None:
    """Silence the upstream's loggers (they log every call at INFO, set up as they are made)."""
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith("project_x_py"):
            logging.getLogger(name).setLevel(logging.ERROR)


def set_price(base_url: str, contract_id: str, price: float) -> None:
    """Move the emulator's last price through its control API."""
    body = json.dumps({"contractId": contract_id, "price": price}).encode()
    request = urllib.request.Request(  # noqa: S310 - a loopback URL given on the command line
        f"{base_url}/_emulator/actions/set-price",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


def check(condition: bool, message: str) -> None:
    """Fail the current flow with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


async def run(api_url: str, username: str, api_key: str) -> None:  # noqa: PLR0915
    """Every flow, in order, against one client."""
    hubs = api_url.removesuffix("/api")
    config = ProjectXConfig(
        api_url=api_url,
        user_hub_url=f"{hubs}/hubs/user",
        market_hub_url=f"{hubs}/hubs/market",
        timezone="UTC",
    )
    state: dict[str, Any] = {}
    async with ProjectX(username, api_key, config=config) as client:

        async def authenticate() -> None:
            await client.authenticate()
            check(client.account_info is not None, "no account selected")
            check(client.account_info.id == 1001, f"account {client.account_info.id}")

        async def accounts() -> None:
            found = await client.list_accounts()
            check([a.name for a in found] == ["PRAC-V2-EMU-1", "EMU-COMBINE-150K"], f"{found}")

        async def ping() -> None:
            check(await client.ping() is not None, "no pong")

        async def instrument() -> None:
            mnq = await client.get_instrument("MNQ")
            check(mnq.id.startswith("CON.F.US.MNQ."), f"MNQ resolved to {mnq.id}")
            check(mnq.tickSize == 0.25, f"tick size {mnq.tickSize}")
            found = await client.search_instruments("MNQ")
            check(len(found) == 3, f"MNQ months listed: {found}")
            (front,) = [i for i in found if i.activeContract]
            by_id = await client.get_instrument(front.id)
            check(by_id.name == front.name, f"by id: {by_id.name}")
            state["contract"] = by_id.id
            available = await client.list_available_contracts()
            check(front.id in {i.id for i in available}, "front month not available")

        async def bars() -> None:
            frame = await client.get_bars("MNQ", days=2, interval=5, unit=2)
            check(frame.height > 0, "no bars")
            check(
                frame.columns[:6] == ["timestamp", "open", "high", "low", "close", "volume"],
                f"columns {frame.columns}",
            )
            times = frame["timestamp"].to_list()
            check(times == sorted(times), "bars not oldest first")
            end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
            window = await client.get_bars(
                state["contract"],
                interval=1,
                unit=3,
                start_time=end - dt.timedelta(days=7),
                end_time=end,
            )
            check(window.height > 0, "no hourly bars in an absolute window")

        bus = EventBus()
        orders = OrderManager(client, bus)
        positions = PositionManager(client, bus)
        quiet()

        async def place_limit() -> None:
            response = await orders.place_limit_order(state["contract"], 0, 1, 19_000.0)
            check(response.success, f"place: {response}")
            state["limit"] = response.orderId

        async def search_open() -> None:
            found = await orders.search_open_orders()
            check([o.id for o in found] == [state["limit"]], f"open orders {found}")

        async def modify() -> None:
            check(await orders.modify_order(state["limit"], limit_price=19_100.0), "modify")
            order = await orders.get_order_by_id(state["limit"])
            check(order is not None and order.limitPrice == 19_100.0, f"modified: {order}")

        async def cancel() -> None:
            check(await orders.cancel_order(state["limit"]), "cancel refused")
            check(await orders.search_open_orders() == [], "order still open")

        async def place_market() -> None:
            response = await orders.place_market_order(state["contract"], 0, 2)
            check(response.success, f"market order: {response}")
            check(await orders.is_order_filled(response.orderId), "market order not filled")

        async def search_positions() -> None:
            found = await client.search_open_positions()
            check(len(found) == 1, f"positions {found}")
            check((found[0].size, found[0].type) == (2, 1), f"position {found[0]}")

        async def search_orders() -> None:
            found = await orders.search_orders()
            check(len(found) == 2, f"orders {found}")

        async def search_trades() -> None:
            found = await client.search_trades()
            check(len(found) == 1, f"trades {found}")
            check(found[0].profitAndLoss is None, "an opening fill has no P&L")

        async def partial_close() -> None:
            result = await positions.partially_close_position(state["contract"], 1)
            check(result.get("success") is True, f"partial close: {result}")
            found = await client.search_open_positions()
            check([p.size for p in found] == [1], f"after partial close {found}")

        async def close() -> None:
            result = await positions.close_position_direct(state["contract"])
            check(result.get("success") is True, f"close: {result}")
            check(await client.search_open_positions() == [], "still open")
            trades = await client.search_trades()
            check(len(trades) == 3, f"trades after closing {trades}")

        async def realtime() -> None:
            # The upstream's SignalR client (pysignalr) on both hubs: a quote after a price
            # move, an order event after a REST call.
            seen: dict[str, asyncio.Event] = {"quote": asyncio.Event(), "order": asyncio.Event()}
            quotes: list[Any] = []

            async def on_quote(event: dict[str, Any]) -> None:
                quotes.append(event["data"])
                seen["quote"].set()

            async def on_order(_: dict[str, Any]) -> None:
                seen["order"].set()

            account = str(client.account_info.id)
            stream = ProjectXRealtimeClient(client.session_token, account, config=config)
            await stream.add_callback("quote_update", on_quote)
            await stream.add_callback("order_update", on_order)
            try:
                check(await stream.connect(), "the hubs did not connect")
                check(await stream.subscribe_user_updates(), "user subscription")
                check(
                    await stream.subscribe_market_data([state["contract"]]), "market subscription"
                )
                await asyncio.wait_for(seen["quote"].wait(), 10)  # the snapshot
                seen["quote"].clear()
                set_price(hubs, state["contract"], 21_321.25)
                await asyncio.wait_for(seen["quote"].wait(), 10)
                check(quotes[-1]["lastPrice"] == 21_321.25, f"quote {quotes[-1]}")
                placed = await orders.place_limit_order(state["contract"], 0, 1, 19_000.0)
                await asyncio.wait_for(seen["order"].wait(), 10)
                await orders.cancel_order(placed.orderId)
            finally:
                await stream.disconnect()

        async def logout() -> None:
            await client.logout()

        for name, step in [
            ("authenticate", authenticate),
            ("list accounts", accounts),
            ("ping", ping),
            ("find instrument", instrument),
            ("get bars", bars),
            ("place limit order", place_limit),
            ("search open orders", search_open),
            ("modify order", modify),
            ("cancel order", cancel),
            ("place market order", place_market),
            ("search positions", search_positions),
            ("search orders", search_orders),
            ("search trades", search_trades),
            ("partial close", partial_close),
            ("close position", close),
            ("realtime hubs", realtime),
            ("logout", logout),
        ]:
            await flow(name, step)


def main() -> int:
    """Parse the arguments, run the flows, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    quiet()
    asyncio.run(run(args.api_url, args.username, args.api_key))
    failed = [name for name, error in RESULTS if error is not None]
    say(f"{len(RESULTS) - len(failed)} of {len(RESULTS)} flows passed")
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())

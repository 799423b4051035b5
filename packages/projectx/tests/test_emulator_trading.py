"""The emulator's matching engine over REST: orders, fills, positions, trades, P&L, brackets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from corekit.testing import FakeClock, serve
from projectx.emulator import Emulator, EmulatorSettings, create_app

EPOCH = 1_795_000_000.0  # 2026-11-18T11:06:40Z
MNQ = "CON.F.US.MNQ.Z26"  # tick 0.25 worth 0.50, fee 0.37, last 21,000
ES = "CON.F.US.EP.Z26"  # tick 0.25 worth 12.50, fee 1.40, last 6,000
ACCOUNT = 1001


class Api:
    """A logged-in REST caller; ``call`` returns the decoded envelope."""

    def __init__(self, http: httpx2.Client) -> None:
        self.http = http
        token = http.post(
            "/Auth/loginKey", json={"userName": "emulator", "apiKey": "emulator-api-key"}
        ).json()["token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, path: str, **body: Any) -> dict[str, Any]:
        response = self.http.post(path, json=body, headers=self.headers)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def ok(self, path: str, **body: Any) -> dict[str, Any]:
        data = self.call(path, **body)
        assert data["success"] is True, data
        return data

    def place(self, **order: Any) -> int:
        defaults = {"accountId": ACCOUNT, "contractId": MNQ, "side": 0, "size": 1}
        defaults |= {"limitPrice": None, "stopPrice": None, "trailPrice": None}
        order_id: int = self.ok("/Order/place", **(defaults | order))["orderId"]
        return order_id

    def order(self, order_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("/Order/searchById", accountId=ACCOUNT, orderId=order_id)[
            "order"
        ]
        return found

    def positions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.ok("/Position/searchOpen", accountId=ACCOUNT)[
            "positions"
        ]
        return found

    def trades(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.ok(
            "/Trade/search", accountId=ACCOUNT, startTimestamp="2026-01-01T00:00:00Z"
        )["trades"]
        return found

    def balance(self) -> float:
        accounts = self.ok("/Account/search", onlyActiveAccounts=True)["accounts"]
        return float(next(a["balance"] for a in accounts if a["id"] == ACCOUNT))


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(epoch=EPOCH)


@pytest.fixture(scope="module")
def served(clock: FakeClock) -> Iterator[tuple[Emulator, str]]:
    emulator = create_app(EmulatorSettings(rate_limits=False), clock=clock)
    with serve(emulator) as server:
        yield emulator, server.url


@pytest.fixture
def api(served: tuple[Emulator, str], emulator: Emulator) -> Iterator[Api]:
    with httpx2.Client(base_url=f"{served[1]}/api") as http:
        yield Api(http)


def test_a_market_order_fills_at_the_last_price_and_opens_a_position(api: Api) -> None:
    order_id = api.place(type=2, size=2)
    order = api.order(order_id)
    assert order["status"] == 2
    assert (order["fillVolume"], order["filledPrice"]) == (2, 21_000.0)
    assert order["symbolId"] == "F.US.MNQ"
    assert order["creationTimestamp"] == "2026-11-18T11:06:40+00:00"
    (position,) = api.positions()
    assert position == {
        "id": 3_000_001,
        "accountId": ACCOUNT,
        "contractId": MNQ,
        "creationTimestamp": "2026-11-18T11:06:40+00:00",
        "type": 1,
        "size": 2,
        "averagePrice": 21_000.0,
    }
    (trade,) = api.trades()
    assert trade["orderId"] == order_id
    assert trade["profitAndLoss"] is None
    assert trade["fees"] == 0.74
    assert api.balance() == 50_000 - 0.74


def test_closing_fills_realise_pnl_in_ticks_times_tick_value(api: Api, emulator: Emulator) -> None:
    api.place(type=2, side=0, size=2)
    emulator.set_price(MNQ, 21_010.0)  # +40 ticks at 0.50 per tick and contract
    api.place(type=2, side=1, size=1)
    closing = api.trades()[-1]
    assert closing["profitAndLoss"] == 20.0
    (position,) = api.positions()
    assert (position["type"], position["size"]) == (1, 1)
    assert api.balance() == pytest.approx(50_000 + 20.0 - 3 * 0.37)


def test_averaging_in_and_reversing_a_short(api: Api, emulator: Emulator) -> None:
    api.place(contractId=ES, type=2, side=1, size=1)
    emulator.set_price(ES, 6_010.0)
    api.place(contractId=ES, type=2, side=1, size=1)
    (position,) = api.positions()
    assert (position["type"], position["size"], position["averagePrice"]) == (2, 2, 6_005.0)
    emulator.set_price(ES, 6_000.0)
    api.place(contractId=ES, type=2, side=0, size=3)  # covers 2, then goes long 1
    trade = api.trades()[-1]
    assert trade["profitAndLoss"] == 500.0  # 2 contracts x 5 points x 50 per point
    (position,) = api.positions()
    assert (position["type"], position["size"], position["averagePrice"]) == (1, 1, 6_000.0)


def test_a_resting_limit_fills_at_its_price_when_the_market_reaches_it(
    api: Api, emulator: Emulator
) -> None:
    order_id = api.place(type=1, limitPrice=20_990.0, customTag="dip")
    open_orders = api.ok("/Order/searchOpen", accountId=ACCOUNT)["orders"]
    assert [(o["id"], o["status"], o["customTag"]) for o in open_orders] == [(order_id, 1, "dip")]
    assert emulator.set_price(MNQ, 20_995.0) == []
    filled = emulator.set_price(MNQ, 20_980.0)
    assert [(o["id"], o["filledPrice"]) for o in filled] == [(order_id, 20_990.0)]
    assert api.ok("/Order/searchOpen", accountId=ACCOUNT)["orders"] == []


def test_a_marketable_limit_fills_at_once_at_the_last_price(api: Api) -> None:
    order_id = api.place(type=1, side=0, limitPrice=21_050.0)
    assert api.order(order_id)["filledPrice"] == 21_000.0


def test_stops_must_be_beyond_the_market_and_fill_at_the_last_price(
    api: Api, emulator: Emulator
) -> None:
    refused = api.call(
        "/Order/place",
        accountId=ACCOUNT,
        contractId=MNQ,
        type=4,
        side=0,
        size=1,
        stopPrice=20_990.0,
    )
    assert (refused["success"], refused["errorCode"]) == (False, 2)
    assert "above the last price" in refused["errorMessage"]
    order_id = api.place(type=4, side=0, stopPrice=21_010.0)
    emulator.set_price(MNQ, 21_012.5)
    assert api.order(order_id)["filledPrice"] == 21_012.5


def test_a_trailing_stop_follows_the_best_price(api: Api, emulator: Emulator) -> None:
    api.place(type=2, side=0)
    order_id = api.place(type=5, side=1, trailPrice=5.0)
    assert api.order(order_id)["stopPrice"] == 20_995.0
    emulator.set_price(MNQ, 21_020.0)
    emulator.set_price(MNQ, 21_016.0)
    assert api.order(order_id)["stopPrice"] == 21_015.0
    emulator.set_price(MNQ, 21_015.0)
    order = api.order(order_id)
    assert (order["status"], order["filledPrice"]) == (2, 21_015.0)
    assert api.positions() == []


def test_join_bid_and_join_ask_rest_one_tick_from_the_last_price(api: Api) -> None:
    bid = api.place(type=6, side=0)
    ask = api.place(type=7, side=1)
    assert api.order(bid)["limitPrice"] == 20_999.75
    assert api.order(ask)["limitPrice"] == 21_000.25
    assert api.order(bid)["status"] == api.order(ask)["status"] == 1


@pytest.mark.parametrize(
    ("order", "code", "message"),
    [
        ({"accountId": 9}, 1, "Account 9 not found"),
        ({"accountId": 1003}, 10, "cannot trade"),
        ({"contractId": "CON.F.US.NOPE.Z26"}, 8, "not found"),
        ({"contractId": "CON.F.US.MNQ.U26"}, 9, "expired"),
        ({"type": 3}, 2, "type 3 cannot be placed"),
        ({"side": 2}, 2, "side must be"),
        ({"size": 0}, 2, "size must be at least 1"),
        ({"type": 1}, 2, "limitPrice is required"),
        ({"type": 1, "limitPrice": 20_000.1}, 2, "tick size 0.25"),
        ({"type": 1, "limitPrice": -1.0}, 2, "not a positive multiple"),
        ({"type": 5}, 2, "trailPrice is required"),
        ({"stopLossBracket": {"ticks": 10, "type": 1}}, 2, "stopLossBracket needs"),
        ({"takeProfitBracket": {"ticks": 0, "type": 1}}, 2, "takeProfitBracket needs"),
    ],
)
def test_place_refusals_use_the_place_error_codes(
    api: Api, order: dict[str, Any], code: int, message: str
) -> None:
    body = {"accountId": ACCOUNT, "contractId": MNQ, "type": 2, "side": 0, "size": 1} | order
    refused = api.call("/Order/place", **body)
    assert (refused["success"], refused["errorCode"], refused["orderId"]) == (False, code, None)
    assert message in refused["errorMessage"]


def test_custom_tags_are_unique_per_account(api: Api) -> None:
    api.place(type=1, limitPrice=20_000.0, customTag="tag-1")
    again = api.call(
        "/Order/place", accountId=ACCOUNT, contractId=MNQ, type=2, side=0, size=1, customTag="tag-1"
    )
    assert (again["errorCode"], again["success"]) == (2, False)
    other = api.call(
        "/Order/place", accountId=1002, contractId=MNQ, type=2, side=0, size=1, customTag="tag-1"
    )
    assert other["success"] is True


def test_modify_changes_only_the_given_fields_and_may_fill(api: Api, emulator: Emulator) -> None:
    order_id = api.place(type=1, limitPrice=20_900.0, size=2)
    api.ok("/Order/modify", accountId=ACCOUNT, orderId=order_id, limitPrice=20_950.0)
    order = api.order(order_id)
    assert (order["limitPrice"], order["size"], order["status"]) == (20_950.0, 2, 1)
    assert order["updateTimestamp"] is not None
    api.ok("/Order/modify", accountId=ACCOUNT, orderId=order_id, size=3)
    assert api.order(order_id)["size"] == 3
    api.ok("/Order/modify", accountId=ACCOUNT, orderId=order_id, limitPrice=21_000.0)
    assert api.order(order_id)["status"] == 2
    refused = api.call("/Order/modify", accountId=ACCOUNT, orderId=order_id, limitPrice=20_000.0)
    assert (refused["success"], refused["errorCode"]) == (False, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stopPrice": 21_100.0}, "no stopPrice"),
        ({"trailPrice": 1.0}, "no trailPrice"),
        ({"size": 0}, "size must be at least 1"),
        ({"limitPrice": 20_000.3}, "tick size"),
    ],
)
def test_modify_refusals(api: Api, change: dict[str, Any], message: str) -> None:
    order_id = api.place(type=1, limitPrice=20_900.0)
    refused = api.call("/Order/modify", accountId=ACCOUNT, orderId=order_id, **change)
    assert (refused["success"], refused["errorCode"]) == (False, 3)
    assert message in refused["errorMessage"]


def test_modify_stop_and_trail(api: Api) -> None:
    stop = api.place(type=4, side=1, stopPrice=20_900.0)
    api.ok("/Order/modify", accountId=ACCOUNT, orderId=stop, stopPrice=20_950.0)
    assert api.order(stop)["stopPrice"] == 20_950.0
    refused = api.call("/Order/modify", accountId=ACCOUNT, orderId=stop, stopPrice=21_050.0)
    assert "below the last price" in refused["errorMessage"]
    trail = api.place(type=5, side=1, trailPrice=10.0)
    api.ok("/Order/modify", accountId=ACCOUNT, orderId=trail, trailPrice=2.5)
    assert api.order(trail)["stopPrice"] == 20_997.5
    market = api.place(type=2)
    refused = api.call("/Order/modify", accountId=ACCOUNT, orderId=market, limitPrice=1.0)
    assert refused["errorCode"] == 3


def test_cancel_and_its_error_codes(api: Api) -> None:
    order_id = api.place(type=1, limitPrice=20_000.0)
    api.ok("/Order/cancel", accountId=ACCOUNT, orderId=order_id)
    assert api.order(order_id)["status"] == 3
    again = api.call("/Order/cancel", accountId=ACCOUNT, orderId=order_id)
    assert (again["errorCode"], again["success"]) == (3, False)
    assert "Cancelled" in again["errorMessage"]
    assert api.call("/Order/cancel", accountId=ACCOUNT, orderId=1)["errorCode"] == 2
    assert api.call("/Order/cancel", accountId=9, orderId=order_id)["errorCode"] == 1
    assert api.call("/Order/cancel", accountId=1002, orderId=order_id)["errorCode"] == 2


def test_search_by_id_and_account_errors(api: Api) -> None:
    missing = api.call("/Order/searchById", accountId=ACCOUNT, orderId=5)
    assert (missing["success"], missing["errorCode"], missing["order"]) == (False, 1, None)
    for path in ("/Order/searchOpen", "/Position/searchOpen"):
        refused = api.call(path, accountId=42)
        assert (refused["success"], refused["errorCode"]) == (False, 1)
    refused = api.call("/Trade/search", accountId=42, startTimestamp="2026-01-01T00:00:00")
    assert refused["errorCode"] == 1
    assert api.call("/Order/search", accountId=42, startTimestamp="2026-01-01")["errorCode"] == 1


def test_order_and_trade_search_windows(api: Api, clock: FakeClock) -> None:
    first = api.place(type=2)
    clock.advance(3_600)
    second = api.place(type=2, contractId=ES)
    window = {"accountId": ACCOUNT, "startTimestamp": "2026-11-18T11:30:00+00:00"}
    assert [o["id"] for o in api.ok("/Order/search", **window)["orders"]] == [second]
    before = window | {
        "startTimestamp": "2026-11-18T00:00:00",
        "endTimestamp": "2026-11-18T12:00:00Z",
    }
    assert [o["id"] for o in api.ok("/Order/search", **before)["orders"]] == [first]
    trades = api.ok("/Trade/search", **window)["trades"]
    assert [t["orderId"] for t in trades] == [second]
    by_contract = api.ok("/Trade/search", **before, contractId=MNQ)["trades"]
    assert [t["orderId"] for t in by_contract] == [first]


def test_v2_query_filters_and_pages(api: Api) -> None:
    ids = [api.place(type=1, limitPrice=20_000.0 + i) for i in range(3)]
    api.place(type=2)
    body = api.ok(
        "/Order/v2/query",
        filter={"accountId": ACCOUNT, "statuses": [1]},
        pageSize=2,
        pageOffset=1,
        includeTotalCount=True,
    )
    assert ([o["id"] for o in body["orders"]], body["totalCount"]) == ([ids[2]], 3)
    everything = api.ok("/Order/v2/query", filter={"accountId": ACCOUNT, "contractId": MNQ})
    assert len(everything["orders"]) == 4
    assert "totalCount" not in everything


def test_close_and_partial_close(api: Api, emulator: Emulator) -> None:
    api.place(type=2, side=1, size=3)
    emulator.set_price(MNQ, 20_990.0)
    api.ok("/Position/partialCloseContract", accountId=ACCOUNT, contractId=MNQ, size=1)
    (position,) = api.positions()
    assert (position["type"], position["size"]) == (2, 2)
    assert api.trades()[-1]["profitAndLoss"] == 20.0
    for size in (0, 3):
        refused = api.call(
            "/Position/partialCloseContract", accountId=ACCOUNT, contractId=MNQ, size=size
        )
        assert (refused["success"], refused["errorCode"]) == (False, 5)
    api.ok("/Position/closeContract", accountId=ACCOUNT, contractId=MNQ)
    assert api.positions() == []
    closing_orders = api.ok("/Order/search", accountId=ACCOUNT, startTimestamp="2026-01-01")[
        "orders"
    ]
    assert [(o["type"], o["side"], o["size"]) for o in closing_orders[1:]] == [(2, 0, 1), (2, 0, 2)]
    nothing = api.call("/Position/closeContract", accountId=ACCOUNT, contractId=MNQ)
    assert (nothing["success"], nothing["errorCode"]) == (False, 2)
    partial = api.call("/Position/partialCloseContract", accountId=ACCOUNT, contractId=MNQ, size=1)
    assert partial["errorCode"] == 2
    unknown = api.call("/Position/closeContract", accountId=ACCOUNT, contractId="CON.X")
    assert unknown["errorCode"] == 3
    expired = api.call("/Position/closeContract", accountId=ACCOUNT, contractId="CON.F.US.MNQ.U26")
    assert expired["errorCode"] == 4


def test_a_bracket_waits_for_its_parent_then_one_child_cancels_the_other(
    api: Api, emulator: Emulator
) -> None:
    parent = api.place(
        type=1,
        limitPrice=20_990.0,
        stopLossBracket={"ticks": -8, "type": 4},
        takeProfitBracket={"ticks": 16, "type": 1},
    )
    children = [o for o in emulator.gateway.orders.values() if o.parent_id == parent]
    assert [api.order(c.id)["status"] for c in children] == [8, 8]
    assert [o["id"] for o in api.ok("/Order/searchOpen", accountId=ACCOUNT)["orders"]] == [parent]
    emulator.set_price(MNQ, 20_990.0)
    stop, target = (api.order(c.id) for c in children)
    assert (stop["status"], stop["type"], stop["side"], stop["stopPrice"]) == (1, 4, 1, 20_988.0)
    assert (target["status"], target["type"], target["limitPrice"]) == (1, 1, 20_994.0)
    emulator.set_price(MNQ, 20_994.0)
    assert api.order(target["id"])["status"] == 2
    assert api.order(stop["id"])["status"] == 3
    assert api.positions() == []
    assert api.trades()[-1]["profitAndLoss"] == 8.0


def test_cancelling_a_parent_cancels_its_suspended_children(api: Api, emulator: Emulator) -> None:
    parent = api.place(type=1, side=1, limitPrice=21_010.0, stopLossBracket={"ticks": 4, "type": 5})
    (child,) = [o for o in emulator.gateway.orders.values() if o.parent_id == parent]
    api.ok("/Order/cancel", accountId=ACCOUNT, orderId=parent)
    assert api.order(child.id)["status"] == 3


def test_a_market_bracket_is_active_at_once_and_flat_positions_cancel_it(
    api: Api, emulator: Emulator
) -> None:
    parent = api.place(type=2, side=1, size=1, stopLossBracket={"ticks": 4, "type": 5})
    (child,) = [o for o in emulator.gateway.orders.values() if o.parent_id == parent]
    assert api.order(child.id)["stopPrice"] == 21_001.0
    emulator.set_price(MNQ, 20_990.0)  # trails down with the short's best price
    assert api.order(child.id)["stopPrice"] == 20_991.0
    api.ok("/Position/closeContract", accountId=ACCOUNT, contractId=MNQ)
    assert api.order(child.id)["status"] == 3


def test_set_price_refuses_unknown_contracts_and_non_positive_prices(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="not found"):
        emulator.set_price("CON.NOPE", 1.0)
    with pytest.raises(ValueError, match="positive"):
        emulator.set_price(MNQ, 0.0)

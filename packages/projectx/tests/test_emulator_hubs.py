"""The SignalR hubs over a real WebSocket: negotiate, handshake, subscriptions, events, pings."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import httpx2.websockets
import pytest

from corekit.testing import FakeClock, serve
from projectx.emulator import Emulator, EmulatorSettings, create_app

EPOCH = 1_795_000_000.0
MNQ = "CON.F.US.MNQ.Z26"
RS = "\x1e"


class Hub:
    """One hub connection speaking the JSON hub protocol."""

    def __init__(self, session: httpx2.websockets.WebSocketSession) -> None:
        self.session = session
        self.pending: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.session.send_text(json.dumps(message) + RS)

    def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        while not self.pending:
            text = self.session.receive_text(timeout=timeout)
            assert text.endswith(RS)
            self.pending += [json.loads(r) for r in text.split(RS)[:-1]]
        return self.pending.pop(0)

    def until(self, target: str) -> dict[str, Any]:
        """The next invocation of ``target``, skipping pings and other events."""
        while True:
            message = self.receive()
            if message.get("target") == target:
                return message

    def invoke(self, target: str, *arguments: Any, invocation: str | None = None) -> None:
        message: dict[str, Any] = {"type": 1, "target": target, "arguments": list(arguments)}
        if invocation is not None:
            message["invocationId"] = invocation
        self.send(message)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Emulator, str]]:
    settings = EmulatorSettings(rate_limits=False, hub_ping_interval=0.2)
    emulator = create_app(settings, clock=FakeClock(epoch=EPOCH))
    with serve(emulator) as server:
        yield emulator, server.url


@pytest.fixture
def url(served: tuple[Emulator, str], emulator: Emulator) -> str:
    return served[1]


@contextlib.contextmanager
def connect(url: str, hub: str, token: str, *, handshake: bool = True) -> Iterator[Hub]:
    negotiated = httpx2.post(f"{url}/hubs/{hub}/negotiate?negotiateVersion=1&access_token={token}")
    assert negotiated.status_code == 200
    connection = negotiated.json()["connectionToken"]
    with httpx2.websocket(
        f"{url}/hubs/{hub}?id={connection}&access_token={token}",
        keepalive_ping_interval_seconds=None,
    ) as session:
        hub_connection = Hub(session)
        if handshake:
            hub_connection.send({"protocol": "json", "version": 1})
            assert hub_connection.receive() == {}
        yield hub_connection


def rest(url: str, token: str, path: str, **body: Any) -> dict[str, Any]:
    response = httpx2.post(
        f"{url}/api/{path}", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    data: dict[str, Any] = response.json()
    assert data["success"] is True, data
    return data


def test_negotiate_answers_a_connection_for_websockets(url: str, emulator: Emulator) -> None:
    token = emulator.token()
    v1 = httpx2.post(f"{url}/hubs/user/negotiate?negotiateVersion=1&access_token={token}").json()
    assert v1["negotiateVersion"] == 1
    assert v1["connectionId"] != v1["connectionToken"]
    assert v1["availableTransports"] == [
        {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
    ]
    v0 = httpx2.post(
        f"{url}/Hubs/Market/negotiate", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert v0["negotiateVersion"] == 0
    assert "connectionToken" not in v0


def test_negotiate_refuses_bad_tokens_and_unknown_hubs(url: str, emulator: Emulator) -> None:
    assert httpx2.post(f"{url}/hubs/user/negotiate?access_token=x.y.z").status_code == 401
    assert httpx2.post(f"{url}/hubs/user/negotiate").status_code == 401
    token = emulator.token()
    assert httpx2.post(f"{url}/hubs/other/negotiate?access_token={token}").status_code == 404


@pytest.mark.parametrize(
    "query",
    ["access_token=x.y.z", "id=unknown&access_token={token}", "access_token={token}&x=1"],
)
def test_the_websocket_refuses_bad_tokens_and_unknown_connection_ids(
    url: str, emulator: Emulator, query: str
) -> None:
    token = emulator.token()
    hub = "other" if query.endswith("x=1") else "user"
    with (
        pytest.raises(httpx2.websockets.WebSocketUpgradeError) as refused,
        httpx2.websocket(f"{url}/hubs/{hub}?{query.format(token=token)}"),
    ):
        pass
    assert refused.value.response.status_code == 403


def test_a_negotiated_connection_id_is_used_up(url: str, emulator: Emulator) -> None:
    token = emulator.token()
    negotiated = httpx2.post(f"{url}/hubs/user/negotiate?negotiateVersion=1&access_token={token}")
    ids = negotiated.json()
    with httpx2.websocket(f"{url}/hubs/user?id={ids['connectionId']}&access_token={token}"):
        pass
    for used in (ids["connectionId"], ids["connectionToken"]):
        with (
            pytest.raises(httpx2.websockets.WebSocketUpgradeError),
            httpx2.websocket(f"{url}/hubs/user?id={used}&access_token={token}"),
        ):
            pass


def test_a_connection_without_negotiation_uses_the_authorization_header(
    url: str, emulator: Emulator
) -> None:
    headers = {"Authorization": f"Bearer {emulator.token()}"}
    with httpx2.websocket(f"{url}/hubs/market", headers=headers) as session:
        hub = Hub(session)
        hub.send({"protocol": "json", "version": 1})
        assert hub.receive() == {}


def test_an_unsupported_protocol_is_refused_in_the_handshake(url: str, emulator: Emulator) -> None:
    with connect(url, "market", emulator.token(), handshake=False) as hub:
        hub.send({"protocol": "messagepack", "version": 1})
        assert "not supported" in hub.receive()["error"]


def test_market_subscriptions_get_a_snapshot_then_every_move(url: str, emulator: Emulator) -> None:
    with connect(url, "market", emulator.token()) as hub:
        hub.invoke("SubscribeContractQuotes", MNQ, invocation="1")
        quote = hub.until("GatewayQuote")
        contract_id, payload = quote["arguments"]
        assert contract_id == MNQ
        assert (payload["lastPrice"], payload["bestBid"], payload["bestAsk"]) == (
            21_000.0,
            20_999.75,
            21_000.25,
        )
        assert payload["symbol"] == "F.US.MNQ"
        assert hub.receive() == {"type": 3, "invocationId": "1", "result": None}
        hub.invoke("SubscribeContractTrades", MNQ.lower())
        hub.invoke("SubscribeContractMarketDepth", MNQ)
        depth = hub.until("GatewayDepth")["arguments"][1]
        assert depth[0]["type"] == 6
        assert {(row["type"], row["price"]) for row in depth[1:3]} == {
            (1, 21_000.25),
            (2, 20_999.75),
        }
        hub.invoke("Heartbeat", {"timestamp": 1.0})  # unknown: ignored, no answer
        emulator.set_price(MNQ, 21_002.5)
        assert hub.until("GatewayQuote")["arguments"][1]["lastPrice"] == 21_002.5
        tape = hub.until("GatewayTrade")["arguments"]
        assert tape[0] == MNQ
        assert (tape[1][0]["price"], tape[1][0]["type"], tape[1][0]["volume"]) == (21_002.5, 0, 1)
        assert hub.until("GatewayDepth")["arguments"][0] == MNQ


def test_unsubscribing_stops_the_events(url: str, emulator: Emulator) -> None:
    with connect(url, "market", emulator.token()) as hub:
        hub.invoke("SubscribeContractQuotes", MNQ)
        hub.until("GatewayQuote")
        hub.invoke("UnsubscribeContractQuotes", MNQ, invocation="u")
        assert hub.receive() == {"type": 3, "invocationId": "u", "result": None}
        emulator.set_price(MNQ, 21_001.0)
        assert hub.receive() == {"type": 6}  # only the keep-alive ping follows


def test_invocation_errors_come_back_as_completions(url: str, emulator: Emulator) -> None:
    with connect(url, "user", emulator.token()) as hub:
        hub.invoke("NoSuchMethod", invocation="a")
        assert hub.receive() == {
            "type": 3,
            "invocationId": "a",
            "error": "Unknown hub method 'NoSuchMethod'",
        }
        hub.invoke("SubscribeOrders", 9, invocation="b")
        assert "Account 9 not found" in hub.receive()["error"]
        hub.invoke("SubscribeOrders", "1001", invocation="c")
        assert "an account id" in hub.receive()["error"]
        hub.invoke("SubscribeOrders", invocation="d")
        assert "expected one argument" in hub.receive()["error"]
        hub.invoke("SubscribeContractQuotes", MNQ, invocation="e")
        assert "Unknown hub method" in hub.receive()["error"]
        hub.invoke("SubscribeOrders", 9)  # fire-and-forget: refused quietly
        hub.send({"type": 6})
        assert hub.receive() == {"type": 6}


def test_user_events_follow_rest_changes(url: str, emulator: Emulator) -> None:
    token = emulator.token()
    with connect(url, "user", token) as hub:
        hub.invoke("SubscribeAccounts")
        for target in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
            hub.invoke(target, 1001)
        hub.invoke("SubscribeOrders", 1002, invocation="sync")
        while hub.receive().get("invocationId") != "sync":
            pass
        order = {"accountId": 1001, "contractId": MNQ, "type": 2, "side": 0, "size": 1}
        order_id = rest(url, token, "Order/place", **order)["orderId"]
        (event,) = hub.until("GatewayUserOrder")["arguments"]
        assert (event["id"], event["status"]) == (order_id, 1)
        (filled,) = hub.until("GatewayUserOrder")["arguments"]
        assert (filled["status"], filled["filledPrice"]) == (2, 21_000.0)
        (position,) = hub.until("GatewayUserPosition")["arguments"]
        assert (position["size"], position["averagePrice"]) == (1, 21_000.0)
        (trade,) = hub.until("GatewayUserTrade")["arguments"]
        assert trade["orderId"] == order_id
        (account,) = hub.until("GatewayUserAccount")["arguments"]
        assert account["balance"] == 50_000 - 0.37
        rest(url, token, "Position/closeContract", accountId=1001, contractId=MNQ)
        hub.until("GatewayUserOrder")
        (flat,) = hub.until("GatewayUserPosition")["arguments"]
        assert flat["size"] == 0
        # Another account's events reach only its own subscribers.
        order_1002 = order | {"accountId": 1002, "type": 1, "limitPrice": 20_000.0}
        other = rest(url, token, "Order/place", **order_1002)["orderId"]
        assert hub.until("GatewayUserOrder")["arguments"][0]["id"] == other
        hub.invoke("UnsubscribePositions", 1001)
        hub.invoke("UnsubscribeAccounts")


def test_the_server_pings_an_idle_connection(url: str, emulator: Emulator) -> None:
    with connect(url, "user", emulator.token()) as hub:
        assert hub.receive(timeout=2.0) == {"type": 6}


def test_revoking_tokens_logs_hub_connections_out(url: str, emulator: Emulator) -> None:
    with connect(url, "user", emulator.token()) as hub:
        hub.send({"type": 6})
        emulator.revoke_tokens()
        assert hub.until("GatewayLogout")["arguments"] == []
        assert hub.receive() == {"type": 7, "error": "Session ended", "allowReconnect": False}
        with pytest.raises(httpx2.websockets.WebSocketDisconnect):
            hub.receive()


def test_logout_ends_the_hub_connections_of_that_session_only(url: str, emulator: Emulator) -> None:
    mine, other = emulator.token(), emulator.token()
    with connect(url, "user", mine) as ending, connect(url, "market", other) as staying:
        response = httpx2.post(
            f"{url}/api/Auth/logout", headers={"Authorization": f"Bearer {mine}"}
        )
        assert response.json()["success"] is True
        assert ending.until("GatewayLogout")["arguments"] == []
        assert ending.receive()["type"] == 7
        staying.send({"type": 6})
        staying.invoke("SubscribeContractQuotes", MNQ, invocation="still")
        assert staying.until("GatewayQuote")["arguments"][0] == MNQ


def test_a_client_close_or_garbage_ends_the_connection(url: str, emulator: Emulator) -> None:
    with connect(url, "market", emulator.token()) as hub:
        hub.send({"type": 7})
        with pytest.raises(httpx2.websockets.WebSocketDisconnect):
            hub.receive()
    with connect(url, "market", emulator.token()) as hub:
        hub.session.send_text("not json" + RS)
        assert hub.receive() == {"type": 7, "error": "Invalid JSON record"}
    with connect(url, "market", emulator.token(), handshake=False) as hub:
        hub.session.send_bytes(b'{"protocol":"json","version":1}' + RS.encode())
        assert hub.receive() == {}


def test_the_market_script_moves_front_months_along_the_bar_path() -> None:
    settings = EmulatorSettings(market_interval=0.05, hub_ping_interval=5)
    emulator = create_app(settings, clock=FakeClock(epoch=EPOCH))
    with serve(emulator) as server, connect(server.url, "market", emulator.token()) as hub:
        hub.invoke("SubscribeContractQuotes", MNQ)
        hub.until("GatewayQuote")
        moved = hub.until("GatewayQuote")["arguments"][1]["lastPrice"]
    # The fake clock stands still, so every step goes to the path's price at that moment.
    assert moved == emulator.gateway.market.path(MNQ).price(EPOCH)
    assert moved != 21_000.0

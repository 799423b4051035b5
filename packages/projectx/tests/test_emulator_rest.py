"""The emulated Gateway's REST protocol over a socket: auth, envelope, errors, budgets, faults."""

from __future__ import annotations

import base64
import importlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

import projectx.emulator
from corekit.testing import REDACTED, FakeClock, serve
from projectx.emulator import AccountSpec, ContractSpec, Emulator, EmulatorSettings, create_app

EPOCH = 1_795_000_000.0  # 2026-11-18T11:06:40Z, a Wednesday
LOGIN = {"userName": "emulator", "apiKey": "emulator-api-key"}


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(epoch=EPOCH)


@pytest.fixture(scope="module")
def served(clock: FakeClock) -> Iterator[tuple[Emulator, str]]:
    emulator = create_app(EmulatorSettings(token_lifetime=600, validate_window=3_600), clock=clock)
    with serve(emulator) as server:
        yield emulator, server.url


@pytest.fixture
def http(served: tuple[Emulator, str], emulator: Emulator) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=f"{served[1]}/api") as client:
        yield client


def login(http: httpx2.Client) -> dict[str, str]:
    response = http.post("/Auth/loginKey", json=LOGIN)
    return {"Authorization": f"Bearer {response.json()['token']}"}


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in vars(projectx.emulator) if not n.startswith("_")} - {"annotations"}
    assert sorted(projectx.emulator.__all__) == projectx.emulator.__all__
    assert set(projectx.emulator.__all__) == public


@pytest.mark.parametrize("missing", ["fastapi", "uvicorn"])
def test_without_the_extra_the_import_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` fail
    monkeypatch.delitem(sys.modules, "projectx.emulator")
    with pytest.raises(ImportError, match=r"pip install 'projectx\[emulator\]'") as refused:
        importlib.import_module("projectx.emulator")
    assert refused.value.name == missing


def test_login_issues_a_jwt_whose_exp_is_the_token_lifetime(
    http: httpx2.Client, clock: FakeClock
) -> None:
    response = http.post("/Auth/loginKey", json=LOGIN)
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert body["errorCode"] == 0
    assert body["errorMessage"] is None
    assert claims(body["token"])["exp"] == int(clock.time()) + 600
    assert claims(body["token"])["sub"] == "emulator"


@pytest.mark.parametrize(
    "credentials",
    [
        {"userName": "emulator", "apiKey": "wrong"},
        {"userName": "someone", "apiKey": "emulator-api-key"},
    ],
)
def test_a_failed_login_is_http_200_with_error_code_3(
    http: httpx2.Client, credentials: dict[str, str]
) -> None:
    response = http.post("/Auth/loginKey", json=credentials)
    assert response.status_code == 200
    assert response.json() == {
        "token": None,
        "success": False,
        "errorCode": 3,
        "errorMessage": "Invalid credentials: check the user name and API key",
    }


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Basic abc", "Bearer not-a-jwt", "Bearer a.b.c"],
)
def test_requests_without_a_valid_bearer_token_get_401(
    http: httpx2.Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = http.post("/Account/search", json={"onlyActiveAccounts": True}, headers=headers)
    assert response.status_code == 401
    assert response.content == b""
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_token_signed_by_another_emulator_is_unknown(http: httpx2.Client) -> None:
    stranger = create_app().token()
    response = http.post(
        "/Account/search",
        json={"onlyActiveAccounts": True},
        headers={"Authorization": f"Bearer {stranger}"},
    )
    assert response.status_code == 401


def test_a_token_is_refused_from_its_exp_on_and_validate_renews_it(
    http: httpx2.Client, clock: FakeClock
) -> None:
    auth = login(http)
    clock.advance(599)
    assert http.post("/Account/search", json={"onlyActiveAccounts": True}, headers=auth).is_success
    clock.advance(1)
    expired = http.post("/Account/search", json={"onlyActiveAccounts": True}, headers=auth)
    assert expired.status_code == 401
    assert "expired" in expired.headers["www-authenticate"]
    renewed = http.post("/Auth/validate", headers=auth | {"Content-Type": "application/json"})
    assert renewed.json()["success"] is True
    new_token = renewed.json()["newToken"]
    assert claims(new_token)["exp"] == int(clock.time()) + 600
    fresh = {"Authorization": f"Bearer {new_token}"}
    assert http.post("/Account/search", json={"onlyActiveAccounts": True}, headers=fresh).is_success


def test_a_request_refused_with_401_has_no_effect(
    http: httpx2.Client, clock: FakeClock, emulator: Emulator
) -> None:
    auth = login(http)
    clock.advance(600)
    order = {"accountId": 1001, "contractId": "CON.F.US.MNQ.Z26", "type": 2, "side": 0, "size": 1}
    assert http.post("/Order/place", json=order, headers=auth).status_code == 401
    assert emulator.gateway.orders == {}
    assert emulator.gateway.trades == []


def test_validate_refuses_a_token_expired_longer_than_the_window(
    http: httpx2.Client, clock: FakeClock
) -> None:
    auth = login(http)
    clock.advance(600 + 3_601)
    body = http.post("/Auth/validate", headers=auth).json()
    assert body["success"] is False
    assert body["errorCode"] == 3
    assert body["newToken"] is None


def test_validate_of_an_unknown_or_missing_token(http: httpx2.Client) -> None:
    assert http.post("/Auth/validate").status_code == 401
    unknown = http.post("/Auth/validate", headers={"Authorization": "Bearer x.y.z"}).json()
    assert (unknown["success"], unknown["errorCode"]) == (False, 2)


def test_logout_ends_the_session(http: httpx2.Client) -> None:
    auth = login(http)
    body = http.post("/Auth/logout", headers=auth).json()
    assert body == {"success": True, "errorCode": 0, "errorMessage": None}
    assert (
        http.post("/Account/search", json={"onlyActiveAccounts": True}, headers=auth).status_code
        == 401
    )
    refused = http.post("/Auth/validate", headers=auth).json()
    assert (refused["success"], refused["errorCode"]) == (False, 1)


def test_revoked_and_expired_tokens(http: httpx2.Client, emulator: Emulator) -> None:
    auth = login(http)
    assert emulator.expire_tokens() == 1
    assert http.post("/Order/searchOpen", json={"accountId": 1001}, headers=auth).status_code == 401
    assert http.post("/Auth/validate", headers=auth).json()["success"] is True
    assert emulator.revoke_tokens() == 2  # the renewed token and the expired one
    assert http.post("/Auth/validate", headers=auth).json()["errorCode"] == 1


def test_ping_needs_no_token(http: httpx2.Client) -> None:
    response = http.get("/Status/ping")
    assert response.status_code == 200
    assert response.json() == "pong"


def test_paths_and_property_names_match_regardless_of_case(http: httpx2.Client) -> None:
    response = http.post(
        "/auth/LOGINKEY", json={"USERNAME": "emulator", "apikey": "emulator-api-key"}
    )
    auth = {"Authorization": f"Bearer {response.json()['token']}"}
    body = http.post("/account/search", json={"onlyactiveaccounts": False}, headers=auth).json()
    assert [a["id"] for a in body["accounts"]] == [1001, 1002, 1003]


def test_unknown_paths_wrong_methods_and_bad_bodies(http: httpx2.Client) -> None:
    auth = login(http)
    assert http.post("/Nothing/here", json={}, headers=auth).status_code == 404
    assert http.get("/Account/search", headers=auth).status_code == 405
    missing = http.post("/Order/place", json={"accountId": 1001}, headers=auth)
    assert missing.status_code == 400
    assert missing.json()["errors"]["$.contractId"] == ["Field required"]
    assert http.post("/Account/search", content=b"{not json", headers=auth).status_code == 400
    assert http.post("/Account/search", json=[1, 2], headers=auth).status_code == 400
    assert http.post("/Account/search", headers=auth).status_code == 400


def test_accounts_with_and_without_inactive_ones(http: httpx2.Client) -> None:
    auth = login(http)
    active = http.post("/Account/search", json={"onlyActiveAccounts": True}, headers=auth).json()
    assert active["accounts"][0] == {
        "id": 1001,
        "name": "PRAC-V2-EMU-1",
        "balance": 50_000.0,
        "canTrade": True,
        "isVisible": True,
        "simulated": True,
    }
    assert [a["id"] for a in active["accounts"]] == [1001, 1002]


def test_contract_search_lists_unexpired_months_with_one_front_month(http: httpx2.Client) -> None:
    auth = login(http)
    body = http.post(
        "/Contract/search", json={"searchText": "mnq", "live": False}, headers=auth
    ).json()
    contracts = body["contracts"]
    assert [c["name"] for c in contracts] == ["MNQZ26", "MNQH27", "MNQM27"]
    assert [c["activeContract"] for c in contracts] == [True, False, False]
    assert contracts[0] == {
        "id": "CON.F.US.MNQ.Z26",
        "name": "MNQZ26",
        "description": "Micro E-mini Nasdaq-100: December 2026",
        "tickSize": 0.25,
        "tickValue": 0.5,
        "activeContract": True,
        "symbolId": "F.US.MNQ",
    }
    nq = http.post(
        "/Contract/search", json={"searchText": "ENQ", "live": True}, headers=auth
    ).json()
    assert {c["symbolId"] for c in nq["contracts"]} == {"F.US.ENQ"}


def test_the_front_month_rolls_with_the_clock() -> None:
    clock = FakeClock(epoch=EPOCH)  # its own: the shared clock must stay before the expiries
    emulator = create_app(clock=clock)
    clock.advance(31 * 86_400)  # past the December expiry
    with serve(emulator) as server, httpx2.Client(base_url=f"{server.url}/api") as http:
        auth = login(http)
        body = http.post(
            "/Contract/search", json={"searchText": "MES", "live": False}, headers=auth
        ).json()
        order = {"accountId": 1001, "contractId": "CON.F.US.MES.Z26", "type": 2, "side": 0}
        refused = http.post("/Order/place", json=order | {"size": 1}, headers=auth).json()
    assert (refused["errorCode"], refused["orderId"]) == (9, None)
    assert [(c["name"], c["activeContract"]) for c in body["contracts"]] == [
        ("MESH27", True),
        ("MESM27", False),
    ]


def test_contract_by_id_finds_expired_months_and_reports_unknown_ones(http: httpx2.Client) -> None:
    auth = login(http)
    found = http.post("/Contract/searchById", json={"contractId": "con.f.us.mnq.u26"}, headers=auth)
    assert found.json()["contract"]["id"] == "CON.F.US.MNQ.U26"
    assert found.json()["contract"]["activeContract"] is False
    missing = http.post(
        "/Contract/searchById", json={"contractId": "CON.F.US.MNQ.X99"}, headers=auth
    )
    assert missing.json()["success"] is False
    assert missing.json()["errorCode"] == 1
    assert missing.json()["contract"] is None


def test_live_hides_sim_only_contracts(clock: FakeClock) -> None:
    contract = ContractSpec(
        id="CON.F.US.SIM.Z26",
        name="SIMZ26",
        symbol_id="F.US.SIM",
        tick_size=0.5,
        tick_value=1.0,
        expiry="2026-12-31",  # type: ignore[arg-type]
        price=100.0,
        live=False,
    )
    emulator = create_app(EmulatorSettings(contracts=[contract]), clock=clock)
    with serve(emulator) as server, httpx2.Client(base_url=f"{server.url}/api") as http:
        auth = login(http)
        sim = http.post("/Contract/available", json={"live": False}, headers=auth).json()
        live = http.post("/Contract/available", json={"live": True}, headers=auth).json()
    assert [c["id"] for c in sim["contracts"]] == ["CON.F.US.SIM.Z26"]
    assert live["contracts"] == []


def test_settings_refuse_repeated_ids() -> None:
    account = AccountSpec(id=1, name="a")
    with pytest.raises(ValueError, match="account ids must be unique; repeated: 1"):
        EmulatorSettings(accounts=[account, account])


def test_the_bars_budget_answers_429_with_retry_after(
    http: httpx2.Client, clock: FakeClock
) -> None:
    auth = login(http)
    body = {
        "contractId": "CON.F.US.MNQ.Z26",
        "live": False,
        "startTime": "2026-11-17T00:00:00Z",
        "endTime": "2026-11-18T00:00:00Z",
        "unit": 2,
        "unitNumber": 1,
        "limit": 1,
        "includePartialBar": False,
    }
    for _ in range(50):
        assert http.post("/History/retrieveBars", json=body, headers=auth).status_code == 200
        clock.advance(0.1)
    refused = http.post("/History/retrieveBars", json=body, headers=auth)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "25"  # the first of the 50 leaves the window then
    assert refused.json()["success"] is False
    # The other budget is separate.
    assert http.post("/Account/search", json={"onlyActiveAccounts": True}, headers=auth).is_success
    clock.advance(25.0)
    assert http.post("/History/retrieveBars", json=body, headers=auth).status_code == 200


def test_the_general_budget_is_200_per_minute(http: httpx2.Client, clock: FakeClock) -> None:
    for _ in range(200):
        assert http.get("/Status/ping").status_code == 200
    refused = http.get("/Status/ping")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"
    clock.advance(60)
    assert http.get("/Status/ping").status_code == 200


def test_budgets_can_be_turned_off(clock: FakeClock) -> None:
    emulator = create_app(EmulatorSettings(rate_limits=False, rate_limit=1), clock=clock)
    with serve(emulator) as server, httpx2.Client(base_url=f"{server.url}/api") as http:
        assert [http.get("/Status/ping").status_code for _ in range(3)] == [200, 200, 200]


def test_faults_and_the_request_log(http: httpx2.Client, emulator: Emulator) -> None:
    auth = login(http)
    emulator.rate_limit("/api/order/*", retry_after=7, count=1)
    refused = http.post("/Order/searchOpen", json={"accountId": 1001}, headers=auth)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "7"
    (logged,) = emulator.calls("POST", "/api/order/searchopen")
    assert logged.fault == "rate_limit"
    assert logged.headers["authorization"] == f"Bearer {REDACTED}"
    (login_call,) = emulator.calls("POST", "/api/Auth/loginKey")
    assert login_call.json() == {"userName": "emulator", "apiKey": REDACTED}


def test_a_dropped_response_after_the_order_was_booked(
    http: httpx2.Client, emulator: Emulator
) -> None:
    auth = login(http)
    emulator.drop("/api/Order/place", after_app=True)
    order = {
        "accountId": 1001,
        "contractId": "CON.F.US.MNQ.Z26",
        "type": 1,
        "side": 0,
        "size": 1,
        "limitPrice": 20_000.0,
        "customTag": "uncertain-1",
    }
    with pytest.raises(httpx2.RemoteProtocolError):
        http.post("/Order/place", json=order, headers=auth)
    orders = http.post("/Order/searchOpen", json={"accountId": 1001}, headers=auth).json()["orders"]
    assert [o["customTag"] for o in orders] == ["uncertain-1"]


def test_control_actions_over_http(served: tuple[Emulator, str], emulator: Emulator) -> None:
    url = served[1]
    with httpx2.Client(base_url=url) as http:
        moved = http.post(
            "/_emulator/actions/set-price",
            json={"contractId": "con.f.us.mes.z26", "prices": [6001, 6002.25]},
        )
        assert moved.json() == {"filled": [], "lastPrice": 6002.25}
        bad = http.post("/_emulator/actions/set-price", json={"contractId": "CON.F.US.MES.Z26"})
        assert bad.status_code == 422
        assert (
            http.post(
                "/_emulator/actions/set-price", json={"contractId": "X", "price": 1}
            ).status_code
            == 422
        )
        assert (
            http.post(
                "/_emulator/actions/set-price",
                json={"contractId": "CON.F.US.MES.Z26", "price": "1"},
            ).status_code
            == 422
        )
        token = emulator.token()
        assert http.post("/_emulator/actions/expire-tokens").json() == {"expired": 1}
        assert http.post("/_emulator/actions/revoke-tokens").json() == {"revoked": 1}
        refused = http.post(
            "/api/Account/search",
            json={"onlyActiveAccounts": True},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert refused.status_code == 401

"""The emulator's user, paged list and set-point routes, over a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from corekit.testing import REDACTED, serve
from pym2v.emulator import TOKEN_PATH, Emulator, EmulatorSettings, create_app

ROUTERS = "/backend/thing-gui-controller/filter"
MACHINES = "/backend/machine-gui-controller/filter"
SETPOINT = "/backend/data-definition-key-item-controller/set-point"
SETTINGS = EmulatorSettings(routers=3, machines=12, measurements=10, setpoints=3)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Emulator, str]]:
    app = create_app(SETTINGS)
    with serve(app) as server:
        yield app, server.url


@pytest.fixture
def app(served: tuple[Emulator, str]) -> Emulator:
    served[0].reset()
    return served[0]


@pytest.fixture(scope="module")
def client(served: tuple[Emulator, str]) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=served[1]) as http:
        form = {
            "grant_type": "password",
            "username": "user",
            "password": "password",
            "client_id": "backend",
            "client_secret": "secret",
        }
        token = http.post(TOKEN_PATH, data=form).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


def get(client: httpx2.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def all_machines(client: httpx2.Client) -> list[dict[str, Any]]:
    return list(get(client, MACHINES, size=1000)["entities"])


def test_user_info(app: Emulator, client: httpx2.Client) -> None:
    user = get(client, "/backend/user-controller/meGUI")
    assert user["username"] == "user"
    for key in ("uuid", "firstname", "lastname", "company", "companyUuid", "lastConnection"):
        assert key in user
    assert user["company"]["uuid"] == user["companyUuid"]


def test_paged_envelope_and_paging(app: Emulator, client: httpx2.Client) -> None:
    params = {"sort": "name", "order": "asc", "filter": "__archived:false"}
    pages = [get(client, MACHINES, page=p, size=5, **params) for p in range(4)]
    assert [set(p) for p in pages] == [
        {"maxCount", "size", "page", "entities", "additionalInformation"}
    ] * 4
    assert [p["maxCount"] for p in pages] == [12] * 4
    assert [p["page"] for p in pages] == [0, 1, 2, 3]
    assert [p["size"] for p in pages] == [5] * 4
    assert [len(p["entities"]) for p in pages] == [5, 5, 2, 0]
    names = [e["name"] for p in pages for e in p["entities"]]
    assert names == [f"Machine {i:03d}" for i in range(1, 13)]


def test_defaults_apply_when_parameters_are_missing(app: Emulator, client: httpx2.Client) -> None:
    page = get(client, MACHINES)
    assert (page["page"], page["size"], len(page["entities"])) == (0, 10, 10)


def test_machines_carry_what_clients_need(app: Emulator, client: httpx2.Client) -> None:
    machines = all_machines(client)
    routers = {r["uuid"]: r for r in get(client, ROUTERS, size=100)["entities"]}
    assert len(routers) == 3
    assert len({m["uuid"] for m in machines}) == 12
    for machine in machines:
        assert machine["thingUuid"] in routers
        assert machine["thingName"] == routers[machine["thingUuid"]]["name"]
        assert machine["thing"]["uuid"] == machine["thingUuid"]


def test_filter_by_router_and_by_name(app: Emulator, client: httpx2.Client) -> None:
    router = get(client, ROUTERS, size=1)["entities"][0]
    mine = get(client, MACHINES, size=100, filter=f"__archived:false;thingUuid:{router['uuid']}")
    assert mine["maxCount"] == 4
    assert {m["thingUuid"] for m in mine["entities"]} == {router["uuid"]}
    # Names match by case-insensitive containment: "machine 01" is in Machine 010..012.
    found = get(client, MACHINES, size=100, filter="name:machine 01")
    assert [m["name"] for m in found["entities"]] == ["Machine 010", "Machine 011", "Machine 012"]
    assert get(client, MACHINES, filter="thingUuid:" + router["uuid"][:8])["maxCount"] == 0
    assert get(client, MACHINES, filter="__archived:true")["maxCount"] == 0
    assert get(client, ROUTERS, filter="online:TRUE")["maxCount"] == 2
    assert get(client, ROUTERS, filter="filename:null")["maxCount"] == 3
    assert get(client, ROUTERS, filter="filename:x")["maxCount"] == 0
    assert get(client, MACHINES, filter=";;")["maxCount"] == 12


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"filter": "colour:red"}, ["colour", "accepted"]),
        ({"filter": "name"}, ["key:value"]),
        ({"filter": ":x"}, ["key:value"]),
        ({"page": "-1"}, ["page"]),
        ({"page": "first"}, ["page", "integer"]),
        ({"size": "0"}, ["size"]),
        ({"order": "up"}, ["order"]),
    ],
)
def test_invalid_list_queries_answer_400(
    app: Emulator, client: httpx2.Client, params: dict[str, str], words: list[str]
) -> None:
    response = client.get(MACHINES, params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert body["path"] == MACHINES
    for word in words:
        assert word in body["message"]


def test_sorting(app: Emulator, client: httpx2.Client) -> None:
    desc = get(client, MACHINES, size=3, sort="name", order="desc")["entities"]
    assert [m["name"] for m in desc] == ["Machine 012", "Machine 011", "Machine 010"]
    unknown = get(client, MACHINES, size=3, sort="colour")["entities"]
    assert [m["name"] for m in unknown] == ["Machine 001", "Machine 002", "Machine 003"]
    nested = get(client, MACHINES, size=3, sort="thing")["entities"]
    assert len(nested) == 3
    with_nulls = get(client, ROUTERS, size=3, sort="filename", order="desc")["entities"]
    assert len(with_nulls) == 3


def test_measurements_and_setpoints_of_a_machine(app: Emulator, client: httpx2.Client) -> None:
    machine = all_machines(client)[1]
    path = f"/backend/machine-controller/{machine['uuid']}"
    measurements = get(client, f"{path}/measurements", size=100, sort="updatedAt", order="desc")
    assert measurements["maxCount"] == 10
    names = [m["name"] for m in measurements["entities"]]
    assert names[:3] == ["MW-Temperature", "MW-Pressure", "MW-pH"]
    assert names[-2:] == ["MW-Temperature-2", "MW-Pressure-2"]
    for entity in measurements["entities"]:
        item = entity["dataDefinitionKeyItem"]
        assert item["dataDefinitionKeyItemUuid"]
        assert item["name"] == entity["name"]
    setpoints = get(client, f"{path}/set-points", filter="__archived:false")
    assert [s["name"] for s in setpoints["entities"]] == [
        "SP-Temperature",
        "SP-Pressure",
        "SP-Speed",
    ]
    assert get(client, f"{path}/measurements", filter="name:ph")["maxCount"] == 1


@pytest.mark.parametrize("suffix", ["measurements", "set-points"])
def test_unknown_machine_is_404(app: Emulator, client: httpx2.Client, suffix: str) -> None:
    response = client.get(f"/backend/machine-controller/no-such-machine/{suffix}")
    assert response.status_code == 404
    assert "no-such-machine" in response.json()["message"]


def test_unknown_route_is_a_spring_404(app: Emulator, client: httpx2.Client) -> None:
    response = client.get("/backend/nothing-here")
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_catalogue_is_deterministic_per_seed() -> None:
    one = create_app(EmulatorSettings(seed=1)).state.catalogue
    again = create_app(EmulatorSettings(seed=1)).state.catalogue
    other = create_app(EmulatorSettings(seed=2)).state.catalogue
    assert list(one.machines) == list(again.machines)
    assert set(one.machines).isdisjoint(other.machines)


def test_empty_catalogue() -> None:
    app = create_app(EmulatorSettings(routers=0, machines=1, measurements=0, setpoints=0))
    (machine,) = app.state.catalogue.machines.values()
    assert machine.entity["thingUuid"] is None
    assert machine.measurements == []


def test_write_a_setpoint(app: Emulator, client: httpx2.Client) -> None:
    machine = all_machines(client)[0]
    path = f"/backend/machine-controller/{machine['uuid']}/set-points"
    setpoint = get(client, path)["entities"][0]
    item_uuid = setpoint["dataDefinitionKeyItem"]["dataDefinitionKeyItemUuid"]
    body = {
        "dataDefinitionKeyItemUuid": item_uuid,
        "machineUuid": machine["uuid"],
        "setPointValue": "42.5",
        "timestamp": 1_735_689_600_000,
    }
    response = client.post(SETPOINT, json=body)
    assert response.status_code == 200, response.text
    assert response.json() == body
    item = get(client, path)["entities"][0]["dataDefinitionKeyItem"]
    assert (item["lastValue"], item["lastTimestamp"]) == ("42.5", 1_735_689_600_000)
    assert app.state.setpoint_writes == [body]
    (logged,) = app.calls("POST", SETPOINT)
    # corekit's log redacts every field named like a key, dataDefinitionKeyItemUuid included.
    assert logged.json() == {**body, "dataDefinitionKeyItemUuid": REDACTED}
    app.reset()
    assert get(client, path)["entities"][0]["dataDefinitionKeyItem"]["lastValue"] == "0.0"
    assert app.state.setpoint_writes == []


def test_setpoint_write_without_timestamp_uses_the_clock(
    app: Emulator, client: httpx2.Client
) -> None:
    machine = app.state.catalogue.machines[all_machines(client)[0]["uuid"]]
    body = {
        "dataDefinitionKeyItemUuid": machine.setpoints[1].item_uuid,
        "machineUuid": machine.uuid,
        "setPointValue": "on",
    }
    answer = client.post(SETPOINT, json=body).json()
    assert answer["timestamp"] > 1_700_000_000_000


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"dataDefinitionKeyItemUuid": "measurement"}, 404),
        ({"machineUuid": "nope"}, 404),
        ({"setPointValue": 42.5}, 400),
        ({"machineUuid": None}, 400),
    ],
)
def test_setpoint_write_errors(
    app: Emulator, client: httpx2.Client, change: dict[str, Any], status: int
) -> None:
    machine = app.state.catalogue.machines[all_machines(client)[0]["uuid"]]
    body: dict[str, Any] = {
        "dataDefinitionKeyItemUuid": machine.setpoints[0].item_uuid,
        "machineUuid": machine.uuid,
        "setPointValue": "1",
    }
    if change.get("dataDefinitionKeyItemUuid") == "measurement":
        change = {"dataDefinitionKeyItemUuid": machine.measurements[0].item_uuid}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post(SETPOINT, json=body)
    assert response.status_code == status
    assert response.json()["status"] == status
    assert app.state.setpoint_writes == []


def test_setpoint_write_needs_json(app: Emulator, client: httpx2.Client) -> None:
    response = client.post(SETPOINT, content=b"{not json", headers={"content-type": "text/plain"})
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


def test_configure_and_settings_actions(app: Emulator, client: httpx2.Client) -> None:
    answer = client.post("/_emulator/actions/configure", json={"sparse": True}).json()
    assert answer["sparse"] is True
    assert app.settings.modes.sparse is True
    assert client.post("/_emulator/actions/settings").json() == answer
    for bad in ({"colour": 1}, {"sparse": "yes"}, {"token_lifetime": 0}):
        response = client.post("/_emulator/actions/configure", json=bad)
        assert response.status_code == 422
        assert next(iter(bad)) in response.json()["detail"]
    app.reset()
    assert app.settings.modes.sparse is False

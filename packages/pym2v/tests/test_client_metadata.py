"""Metadata methods of both clients against the emulator: raw JSON, typed models, paging."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import pytest

import pym2v
from pym2v import Machine, Measurement, Router, Settings, User
from pym2v.emulator import Emulator
from pym2v.errors import M2VConfigurationError, M2VNotFoundError

if TYPE_CHECKING:
    from conftest import Face

pytestmark = pytest.mark.anyio


async def test_user_info_is_the_raw_json_and_user_the_typed_view(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    info = await face.call(api, "get_user_info")
    assert info["username"] == "ada"
    user = await face.call(api, "get_user")
    assert isinstance(user, User)
    assert user.username == "ada"
    assert user.company_name == info["companyName"]
    assert user.raw == info


async def test_paged_getters_send_the_documented_query(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    routers = await face.call(api, "get_routers")
    machines = await face.call(api, "get_machines", page=1, size=2, order="desc")
    assert routers["maxCount"] == 3
    assert len(routers["entities"]) == 3
    assert machines["page"] == 1
    assert len(machines["entities"]) == 2
    query = dict(parse_qsl(emulator.calls("GET", "*/machine-gui-controller/filter")[0].query))
    assert query == {
        "page": "1",
        "size": "2",
        "sort": "name",
        "order": "desc",
        "filter": "__archived:false",
    }


async def test_measurements_and_setpoints_of_a_machine(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    measurements = await face.call(api, "get_machine_measurement_names", uuid, size=100)
    setpoints = await face.call(api, "get_machine_setpoints", uuid)
    assert [e["name"] for e in measurements["entities"]] != []
    assert sorted(e["name"] for e in measurements["entities"]) == sorted(names)
    assert len(setpoints["entities"]) == 2
    call = emulator.calls("GET", f"*/{uuid}/measurements")[0]
    assert dict(parse_qsl(call.query))["sort"] == "updatedAt"


async def test_iterators_walk_every_page_into_models(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    machines = await face.collect(api, "iter_machines", page_size=2)
    routers = await face.collect(api, "iter_routers", page_size=1)
    first = machines[0].uuid
    measurements = await face.collect(api, "iter_measurements", first, page_size=3)
    setpoints = await face.collect(api, "iter_setpoints", first, page_size=1)
    assert [type(m) for m in machines] == [Machine] * 5
    assert len({m.uuid for m in machines}) == 5
    assert len(emulator.calls("GET", "*/machine-gui-controller/filter")) == 3
    assert [type(r) for r in routers] == [Router] * 3
    assert len(measurements) == 4
    assert all(isinstance(m, Measurement) for m in measurements)
    assert {m.name for m in measurements} == set(names)
    assert len(setpoints) == 2
    assert all(s.data_definition_key_item_uuid for s in setpoints)
    assert machines[0].raw["name"] == machines[0].name
    assert machines[0].raw["thingName"] == machines[0].thing_name


async def test_iterators_stop_when_the_server_ignores_paging(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    # The real /measurements endpoint was seen answering everything, whatever the page.
    entities = [{"uuid": f"u{i}", "name": f"m{i}"} for i in range(4)]
    body = {"maxCount": 4, "size": 4, "page": 0, "entities": entities}
    emulator.fail("*/measurements", 200, body=body, count=None)
    api = face.api(settings)
    found = await face.collect(api, "iter_measurements", uuid, page_size=2)
    assert [m.name for m in found] == ["m0", "m1", "m2", "m3"]
    assert len(emulator.calls("GET", "*/measurements")) == 1


async def test_find_machine_searches_every_page(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    last = list(emulator.state.catalogue.machines.values())[-1].entity
    found = await face.call(api, "find_machine", last["name"])
    assert isinstance(found, Machine)
    assert found.uuid == last["uuid"]
    assert await face.call(api, "find_machine", "no such machine") is None


def test_get_machine_uuid_searches_the_envelope_it_is_given() -> None:
    page = {"entities": [{"name": "a", "uuid": "1"}, {"name": "b", "uuid": "2"}]}
    assert pym2v.EurogardAPI.get_machine_uuid("b", page) == "2"
    assert pym2v.AsyncEurogardAPI.get_machine_uuid("c", page) is None
    assert pym2v.EurogardAPI.get_machine_uuid("a", {"entities": [{"name": "a"}]}) is None


async def test_unknown_machine_is_not_found_with_status_and_endpoint(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    with pytest.raises(M2VNotFoundError) as caught:
        await face.call(api, "get_machine_setpoints", "0000-unknown")
    error = caught.value
    assert error.status_code == 404
    assert error.url.endswith("/backend/machine-controller/0000-unknown/set-points")
    assert "0000-unknown" in error.body
    assert "check the machine uuid" in str(error)
    assert len(emulator.calls("GET", "*/set-points")) == 1  # a 404 is never retried


async def test_invalid_paging_arguments_fail_before_any_request(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    with pytest.raises(M2VConfigurationError, match="size"):
        await face.call(api, "get_machines", size=0)
    with pytest.raises(M2VConfigurationError, match="order"):
        await face.call(api, "get_routers", order="up")
    with pytest.raises(M2VConfigurationError, match="machine_uuid"):
        await face.call(api, "get_machine_measurement_names", "")
    assert emulator.requests == []


async def test_write_a_setpoint(
    face: Face, settings: Settings, emulator: Emulator, uuid: str
) -> None:
    api = face.api(settings)
    setpoint = (await face.collect(api, "iter_setpoints", uuid))[0]
    when = dt.datetime(2025, 3, 1, 12, 0)
    answer = await face.call(
        api, "set_machine_setpoint", uuid, setpoint.data_definition_key_item_uuid, 42.5, when
    )
    assert answer["setPointValue"] == "42.5"
    assert emulator.state.setpoint_writes == [
        {
            "dataDefinitionKeyItemUuid": setpoint.data_definition_key_item_uuid,
            "machineUuid": uuid,
            "setPointValue": "42.5",
            "timestamp": 1740830400000,
        }
    ]


async def test_deprecated_measurements_alias_warns_and_works(
    face: Face, settings: Settings, emulator: Emulator, uuid: str, names: list[str]
) -> None:
    api = face.api(settings)
    with pytest.warns(DeprecationWarning, match="get_machine_measurement_names"):
        page = await face.call(api, "get_machine_measurements", uuid)
    assert page["maxCount"] == 4


async def test_context_managers_close_the_client(settings: Settings, emulator: Emulator) -> None:
    with pym2v.EurogardAPI(settings) as api:
        assert (await _noop()) is None
        assert api.get_user_info()["username"] == "ada"
    async with pym2v.AsyncEurogardAPI(settings) as aapi:
        assert (await aapi.get_user_info())["username"] == "ada"
    assert "ada" in repr(api)
    assert "pa55" not in repr(api)


async def _noop() -> None:
    return None

"""The emulator's Asset routes over a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from corekit.testing import FaultInjector, serve
from pywats.emulator import EmulatorSettings, create_app

FIXTURE = "00000000-0000-0000-0000-000000000001"
INSTRUMENT = "00000000-0000-0000-0000-000000000002"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FaultInjector, str]]:
    app = create_app(EmulatorSettings(username="u", password="p"))
    with serve(app) as server:
        yield app, server.url


@pytest.fixture
def wats(served: tuple[FaultInjector, str]) -> Iterator[httpx2.Client]:
    served[0].reset()
    with httpx2.Client(base_url=served[1], auth=("u", "p")) as client:
        yield client


def create(wats: httpx2.Client, sn: str, type_id: str = FIXTURE, **extra: Any) -> dict[str, Any]:
    response = wats.put("/api/Asset", json={"serialNumber": sn, "typeId": type_id, **extra})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_create_assigns_an_id_and_answers_the_asset(wats: httpx2.Client) -> None:
    asset = create(wats, "FX-1", assetName="Fixture 1", location="Line 1")
    assert asset["serialNumber"] == "FX-1"
    assert asset["state"] == 1
    assert asset["runningCount"] == asset["totalCount"] == 0
    assert asset["assetType"]["typeName"] == "Fixture"
    assert asset["assetChildren"] == []
    by_id = wats.get(f"/api/Asset/{asset['assetId']}").json()
    by_serial = wats.get("/api/Asset/fx-1").json()
    assert by_id == by_serial
    assert by_id["location"] == "Line 1"


def test_put_updates_by_id_or_serial(wats: httpx2.Client) -> None:
    asset = create(wats, "FX-1")
    wats.put("/api/Asset", json={"assetId": asset["assetId"], "description": "moved"})
    wats.put("/api/Asset", json={"serialNumber": "FX-1", "location": "Line 3"})
    stored = wats.get("/api/Asset/FX-1").json()
    assert stored["assetId"] == asset["assetId"]
    assert (stored["description"], stored["location"]) == ("moved", "Line 3")
    bad_type = wats.put("/api/Asset", json={"serialNumber": "FX-1", "typeId": "nope"})
    assert bad_type.status_code == 400


def test_create_requires_serial_and_known_type(wats: httpx2.Client) -> None:
    no_type = wats.put("/api/Asset", json={"serialNumber": "X"})
    assert no_type.status_code == 400
    assert "typeId is required" in no_type.json()["Message"]
    unknown = wats.put("/api/Asset", json={"serialNumber": "X", "typeId": "abc"})
    assert unknown.status_code == 400
    assert "is not an asset type" in unknown.json()["Message"]
    assert wats.put("/api/Asset", json={"typeId": FIXTURE}).status_code == 400
    assert wats.put("/api/Asset", json=["x"]).status_code == 400
    assert wats.get("/api/Asset/NOPE").status_code == 404


def test_list_with_odata(wats: httpx2.Client) -> None:
    create(wats, "FX-1", assetName="Alpha")
    create(wats, "FX-2", assetName="Beta", state=3)
    create(wats, "DMM-1", INSTRUMENT, assetName="Meter")
    everything = wats.get("/api/Asset").json()
    assert [a["serialNumber"] for a in everything] == ["FX-1", "FX-2", "DMM-1"]
    params = {"$filter": f"typeId eq '{FIXTURE}' and state eq 3"}
    assert [a["serialNumber"] for a in wats.get("/api/Asset", params=params).json()] == ["FX-2"]
    page = wats.get("/api/Asset", params={"$orderby": "assetName desc", "$top": 1, "$skip": 1})
    assert [a["assetName"] for a in page.json()] == ["Beta"]
    assert wats.get("/api/Asset", params={"$filter": "size eq 1"}).status_code == 400


def test_hierarchy_and_delete(wats: httpx2.Client) -> None:
    parent = create(wats, "RACK-1")
    child = create(wats, "FX-1", parentSerialNumber="RACK-1")
    assert child["parentAssetId"] == parent["assetId"]
    assert [a["serialNumber"] for a in wats.get("/api/Asset/RACK-1").json()["assetChildren"]] == [
        "FX-1"
    ]
    subs = wats.get("/api/Asset/SubAssets", params={"serialNumber": "RACK-1"}).json()
    assert [a["serialNumber"] for a in subs] == ["FX-1"]
    busy = wats.delete("/api/Asset", params={"serialNumber": "RACK-1"})
    assert busy.status_code == 409
    assert wats.delete("/api/Asset", params={"id": child["assetId"]}).status_code == 204
    assert wats.delete("/api/Asset", params={"serialNumber": "RACK-1"}).status_code == 204
    assert wats.get("/api/Asset").json() == []
    assert wats.delete("/api/Asset").status_code == 400


def test_state_counts_and_status(wats: httpx2.Client) -> None:
    create(wats, "FX-1")
    sn = {"serialNumber": "FX-1"}
    assert wats.put("/api/Asset/State", params={**sn, "state": 3}).status_code == 204
    assert wats.get("/api/Asset/FX-1").json()["state"] == 3
    assert wats.put("/api/Asset/State", params={**sn, "state": 9}).status_code == 400
    assert wats.put("/api/Asset/State", params={**sn, "state": "x"}).status_code == 400
    wats.put("/api/Asset/Count", params={**sn, "incrementBy": 5})
    wats.put("/api/Asset/Count", params={**sn, "incrementBy": 2})
    asset = wats.get("/api/Asset/FX-1").json()
    assert (asset["runningCount"], asset["totalCount"]) == (7, 7)
    wats.put("/api/Asset/Count", params={**sn, "totalCount": 10})
    asset = wats.get("/api/Asset/FX-1").json()
    assert (asset["runningCount"], asset["totalCount"]) == (10, 10)
    assert wats.put("/api/Asset/Count", params=sn).status_code == 400
    wats.post("/api/Asset/ResetRunningCount", params={**sn, "comment": "new pins"})
    asset = wats.get("/api/Asset/FX-1").json()
    assert (asset["runningCount"], asset["totalCount"]) == (0, 10)
    wats.put("/api/Asset/SetRunningCount", params={**sn, "runningCount": 8500})
    wats.put("/api/Asset/SetTotalCount", params={**sn, "totalCount": 20000})
    status = wats.get("/api/Asset/Status", params=sn).json()
    assert status["runningCount"] == 8500
    assert status["totalCount"] == 20000
    assert status["alarmState"] == 1  # past the warning threshold (80 % of 10 000)
    assert status["message"] == "Warning"
    wats.put("/api/Asset/SetRunningCount", params={**sn, "runningCount": 10000})
    assert wats.get("/api/Asset/Status", params=sn).json()["message"] == "Alarm"
    assert (
        wats.put("/api/Asset/SetRunningCount", params={**sn, "runningCount": -1}).status_code == 400
    )
    assert wats.put("/api/Asset/SetTotalCount", params=sn).status_code == 400


def test_calibration_and_maintenance_schedule_the_next(wats: httpx2.Client) -> None:
    create(wats, "FX-1")
    sn = {"serialNumber": "FX-1"}
    wats.put("/api/Asset/Count", params={**sn, "incrementBy": 4})
    when = "2020-01-10T12:00:00+00:00"
    assert (
        wats.post(
            "/api/Asset/Calibration", params={**sn, "dateTime": when, "comment": "ok"}
        ).status_code
        == 204
    )
    asset = wats.get("/api/Asset/FX-1").json()
    assert asset["lastCalibrationDate"] == "2020-01-10T12:00:00Z"
    assert asset["nextCalibrationDate"] == "2021-01-09T12:00:00Z"  # 365-day interval
    assert asset["runningCount"] == 0
    wats.post("/api/Asset/Maintenance", params={**sn, "dateTime": "2020-01-10T12:00:00"})
    asset = wats.get("/api/Asset/FX-1").json()
    assert asset["nextMaintenanceDate"] == "2020-04-09T12:00:00Z"  # 90 days
    # Calibration overdue: the next date lies in the past, so the status is an alarm.
    assert wats.get("/api/Asset/Status", params=sn).json()["message"] == "Alarm"
    now = datetime.now(UTC)
    wats.post("/api/Asset/Calibration", params=sn)
    due = datetime.fromisoformat(wats.get("/api/Asset/FX-1").json()["nextCalibrationDate"])
    assert timedelta(days=364) < due - now < timedelta(days=366)
    bad = wats.post("/api/Asset/Calibration", params={**sn, "dateTime": "soon"})
    assert bad.status_code == 400


def test_types_and_type_upsert(wats: httpx2.Client) -> None:
    names = [t["typeName"] for t in wats.get("/api/Asset/Types").json()]
    assert names == ["Fixture", "Instrument"]
    created = wats.put("/api/Asset/Types", json={"typeName": "Probe", "calibrationInterval": 30})
    probe = created.json()
    assert probe["typeName"] == "Probe"
    renamed = wats.put("/api/Asset/Types", json={"typeId": probe["typeId"], "typeName": "Probe2"})
    assert renamed.json()["typeId"] == probe["typeId"]
    by_name = wats.get("/api/Asset/Types", params={"$filter": "typeName eq 'Probe2'"}).json()
    assert [t["typeId"] for t in by_name] == [probe["typeId"]]
    asset = create(wats, "PR-1", probe["typeId"])
    assert asset["assetType"]["calibrationInterval"] == 30
    assert wats.put("/api/Asset/Types", json={"calibrationInterval": 1}).status_code == 400
    assert wats.put("/api/Asset/Types", json=[]).status_code == 400
    assert wats.get("/api/Asset/Types", params={"$filter": "x eq 1"}).status_code == 400


def test_log_and_messages(wats: httpx2.Client) -> None:
    asset = create(wats, "FX-1")
    wats.put("/api/Asset/State", params={"id": asset["assetId"], "state": 2})
    message = {"assetId": asset["assetId"], "comment": "pins replaced", "user": "tech"}
    assert wats.post("/api/Asset/Message", json=message).status_code == 204
    log = wats.get("/api/Asset/Log").json()
    assert [entry["type"] for entry in log] == [1, 6, 0]  # register, state change, message
    assert log[2]["comment"] == "pins replaced"
    assert log[2]["user"] == "tech"
    messages = wats.get("/api/Asset/Log", params={"$filter": "type eq 0"}).json()
    assert [m["logId"] for m in messages] == [3]
    assert wats.post("/api/Asset/Message", json={"assetId": asset["assetId"]}).status_code == 400
    assert wats.post("/api/Asset/Message", json="hi").status_code == 400
    assert wats.get("/api/Asset/Log", params={"$top": "x"}).status_code == 400

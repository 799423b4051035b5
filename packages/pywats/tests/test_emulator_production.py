"""The emulator's Product and Production routes over a real socket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from corekit.testing import FaultInjector, serve
from pywats.emulator import EmulatorSettings, create_app


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


def report(sn: str, pn: str, code: int, result: str, start: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "T",
        "pn": pn,
        "sn": sn,
        "rev": "A",
        "processCode": code,
        "result": result,
        "machineName": "ST1",
        "location": "Lab",
        "purpose": "Dev",
        "start": start,
        **extra,
    }


# -- products ----------------------------------------------------------------------------------


def test_put_product_upserts_and_returns_the_saved_product(wats: httpx2.Client) -> None:
    created = wats.put("/api/Product", json={"partNumber": "PN-1", "name": "Board"})
    assert created.status_code == 200
    product = created.json()
    uuid.UUID(product["productId"])
    assert product["nonSerial"] is False
    assert product["state"] == 1
    assert product["revisions"] == []
    updated = wats.put("/api/Product", json={"partNumber": "pn-1", "description": "v2"}).json()
    assert updated["productId"] == product["productId"]
    assert updated["name"] == "Board"
    assert updated["description"] == "v2"
    assert wats.get("/api/Product/PN-1").json() == updated


def test_product_with_revisions_and_revision_routes(wats: httpx2.Client) -> None:
    body = {
        "partNumber": "PN-1",
        "revisions": [{"revision": "A"}],
        "tags": [{"key": "k", "value": "v"}],
    }
    product = wats.put("/api/Product", json=body).json()
    (rev_a,) = product["revisions"]
    assert rev_a["partNumber"] == "PN-1"
    assert rev_a["productId"] == product["productId"]
    rev_b = wats.put(
        "/api/Product/Revision", json={"partNumber": "PN-1", "revision": "B", "name": "b"}
    )
    assert rev_b.json()["name"] == "b"
    again = wats.put(
        "/api/Product/Revision", json={"partNumber": "PN-1", "revision": "b", "name": "B2"}
    )
    assert again.json()["productRevisionId"] == rev_b.json()["productRevisionId"]
    assert wats.get("/api/Product/PN-1/B").json()["name"] == "B2"
    bulk = wats.put(
        "/api/Product/Revisions",
        json=[{"partNumber": "PN-1", "revision": "C"}, {"partNumber": "PN-1", "revision": "D"}],
    ).json()
    assert [r["revision"] for r in bulk] == ["C", "D"]
    assert [r["revision"] for r in wats.get("/api/Product/PN-1").json()["revisions"]] == [
        "A", "B", "C", "D",
    ]  # fmt: skip
    assert wats.delete("/api/Product/PN-1/C").status_code == 204
    assert wats.get("/api/Product/PN-1/C").status_code == 404
    merged = wats.put("/api/Product", json={"partNumber": "PN-1", "revisions": [{"revision": "E"}]})
    assert len(merged.json()["revisions"]) == 4


def test_product_errors(wats: httpx2.Client) -> None:
    assert wats.get("/api/Product/NOPE").status_code == 404
    assert wats.get("/api/Product/NOPE/A").status_code == 404
    assert wats.delete("/api/Product/NOPE").status_code == 404
    missing_pn = wats.put("/api/Product", json={"name": "x"})
    assert missing_pn.status_code == 400
    assert "partNumber is required" in missing_pn.json()["Message"]
    assert wats.put("/api/Product", json=[1]).status_code == 400
    assert wats.put("/api/Product", json={"partNumber": "P", "tags": "x"}).status_code == 400
    assert wats.put("/api/Product", json={"partNumber": "P", "revisions": {}}).status_code == 400
    orphan = wats.put("/api/Product/Revision", json={"partNumber": "NOPE", "revision": "A"})
    assert orphan.status_code == 404
    assert "save the product before its revisions" in orphan.json()["Message"]
    assert wats.put("/api/Product/Revision", json="A").status_code == 400
    assert wats.put("/api/Product/Revision", json={"partNumber": "P"}).status_code == 400
    assert wats.put("/api/Product/Products", json={}).status_code == 400


def test_bulk_products_query_and_delete(wats: httpx2.Client) -> None:
    saved = wats.put(
        "/api/Product/Products",
        json=[
            {"partNumber": "PN-1", "name": "Board", "productCategoryName": "PCBA"},
            {"partNumber": "PN-2", "name": "Box", "nonSerial": True},
            {"partNumber": "XYZ", "name": "Cable", "state": 0},
        ],
    ).json()
    assert [p["partNumber"] for p in saved] == ["PN-1", "PN-2", "XYZ"]
    query = "/api/Product/Query"
    assert len(wats.get(query).json()) == 3
    found = wats.get(query, params={"$filter": "startswith(partNumber,'PN') and nonSerial eq true"})
    assert [p["partNumber"] for p in found.json()] == ["PN-2"]
    ordered = wats.get(query, params={"$orderby": "name desc", "$top": "2"}).json()
    assert [p["name"] for p in ordered] == ["Cable", "Box"]
    assert [p["partNumber"] for p in wats.get(query, params={"$filter": "state eq 0"}).json()] == [
        "XYZ"
    ]
    assert wats.get(query, params={"$filter": "weight gt 1"}).status_code == 400
    assert wats.delete("/api/Product/PN-2").status_code == 204
    assert wats.get("/api/Product/PN-2").status_code == 404


# -- units -------------------------------------------------------------------------------------


def test_units_put_get_query(wats: httpx2.Client) -> None:
    units = [
        {"serialNumber": "SN-1", "partNumber": "PN-1", "revision": "A",
         "serialDate": "2026-01-01T00:00:00Z", "batchNumber": "B1"},
        {"serialNumber": "SN-2", "partNumber": "PN-1", "revision": "A",
         "serialDate": "2026-02-01T00:00:00Z"},
    ]  # fmt: skip
    saved = wats.put("/api/Production/Units", json=units)
    assert saved.status_code == 200
    assert [u["serialNumber"] for u in saved.json()] == ["SN-1", "SN-2"]
    unit = wats.get("/api/Production/Unit/sn-1/PN-1").json()
    assert unit["batchNumber"] == "B1"
    assert unit["serialDate"] == "2026-01-01T00:00:00Z"
    query = "/api/Production/Unit/Query"
    late = wats.get(query, params={"$filter": "serialDate gt 2026-01-15T00:00:00Z"}).json()
    assert [u["serialNumber"] for u in late] == ["SN-2"]
    assert wats.get(query, params={"$filter": "flavour eq 'x'"}).status_code == 400
    assert wats.get("/api/Production/Unit/SN-9/PN-1").status_code == 404
    assert wats.put("/api/Production/Units", json={}).status_code == 400
    bad_date = wats.put("/api/Production/Units", json=[{**units[0], "serialDate": 5}])
    assert bad_date.status_code == 400


def test_single_unit_create_update_delete(wats: httpx2.Client) -> None:
    unit = {"serialNumber": "SN-1", "partNumber": "PN-1", "revision": "A"}
    assert wats.post("/api/Production/Unit", json=unit).status_code == 200
    duplicate = wats.post("/api/Production/Unit", json=unit)
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["Message"]
    updated = wats.put("/api/Production/Unit", json={**unit, "currentLocation": "Line 2"})
    assert updated.json()["currentLocation"] == "Line 2"
    assert updated.json()["revision"] == "A"
    params = {"serialNumber": "SN-1", "partNumber": "PN-1"}
    assert wats.delete("/api/Production/Unit", params=params).status_code == 204
    assert wats.delete("/api/Production/Unit", params=params).status_code == 404
    assert wats.delete("/api/Production/Unit", params={"serialNumber": "SN-1"}).status_code == 400
    assert wats.post("/api/Production/Unit", json=[unit]).status_code == 400
    assert wats.post("/api/Production/Unit", json={"serialNumber": "x"}).status_code == 400


def _unit(wats: httpx2.Client, sn: str, pn: str = "PN-1") -> None:
    wats.post("/api/Production/Unit", json={"serialNumber": sn, "partNumber": pn, "revision": "A"})


def test_phase_process_and_tags(wats: httpx2.Client) -> None:
    _unit(wats, "SN-1")
    key = {"serialNumber": "SN-1", "partNumber": "PN-1"}
    phases = wats.get("/api/Production/Phases").json()
    assert {"UnitPhaseId": 4, "Code": "Finalized", "Name": "Finalized"}.items() <= phases[2].items()
    assert (
        wats.put("/api/Production/SetUnitPhase", params={**key, "phase": "finalized"}).status_code
        == 204
    )
    assert wats.get("/api/Production/Unit/SN-1/PN-1").json()["unitPhaseId"] == 4
    wats.put("/api/Production/SetUnitPhase", params={**key, "phase": "8"})
    assert wats.get("/api/Production/Unit/SN-1/PN-1").json()["unitPhase"] == "Scrapped"
    bad = wats.put("/api/Production/SetUnitPhase", params={**key, "phase": "Lost"})
    assert bad.status_code == 400
    assert "is not a unit phase" in bad.json()["Message"]
    wats.put("/api/Production/SetUnitProcess", params={**key, "processCode": "100"})
    assert wats.get("/api/Production/Unit/SN-1/PN-1").json()["processCode"] == 100
    assert (
        wats.put("/api/Production/SetUnitProcess", params={**key, "processCode": "x"}).status_code
        == 400
    )
    wats.put("/api/Production/UnitTag", params={**key, "key": "color", "value": "red"})
    wats.put("/api/Production/UnitTag", params={**key, "key": "color", "value": "blue"})
    assert wats.get("/api/Production/Unit/SN-1/PN-1").json()["tags"] == [
        {"key": "color", "value": "blue"}
    ]
    assert wats.put("/api/Production/UnitTag", params=key).status_code == 400
    missing = {"serialNumber": "SN-9", "partNumber": "PN-1", "phase": "1"}
    assert wats.put("/api/Production/SetUnitPhase", params=missing).status_code == 404


def test_child_units(wats: httpx2.Client) -> None:
    _unit(wats, "BOX-1", "BOX")
    _unit(wats, "PCB-1", "PCB")
    _unit(wats, "BOX-2", "BOX")
    link = {
        "parentSerialNumber": "BOX-1",
        "parentPartNumber": "BOX",
        "childSerialNumber": "PCB-1",
        "childPartNumber": "PCB",
    }
    assert wats.post("/api/Production/AddChildUnit", params=link).status_code == 204
    parent = wats.get("/api/Production/Unit/BOX-1/BOX").json()
    assert parent["subUnits"] == [{"serialNumber": "PCB-1", "partNumber": "PCB", "revision": "A"}]
    assert wats.get("/api/Production/Unit/PCB-1/PCB").json()["parentSerialNumber"] == "BOX-1"
    taken = wats.post(
        "/api/Production/AddChildUnit", params={**link, "parentSerialNumber": "BOX-2"}
    )
    assert taken.status_code == 409
    check = wats.get(
        "/api/Production/CheckChildUnits", params={"serialNumber": "BOX-1", "partNumber": "BOX"}
    )
    assert check.json()["childUnits"][0]["serialNumber"] == "PCB-1"
    busy = wats.delete(
        "/api/Production/Unit", params={"serialNumber": "BOX-1", "partNumber": "BOX"}
    )
    assert busy.status_code == 409
    query = "/api/Production/Unit/Query"
    found = wats.get(query, params={"$filter": "subUnits/any(s: s/partNumber eq 'PCB')"}).json()
    assert [u["serialNumber"] for u in found] == ["BOX-1"]
    assert wats.post("/api/Production/RemoveChildUnit", params=link).status_code == 204
    assert wats.post("/api/Production/RemoveChildUnit", params=link).status_code == 404
    assert wats.get("/api/Production/Unit/PCB-1/PCB").json()["parentSerialNumber"] is None
    assert (
        wats.post("/api/Production/AddChildUnit", params={"parentSerialNumber": "x"}).status_code
        == 400
    )


def test_unit_verification_grades_from_stored_reports(wats: httpx2.Client) -> None:
    first = report("SN-1", "PN-1", 50, "F", "2026-01-01T08:00:00Z")
    reports = [
        first,
        report("SN-1", "PN-1", 50, "P", "2026-01-01T09:00:00Z"),
        report("SN-1", "PN-1", 100, "P", "2026-01-01T10:00:00Z"),
        report("SN-2", "PN-1", 10, "P", "2026-01-01T10:00:00Z"),
    ]
    for r in reports:
        wats.post("/api/Report/WSJF", json=r).raise_for_status()
    repair = {**report("SN-1", "PN-1", 500, "P", "2026-01-01T08:30:00Z"), "type": "R"}
    repair["uur"] = {"refUUT": first["id"]}
    wats.post("/api/Report/WSJF", json=repair).raise_for_status()
    params = {"serialNumber": "SN-1", "partNumber": "PN-1"}
    grade = wats.get("/api/Production/UnitVerification", params=params).json()
    assert grade["status"] == "Passed"
    assert grade["grade"] == "B"
    assert grade["allProcessesPassedLastRun"] is True
    assert grade["allProcessesPassedFirstRun"] is False
    assert grade["allProcessesPassedAnyRun"] is True
    assert grade["allProcessesExecutedInCorrectOrder"] is True
    assert grade["noRepairs"] is False
    pcba, final = grade["results"]
    assert pcba == {
        "processCode": 50,
        "processName": "PCBA Test",
        "processIndex": 1,
        "status": "Passed",
        "startUtc": "2026-01-01T09:00:00Z",
        "stationName": "ST1",
        "totalCount": 2,
        "nonPassedCount": 1,
        "repairCount": 1,
    }
    assert final["processCode"] == 100
    clean = wats.get(
        "/api/Production/UnitVerification", params={"serialNumber": "SN-2", "partNumber": "PN-1"}
    )
    assert clean.json()["grade"] == "A"
    other_rev = wats.get(
        "/api/Production/UnitVerification", params={**params, "revision": "Z"}
    ).json()
    assert other_rev["status"] == "Untested"
    assert other_rev["grade"] is None
    assert (
        wats.get("/api/Production/UnitVerification", params={"serialNumber": "SN-1"}).status_code
        == 400
    )


def test_unit_verification_fails_on_a_failed_last_run(wats: httpx2.Client) -> None:
    wats.post("/api/Report/WSJF", json=report("SN-1", "PN-1", 100, "P", "2026-01-01T08:00:00Z"))
    wats.post("/api/Report/WSJF", json=report("SN-1", "PN-1", 50, "F", "2026-01-01T09:00:00Z"))
    grade = wats.get(
        "/api/Production/UnitVerification", params={"serialNumber": "SN-1", "partNumber": "PN-1"}
    ).json()
    assert grade["status"] == "Failed"
    assert grade["grade"] == "F"
    assert grade["allProcessesExecutedInCorrectOrder"] is False


# -- serial numbers -----------------------------------------------------------------------------


def test_serial_number_types_and_take(wats: httpx2.Client) -> None:
    types = wats.get("/api/Production/SerialNumbers/Types").json()
    assert types[0] == {
        "name": "Default",
        "description": "Sequential serial numbers",
        "format": "SN######",
        "regEx": "^SN\\d{6}$",
    }
    take = "/api/Production/SerialNumbers/Take"
    first = wats.post(take, params={"serialNumberType": "Default", "quantity": 3}).json()
    assert first == ["SN000001", "SN000002", "SN000003"]
    second = wats.post(
        take, params={"serialNumberType": "default", "refSN": "X", "stationName": "S"}
    )
    assert second.json() == ["SN000004"]
    missing = wats.post(take, params={"serialNumberType": "IMEI"})
    assert missing.status_code == 404
    assert "known: Default, MAC" in missing.json()["Message"]
    assert wats.post(take, params={"serialNumberType": "Default", "quantity": 0}).status_code == 400


def test_taken_numbers_are_not_reused_across_clients(served: tuple[FaultInjector, str]) -> None:
    served[0].reset()
    take = f"{served[1]}/api/Production/SerialNumbers/Take"
    seen: list[str] = []
    for _ in range(3):
        with httpx2.Client(auth=("u", "p")) as client:
            seen += client.post(take, params={"serialNumberType": "MAC", "quantity": 2}).json()
    assert len(set(seen)) == 6

"""The emulator's App and Report routes over a real socket: auth, routing, WSJF, queries."""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI

from corekit.testing import REDACTED, FaultInjector, serve
from pywats.emulator import EmulatorSettings, create_app, emulator_state


def uut(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": "T",
        "pn": "PN-1",
        "sn": "SN-1",
        "rev": "A",
        "processCode": 10,
        "result": "P",
        "machineName": "ST1",
        "location": "Lab",
        "purpose": "Dev",
        "start": "2026-11-21T22:31:12.043999+01:00",
        "uut": {"user": "op", "fixtureId": "Fixture", "execTime": 1.5, "batchSN": "B1"},
        "miscInfos": [{"description": "Fw", "text": "1.0"}],
        "subUnits": [{"pn": "SPN", "rev": "B", "sn": "SSN", "partType": "PCB"}],
        "assets": [{"sn": "FX-1", "usageCount": 3}],
        "root": {
            "stepType": "SequenceCall",
            "name": "MainSequence Callback",
            "group": "M",
            "status": "P",
            "seqCall": {"path": "C:/Seq.seq", "name": "TestSequence.seq", "version": "1.0.0"},
            "steps": [
                {
                    "stepType": "ET_NLT",
                    "name": "V",
                    "group": "M",
                    "status": "P",
                    "numericMeas": [
                        {"status": "P", "value": 5.0, "unit": "V", "compOp": "GELE",
                         "lowLimit": 4.5, "highLimit": 5.5}
                    ],
                },
                {"stepType": "ET_PFT", "name": "Ok", "status": "P",
                 "booleanMeas": [{"status": "P", "value": True}]},
                {"stepType": "ET_SVT", "name": "Ver", "status": "P",
                 "stringMeas": [{"status": "P", "value": "v1", "compOp": "IGNORECASE",
                                 "limit": "V1"}]},
            ],
        },
    }  # fmt: skip
    report.update(overrides)
    return report


def uur(ref: str, **overrides: Any) -> dict[str, Any]:
    report = uut(type="R", processCode=500, result="P", **overrides)
    del report["uut"]
    report["uur"] = {"user": "tech", "refUUT": ref, "processCode": 10}
    report.pop("root")
    return report


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FaultInjector, str]]:
    settings = EmulatorSettings(
        username="u", password="p", users={"other": "o"}, read_only_users={"viewer": "v"}
    )
    app = create_app(settings)
    with serve(app) as server:
        yield app, server.url


@pytest.fixture
def emulator(served: tuple[FaultInjector, str]) -> FaultInjector:
    served[0].reset()
    return served[0]


@pytest.fixture
def wats(emulator: FaultInjector, served: tuple[FaultInjector, str]) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=served[1], auth=("u", "p")) as client:
        yield client


def submit(wats: httpx2.Client, report: dict[str, Any]) -> httpx2.Response:
    return wats.post("/api/Report/WSJF", json=report)


# -- auth and routing ------------------------------------------------------------------------


def test_version_is_a_json_string(wats: httpx2.Client) -> None:
    response = wats.get("/api/App/Version")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == "2026.3.0"


@pytest.mark.parametrize(
    "path", ["/api/App/Version", "/api/app/version", "/API/APP/VERSION/", "/api/App/Version/"]
)
def test_routes_ignore_case_and_a_trailing_slash(wats: httpx2.Client, path: str) -> None:
    assert wats.get(path).json() == "2026.3.0"


def test_path_parameters_keep_their_case(wats: httpx2.Client) -> None:
    report = uut()
    submit(wats, report).raise_for_status()
    assert wats.get(f"/API/report/WSJF/{report['id'].upper()}").json()["sn"] == "SN-1"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer abc",
        "Basic " + base64.b64encode(b"u:wrong").decode(),
        "Basic " + base64.b64encode(b"nobody:p").decode(),
        "Basic !!!not-base64",
        "Basic",
    ],
)
def test_bad_credentials_answer_401_with_a_wats_message(
    served: tuple[FaultInjector, str], emulator: FaultInjector, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx2.get(f"{served[1]}/api/App/Version", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["Message"] == body["message"] == "Authorization has been denied for this request."
    assert response.headers["www-authenticate"].startswith("Basic")


def test_configured_users_are_accepted(served: tuple[FaultInjector, str]) -> None:
    for user, password in (("u", "p"), ("other", "o"), ("viewer", "v")):
        assert httpx2.get(f"{served[1]}/api/App/Version", auth=(user, password)).status_code == 200


def test_read_only_user_may_read_but_not_write(served: tuple[FaultInjector, str]) -> None:
    url = served[1]
    assert httpx2.get(f"{url}/api/App/Processes", auth=("viewer", "v")).status_code == 200
    response = httpx2.post(f"{url}/api/Report/WSJF", json=uut(), auth=("viewer", "v"))
    assert response.status_code == 403
    assert "read-only" in response.json()["Message"]


def test_accept_any_token_mode_still_needs_a_basic_header() -> None:
    with serve(create_app(EmulatorSettings(accept_any_token=True))) as server:
        ok = httpx2.get(f"{server.url}/api/App/Version", headers={"Authorization": "Basic xyz"})
        missing = httpx2.get(f"{server.url}/api/App/Version")
    assert ok.status_code == 200
    assert missing.status_code == 401


def test_health_needs_no_credentials(served: tuple[FaultInjector, str]) -> None:
    assert httpx2.get(f"{served[1]}/api/health").status_code == 200


def test_unknown_route_and_method_answer_wats_errors(wats: httpx2.Client) -> None:
    missing = wats.get("/api/Nothing/Here")
    assert missing.status_code == 404
    assert "/api/Nothing/Here" in missing.json()["Message"]
    wrong = wats.delete("/api/App/Version")
    assert wrong.status_code == 405
    assert wrong.json()["message"].startswith("The requested resource does not support")


def test_referer_is_required_on_internal_routes_when_configured() -> None:
    app = create_app(EmulatorSettings(require_referer=True))
    with serve(app) as server, httpx2.Client(base_url=server.url, auth=("wats", "wats")) as c:
        without = c.get("/api/internal/Client/ServerInfo")
        with_referer = c.get("/api/internal/Client/ServerInfo", headers={"Referer": server.url})
    assert without.status_code == 400
    assert "Referer" in without.json()["Message"]
    assert with_referer.json() == {
        "Name": "WATS emulator",
        "SiteCode": "EMU",
        "Version": "2026.3.0",
    }


# -- processes ----------------------------------------------------------------------------------


def test_processes_list_active_operations_of_every_kind(wats: httpx2.Client) -> None:
    processes = wats.get("/api/App/Processes").json()
    codes = {p["code"] for p in processes}
    assert {10, 50, 100, 500, 1000} <= codes
    assert 90 not in codes  # inactive
    repair = next(p for p in processes if p["code"] == 500)
    assert repair["isRepairOperation"] is True
    assert repair["isTestOperation"] is False
    assert set(repair) == {
        "code", "name", "description", "isTestOperation", "isRepairOperation",
        "isWipOperation", "processIndex", "state",
    }  # fmt: skip


def test_process_flags_select_kinds(wats: httpx2.Client) -> None:
    params = {
        "includeTestOperations": "false",
        "includeWipOperations": "false",
        "includeInactiveProcesses": "true",
    }
    assert [p["code"] for p in wats.get("/api/App/Processes", params=params).json()] == [500]
    everything = wats.get("/api/App/Processes", params={"includeInactiveProcesses": "true"})
    assert 90 in {p["code"] for p in everything.json()}
    bad = wats.get("/api/App/Processes", params={"includeTestOperations": "maybe"})
    assert bad.status_code == 400


# -- submit and get --------------------------------------------------------------------------


def test_submit_answers_the_id_in_a_bare_array(wats: httpx2.Client) -> None:
    report = uut()
    response = submit(wats, report)
    assert response.status_code == 200
    assert response.json() == [{"ID": report["id"]}]


def test_get_returns_the_report_with_output_only_fields(wats: httpx2.Client) -> None:
    report = uut()
    submit(wats, report)
    stored = wats.get(f"/api/Report/Wsjf/{report['id']}", params={"detailLevel": 7}).json()
    extra = {k: stored.pop(k) for k in ("productName", "processName", "origin")}
    assert stored == report
    assert extra == {"productName": "PN-1", "processName": "SW Debug", "origin": "ST1"}


def test_same_id_overwrites_and_counts_receipts(wats: httpx2.Client) -> None:
    report = uut()
    submit(wats, report)
    submit(wats, {**report, "result": "F"})
    assert wats.get(f"/api/Report/Wsjf/{report['id']}").json()["result"] == "F"
    headers = wats.get("/api/Report/Query/Header", params={"reportType": "U"}).json()
    assert len(headers) == 1
    assert headers[0]["receiveCount"] == 2
    assert headers[0]["result"] == "F"


def test_missing_report_is_404_and_a_bad_id_400(wats: httpx2.Client) -> None:
    missing = wats.get(f"/api/Report/Wsjf/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert "was not found" in missing.json()["Message"]
    assert wats.get("/api/Report/Wsjf/not-a-uuid").status_code == 400


def test_repairs_keep_their_uur_key(wats: httpx2.Client) -> None:
    tested = uut(result="F")
    submit(wats, tested)
    repair = uur(tested["id"])
    assert submit(wats, repair).status_code == 200
    stored = wats.get(f"/api/Report/Wsjf/{repair['id']}").json()
    assert stored["uur"]["refUUT"] == tested["id"]
    assert stored["processName"] == "Repair"


def test_non_finite_values_arrive_as_strings(wats: httpx2.Client) -> None:
    report = uut()
    meas = report["root"]["steps"][0]["numericMeas"][0]
    meas.update(value="NaN", lowLimit="-Infinity", highLimit="Infinity", compOp="GELE")
    assert submit(wats, report).status_code == 200
    stored = wats.get(f"/api/Report/Wsjf/{report['id']}").json()
    assert stored["root"]["steps"][0]["numericMeas"][0]["value"] == "NaN"


def test_bare_nan_is_not_json(wats: httpx2.Client) -> None:
    body = httpx2.Request("POST", "/", json=uut()).content.replace(b'"value": 5.0', b'"value": NaN')
    body = body.replace(b'"value":5.0', b'"value":NaN')
    response = wats.post(
        "/api/Report/WSJF", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert '"NaN"' in response.json()["Message"]


def test_a_garbled_body_is_400(wats: httpx2.Client) -> None:
    response = wats.post("/api/Report/WSJF", content=b"{not json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["Message"]


def _set(report: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    report = copy.deepcopy(report)
    target: Any = report
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if value is _DELETE:
        del target[last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return report


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("id", "nope", "id: 'nope' is not a UUID"),
        ("id", 5, "id: expected a UUID string"),
        ("type", "X", "type: expected 'T' (UUT) or 'R' (UUR)"),
        ("pn", "", "pn: expected a non-empty string"),
        ("sn", _DELETE, "sn: expected a non-empty string"),
        ("machineName", "x" * 101, "machineName: 101 characters; at most 100"),
        ("processCode", "10", "processCode: expected an integer"),
        ("processCode", True, "processCode: expected an integer"),
        ("result", "X", "result: expected one of P, F, D, E, T"),
        ("start", "2026-11-21T22:31:12", "start: '2026-11-21T22:31:12' has no UTC offset"),
        ("start", "yesterday", "start: 'yesterday' is not an ISO-8601 timestamp"),
        ("start", 5, "start: expected an ISO-8601 timestamp string"),
        ("uut", [], "uut: expected an object"),
        ("miscInfos", {}, "miscInfos: expected an array"),
        ("subUnits", [1], "subUnits[0]: expected an object"),
        ("root", [], "root: expected a step object"),
        ("root.stepType", "", "root.stepType: expected a step type"),
        ("root.status", "Q", "root.status: expected one of D, E, F, P, S, T"),
        ("root.group", "X", "root.group: expected one of C, M, S"),
        ("root.name", "n" * 101, "root.name: 101 characters"),
        ("root.steps", {}, "root.steps: expected an array of steps"),
        ("root.steps.0.numericMeas", {"value": 1}, "root.steps[0].numericMeas: expected an array"),
        ("root.steps.0.numericMeas.0", 5, "root.steps[0].numericMeas[0]: expected a measurement"),
        ("root.steps.0.numericMeas.0.compOp", "BETWEEN", "'BETWEEN' is not a WATS comparison"),
        ("root.steps.0.numericMeas.0.compOp", "IGNORECASE", "IGNORECASE compares strings"),
        ("root.steps.0.numericMeas.0.lowLimit", _DELETE, "lowLimit: required by the comparison"),
        ("root.steps.0.numericMeas.0.highLimit", None, "highLimit: required by the comparison"),
        ("root.steps.0.numericMeas.0.value", "five", "value: expected a number or one of 'NaN'"),
        ("root.steps.0.numericMeas.0.value", True, "value: expected a number, got True"),
        ("root.steps.0.numericMeas.0.status", "Z", "numericMeas[0].status: expected one of"),
        ("root.steps.0.stepType", "ET_PFT", "a ET_PFT step carries booleanMeas, not numericMeas"),
        ("root.steps.1.booleanMeas.0.value", "yes", "booleanMeas[0].value: expected true or false"),
        ("root.steps.2.stringMeas.0.value", 1, "stringMeas[0].value: expected a string"),
        ("root.steps.2.stringMeas.0.limit", _DELETE, "stringMeas[0].limit: required by the"),
        # JSON arrays and objects where a letter belongs are not hashable: a 400, not a crash.
        ("result", ["P"], "result: expected one of P, F, D, E, T; got ['P']"),
        ("root.status", {"P": 1}, "root.status: expected one of"),
        ("root.group", ["M"], "root.group: expected one of C, M, S"),
        ("root.steps.0.numericMeas.0.status", ["P"], "numericMeas[0].status: expected one of"),
        ("root.steps.0.numericMeas.0.compOp", ["GELE"], "is not a WATS comparison operator"),
        ("root.steps.0.numericMeas.0.lowLimit", ["NaN"], "lowLimit: expected a number or one"),
        ("root.steps.0.numericMeas.0.highLimit", "nan", "highLimit: expected a number or one"),
        ("root.steps.0.numericMeas.0.lowLimit", "NaN", None),
        ("root.steps.0.numericMeas.0.value", "-Infinity", None),
    ],
)
def test_invalid_reports_are_rejected_with_the_path(
    wats: httpx2.Client, path: str, value: Any, message: str | None
) -> None:
    response = submit(wats, _set(uut(), path, value))
    if message is None:  # the accepted spellings of NaN and infinities, for contrast
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert message in response.json()["Message"]
    assert wats.get("/api/Report/Query/Header").json() == []


def test_deeply_nested_steps_are_rejected(wats: httpx2.Client) -> None:
    report = uut()
    step = report["root"]
    for _ in range(70):
        child = {"stepType": "SequenceCall", "status": "P", "steps": []}
        step["steps"] = [child]
        step = child
    response = submit(wats, report)
    assert response.status_code == 400
    assert "nest deeper than 64" in response.json()["Message"]


def test_unknown_step_types_are_kept_as_generic(wats: httpx2.Client) -> None:
    report = uut()
    report["root"]["steps"].append({"stepType": "Flow_If", "status": "D", "numericMeas": []})
    assert submit(wats, report).status_code == 200


def test_a_sub_unit_may_carry_its_own_step_tree(wats: httpx2.Client) -> None:
    report = uut()
    report["subUnits"][0]["root"] = {"stepType": "SequenceCall", "status": "X"}
    response = submit(wats, report)
    assert response.status_code == 400
    assert "subUnits[0].root.status" in response.json()["Message"]


def test_strict_mode_rejects_unknown_top_level_keys() -> None:
    report = {**uut(), "stationName": "ST1"}
    with serve(create_app(EmulatorSettings(strict=True))) as server:
        strict = httpx2.post(f"{server.url}/api/Report/WSJF", json=report, auth=("wats", "wats"))
    assert strict.status_code == 400
    assert "stationName: not a WSJF field" in strict.json()["Message"]


def test_lenient_mode_ignores_unknown_keys(wats: httpx2.Client) -> None:
    assert submit(wats, {**uut(), "stationName": "ST1"}).status_code == 200


def test_known_process_can_be_required() -> None:
    app = create_app(EmulatorSettings(require_known_process=True))
    with serve(app) as server:
        response = httpx2.post(
            f"{server.url}/api/Report/WSJF", json=uut(processCode=77), auth=("wats", "wats")
        )
    assert response.status_code == 400
    assert "77 is not a known process" in response.json()["Message"]


def test_a_report_of_a_non_object_is_rejected(wats: httpx2.Client) -> None:
    response = wats.post("/api/Report/WSJF", json=[uut()])
    assert response.status_code == 400
    assert "expected a WSJF report object" in response.json()["Message"]


def test_submit_creates_the_product_revision_and_unit(wats: httpx2.Client) -> None:
    submit(wats, uut())
    submit(wats, uut(rev="B"))
    product = wats.get("/api/Product/PN-1").json()
    assert [r["revision"] for r in product["revisions"]] == ["A", "B"]
    unit = wats.get("/api/Production/Unit/SN-1/PN-1").json()
    assert unit["revision"] == "A"


def test_auto_create_can_be_switched_off() -> None:
    with serve(create_app(EmulatorSettings(auto_create=False))) as server:
        auth = ("wats", "wats")
        httpx2.post(f"{server.url}/api/Report/WSJF", json=uut(), auth=auth).raise_for_status()
        assert httpx2.get(f"{server.url}/api/Product/PN-1", auth=auth).status_code == 404


# -- header queries ---------------------------------------------------------------------------


def test_header_is_derived_from_the_report(wats: httpx2.Client) -> None:
    report = uut()
    submit(wats, report)
    (header,) = wats.get(
        "/api/Report/Query/Header",
        params={"reportType": "U", "$expand": "subUnits,miscInfo,assets"},
    ).json()
    assert header["uuid"] == report["id"]
    assert header["serialNumber"] == "SN-1"
    assert header["partNumber"] == "PN-1"
    assert header["revision"] == "A"
    assert header["reportType"] == "T"
    assert header["stationName"] == "ST1"
    assert header["processCode"] == 10
    assert header["processName"] == "SW Debug"
    assert header["startUtc"] == "2026-11-21T21:31:12.043999Z"
    assert header["operator"] == "op"
    assert header["executionTime"] == 1.5
    assert header["batchNumber"] == "B1"
    assert header["fixtureId"] == "Fixture"
    assert header["reportSize"] > 100
    assert header["subUnits"] == [
        {"serialNumber": "SSN", "partNumber": "SPN", "revision": "B", "partType": "PCB"}
    ]
    assert header["miscInfo"] == [{"description": "Fw", "value": "1.0"}]
    assert header["assets"][0]["serialNumber"] == "FX-1"


def test_collections_appear_only_when_expanded(wats: httpx2.Client) -> None:
    submit(wats, uut())
    (plain,) = wats.get("/api/Report/Query/Header").json()
    assert not {"subUnits", "miscInfo", "assets", "uurSubUnits"} & set(plain)
    (some,) = wats.get("/api/Report/Query/Header", params={"$expand": "miscInfo"}).json()
    assert "miscInfo" in some
    assert "subUnits" not in some
    (attached,) = wats.get("/api/Report/Query/Header", params={"$expand": "attachments"}).json()
    assert attached["attachments"] == []
    bad = wats.get("/api/Report/Query/Header", params={"$expand": "steps"})
    assert bad.status_code == 400
    assert "'steps' cannot be expanded" in bad.json()["Message"]


def _submit_many(wats: httpx2.Client) -> list[dict[str, Any]]:
    reports = [
        uut(sn="SN-1", result="P", start="2026-01-01T08:00:00Z"),
        uut(sn="SN-2", result="F", start="2026-01-02T08:00:00Z", machineName="ST2"),
        uut(sn="SN-3", result="P", start="2026-01-03T08:00:00Z", pn="PN-2", processCode=100),
        uut(sn="O'Brien", result="P", start="2026-01-04T08:00:00Z"),
    ]
    for report in reports:
        submit(wats, report).raise_for_status()
    submit(wats, uur(reports[1]["id"], sn="SN-2", start="2026-01-05T08:00:00Z"))
    return reports


@pytest.mark.parametrize(
    ("odata", "serials"),
    [
        ("serialNumber eq 'SN-1'", ["SN-1"]),
        ("serialNumber eq 'sn-1'", ["SN-1"]),
        ("serialNumber ne 'SN-1'", ["SN-2", "SN-3", "O'Brien"]),
        ("result eq 'F'", ["SN-2"]),
        ("partNumber eq 'PN-1' and result eq 'P'", ["SN-1", "O'Brien"]),
        ("stationName eq 'ST2' or partNumber eq 'PN-2'", ["SN-2", "SN-3"]),
        ("(result eq 'F' or result eq 'P') and processCode eq 100", ["SN-3"]),
        ("processCode gt 10", ["SN-3"]),
        ("processCode le 10", ["SN-1", "SN-2", "O'Brien"]),
        ("start ge 2026-01-02T00:00:00Z and start lt 2026-01-04T00:00:00Z", ["SN-2", "SN-3"]),
        ("startUtc gt 2026-01-03T08:00:00Z", ["O'Brien"]),
        ("start le datetime'2026-01-01T08:59:00+01:00'", []),
        ("start le 2026-01-01T09:00:00+01:00", ["SN-1"]),
        ("startswith(serialNumber,'SN-')", ["SN-1", "SN-2", "SN-3"]),
        ("endswith(serialNumber, 'brien')", ["O'Brien"]),
        ("contains(serialNumber,'N-2')", ["SN-2"]),
        ("serialNumber eq 'O''Brien'", ["O'Brien"]),
        ("not (result eq 'P')", ["SN-2"]),
        ("subUnits/any(s: s/partNumber eq 'SPN')", ["SN-1", "SN-2", "SN-3", "O'Brien"]),
        ("subUnits/any(s: s/partNumber eq 'nope')", []),
        ("miscInfo/any(m: m/description eq 'Fw' and m/value eq '1.0')", ["SN-1", "SN-2", "SN-3",
                                                                           "O'Brien"]),
        ("subUnits/all(s: s/partType eq 'PCB')", ["SN-1", "SN-2", "SN-3", "O'Brien"]),
        ("batchNumber eq null", []),
        ("comment eq null", ["SN-1", "SN-2", "SN-3", "O'Brien"]),
        ("executionTime gt 1.0", ["SN-1", "SN-2", "SN-3", "O'Brien"]),
    ],
)  # fmt: skip
def test_odata_filters(wats: httpx2.Client, odata: str, serials: list[str]) -> None:
    _submit_many(wats)
    params = {"reportType": "U", "$filter": odata}
    response = wats.get("/api/Report/Query/Header", params=params)
    assert response.status_code == 200, response.text
    assert [h["serialNumber"] for h in response.json()] == serials


def test_repairs_are_queried_with_report_type_r(wats: httpx2.Client) -> None:
    reports = _submit_many(wats)
    params = {
        "reportType": "R",
        "$filter": "uurSubUnits/any(s: s/serialNumber eq 'SSN')",
        "$expand": "uurSubUnits",
    }
    (repair,) = wats.get("/api/Report/Query/Header", params=params).json()
    assert repair["referencedUut"] == reports[1]["id"]
    assert repair["uurSubUnits"][0]["partNumber"] == "SPN"
    assert len(wats.get("/api/Report/Query/Header").json()) == 5


def test_order_top_and_skip(wats: httpx2.Client) -> None:
    _submit_many(wats)
    params = {"reportType": "U", "$orderby": "start desc", "$top": "2", "$skip": "1"}
    headers = wats.get("/api/Report/Query/Header", params=params).json()
    assert [h["serialNumber"] for h in headers] == ["SN-3", "SN-2"]
    by_two = {"reportType": "U", "$orderby": "partNumber desc, serialNumber asc"}
    ordered = wats.get("/api/Report/Query/Header", params=by_two).json()
    assert [h["serialNumber"] for h in ordered] == ["SN-3", "O'Brien", "SN-1", "SN-2"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"$filter": "color eq 'red'"}, "report header has no field 'color'"),
        ({"$filter": "serialNumber eq"}, "expected a value at the end"),
        ({"$filter": "serialNumber is 'x'"}, "'is' is not one of"),
        ({"$filter": "serialNumber eq 'x' extra"}, "unexpected 'extra'"),
        ({"$filter": "serialNumber eq 'x' #"}, "unexpected '#'"),
        ({"$filter": "(serialNumber eq 'x'"}, "expected ')' at the end"),
        ({"$filter": "'x' eq serialNumber"}, "expected a field at position 0"),
        ({"$filter": "startswith(processCode,'1')"}, "needs a string field"),
        ({"$filter": "startswith(serialNumber, 1)"}, "takes a quoted string"),
        ({"$filter": "serialNumber/any(s: s/x eq 1)"}, "serialNumber is not a collection"),
        ({"$filter": "subUnits/any(s/x: s/x eq 1)"}, "expected a lambda variable"),
        ({"$filter": "serialNumber eq 2026-01-01T00:00:00Z"}, "serialNumber is not a datetime"),
        ({"$filter": "start eq 2026-13-01T00:00:00Z"}, "is not an ISO-8601 datetime"),
        ({"$filter": "serialNumber eq ("}, "expected a value at position"),
        ({"$orderby": "start sideways"}, "$orderby: expected 'field [asc|desc]'"),
        ({"$orderby": "nothing"}, "has no field 'nothing'"),
        ({"$top": "ten"}, "$top: expected a whole number"),
        ({"$skip": "-1"}, "$skip: expected 0 or more"),
        ({"reportType": "X"}, "reportType: expected 'U' (UUT) or 'R' (UUR)"),
    ],
)
def test_bad_queries_answer_400(wats: httpx2.Client, params: dict[str, str], message: str) -> None:
    submit(wats, uut())
    response = wats.get("/api/Report/Query/Header", params=params)
    assert response.status_code == 400
    assert message in response.json()["Message"]


def test_comparing_mismatched_types_matches_nothing(wats: httpx2.Client) -> None:
    submit(wats, uut())
    params = {"$filter": "serialNumber gt 5"}
    assert wats.get("/api/Report/Query/Header", params=params).json() == []


def test_header_by_misc_info(wats: httpx2.Client) -> None:
    submit(wats, uut(sn="A"))
    submit(wats, uut(sn="B", miscInfos=[{"description": "Fw", "text": "2.0"}]))
    submit(wats, uut(sn="C", miscInfos=[]))
    path = "/api/Report/Query/HeaderByMiscInfo"
    found = wats.get(path, params={"description": "fw", "stringValue": "2.0"}).json()
    assert [h["serialNumber"] for h in found] == ["B"]
    assert found[0]["miscInfo"] == [{"description": "Fw", "value": "2.0"}]
    both = wats.get(path, params={"description": "Fw", "$top": "1"}).json()
    assert [h["serialNumber"] for h in both] == ["A"]
    assert wats.get(path).status_code == 400
    assert wats.get(path, params={"description": "Fw", "$top": "x"}).status_code == 400


# -- faults, log and reset ---------------------------------------------------------------------


def test_faults_and_the_request_log_come_from_corekit(
    wats: httpx2.Client, emulator: FaultInjector
) -> None:
    emulator.fail("/api/report/wsjf", 503, count=1, method="POST")
    report = uut()
    assert submit(wats, report).status_code == 503
    assert submit(wats, report).status_code == 200
    calls = emulator.calls("POST", "/API/Report/WSJF")
    assert [c.status for c in calls] == [503, 200]
    assert calls[1].json()["id"] == report["id"]
    assert calls[1].headers["authorization"] == f"Basic {REDACTED}"


def test_rate_limit_fault_sends_retry_after(wats: httpx2.Client, emulator: FaultInjector) -> None:
    emulator.rate_limit("/api/App/*", retry_after=7)
    response = wats.get("/api/app/version")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {"Message": "Too Many Requests", "message": "Too Many Requests"}


def test_injected_errors_carry_wats_error_bodies(
    wats: httpx2.Client, emulator: FaultInjector
) -> None:
    emulator.fail("/api/App/Version", 503, count=1, headers={"Retry-After": "3"})
    emulator.fail("/api/App/Version", 500, count=1, body={"Message": "custom"})
    emulator.fail("/api/App/Version", 204, count=1)
    wats.post(
        "/_emulator/faults", json={"kind": "status", "path": "/api/App/Version", "status": 409}
    )
    first = wats.get("/api/App/Version")
    assert first.status_code == 503
    assert first.headers["retry-after"] == "3"
    assert first.json() == {"Message": "Service Unavailable", "message": "Service Unavailable"}
    assert wats.get("/api/App/Version").json() == {"Message": "custom"}
    assert wats.get("/api/App/Version").status_code == 204
    conflict = wats.get("/api/App/Version")
    assert conflict.status_code == 409
    assert conflict.json()["Message"] == "Conflict"
    assert wats.get("/api/App/Version").status_code == 200


def test_reset_forgets_everything(
    wats: httpx2.Client, emulator: FaultInjector, served: tuple[FaultInjector, str]
) -> None:
    submit(wats, uut())
    assert wats.post("/_emulator/actions/stats").json() == {
        "reports": 1, "products": 1, "units": 1, "assets": 0,
    }  # fmt: skip
    assert wats.post("/_emulator/reset").json() == {"reset": True}
    assert wats.get("/api/Report/Query/Header").json() == []
    assert emulator_state(emulator).reports == {}


def test_emulator_state_refuses_other_apps() -> None:
    # A FastAPI app wrapped like an emulator, but not made by create_app: it has no WATS state.
    with pytest.raises(TypeError, match="create_app"):
        emulator_state(FaultInjector(FastAPI()))

"""WSXF (XML) reports in the emulator: submit, read back, and the same checks as WSJF."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from corekit.testing import FaultInjector, serve
from pywats.emulator import create_app

NS = "http://www.wats.com/XmlFormats/2009/Report"
XML = {"Content-Type": "application/xml"}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FaultInjector, str]]:
    app = create_app()
    with serve(app) as server:
        yield app, server.url


@pytest.fixture
def wats(served: tuple[FaultInjector, str]) -> Iterator[httpx2.Client]:
    served[0].reset()
    with httpx2.Client(base_url=served[1], auth=("wats", "wats")) as client:
        yield client


def document(
    report_id: str, *, sn: str = "SN-1", start: str = 'Start="2026-03-01T10:00:00+01:00"'
) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Reports xmlns="{NS}">
  <Report ID="{report_id}" Type="T" PN="PN-X" SN="{sn}" Rev="A" Result="Failed"
          MachineName="ST9" Location="Lab" Purpose="Dev" {start}>
    <UUT UserLoginName="op" FixtureId="F1" ExecutionTime="2.5" BatchSN="B7"/>
    <Process Code="50" Name="PCBA Test"/>
    <MiscInfo Description="Fw">1.0</MiscInfo>
    <SubUnit PN="SPN" SN="SSN" Rev="B" PartType="PCB"/>
    <Asset SN="FX-1" Usage="2"/>
    <Step StepType="SequenceCall" Name="MainSequence Callback" Status="Failed" Group="M">
      <SequenceCall Path="C:/a.seq" Name="a.seq" Version="1.0"/>
      <Step StepType="ET_NLT" Name="V" Status="Failed" total_time="0.5">
        <ReportText>too high</ReportText>
        <NumericLimit Status="Failed" NumericValue="6.5" Units="V" CompOperator="GELE"
                      LowLimit="4.5" HighLimit="NaN"/>
      </Step>
      <Step StepType="ET_PFT" Name="Ok" Status="Passed">
        <PassFail Status="Passed" Value="true"/>
      </Step>
      <Step StepType="ET_SVT" Name="Ver" Status="Passed">
        <StringValue Status="Passed" CompOperator="IGNORECASE" StringValue="v1" StringLimit="V1"/>
      </Step>
    </Step>
  </Report>
</Reports>"""


def test_submit_wsxf_stores_it_as_wsjf(wats: httpx2.Client) -> None:
    report_id = str(uuid.uuid4())
    response = wats.post("/api/Report/WSXF", content=document(report_id), headers=XML)
    assert response.status_code == 200, response.text
    assert response.json() == {"id": report_id, "ids": [report_id]}
    stored = wats.get(f"/api/Report/Wsjf/{report_id}").json()
    assert stored["result"] == "F"
    assert stored["processCode"] == 50
    assert stored["uut"] == {"user": "op", "fixtureId": "F1", "execTime": 2.5, "batchSN": "B7"}
    assert stored["miscInfos"] == [{"description": "Fw", "text": "1.0"}]
    assert stored["assets"] == [{"sn": "FX-1", "usageCount": 2}]
    voltage, flag, text = stored["root"]["steps"]
    assert voltage["numericMeas"] == [
        {"status": "F", "value": 6.5, "unit": "V", "compOp": "GELE", "lowLimit": 4.5,
         "highLimit": "NaN"}
    ]  # fmt: skip
    assert voltage["reportText"] == "too high"
    assert voltage["totTime"] == 0.5
    assert flag["booleanMeas"] == [{"status": "P", "value": True}]
    assert text["stringMeas"][0]["limit"] == "V1"
    (header,) = wats.get("/api/Report/Query/Header", params={"$filter": "result eq 'F'"}).json()
    assert header["uuid"] == report_id
    assert header["processName"] == "PCBA Test"


def test_a_report_reads_back_as_wsxf_and_round_trips(wats: httpx2.Client) -> None:
    report_id = str(uuid.uuid4())
    wats.post("/api/Report/WSXF", content=document(report_id), headers=XML).raise_for_status()
    before = wats.get(f"/api/Report/Wsjf/{report_id}").json()
    response = wats.get(f"/api/Report/Wsxf/{report_id}")
    assert response.headers["content-type"] == "application/xml"
    root = ET.fromstring(response.content)
    assert root.tag == f"{{{NS}}}Reports"
    report = root.find(f"{{{NS}}}Report")
    assert report is not None
    assert report.get("SN") == "SN-1"
    assert report.get("Result") == "Failed"
    again = wats.post("/api/Report/WSXF", content=response.content, headers=XML)
    assert again.json()["id"] == report_id
    assert wats.get(f"/api/Report/Wsjf/{report_id}").json() == before
    (header,) = wats.get("/api/Report/Query/Header").json()
    assert header["receiveCount"] == 2


def test_a_wsjf_report_reads_back_as_wsxf(wats: httpx2.Client) -> None:
    report: dict[str, Any] = {
        "id": str(uuid.uuid4()), "type": "R", "pn": "PN", "sn": "SN", "rev": "A",
        "processCode": 500, "result": "P", "machineName": "M", "location": "L", "purpose": "P",
        "start": "2026-01-01T00:00:00Z", "uur": {"user": "tech", "refUUT": str(uuid.uuid4())},
    }  # fmt: skip
    wats.post("/api/Report/WSJF", json=report).raise_for_status()
    xml = wats.get(f"/api/Report/Wsxf/{report['id']}").content
    element = ET.fromstring(xml).find(f"{{{NS}}}Report/{{{NS}}}UUR")
    assert element is not None
    assert element.get("RefUUT") == report["uur"]["refUUT"]
    assert wats.get(f"/api/Report/Wsxf/{uuid.uuid4()}").status_code == 404


def test_start_without_offset_falls_back_to_start_utc(wats: httpx2.Client) -> None:
    report_id = str(uuid.uuid4())
    start = 'Start="2026-03-01T10:00:00" Start_utc="2026-03-01T09:00:00"'
    response = wats.post("/api/Report/WSXF", content=document(report_id, start=start), headers=XML)
    assert response.status_code == 200, response.text
    (header,) = wats.get("/api/Report/Query/Header").json()
    assert header["startUtc"] == "2026-03-01T09:00:00Z"


def test_a_single_report_element_and_a_generated_id(wats: httpx2.Client) -> None:
    body = document("").replace(' ID=""', "")
    single = body[body.index("<Report ") : body.index("</Reports>")].replace(
        "<Report ", f'<Report xmlns="{NS}" ', 1
    )
    response = wats.post("/api/Report/WSXF", content=single, headers=XML)
    assert response.status_code == 200, response.text
    uuid.UUID(response.json()["id"])


def test_several_reports_are_taken_whole_or_not_at_all(wats: httpx2.Client) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    one = document(first)
    two = document(second, sn="SN-2")
    both = one.replace(
        "</Reports>", two[two.index("<Report ID") : two.index("</Reports>")] + "</Reports>"
    )
    response = wats.post("/api/Report/WSXF", content=both, headers=XML)
    assert response.json() == {"id": first, "ids": [first, second]}
    assert len(wats.get("/api/Report/Query/Header").json()) == 2
    wats.post("/_emulator/reset")
    broken = both.replace('SN="SN-2"', 'SN=""')
    rejected = wats.post("/api/Report/WSXF", content=broken, headers=XML)
    assert rejected.status_code == 400
    assert "sn: expected a non-empty string" in rejected.json()["Message"]
    assert wats.get("/api/Report/Query/Header").json() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<Reports", "not a readable WSXF document"),
        (
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><Reports>&e;</Reports>',
            "not a readable",
        ),
        (f'<Other xmlns="{NS}"/>', "the root element is <Other>"),
        (f'<Reports xmlns="{NS}"/>', "holds no <Report>"),
    ],
)
def test_unreadable_documents_are_400(wats: httpx2.Client, body: str, message: str) -> None:
    response = wats.post("/api/Report/WSXF", content=body, headers=XML)
    assert response.status_code == 400
    assert message in response.json()["Message"]


def test_bad_values_are_reported_with_their_path(wats: httpx2.Client) -> None:
    body = document(str(uuid.uuid4())).replace('NumericValue="6.5"', 'NumericValue="high"')
    response = wats.post("/api/Report/WSXF", content=body, headers=XML)
    assert response.status_code == 400
    assert "root.steps[0].numericMeas[0].value" in response.json()["Message"]
    flag = document(str(uuid.uuid4())).replace('Value="true"', 'Value="maybe"')
    assert "booleanMeas[0].value" in wats.post("/api/Report/WSXF", content=flag, headers=XML).text

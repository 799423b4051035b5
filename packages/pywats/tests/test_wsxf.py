"""WSXF (XML) write and read, and refusal of hostile XML."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from pywats import (
    CompOp,
    NumericMeasurement,
    ReportValidationError,
    Station,
    StringMeasurement,
    UUTBuilder,
    from_wsxf,
    to_wsxf,
)
from pywats._wsxf import NAMESPACE


def full_report() -> UUTBuilder:
    b = UUTBuilder(
        part_number="PN-<&>",
        serial_number="SN-1",
        revision="A",
        process_code=50,
        station=Station("ST1", "Lab", "Dev"),
        operator="op",
        exec_time=12.5,
        comment="night shift",
        batch_serial_number="B-7",
    )
    b.misc("Fw", '1.0 "beta"').sub_unit("SPN", "SSN", "B", "PCB").asset("FX-1", 3)
    with b.sequence("Power", path="D:/p.seq", file="p.seq", version="2") as seq:
        seq.numeric("V", 5.0, unit="V", low=4.5, high=5.5, tot_time=0.25, report_text="ok")
        seq.numeric("NaN", math.nan, comp=CompOp.LOG)
        seq.numeric("Inf", -math.inf, low=0.0, comp=CompOp.GE)
    b.multi_numeric("Rails", [NumericMeasurement(name="3V3", value=3.3)])
    b.passfail("LED", False)
    b.multi_passfail("Checks", {"a": True})
    b.string("FW", "1.0", limit="1.0")
    b.multi_string("Ids", [StringMeasurement(name="x", value="y")])
    b.action("Reset")
    return b


def test_round_trip_keeps_every_modelled_field() -> None:
    report = full_report().build()
    document = to_wsxf(report)
    assert document.startswith(b"<?xml")
    root = ET.fromstring(document)
    assert root.tag == f"{{{NAMESPACE}}}Reports"
    element = root[0]
    assert element.get("Result") == "Failed"
    assert element.get("PN") == "PN-<&>"
    (back,) = from_wsxf(document)
    assert back.to_dict() == report.to_dict()


def test_several_reports_in_one_document() -> None:
    first = full_report().build()
    second = UUTBuilder(
        part_number="P2", serial_number="S2", revision="1", process_code=10, station=Station("s")
    ).build()
    reports = from_wsxf(to_wsxf(first, second).decode())
    assert [r.serial_number for r in reports] == ["SN-1", "S2"]


def test_a_single_report_element_and_no_namespace_are_read() -> None:
    document = (
        '<Report Type="T" PN="P" SN="S" Rev="1" Result="Passed" MachineName="m" '
        'Location="l" Purpose="p" Start="2026-01-01T00:00:00+00:00">'
        '<Process Code="10"/><Step StepType="SequenceCall" Name="Main" Status="Passed"/>'
        "</Report>"
    )
    (report,) = from_wsxf(document)
    assert report.process_code == 10
    assert report.root.name == "Main"


def test_entity_expansion_is_refused() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Reports>&b;</Reports>'
    )
    with pytest.raises(ReportValidationError, match="not a readable WSXF"):
        from_wsxf(bomb)


def test_malformed_and_foreign_documents_are_refused() -> None:
    with pytest.raises(ReportValidationError, match="not a readable WSXF"):
        from_wsxf(b"<Reports><Report")
    with pytest.raises(ReportValidationError, match="<html>"):
        from_wsxf("<html/>")
    with pytest.raises(ReportValidationError, match="only test reports"):
        from_wsxf('<Reports><Report Type="R"/></Reports>')


def test_invalid_report_in_xml_names_the_field() -> None:
    document = (
        '<Reports><Report Type="T" PN="P" SN="S" Rev="1" MachineName="m" Location="l" '
        'Purpose="p" Start="yesterday"><Process Code="ten"/></Report></Reports>'
    )
    with pytest.raises(ReportValidationError) as caught:
        from_wsxf(document)
    assert {i.path for i in caught.value.issues} == {"start", "processCode"}

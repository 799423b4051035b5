"""WSXF, the WATS XML report format (namespace ``http://www.wats.com/XmlFormats/2009/Report``).

Written with the standard library's ElementTree and read with defusedxml (an XML file from a
test station is untrusted input: no entity expansion, no external entities). The subset
covered is what the JSON models hold for test (UUT) reports: the header, the ``UUT``,
``Process``, ``MiscInfo`` and ``SubUnit`` elements and the step tree with numeric, pass/fail
and string measurements. Attributes are named as in WATS's XML; elements from other
namespaces and unknown attributes are ignored on read.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]

from pywats._report import UUTReport
from pywats._steps import (
    BooleanStep,
    NumericStep,
    SequenceCall,
    StepBase,
    StringStep,
)
from pywats._validation import from_pydantic
from pywats.errors import ReportValidationError, ValidationIssue

NAMESPACE = "http://www.wats.com/XmlFormats/2009/Report"
_NS = f"{{{NAMESPACE}}}"

_WORDS = {
    "P": "Passed",
    "F": "Failed",
    "S": "Skipped",
    "D": "Done",
    "E": "Error",
    "T": "Terminated",
}
_LETTERS = {word: letter for letter, word in _WORDS.items()}


def _num(value: float | None) -> str | None:
    if value is None:
        return None
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(float(value))


def _set(element: ET.Element, **attrs: object) -> None:
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, bool):
            element.set(key, "true" if value else "false")
        else:
            element.set(key, str(value))


def _letter_word(value: str) -> str:
    return _WORDS.get(value, value)


def to_wsxf(*reports: UUTReport) -> bytes:
    """Serialise test reports as one WSXF document (UTF-8 bytes with an XML declaration)."""
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(f"{_NS}Reports")
    for report in reports:
        _write_report(root, report)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _write_report(parent: ET.Element, report: UUTReport) -> None:
    element = ET.SubElement(parent, f"{_NS}Report")
    _set(
        element,
        ID=report.id,
        Type=report.type,
        PN=report.part_number,
        SN=report.serial_number,
        Rev=report.revision,
        Result=_letter_word(report.result),
        MachineName=report.machine_name,
        Location=report.location,
        Purpose=report.purpose,
        Start=report.start.isoformat(),
    )
    uut = report.uut
    _set(
        ET.SubElement(element, f"{_NS}UUT"),
        UserLoginName=uut.operator,
        FixtureId=uut.fixture_id,
        ExecutionTime=_num(uut.exec_time),
        Comment=uut.comment,
        BatchSN=uut.batch_serial_number,
        TestSocketIndex=uut.test_socket_index,
        ErrorCode=uut.error_code,
        ErrorMessage=uut.error_message,
    )
    _set(ET.SubElement(element, f"{_NS}Process"), Code=report.process_code)
    for misc in report.misc_infos:
        info = ET.SubElement(element, f"{_NS}MiscInfo")
        _set(info, Description=misc.description)
        info.text = misc.text
    for sub in report.sub_units:
        _set(
            ET.SubElement(element, f"{_NS}SubUnit"),
            PN=sub.part_number,
            SN=sub.serial_number,
            Rev=sub.revision,
            PartType=sub.part_type,
        )
    for asset in report.assets:
        _set(ET.SubElement(element, f"{_NS}Asset"), SN=asset.serial_number, Usage=asset.usage_count)
    _write_step(element, report.root)


def _write_step(parent: ET.Element, step: StepBase) -> None:
    element = ET.SubElement(parent, f"{_NS}Step")
    _set(
        element,
        StepType=step.step_type,
        Name=step.name,
        Group=step.group,
        Status=_letter_word(step.status),
        total_time=_num(step.tot_time),
        ErrorCode=step.error_code,
        ErrorMessage=step.error_message,
    )
    if step.report_text is not None:
        ET.SubElement(element, f"{_NS}ReportText").text = step.report_text
    if isinstance(step, SequenceCall):
        call = step.seq_call
        _set(
            ET.SubElement(element, f"{_NS}SequenceCall"),
            Path=call.path,
            Name=call.name,
            Version=call.version,
        )
        for child in step.steps:
            _write_step(element, child)
    elif isinstance(step, NumericStep):
        for m in step.numeric_meas:
            _set(
                ET.SubElement(element, f"{_NS}NumericLimit"),
                Name=m.name,
                Status=_letter_word(m.status),
                NumericValue=_num(m.value),
                Units=m.unit,
                CompOperator=m.comp_op,
                LowLimit=_num(m.low_limit),
                HighLimit=_num(m.high_limit),
            )
    elif isinstance(step, BooleanStep):
        for b in step.boolean_meas:
            _set(
                ET.SubElement(element, f"{_NS}PassFail"),
                Name=b.name,
                Status=_letter_word(b.status),
                Value=b.value,
            )
    elif isinstance(step, StringStep):
        for s in step.string_meas:
            _set(
                ET.SubElement(element, f"{_NS}StringValue"),
                Name=s.name,
                Status=_letter_word(s.status),
                CompOperator=s.comp_op,
                StringValue=s.value,
                StringLimit=s.limit,
            )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _first(element: ET.Element, name: str) -> ET.Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _letter(value: str | None) -> str | None:
    if value is None:
        return None
    return _LETTERS.get(value, value)


def _prune(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def from_wsxf(document: str | bytes) -> list[UUTReport]:
    """Parse a WSXF document into test reports.

    Raises:
        ReportValidationError: the XML is malformed or forbidden (entities, DTDs), it is not
            a ``Reports``/``Report`` document, or a report in it is not valid.
    """
    try:
        root = SafeET.fromstring(document)
    except (ET.ParseError, ValueError) as exc:
        # defusedxml's refusals (DTDs, entities) are ValueError subclasses.
        issue = ValidationIssue("", f"not a readable WSXF document: {exc}")
        raise ReportValidationError([issue]) from None
    if _local(root.tag) == "Report":
        elements = [root]
    elif _local(root.tag) == "Reports":
        elements = _children(root, "Report")
    else:
        issue = ValidationIssue("", f"the root element is <{_local(root.tag)}>, not <Reports>")
        raise ReportValidationError([issue])
    reports = []
    for element in elements:
        kind = element.get("Type", "T")
        if kind != "T":
            issue = ValidationIssue("type", f"Type={kind!r}: only test reports (T) are read")
            raise ReportValidationError([issue])
        reports.append(from_pydantic(UUTReport, _read_report(element)))
    return reports


def _read_report(element: ET.Element) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": element.get("ID"),
        "type": "T",
        "pn": element.get("PN"),
        "sn": element.get("SN"),
        "rev": element.get("Rev"),
        "result": _letter(element.get("Result")),
        "machineName": element.get("MachineName"),
        "location": element.get("Location"),
        "purpose": element.get("Purpose"),
        "start": element.get("Start"),
    }
    if (uut := _first(element, "UUT")) is not None:
        data["uut"] = _prune(
            {
                "user": uut.get("UserLoginName", ""),
                "fixtureId": uut.get("FixtureId"),
                "execTime": uut.get("ExecutionTime"),
                "comment": uut.get("Comment"),
                "batchSN": uut.get("BatchSN"),
                "testSocketIndex": uut.get("TestSocketIndex"),
                "errorCode": uut.get("ErrorCode"),
                "errorMessage": uut.get("ErrorMessage"),
            }
        )
    if (process := _first(element, "Process")) is not None:
        data["processCode"] = process.get("Code")
    data["miscInfos"] = [
        {"description": m.get("Description", ""), "text": m.text or ""}
        for m in _children(element, "MiscInfo")
    ]
    data["subUnits"] = [
        _prune(
            {
                "pn": s.get("PN"),
                "sn": s.get("SN"),
                "rev": s.get("Rev", ""),
                "partType": s.get("PartType"),
            }
        )
        for s in _children(element, "SubUnit")
    ]
    data["assets"] = [
        {"sn": a.get("SN"), "usageCount": a.get("Usage", "1")} for a in _children(element, "Asset")
    ]
    if (step := _first(element, "Step")) is not None:
        data["root"] = _read_step(step)
    return _prune(data)


def _read_step(element: ET.Element) -> dict[str, Any]:
    step: dict[str, Any] = _prune(
        {
            "stepType": element.get("StepType", "GenericTest"),
            "name": element.get("Name"),
            "group": element.get("Group"),
            "status": _letter(element.get("Status")),
            "totTime": element.get("total_time"),
            "errorCode": element.get("ErrorCode"),
            "errorMessage": element.get("ErrorMessage"),
        }
    )
    if (text := _first(element, "ReportText")) is not None:
        step["reportText"] = text.text or ""
    if (call := _first(element, "SequenceCall")) is not None:
        step["seqCall"] = _prune(
            {"path": call.get("Path"), "name": call.get("Name"), "version": call.get("Version")}
        )
    if substeps := _children(element, "Step"):
        step["steps"] = [_read_step(child) for child in substeps]
    if numeric := _children(element, "NumericLimit"):
        step["numericMeas"] = [
            _prune(
                {
                    "name": m.get("Name"),
                    "status": _letter(m.get("Status")),
                    "value": m.get("NumericValue"),
                    "unit": m.get("Units"),
                    "compOp": m.get("CompOperator"),
                    "lowLimit": m.get("LowLimit"),
                    "highLimit": m.get("HighLimit"),
                }
            )
            for m in numeric
        ]
    if flags := _children(element, "PassFail"):
        step["booleanMeas"] = [
            _prune(
                {
                    "name": b.get("Name"),
                    "status": _letter(b.get("Status")),
                    "value": b.get("Value"),
                }
            )
            for b in flags
        ]
    if strings := _children(element, "StringValue"):
        step["stringMeas"] = [
            _prune(
                {
                    "name": s.get("Name"),
                    "status": _letter(s.get("Status")),
                    "compOp": s.get("CompOperator"),
                    "value": s.get("StringValue"),
                    "limit": s.get("StringLimit"),
                }
            )
            for s in strings
        ]
    return step

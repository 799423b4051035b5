"""WSXF (``http://www.wats.com/XmlFormats/2009/Report``) to and from the emulator's WSJF dicts.

The emulator converts a posted WSXF document into WSJF and stores it like a JSON submit, so both
formats go through the same validation and header derivation; ``GET /api/Report/Wsxf/{id}``
writes any stored report back as WSXF. Element and attribute names follow the WATS 2009 schema
subset pywats writes: ``Report`` (``ID Type PN SN Rev Result MachineName Location Purpose
Start``), ``UUT``, ``Process``, ``MiscInfo``, ``SubUnit``, ``Asset`` and nested ``Step``
elements with ``NumericLimit``, ``PassFail`` and ``StringValue`` measurements. Parsing uses
defusedxml: a posted document is untrusted (no entity expansion, no external entities).
"""

from __future__ import annotations

__all__ = ["NAMESPACE", "from_wsxf", "to_wsxf"]

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]

from pywats.emulator._wsjf import ReportRejected

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
_LETTERS = {word.lower(): letter for letter, word in _WORDS.items()}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _letter(value: str | None) -> str | None:
    if value is None:
        return None
    return _LETTERS.get(value.lower(), value)


def _number(value: str | None) -> float | int | str | None:
    """A numeric attribute: ints and floats as numbers, NaN and infinities as WSJF strings."""
    if value is None:
        return None
    if value in ("NaN", "Infinity", "-Infinity"):
        return value
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value  # left for the WSJF validation to reject with its path


def _flag(value: str | None) -> bool | str | None:
    if value is None:
        return None
    return {"true": True, "false": False}.get(value.lower(), value)


def _pruned(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def from_wsxf(document: bytes) -> list[dict[str, Any]]:
    """The WSJF reports in a WSXF document (``<Reports>`` or a single ``<Report>``).

    Raises:
        ReportRejected: the XML is malformed, forbidden (DTDs, entities) or not a report.
    """
    try:
        root = SafeET.fromstring(document)
    except (ET.ParseError, ValueError) as exc:  # defusedxml's refusals are ValueErrors
        raise ReportRejected("", f"not a readable WSXF document ({exc})") from None
    if _local(root.tag) == "Report":
        elements = [root]
    elif _local(root.tag) == "Reports":
        elements = _children(root, "Report")
    else:
        raise ReportRejected("", f"the root element is <{_local(root.tag)}>, not <Reports>")
    if not elements:
        raise ReportRejected("", "the document holds no <Report>")
    return [_read_report(element) for element in elements]


def _read_report(element: ET.Element) -> dict[str, Any]:
    kind = element.get("Type", "T")
    start = element.get("Start")
    if start is not None and not _has_offset(start) and element.get("Start_utc"):
        start = element.get("Start_utc", "")
        start = start if _has_offset(start) else start + "Z"
    report: dict[str, Any] = {
        "id": element.get("ID") or str(uuid.uuid4()),
        "type": kind,
        "pn": element.get("PN"),
        "sn": element.get("SN"),
        "rev": element.get("Rev"),
        "result": _letter(element.get("Result")) or "P",
        "machineName": element.get("MachineName"),
        "location": element.get("Location"),
        "purpose": element.get("Purpose"),
        "start": start,
    }
    for process in _children(element, "Process")[:1]:
        report["processCode"] = _number(process.get("Code"))
    for detail in _children(element, "UUT" if kind == "T" else "UUR")[:1]:
        report["uut" if kind == "T" else "uur"] = _pruned(
            {
                "user": detail.get("UserLoginName"),
                "fixtureId": detail.get("FixtureId"),
                "execTime": _number(detail.get("ExecutionTime")),
                "comment": detail.get("Comment"),
                "batchSN": detail.get("BatchSN"),
                "testSocketIndex": _number(detail.get("TestSocketIndex")),
                "errorCode": _number(detail.get("ErrorCode")),
                "errorMessage": detail.get("ErrorMessage"),
                "refUUT": detail.get("RefUUT"),
            }
        )
    report["miscInfos"] = [
        {"description": m.get("Description", ""), "text": m.text or ""}
        for m in _children(element, "MiscInfo")
    ]
    report["subUnits"] = [
        _pruned(
            {
                "pn": s.get("PN"),
                "sn": s.get("SN"),
                "rev": s.get("Rev"),
                "partType": s.get("PartType"),
            }
        )
        for s in _children(element, "SubUnit")
    ]
    report["assets"] = [
        _pruned({"sn": a.get("SN"), "usageCount": _number(a.get("Usage"))})
        for a in _children(element, "Asset")
    ]
    for step in _children(element, "Step")[:1]:
        report["root"] = _read_step(step)
    return _pruned(report)


def _has_offset(value: str) -> bool:
    return value.endswith(("Z", "z")) or (len(value) > 19 and value[-6] in "+-")


_MEASUREMENTS: dict[str, tuple[str, dict[str, tuple[str, Callable[[str | None], Any]]]]] = {
    "NumericLimit": (
        "numericMeas",
        {
            "name": ("Name", str),
            "status": ("Status", _letter),
            "value": ("NumericValue", _number),
            "unit": ("Units", str),
            "compOp": ("CompOperator", str),
            "lowLimit": ("LowLimit", _number),
            "highLimit": ("HighLimit", _number),
        },
    ),
    "PassFail": (
        "booleanMeas",
        {"name": ("Name", str), "status": ("Status", _letter), "value": ("Value", _flag)},
    ),
    "StringValue": (
        "stringMeas",
        {
            "name": ("Name", str),
            "status": ("Status", _letter),
            "compOp": ("CompOperator", str),
            "value": ("StringValue", str),
            "limit": ("StringLimit", str),
        },
    ),
}


def _read_step(element: ET.Element) -> dict[str, Any]:
    step: dict[str, Any] = _pruned(
        {
            "stepType": element.get("StepType", "GenericTest"),
            "name": element.get("Name"),
            "group": element.get("Group"),
            "status": _letter(element.get("Status")),
            "totTime": _number(element.get("total_time")),
            "errorCode": _number(element.get("ErrorCode")),
            "errorMessage": element.get("ErrorMessage"),
        }
    )
    for text in _children(element, "ReportText")[:1]:
        step["reportText"] = text.text or ""
    for call in _children(element, "SequenceCall")[:1]:
        step["seqCall"] = _pruned(
            {"path": call.get("Path"), "name": call.get("Name"), "version": call.get("Version")}
        )
    if substeps := _children(element, "Step"):
        step["steps"] = [_read_step(child) for child in substeps]
    for tag, (key, fields) in _MEASUREMENTS.items():
        if found := _children(element, tag):
            step[key] = [
                _pruned(
                    {
                        name: None if m.get(attr) is None else convert(m.get(attr))
                        for name, (attr, convert) in fields.items()
                    }
                )
                for m in found
            ]
    return step


def _set(element: ET.Element, **attrs: object) -> None:
    for name, value in attrs.items():
        if value is None:
            continue
        element.set(name, ("true" if value else "false") if isinstance(value, bool) else str(value))


def to_wsxf(report: Mapping[str, Any], process_name: str | None) -> bytes:
    """A stored WSJF report as a WSXF document (UTF-8, with an XML declaration)."""
    root = ET.Element(f"{_NS}Reports")
    element = ET.SubElement(root, f"{_NS}Report")
    kind = report["type"]
    _set(
        element,
        ID=report["id"], Type=kind, PN=report["pn"], SN=report["sn"], Rev=report["rev"],
        Result=_WORDS.get(report.get("result", "P")), MachineName=report["machineName"],
        Location=report["location"], Purpose=report["purpose"], Start=report["start"],
    )  # fmt: skip
    detail: Mapping[str, Any] = report.get("uut" if kind == "T" else "uur") or {}
    _set(
        ET.SubElement(element, f"{_NS}{'UUT' if kind == 'T' else 'UUR'}"),
        UserLoginName=detail.get("user"), FixtureId=detail.get("fixtureId"),
        ExecutionTime=detail.get("execTime"), Comment=detail.get("comment"),
        BatchSN=detail.get("batchSN"), TestSocketIndex=detail.get("testSocketIndex"),
        ErrorCode=detail.get("errorCode"), ErrorMessage=detail.get("errorMessage"),
        RefUUT=detail.get("refUUT"),
    )  # fmt: skip
    _set(ET.SubElement(element, f"{_NS}Process"), Code=report["processCode"], Name=process_name)
    for misc in report.get("miscInfos") or ():
        info = ET.SubElement(element, f"{_NS}MiscInfo")
        _set(info, Description=misc.get("description"))
        info.text = None if misc.get("text") is None else str(misc["text"])
    for sub in report.get("subUnits") or ():
        _set(
            ET.SubElement(element, f"{_NS}SubUnit"),
            PN=sub.get("pn"),
            SN=sub.get("sn"),
            Rev=sub.get("rev"),
            PartType=sub.get("partType"),
        )
    for asset in report.get("assets") or ():
        _set(
            ET.SubElement(element, f"{_NS}Asset"), SN=asset.get("sn"), Usage=asset.get("usageCount")
        )
    if report.get("root") is not None:
        _write_step(element, report["root"])
    ET.register_namespace("", NAMESPACE)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _write_step(parent: ET.Element, step: Mapping[str, Any]) -> None:
    element = ET.SubElement(parent, f"{_NS}Step")
    _set(
        element,
        StepType=step.get("stepType"), Name=step.get("name"), Group=step.get("group"),
        Status=_WORDS.get(step.get("status", ""), step.get("status")),
        total_time=step.get("totTime"),
        ErrorCode=step.get("errorCode"), ErrorMessage=step.get("errorMessage"),
    )  # fmt: skip
    if step.get("reportText") is not None:
        ET.SubElement(element, f"{_NS}ReportText").text = str(step["reportText"])
    call = step.get("seqCall")
    if isinstance(call, Mapping):
        _set(
            ET.SubElement(element, f"{_NS}SequenceCall"),
            Path=call.get("path"),
            Name=call.get("name"),
            Version=call.get("version"),
        )
    for child in step.get("steps") or ():
        _write_step(element, child)
    for tag, (key, fields) in _MEASUREMENTS.items():
        for meas in step.get(key) or ():
            values = {attr: meas.get(name) for name, (attr, _) in fields.items()}
            if values.get("Status") is not None:
                values["Status"] = _WORDS.get(values["Status"], values["Status"])
            _set(ET.SubElement(element, f"{_NS}{tag}"), **values)

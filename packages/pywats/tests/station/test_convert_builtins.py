"""The built-in converters on real files: WSJF passthrough, WSXF and WATS-CSV."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pywats import (
    BooleanStep,
    NumericStep,
    ReportResult,
    ReportValidationError,
    SequenceCall,
    Station,
    StepStatus,
    StringStep,
    UUTBuilder,
    UUTReport,
    to_wsxf,
)
from pywats.station._builtin_csv import CSVConverter
from pywats.station._builtin_wsjf import WSJFConverter
from pywats.station._builtin_wsxf import WSXFConverter
from pywats.station._errors import ConversionError

START = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)


def uut(serial: str = "SN-1", *, value: float = 5.0) -> UUTReport:
    return (
        UUTBuilder(
            part_number="PN-1",
            serial_number=serial,
            revision="A",
            process_code=10,
            station=Station("ST-1", "Lab", "Dev"),
            start=START,
        )
        .numeric("Voltage", value, unit="V", low=4.5, high=5.5)
        .build()
    )


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


# --- WSJF -----------------------------------------------------------------------------------


def test_wsjf_passthrough_keeps_the_report(tmp_path: Path) -> None:
    report = uut()
    path = write(tmp_path / "r.json", report.to_wsjf())
    converter = WSJFConverter()
    assert converter.validate(path).confidence == 1.0
    [converted] = converter.convert(path, {})
    assert converted.to_dict() == report.to_dict()


def test_wsjf_array_and_stable_ids(tmp_path: Path) -> None:
    items = [uut("SN-1").to_dict(), uut("SN-2").to_dict()]
    del items[0]["id"], items[1]["id"]
    path = write(tmp_path / "two.wsjf", json.dumps(items))
    first = WSJFConverter().convert(path, {})
    again = WSJFConverter().convert(path, {})
    assert [r.serial_number for r in first] == ["SN-1", "SN-2"]
    assert [r.id for r in first] == [r.id for r in again]
    assert first[0].id != first[1].id


@pytest.mark.parametrize(
    ("content", "confidence", "message"),
    [
        (b"{not json", 0.0, "not JSON"),
        (b"\xff\xfe", 0.0, "not JSON"),
        (b"[1, 2]", 0.0, "not an object"),
        (b'{"pn": "x", "sn": "y"}', 0.4, "missing"),
        (b'{"hello": 1}', 0.1, "without WSJF header keys"),
        (b"[]", 0.0, "empty JSON array"),
    ],
)
def test_wsjf_validate_rates_files(
    tmp_path: Path, content: bytes, confidence: float, message: str
) -> None:
    result = WSJFConverter().validate(write(tmp_path / "f.json", content))
    assert result.confidence == confidence
    assert message in result.message


def test_wsjf_bad_report_names_the_field(tmp_path: Path) -> None:
    data = uut().to_dict()
    data["root"]["steps"][0]["numericMeas"][0]["value"] = "five"
    path = write(tmp_path / "bad.json", json.dumps(data))
    with pytest.raises(ReportValidationError) as caught:
        WSJFConverter().convert(path, {})
    assert any(i.path.startswith("root.steps[0]") for i in caught.value.issues)


def test_wsjf_rule_violation_in_an_array_is_prefixed(tmp_path: Path) -> None:
    items = [uut("SN-1").to_dict(), uut("SN-2").to_dict()]
    items[1]["sn"] = "   "
    path = write(tmp_path / "two.json", json.dumps(items))
    with pytest.raises(ReportValidationError) as caught:
        WSJFConverter().convert(path, {})
    assert [i.path for i in caught.value.issues] == ["[1].sn"]


def test_wsjf_unreadable_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"cannot read missing\.json"):
        WSJFConverter().convert(tmp_path / "missing.json", {})
    with pytest.raises(ConversionError, match="not JSON"):
        WSJFConverter().convert(write(tmp_path / "c.json", b'{"pn": "tru'), {})
    assert WSJFConverter().validate(tmp_path / "missing.json").confidence == 0.0


# --- WSXF -----------------------------------------------------------------------------------


def test_wsxf_reads_reports(tmp_path: Path) -> None:
    reports = [uut("SN-1"), uut("SN-2", value=9.0)]
    path = write(tmp_path / "r.xml", to_wsxf(*reports))
    converter = WSXFConverter()
    assert converter.validate(path).confidence == 1.0
    converted = converter.convert(path, {})
    assert [r.id for r in converted] == [r.id for r in reports]
    assert converted[1].result == ReportResult.FAILED


def test_wsxf_without_ids_gets_stable_ids(tmp_path: Path) -> None:
    text = to_wsxf(uut()).decode()
    start = text.index(' ID="')
    text = text[:start] + text[text.index('"', start + 5) + 1 :]
    path = write(tmp_path / "r.wsxf", text)
    assert WSXFConverter().convert(path, {})[0].id == WSXFConverter().convert(path, {})[0].id


@pytest.mark.parametrize(
    ("content", "confidence"),
    [
        (b"<Reports><Report PN='x'/></Reports>", 0.5),
        (b"<?xml version='1.0'?><html/>", 0.1),
        (b"PN,SN", 0.0),
    ],
)
def test_wsxf_validate_sniffs(tmp_path: Path, content: bytes, confidence: float) -> None:
    assert WSXFConverter().validate(write(tmp_path / "f.xml", content)).confidence == confidence


def test_wsxf_corrupt_and_invalid(tmp_path: Path) -> None:
    converter = WSXFConverter()
    with pytest.raises(ReportValidationError, match="not a readable WSXF"):
        converter.convert(write(tmp_path / "t.xml", to_wsxf(uut())[:-20]), {})
    empty = b'<Reports xmlns="http://www.wats.com/XmlFormats/2009/Report"/>'
    with pytest.raises(ConversionError, match="no <Report>"):
        converter.convert(write(tmp_path / "e.xml", empty), {})
    blank = to_wsxf(uut(), uut("SN-2")).replace(b'SN="SN-2"', b'SN=" "')
    with pytest.raises(ReportValidationError) as caught:
        converter.convert(write(tmp_path / "b.xml", blank), {})
    assert [i.path for i in caught.value.issues] == ["[1].sn"]
    assert converter.validate(tmp_path / "nope.xml").confidence == 0.0


# --- CSV ------------------------------------------------------------------------------------

GOOD_CSV = """\
WATS-CSV,1
# a comment line
PartNumber,PN-100
SerialNumber,SN-0001
Revision,B
ProcessCode,10
Station,ST-7
Location,Line 2
Purpose,Production
Operator,alice
StartTime,2026-11-21T08:30:00+01:00
Comment,"night shift, batch 4"
ExecTime,12.5
FixtureId,FX-3
Misc,Firmware,1.2.3
SubUnit,PCB-1,PCB-SN-9,C,PCB

Step,Type,Value,Unit,Low,High,Comp,Status,Sequence
Supply voltage,numeric,5.02,V,4.5,5.5,,,Power
Current,,0.25,A,,0.5,LE,,Power/Rails
Leak,numeric,0.9,mA,1,,LT,,
Ripple,,10,mV,,20,,,
LED,passfail,pass,,,,,,
Firmware,string,1.2.3,,1.2.3,,,,
Label,string,abc,,ABC,,IGNORECASE,,
Serial read,,hello,,,,,,
Calibrate,action,,,,,,,
Skipped one,numeric,0,,,,,Skipped,
Pause,,,,,,,,
"""


def test_csv_builds_the_report(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", GOOD_CSV)
    converter = CSVConverter()
    assert converter.validate(path).confidence == 1.0
    [report] = converter.convert(path, {})
    assert isinstance(report, UUTReport)
    assert (report.part_number, report.serial_number, report.revision) == ("PN-100", "SN-0001", "B")
    assert report.process_code == 10
    assert (report.machine_name, report.location, report.purpose) == (
        "ST-7",
        "Line 2",
        "Production",
    )
    assert report.start == datetime(2026, 11, 21, 8, 30, tzinfo=timezone(timedelta(hours=1)))
    assert report.uut.operator == "alice"
    assert report.uut.comment == "night shift, batch 4"
    assert report.uut.exec_time == 12.5
    assert report.uut.fixture_id == "FX-3"
    assert [(m.description, m.text) for m in report.misc_infos] == [("Firmware", "1.2.3")]
    assert report.sub_units[0].serial_number == "PCB-SN-9"
    assert report.sub_units[0].part_type == "PCB"
    steps = report.root.steps
    power = steps[0]
    assert isinstance(power, SequenceCall)
    assert power.name == "Power"
    assert isinstance(power.steps[0], NumericStep)
    assert power.steps[0].numeric_meas[0].unit == "V"
    rails = power.steps[1]
    assert isinstance(rails, SequenceCall)
    assert rails.name == "Rails"
    assert isinstance(rails.steps[0], NumericStep)
    assert rails.steps[0].numeric_meas[0].comp_op == "LE"
    assert rails.steps[0].numeric_meas[0].low_limit == 0.5
    names = [s.name for s in steps[1:]]
    assert names == [
        "Leak",
        "Ripple",
        "LED",
        "Firmware",
        "Label",
        "Serial read",
        "Calibrate",
        "Skipped one",
        "Pause",
    ]
    ripple = steps[2]
    assert isinstance(ripple, NumericStep)
    assert ripple.numeric_meas[0].comp_op == "LE"
    assert ripple.numeric_meas[0].low_limit == 20
    assert isinstance(steps[3], BooleanStep)
    assert isinstance(steps[4], StringStep)
    assert steps[4].status == StepStatus.PASSED
    assert steps[5].status == StepStatus.PASSED  # IGNORECASE
    assert isinstance(steps[6], StringStep)
    assert steps[7].step_type == "Action"
    assert steps[7].status == StepStatus.DONE
    assert steps[8].status == StepStatus.SKIPPED
    assert steps[9].step_type == "Action"
    assert report.result == ReportResult.PASSED


def test_csv_failing_step_fails_the_report_and_ids_are_stable(tmp_path: Path) -> None:
    text = GOOD_CSV.replace("Supply voltage,numeric,5.02", "Supply voltage,numeric,6.1")
    path = write(tmp_path / "log.csv", text)
    [report] = CSVConverter().convert(path, {})
    assert report.result == ReportResult.FAILED
    assert report.id == CSVConverter().convert(path, {})[0].id
    other = write(tmp_path / "good.csv", GOOD_CSV)
    assert CSVConverter().convert(other, {})[0].id != report.id


def test_csv_explicit_id_result_settings_and_delimiter(tmp_path: Path) -> None:
    report_id = uuid.uuid4()
    text = (
        "\ufeffWATS-CSV;1\n"
        "pn;PN-1\nsn;SN-1\nrev;A\nprocess_code;50\nStart;2026-11-21T08:30:00Z\n"
        f"Report Id;{report_id}\nResult;Error\n"
        "step;value\nV;1\n"
    )
    path = write(tmp_path / "semi.csv", text)
    settings = {"delimiter": ";", "station": "ST-9", "location": "Hall", "purpose": "QA"}
    [report] = CSVConverter().convert(path, settings)
    assert report.id == report_id
    assert report.result == ReportResult.ERROR
    assert (report.machine_name, report.location, report.purpose) == ("ST-9", "Hall", "QA")


HEADER = (
    "WATS-CSV,1\nPartNumber,PN\nSerialNumber,SN\nRevision,A\nProcessCode,10\n"
    "Station,ST\nStartTime,2026-11-21T08:30:00Z\n"
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the file is empty"),
        ("WATS-CSV,2\n" + HEADER[11:] + "Step,Value\nA,1\n", "line 1: WATS-CSV version '2'"),
        (HEADER + "Colour,red\nStep,Value\nA,1\n", "line 8: unknown header key 'Colour'"),
        (HEADER + "PartNumber,X\nStep,Value\nA,1\n", "line 8: PartNumber is given twice"),
        (HEADER + "Misc,Only\nStep,Value\nA,1\n", "line 8: a Misc line is"),
        (HEADER + "SubUnit,x\nStep,Value\nA,1\n", "line 8: a SubUnit line is"),
        (HEADER, "no step table"),
        (HEADER.replace("ProcessCode,10", "ProcessCode,ten") + "Step,Value\nA,1\n", "not a whole"),
        (HEADER.replace("Revision,A\n", "") + "Step,Value\nA,1\n", "has no Revision"),
        (HEADER.replace("08:30:00Z", "08:30:00") + "Step,Value\nA,1\n", "needs a UTC offset"),
        (HEADER.replace("2026-11-21T08:30:00Z", "yesterday") + "Step,Value\nA,1\n", "ISO 8601"),
        (HEADER + "Result,Great\nStep,Value\nA,1\n", "Result 'Great'"),
        (HEADER + "ReportId,abc\nStep,Value\nA,1\n", "ReportId 'abc' is not a UUID"),
        (HEADER + "ExecTime,long\nStep,Value\nA,1\n", "ExecTime 'long' is not a number"),
        (HEADER + "Step,Value,Colour\nA,1,red\n", "line 8: unknown column(s) Colour"),
        (HEADER + "Step,Unit\nA,V\n", "no Value column"),
        (HEADER + "Step,Value\n", "the step table has no rows"),
        (HEADER + "Step,Value\nA,1,2\n", "line 9: 3 cells but 2 columns"),
        (HEADER + "Step,Value\n,1\n", "line 9: the Step cell"),
        (HEADER + "Step,Type,Value\nA,chart,1\n", "Type 'chart'"),
        (HEADER + "Step,Value,Status\nA,1,Maybe\n", "Status 'Maybe'"),
        (HEADER + "Step,Type,Value\nA,numeric,x\n", "line 9: Value 'x' is not a number"),
        (HEADER + "Step,Value,Low\nA,1,nan\n", "Low must not be NaN"),
        (HEADER + "Step,Type,Value\nA,passfail,maybe\n", "pass/fail value 'maybe'"),
        (HEADER + "Step,Value,Comp\nA,1,ABOUT\n", "line 9: step 'A': 'ABOUT' is not a valid"),
        (HEADER + 'Step,Value\n"A,1\n', "not readable as CSV"),
    ],
)
def test_csv_errors_name_the_line(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(ConversionError) as caught:
        CSVConverter().convert(path, {})
    assert reason in caught.value.reason


def test_csv_rejects_non_utf8_bad_delimiter_and_invalid_report(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="not UTF-8"):
        CSVConverter().convert(write(tmp_path / "l1.csv", b"WATS-CSV,1\nPartNumber,\xe9\n"), {})
    path = write(tmp_path / "ok.csv", HEADER + "Step,Value\nA,1\n")
    with pytest.raises(ConversionError, match="one character"):
        CSVConverter().convert(path, {"delimiter": ";;"})
    long = write(
        tmp_path / "long.csv", HEADER.replace("SN\n", "S" * 101 + "\n") + "Step,Value\nA,1\n"
    )
    with pytest.raises(ReportValidationError, match="sn: is 101 characters"):
        CSVConverter().convert(long, {})
    two = write(tmp_path / "two.csv", HEADER + "Step,Value,High,Comp\nA,1,2,GELE\n")
    with pytest.raises(ReportValidationError, match="GELE needs a lowLimit"):
        CSVConverter().convert(two, {})


def test_csv_station_defaults_to_this_host(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", HEADER.replace("Station,ST\n", "") + "Step,Value\nA,1\n")
    [report] = CSVConverter().convert(path, {})
    assert report.machine_name == Station.local().name
    assert (report.location, report.purpose) == ("Unknown", "Test")


def test_csv_validate(tmp_path: Path) -> None:
    converter = CSVConverter()
    unmarked = write(tmp_path / "u.csv", HEADER[11:] + "Step,Value\nA,1\n")
    assert converter.validate(unmarked).confidence == 0.5
    [report] = converter.convert(unmarked, {})
    assert report.part_number == "PN"
    assert converter.validate(write(tmp_path / "x.csv", "a,b,c\n1,2,3\n")).confidence == 0.0
    assert converter.validate(tmp_path / "none.csv").confidence == 0.0

"""Report models, the builder, status derivation and validation with field paths."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pywats import (
    BooleanStep,
    CompOp,
    GenericStep,
    NumericMeasurement,
    NumericStep,
    ReportResult,
    ReportValidationError,
    SequenceCall,
    Station,
    StepStatus,
    StringMeasurement,
    StringStep,
    UURBuilder,
    UURReport,
    UUTBuilder,
    UUTReport,
    parse_report,
    validate_report,
)
from pywats._wire import worst

STATION = Station("ST1", "Lab", "Dev")


def builder(**kwargs: object) -> UUTBuilder:
    fields: dict[str, object] = {
        "part_number": "PN-1",
        "serial_number": "SN-1",
        "revision": "A",
        "process_code": 10,
        "station": STATION,
        "operator": "op",
    }
    fields.update(kwargs)
    return UUTBuilder(**fields)  # type: ignore[arg-type]


def test_minimal_report_serialises_as_wats_expects() -> None:
    start = datetime(2026, 11, 21, 22, 31, 12, 43999, tzinfo=UTC)
    report = builder(start=start).misc("Fw", "1.0").sub_unit("SPN", "SSN", "B", "PCB")
    report.numeric("V", 5.0, unit="V", low=4.5, high=5.5)
    data = json.loads(report.build().to_wsjf())
    assert data["type"] == "T"
    assert (data["pn"], data["sn"], data["rev"], data["processCode"]) == ("PN-1", "SN-1", "A", 10)
    assert (data["machineName"], data["location"], data["purpose"]) == ("ST1", "Lab", "Dev")
    assert data["start"] == "2026-11-21T22:31:12.043999Z"
    assert data["uut"] == {"user": "op", "fixtureId": "Fixture"}
    assert data["miscInfos"] == [{"description": "Fw", "text": "1.0"}]
    assert data["subUnits"] == [{"pn": "SPN", "sn": "SSN", "rev": "B", "partType": "PCB"}]
    root = data["root"]
    assert root["stepType"] == "SequenceCall"
    assert root["name"] == "MainSequence Callback"
    assert root["seqCall"] == {
        "path": "C:/SequenceCall.seq",
        "name": "TestSequence.seq",
        "version": "1.0.0",
    }
    assert root["steps"][0]["numericMeas"] == [
        {
            "status": "P",
            "value": 5.0,
            "unit": "V",
            "compOp": "GELE",
            "lowLimit": 4.5,
            "highLimit": 5.5,
        }
    ]
    assert "startUTC" not in data
    assert "origin" not in data


def test_nan_and_infinities_serialise_as_strings_and_read_back() -> None:
    b = builder()
    b.numeric("nan", math.nan, comp=CompOp.LOG)
    b.numeric("inf", math.inf, low=-math.inf, high=math.inf)
    report = b.build()
    data = json.loads(report.to_wsjf())
    steps = data["root"]["steps"]
    assert steps[0]["numericMeas"][0]["value"] == "NaN"
    assert steps[1]["numericMeas"][0]["value"] == "Infinity"
    assert steps[1]["numericMeas"][0]["lowLimit"] == "-Infinity"
    back = parse_report(report.to_wsjf())
    assert isinstance(back, UUTReport)
    step = back.root.steps[0]
    assert isinstance(step, NumericStep)
    assert step.numeric_meas[0].value is not None
    assert math.isnan(step.numeric_meas[0].value)
    assert back.to_dict() == report.to_dict()


def test_failed_measurement_fails_its_sequence_and_the_report() -> None:
    b = builder()
    with b.sequence("Power") as power:
        power.numeric("V", 6.0, unit="V", low=4.5, high=5.5)
        power.numeric("I", 0.5, low=0.0, high=1.0)
    b.passfail("LED", True)
    report = b.build()
    power_step = report.root.steps[0]
    assert isinstance(power_step, SequenceCall)
    assert [s.status for s in power_step.steps] == [StepStatus.FAILED, StepStatus.PASSED]
    assert power_step.status is StepStatus.FAILED
    assert report.root.status is StepStatus.FAILED
    assert report.result is ReportResult.FAILED


def test_explicit_statuses_win_over_derived_ones() -> None:
    b = builder(result=ReportResult.TERMINATED)
    seq = b.sequence("Forced", status=StepStatus.PASSED)
    seq.numeric("V", 9.0, low=0.0, high=1.0, status=StepStatus.PASSED)
    b.passfail("Ok", False, status=StepStatus.ERROR)
    report = b.build()
    assert report.root.steps[0].status is StepStatus.PASSED
    assert report.root.status is StepStatus.ERROR
    assert report.result is ReportResult.TERMINATED


def test_error_step_makes_an_error_report() -> None:
    report = builder().action("Crash", status=StepStatus.ERROR).build()
    assert report.result is ReportResult.ERROR


@pytest.mark.parametrize(
    ("op", "value", "low", "high", "passed"),
    [
        (CompOp.EQ, 1.0, 1.0, None, True),
        (CompOp.NE, 1.0, 1.0, None, False),
        (CompOp.LT, 0.5, 1.0, None, True),
        (CompOp.LE, 1.0, 1.0, None, True),
        (CompOp.GT, 1.0, 1.0, None, False),
        (CompOp.GE, 1.0, 1.0, None, True),
        (CompOp.EQT, 1.05, 1.0, 0.1, True),
        (CompOp.EQT, 1.0, 1.0, None, True),
        (CompOp.GTLT, 1.0, 1.0, 2.0, False),
        (CompOp.GTLE, 2.0, 1.0, 2.0, True),
        (CompOp.GELT, 2.0, 1.0, 2.0, False),
        (CompOp.GELE, 1.0, 1.0, 2.0, True),
        (CompOp.LTGT, 3.0, 1.0, 2.0, True),
        (CompOp.LTGE, 2.0, 1.0, 2.0, True),
        (CompOp.LEGT, 1.5, 1.0, 2.0, False),
        (CompOp.LEGE, 1.0, 1.0, 2.0, True),
        (CompOp.LOG, math.nan, None, None, True),
        (CompOp.GELE, math.nan, 1.0, 2.0, False),
        (CompOp.GELE, 1.5, 1.0, None, False),
        (CompOp.GE, None, 1.0, None, False),
    ],
)
def test_numeric_evaluation(
    op: CompOp, value: float | None, low: float | None, high: float | None, passed: bool
) -> None:
    meas = NumericMeasurement(value=value, comp_op=op, low_limit=low, high_limit=high)
    assert (meas.evaluate() is StepStatus.PASSED) is passed


def test_string_evaluation() -> None:
    assert StringMeasurement(value="Ab", comp_op=CompOp.IGNORECASE, limit="aB").evaluate() == "P"
    assert StringMeasurement(value="Ab", comp_op=CompOp.CASESENSIT, limit="aB").evaluate() == "F"
    assert StringMeasurement(value="x", comp_op=CompOp.LOG).evaluate() == "P"


def test_multi_measurement_steps() -> None:
    b = builder()
    b.multi_numeric(
        "Rails",
        [
            NumericMeasurement(
                name="3V3", value=3.3, comp_op=CompOp.GELE, low_limit=3.2, high_limit=3.4
            ),
            NumericMeasurement(
                name="5V", value=4.0, comp_op=CompOp.GELE, low_limit=4.8, high_limit=5.2
            ),
        ],
    )
    b.multi_passfail("Checks", {"a": True, "b": True})
    b.multi_string(
        "Ids", [StringMeasurement(name="fw", value="1", comp_op=CompOp.CASESENSIT, limit="1")]
    )
    b.string("Log", "free text")
    report = b.build()
    rails, checks, ids, log = report.root.steps
    assert isinstance(rails, NumericStep)
    assert rails.step_type == "ET_MNLT"
    assert [m.status for m in rails.numeric_meas] == ["P", "F"]
    assert rails.status is StepStatus.FAILED
    assert isinstance(checks, BooleanStep)
    assert checks.step_type == "ET_MPFT"
    assert checks.status is StepStatus.PASSED
    assert isinstance(ids, StringStep)
    assert ids.step_type == "ET_MSVT"
    assert isinstance(log, StringStep)
    assert log.string_meas[0].comp_op is CompOp.LOG


def test_single_limit_must_go_in_low() -> None:
    with pytest.raises(ValueError, match="low="):
        builder().numeric("V", 1.0, high=2.0)


def test_unknown_step_types_are_kept_on_read() -> None:
    report = builder().build()
    data = report.to_dict()
    data["root"]["steps"] = [
        {"stepType": "Flow_If", "name": "if", "status": "D"},
        {"stepType": "NumericLimitTest", "name": "long alias", "numericMeas": [{"value": 1}]},
    ]
    back = parse_report(data)
    assert isinstance(back, UUTReport)
    flow, numeric = back.root.steps
    assert isinstance(flow, GenericStep)
    assert flow.step_type == "Flow_If"
    assert isinstance(numeric, NumericStep)
    assert back.to_dict()["root"]["steps"][0]["stepType"] == "Flow_If"


def issues_of(report: UUTReport | UURReport) -> dict[str, str]:
    return {i.path: i.message for i in validate_report(report)}


def test_valid_report_has_no_issues() -> None:
    assert issues_of(builder().numeric("V", 1.0).build()) == {}


def test_validation_names_the_bad_fields() -> None:
    report = builder(part_number=" ").numeric("V", 1.0, low=0.0, high=2.0).build(validate=False)
    report.machine_name = "x" * 101
    step = report.root.steps[0]
    assert isinstance(step, NumericStep)
    step.numeric_meas[0].high_limit = None
    step.numeric_meas.append(NumericMeasurement(value=2.0))
    report.root.steps.append(
        StringStep(name="", string_meas=[StringMeasurement(value="a", comp_op=CompOp.GT)])
    )
    report.root.steps.append(BooleanStep(name="nothing"))
    report.root.steps.append(
        StringStep(name="s", string_meas=[StringMeasurement(value="a", comp_op=CompOp.CASESENSIT)])
    )
    found = issues_of(report)
    assert found == {
        "pn": "must not be empty",
        "machineName": "is 101 characters; at most 100",
        "root.steps[0].numericMeas": found["root.steps[0].numericMeas"],
        "root.steps[0].numericMeas[0].highLimit": "GELE needs a highLimit",
        "root.steps[1].name": "must not be empty",
        "root.steps[1].stringMeas[0].compOp": found["root.steps[1].stringMeas[0].compOp"],
        "root.steps[2].booleanMeas": "needs at least one measurement",
        "root.steps[3].stringMeas[0].limit": "CASESENSIT needs a limit",
    }
    assert "multi-measurement" in found["root.steps[0].numericMeas"]
    assert "LOG, CASESENSIT or IGNORECASE" in found["root.steps[1].stringMeas[0].compOp"]
    with pytest.raises(ReportValidationError) as caught:
        validate_and_raise(report)
    assert {i.path for i in caught.value.issues} == set(found)
    assert "machineName" in str(caught.value)


def validate_and_raise(report: UUTReport) -> None:
    from pywats._validation import check_report

    check_report(report)


def test_numeric_comp_op_and_names_of_multi_steps() -> None:
    report = builder().build()
    report.root.steps.append(
        NumericStep(
            step_type="ET_MNLT",
            name="m",
            numeric_meas=[NumericMeasurement(value=1.0, comp_op=CompOp.IGNORECASE)],
        )
    )
    report.root.steps.append(
        BooleanStep(step_type="ET_MPFT", name="b", boolean_meas=[{"value": True}])  # type: ignore[list-item]
    )
    report.root.steps.append(
        StringStep(step_type="ET_MSVT", name="s", string_meas=[StringMeasurement(value="a")])
    )
    found = issues_of(report)
    assert found["root.steps[0].numericMeas[0].name"] == "must not be empty"
    assert "compares strings" in found["root.steps[0].numericMeas[0].compOp"]
    assert found["root.steps[1].booleanMeas[0].name"] == "must not be empty"
    assert found["root.steps[2].stringMeas[0].name"] == "must not be empty"


def test_type_errors_carry_wire_paths() -> None:
    data = builder().numeric("V", 1.0).build().to_dict()
    data["root"]["steps"][0]["numericMeas"][0]["compOp"] = "ABOUT"
    data["root"]["steps"][0]["status"] = "X"
    data["start"] = "2026-01-01T00:00:00"
    with pytest.raises(ReportValidationError) as caught:
        parse_report(data)
    paths = {i.path for i in caught.value.issues}
    assert paths == {
        "start",
        "root.steps[0].status",
        "root.steps[0].numericMeas[0].compOp",
    }


def test_assignments_are_validated_and_list_contents_rechecked() -> None:
    report = builder().numeric("V", 1.0).build()
    with pytest.raises(ValueError, match="status"):
        report.root.status = "Q"  # type: ignore[assignment]
    report.result = "F"  # type: ignore[assignment]
    assert report.result is ReportResult.FAILED
    # Appending to a list is not validated: a raw dict is found and checked as a step.
    report.root.steps.append({"stepType": "ET_NLT", "name": "raw"})  # type: ignore[arg-type]
    assert issues_of(report) == {"root.steps[1].numericMeas": "needs at least one measurement"}
    with pytest.raises(ReportValidationError):
        validate_and_raise(report)
    report.root.steps[1] = {"stepType": "ET_NLT", "status": "Q"}  # type: ignore[call-overload]
    assert set(issues_of(report)) == {"root.steps[1].name", "root.steps[1].status"}


def test_parse_report_rejects_non_objects() -> None:
    with pytest.raises(ReportValidationError, match="JSON object"):
        parse_report("[1, 2]")
    # Not JSON at all (or not UTF-8): the same error, not a bare ValueError.
    with pytest.raises(ReportValidationError, match="not JSON"):
        parse_report('{"id": ')
    with pytest.raises(ReportValidationError, match="not JSON"):
        parse_report(b"\xff\xfe{}")


def test_repair_report_from_a_test_report() -> None:
    failed = builder().numeric("V", 9.0, low=0.0, high=1.0).build()
    repair = (
        UURBuilder.from_uut(failed, operator="tech", comment="reworked")
        .sub_unit("SPN", "SSN-2", "B", part_type="PCB", replaced_idx=None)
        .failure("Solder", "S01", comment="bridge", idx=1)
        .misc("Bench", "3")
        .build()
    )
    data = repair.to_dict()
    assert data["type"] == "R"
    assert data["processCode"] == 500
    assert data["uur"]["refUUT"] == str(failed.id)
    assert data["uur"]["testOperationCode"] == 10
    assert data["uur"]["user"] == "tech"
    assert [s["idx"] for s in data["subUnits"]] == [0, 1]
    assert data["subUnits"][0]["partType"] == "Main"
    assert data["subUnits"][1]["failures"] == [
        {"category": "Solder", "code": "S01", "comment": "bridge"}
    ]
    assert (data["machineName"], data["location"]) == ("ST1", "Lab")
    assert isinstance(parse_report(data), UURReport)
    with pytest.raises(ValueError, match="idx=7"):
        UURBuilder.from_uut(failed).failure("x", "y", idx=7)


def test_builder_defaults_to_the_local_station_and_now() -> None:
    before = datetime.now(UTC)
    report = UUTBuilder(part_number="P", serial_number="S", revision="1", process_code=10).build()
    assert report.machine_name
    assert report.start >= before - timedelta(seconds=1)
    uur = UURBuilder(part_number="P", serial_number="S", revision="1").build()
    assert uur.machine_name == report.machine_name


def test_offsets_other_than_utc_are_kept() -> None:
    start = datetime(2026, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    report = builder(start=start, report_id=uuid.UUID(int=1)).build()
    data = report.to_dict()
    assert data["start"] == "2026-05-01T08:00:00+02:00"
    assert data["id"] == "00000000-0000-0000-0000-000000000001"


def test_worst_status_ranks_errors_over_failures() -> None:
    assert worst([StepStatus.FAILED, StepStatus.ERROR]) is StepStatus.ERROR
    assert worst([StepStatus.SKIPPED, StepStatus.DONE]) is StepStatus.PASSED
    assert worst([StepStatus.TERMINATED, StepStatus.FAILED]) is StepStatus.TERMINATED
    assert CompOp.GELE.limits == 2
    assert CompOp.LOG.limits == 0
    assert CompOp.IGNORECASE.is_string


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda r: r.misc_infos.append({"description": ""}), "miscInfos[1].description"),
        (lambda r: r.sub_units.append({"pn": "", "sn": "x"}), "subUnits[1].pn"),
        (lambda r: r.assets.append({"sn": "A", "usageCount": "many"}), "assets[0].usageCount"),
        (
            lambda r: r.root.steps[0].numeric_meas.append({"compOp": "GT"}),
            "root.steps[0].numericMeas",
        ),
        (
            lambda r: r.root.steps[1].boolean_meas.append({"value": "maybe"}),
            "root.steps[1].booleanMeas[1].value",
        ),
        (
            lambda r: r.root.steps[2].string_meas.append({"compOp": "LT"}),
            "root.steps[2].stringMeas",
        ),
    ],
)
def test_wrong_list_contents_are_found_before_submit(mutate: object, path: str) -> None:
    from pywats._validation import check_report

    report = builder().misc("Fw", "1").sub_unit("P", "S").numeric("V", 1.0).passfail("B", True)
    built = report.string("S", "x").build()
    mutate(built)  # type: ignore[operator]
    with pytest.raises(ReportValidationError) as caught:
        check_report(built)
    assert any(i.path.startswith(path) for i in caught.value.issues), caught.value.issues


def test_repair_report_list_contents_are_checked() -> None:
    from pywats._validation import check_report

    failed = builder().build()
    repair = UURBuilder.from_uut(failed).failure("c", "x").build()
    check_report(repair)
    repair.sub_units[0].failures.append({"category": "c", "code": ""})  # type: ignore[arg-type]
    with pytest.raises(ReportValidationError, match=r"subUnits\[0\]\.failures\[1\]\.code"):
        check_report(repair)
    repair.sub_units[0].failures.pop()
    repair.root = SequenceCall(name="")
    with pytest.raises(ReportValidationError, match=r"root\.name"):
        check_report(repair)


def test_builder_refuses_unknown_fields() -> None:
    with pytest.raises(TypeError, match="tot_tme"):
        builder().numeric("V", 1.0, tot_tme=2.0)
    with pytest.raises(TypeError, match="fixture"):
        builder(fixture="F1")
    failed = builder().build()
    with pytest.raises(TypeError, match="severity"):
        UURBuilder.from_uut(failed).failure("c", "x", severity=3)
    step = builder().action("A", tot_time=1.5, report_text="ok").build().root.steps[0]
    assert (step.tot_time, step.report_text) == (1.5, "ok")

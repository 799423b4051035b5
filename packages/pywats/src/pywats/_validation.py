"""Report validation: the rules WATS enforces, each failure with the path of the bad field.

Two layers. pydantic checks types and letter codes when a report is built or parsed
(:func:`from_pydantic` turns its errors into :class:`~pywats.errors.ReportValidationError`
with WSJF paths). :func:`validate_report` then checks what types cannot say: required text
is non-empty and at most 100 characters, measurement steps carry measurements, limits are
present as the comparison operator needs, string operators only on string measurements.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pywats._report import (
    AssetUsage,
    Failure,
    MiscInfo,
    ReportBase,
    SubUnit,
    UURReport,
    UURSubUnit,
    UUTReport,
)
from pywats._steps import (
    MULTI_TYPES,
    STEP_TAGS,
    BooleanMeasurement,
    BooleanStep,
    NumericMeasurement,
    NumericStep,
    SequenceCall,
    StepBase,
    StringMeasurement,
    StringStep,
)
from pywats._wire import CompOp
from pywats.errors import ReportValidationError, ValidationIssue

MAX_TEXT = 100
"""Longest part number, serial number, revision, station field or step name WATS stores."""

_M = TypeVar("_M", bound=BaseModel)


def format_loc(loc: Sequence[int | str]) -> str:
    """Format a pydantic location as a WSJF path: ``root.steps[3].numericMeas[0].lowLimit``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in STEP_TAGS or part.startswith("function-"):
            # Discriminated-union tags name the class tried, not a field.
            continue
        else:
            out += f".{part}" if out else part
    return out


def from_pydantic(cls: type[_M], data: Any) -> _M:
    """Validate ``data`` as ``cls``; raise :class:`ReportValidationError` with WSJF paths."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        issues = [
            ValidationIssue(path=format_loc(err["loc"]), message=err["msg"])
            for err in exc.errors(include_url=False)
        ]
        raise ReportValidationError(issues) from None


def _text(issues: list[ValidationIssue], path: str, value: str | None) -> None:
    if value is None or not value.strip():
        issues.append(ValidationIssue(path, "must not be empty"))
    elif len(value) > MAX_TEXT:
        issues.append(ValidationIssue(path, f"is {len(value)} characters; at most {MAX_TEXT}"))


def validate_report(report: ReportBase) -> list[ValidationIssue]:
    """Return every rule ``report`` breaks (an empty list when WATS would accept it)."""
    # Assignments are validated, but list contents (steps.append(...)) are not: the types of
    # the whole report are checked again before the rules.
    data = report.model_dump(by_alias=True, warnings=False)
    try:
        checked = type(report).model_validate(data)
    except ValidationError as exc:
        return [
            ValidationIssue(path=format_loc(err["loc"]), message=err["msg"])
            for err in exc.errors(include_url=False)
        ]
    return rule_issues(checked)


def rule_issues(report: ReportBase) -> list[ValidationIssue]:
    """Return the rules a report with valid types breaks (text lengths, limits, counts)."""
    issues: list[ValidationIssue] = []
    for path, value in (
        ("pn", report.part_number),
        ("sn", report.serial_number),
        ("rev", report.revision),
        ("machineName", report.machine_name),
        ("location", report.location),
        ("purpose", report.purpose),
    ):
        _text(issues, path, value)
    if report.start.tzinfo is None:  # pragma: no cover - pydantic's AwareDatetime refuses it
        issues.append(ValidationIssue("start", "needs a UTC offset"))
    for i, misc in enumerate(report.misc_infos):
        _text(issues, f"miscInfos[{i}].description", misc.description)
    if isinstance(report, UUTReport):
        for i, sub in enumerate(report.sub_units):
            _text(issues, f"subUnits[{i}].pn", sub.part_number)
            _text(issues, f"subUnits[{i}].sn", sub.serial_number)
        _steps(issues, "root", report.root)
    elif isinstance(report, UURReport):
        for i, sub in enumerate(report.sub_units):
            _text(issues, f"subUnits[{i}].pn", sub.part_number)
            _text(issues, f"subUnits[{i}].sn", sub.serial_number)
            for j, failure in enumerate(sub.failures):
                _text(issues, f"subUnits[{i}].failures[{j}].code", failure.code)
        if report.root is not None:
            _steps(issues, "root", report.root)
    return issues


def check_report(report: ReportBase) -> None:
    """Raise :class:`ReportValidationError` if ``report`` breaks a WATS rule.

    The type check of :func:`validate_report` is the costly part of a submit; it is run only
    when a list holds something other than the model it should (assignments to fields are
    validated when made), otherwise the rules alone are checked.
    """
    issues = rule_issues(report) if _well_typed(report) else validate_report(report)
    if issues:
        raise ReportValidationError(issues)


def _all(items: object, cls: type | tuple[type, ...]) -> bool:
    return isinstance(items, list) and all(isinstance(item, cls) for item in items)


def _well_typed(report: ReportBase) -> bool:
    """Whether every list in the report holds only the models it is declared with."""
    if not (_all(report.misc_infos, MiscInfo) and _all(report.assets, AssetUsage)):
        return False
    if isinstance(report, UUTReport):
        return _all(report.sub_units, SubUnit) and _step_typed(report.root)
    if isinstance(report, UURReport):
        subs_ok = _all(report.sub_units, UURSubUnit) and all(
            _all(sub.failures, Failure) for sub in report.sub_units
        )
        return subs_ok and (report.root is None or _step_typed(report.root))
    return False


def _step_typed(step: object) -> bool:
    if isinstance(step, SequenceCall):
        return _all(step.steps, StepBase) and all(_step_typed(child) for child in step.steps)
    if isinstance(step, NumericStep):
        return _all(step.numeric_meas, NumericMeasurement)
    if isinstance(step, BooleanStep):
        return _all(step.boolean_meas, BooleanMeasurement)
    if isinstance(step, StringStep):
        return _all(step.string_meas, StringMeasurement)
    return isinstance(step, StepBase)


def _steps(issues: list[ValidationIssue], path: str, step: StepBase) -> None:
    # Every step of every submit passes here: the paths of fields are formatted only for a
    # step that breaks a rule.
    if not _text_ok(step.name):
        _text(issues, f"{path}.name", step.name)
    if isinstance(step, SequenceCall):
        for i, child in enumerate(step.steps):
            _steps(issues, f"{path}.steps[{i}]", child)
        return
    _measurements(issues, path, step)


def _measurements(issues: list[ValidationIssue], path: str, step: StepBase) -> None:
    multi = step.step_type in MULTI_TYPES
    if isinstance(step, NumericStep):
        _count(issues, path, "numericMeas", len(step.numeric_meas), multi)
        for i, num in enumerate(step.numeric_meas):
            if not _numeric_ok(num, multi):
                where = f"{path}.numericMeas[{i}]"
                if multi:
                    _text(issues, f"{where}.name", num.name)
                _limits(issues, where, num.comp_op, num.low_limit, num.high_limit)
    elif isinstance(step, BooleanStep):
        _count(issues, path, "booleanMeas", len(step.boolean_meas), multi)
        if multi:
            for i, flag in enumerate(step.boolean_meas):
                if not _text_ok(flag.name):
                    _text(issues, f"{path}.booleanMeas[{i}].name", flag.name)
    elif isinstance(step, StringStep):
        _count(issues, path, "stringMeas", len(step.string_meas), multi)
        for i, text in enumerate(step.string_meas):
            if not _string_ok(text, multi):
                _string_issues(issues, f"{path}.stringMeas[{i}]", text, multi)


def _text_ok(value: str | None) -> bool:
    return value is not None and 0 < len(value) <= MAX_TEXT and not value.isspace()


def _numeric_ok(num: NumericMeasurement, multi: bool) -> bool:
    op = num.comp_op
    return (
        (not multi or _text_ok(num.name))
        and not op.is_string
        and (op.limits < 1 or num.low_limit is not None)
        and (op.limits < 2 or num.high_limit is not None)
    )


def _string_ok(text: StringMeasurement, multi: bool) -> bool:
    op = text.comp_op
    limit_ok = op is CompOp.LOG or (op.is_string and text.limit is not None)
    return limit_ok and (not multi or _text_ok(text.name))


def _string_issues(
    issues: list[ValidationIssue], where: str, text: StringMeasurement, multi: bool
) -> None:
    if multi:
        _text(issues, f"{where}.name", text.name)
    if text.comp_op is not CompOp.LOG and not text.comp_op.is_string:
        issues.append(
            ValidationIssue(
                f"{where}.compOp",
                f"{text.comp_op.value} compares numbers; a string measurement takes "
                "LOG, CASESENSIT or IGNORECASE",
            )
        )
    elif text.comp_op.is_string and text.limit is None:
        issues.append(ValidationIssue(f"{where}.limit", f"{text.comp_op.value} needs a limit"))


def _count(issues: list[ValidationIssue], path: str, field: str, n: int, multi: bool) -> None:
    if n == 0:
        issues.append(ValidationIssue(f"{path}.{field}", "needs at least one measurement"))
    elif n > 1 and not multi:
        issues.append(
            ValidationIssue(
                f"{path}.{field}",
                f"has {n} measurements; a single-measurement step takes one "
                "(use the multi-measurement step type)",
            )
        )


def _limits(
    issues: list[ValidationIssue],
    where: str,
    op: CompOp,
    low: float | None,
    high: float | None,
) -> None:
    if op.is_string:
        issues.append(
            ValidationIssue(
                f"{where}.compOp", f"{op.value} compares strings; not valid on a number"
            )
        )
        return
    if op.limits >= 1 and low is None:
        issues.append(ValidationIssue(f"{where}.lowLimit", f"{op.value} needs a lowLimit"))
    if op.limits == 2 and high is None:
        issues.append(ValidationIssue(f"{where}.highLimit", f"{op.value} needs a highLimit"))

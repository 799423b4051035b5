"""WSJF reports: a UUT (test) or UUR (repair) report, its header fields and parts.

:func:`parse_report` picks the class the way WATS does: a report with a ``uur`` object is a
repair report, anything else a test report.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from pywats._steps import SequenceCall
from pywats._wire import ReportResult, WireModel, alias


def _now() -> datetime:
    return datetime.now(UTC)


class MiscInfo(WireModel):
    """A free-form ``description: text`` pair searchable on the server."""

    description: str
    text: str = ""


class SubUnit(WireModel):
    """A part built into the unit under test."""

    part_number: str = alias("pn")
    serial_number: str = alias("sn")
    revision: str = alias("rev", "")
    part_type: str | None = None


class Failure(WireModel):
    """A failure found during repair, on a UUR sub-unit."""

    category: str
    code: str
    comment: str | None = None
    com_ref: str | None = None
    func_block: str | None = None
    ref_step_id: int | None = None
    ref_step_name: str | None = None
    art_number: str | None = None
    art_rev: str | None = None
    art_vendor: str | None = None
    art_description: str | None = None


class UURSubUnit(SubUnit):
    """A part of a repaired unit, with the failures found on it (index 0 is the main unit)."""

    idx: int = 0
    parent_idx: int | None = None
    replaced_idx: int | None = None
    failures: list[Failure] = Field(default_factory=list)


class AssetUsage(WireModel):
    """A test asset (fixture, instrument) used by the test."""

    serial_number: str = alias("sn")
    usage_count: int = 1


class BinaryData(WireModel):
    """A file attached to the report; ``data`` is base64."""

    name: str
    content_type: str = "application/octet-stream"
    data: str


class UUTInfo(WireModel):
    """The ``uut`` object of a test report."""

    operator: str = alias("user", "")
    comment: str | None = None
    exec_time: float | None = None
    fixture_id: str | None = "Fixture"
    test_socket_index: int | None = None
    error_code: int | None = None
    error_message: str | None = None
    batch_serial_number: str | None = alias("batchSN", None)
    batch_fail_count: int | None = None
    batch_loop_index: int | None = None
    step_id_caused_uut_failure: int | None = alias("stepIdCausedUUTFailure", None)


class UURInfo(WireModel):
    """The ``uur`` object of a repair report."""

    operator: str = alias("user", "")
    comment: str | None = None
    exec_time: float | None = None
    process_code: int | None = None
    test_operation_code: int | None = None
    test_operation_name: str | None = None
    test_operation_guid: str | None = None
    ref_uut: uuid.UUID | None = alias("refUUT", None)
    confirm_date: AwareDatetime | None = None
    finalize_date: AwareDatetime | None = None
    active: bool | None = None


class ReportBase(WireModel):
    """Header fields shared by test and repair reports."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    part_number: str = alias("pn")
    serial_number: str = alias("sn")
    revision: str = alias("rev")
    process_code: int
    result: ReportResult = ReportResult.PASSED
    machine_name: str
    location: str
    purpose: str
    start: AwareDatetime = Field(default_factory=_now)
    misc_infos: list[MiscInfo] = Field(default_factory=list)
    assets: list[AssetUsage] = Field(default_factory=list)
    binary_data: list[BinaryData] | None = None
    additional_data: list[dict[str, Any]] | None = None
    # Output only: the server fills these in; they are ignored when submitted.
    origin: str | None = None
    product_name: str | None = None
    process_name: str | None = None

    def to_wsjf(self) -> bytes:
        """Serialise to WSJF bytes exactly as submitted (NaN and infinities as strings)."""
        return self.model_dump_json(
            by_alias=True,
            exclude_none=True,
            exclude={"origin", "product_name", "process_name"},
            # A letter assigned as a plain string ("F") serialises as itself; validation
            # (on submit) is what catches a wrong one, with its path.
            warnings=False,
        ).encode()

    def to_dict(self) -> dict[str, Any]:
        """Return the WSJF as a JSON-compatible dict (what :meth:`to_wsjf` encodes)."""
        loaded: dict[str, Any] = json.loads(self.to_wsjf())
        return loaded


class UUTReport(ReportBase):
    """A test report: the header, the ``uut`` object and the step tree under ``root``."""

    type: Literal["T"] = "T"
    uut: UUTInfo = Field(default_factory=UUTInfo)
    sub_units: list[SubUnit] = Field(default_factory=list)
    root: SequenceCall = Field(
        default_factory=lambda: SequenceCall(name="MainSequence Callback"),
    )


class UURReport(ReportBase):
    """A repair report: the header, the ``uur`` object and the repaired parts with failures."""

    type: Literal["R"] = "R"
    process_code: int = 500
    uur: UURInfo = Field(default_factory=UURInfo)
    sub_units: list[UURSubUnit] = Field(default_factory=list)
    root: SequenceCall | None = None


Report = UUTReport | UURReport
"""A test or a repair report."""


def parse_report(data: dict[str, Any] | str | bytes) -> UUTReport | UURReport:
    """Parse WSJF (a dict or JSON text) into a :class:`UUTReport` or :class:`UURReport`.

    Raises:
        ReportValidationError: the data is not a valid report; ``issues`` name each bad field.
    """
    from pywats._validation import from_pydantic
    from pywats.errors import ReportValidationError, ValidationIssue

    try:
        raw = json.loads(data) if isinstance(data, str | bytes) else data
    except ValueError as exc:  # also a body that is not UTF-8
        issue = ValidationIssue(path="", message=f"not JSON ({exc})")
        raise ReportValidationError([issue]) from None
    if not isinstance(raw, dict):
        issue = ValidationIssue(path="", message="a report must be a JSON object")
        raise ReportValidationError([issue])
    cls: type[UUTReport | UURReport] = UURReport if raw.get("uur") else UUTReport
    return from_pydantic(cls, raw)

"""Fluent builders for test (UUT) and repair (UUR) reports.

Unlike the upstream client, a step added without an explicit status gets the status its value
earns against its limits, a sequence gets the worst status of its children, and the report's
result follows its root sequence: a failing measurement makes a failed report.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from pydantic import BaseModel

from pywats._report import (
    AssetUsage,
    Failure,
    MiscInfo,
    SubUnit,
    UURInfo,
    UURReport,
    UURSubUnit,
    UUTInfo,
    UUTReport,
)
from pywats._steps import (
    ActionStep,
    AnyStep,
    BooleanMeasurement,
    BooleanStep,
    NumericMeasurement,
    NumericStep,
    SeqCallInfo,
    SequenceCall,
    StepBase,
    StringMeasurement,
    StringStep,
)
from pywats._validation import from_pydantic, rule_issues
from pywats._wire import CompOp, ReportResult, StepGroup, StepStatus, worst
from pywats.errors import ReportValidationError


@dataclass(frozen=True, slots=True)
class Station:
    """Where reports come from: the test station's name, location and purpose.

    Set it once on the client and every report built through the client carries it
    (``machineName``, ``location``, ``purpose``).
    """

    name: str
    location: str = "Unknown"
    purpose: str = "Test"

    @classmethod
    def local(cls, location: str = "Unknown", purpose: str = "Test") -> Station:
        """Return a station named after this machine's host name."""
        return cls(name=socket.gethostname() or "localhost", location=location, purpose=purpose)


_RESULT_OF = {
    StepStatus.FAILED: ReportResult.FAILED,
    StepStatus.ERROR: ReportResult.ERROR,
    StepStatus.TERMINATED: ReportResult.TERMINATED,
}


def _default_op(low: float | None, high: float | None) -> CompOp:
    if low is not None and high is not None:
        return CompOp.GELE
    if low is not None:
        return CompOp.GE
    if high is not None:
        msg = "a single limit goes in low=; pass comp=CompOp.LE (or LT) with low=<limit>"
        raise ValueError(msg)
    return CompOp.LOG


_R = TypeVar("_R", UUTReport, UURReport)


def _known(model: type[BaseModel], fields: dict[str, Any]) -> dict[str, Any]:
    """Return ``fields`` if ``model`` has each (the models ignore unknown keys, a typo too)."""
    if unknown := sorted(set(fields) - set(model.model_fields)):
        accepted = ", ".join(sorted(model.model_fields))
        msg = f"unknown field(s) {', '.join(unknown)} for {model.__name__}; accepted: {accepted}"
        raise TypeError(msg)
    return fields


def _finish(draft: _R, *, validate: bool) -> _R:
    """Return a copy of ``draft`` (later builder calls must not change it), checked.

    Re-validating a dump is both the copy and the type check, and several times faster than
    ``model_copy(deep=True)``.
    """
    report = from_pydantic(type(draft), draft.model_dump(warnings=False))
    if validate and (issues := rule_issues(report)):
        raise ReportValidationError(issues)
    return report


_Meas = TypeVar("_Meas", NumericMeasurement, StringMeasurement)


def _evaluated(measurements: Iterable[_Meas]) -> list[_Meas]:
    """The measurements, each without an explicit status given the one its limits earn."""
    meas = list(measurements)
    for m in meas:
        if "status" not in m.model_fields_set:
            m.status = m.evaluate()
    return meas


class SequenceBuilder:
    """Adds steps to one sequence call; nested sequences come from :meth:`sequence`."""

    def __init__(self, sequence: SequenceCall, status: StepStatus | None = None) -> None:
        self._sequence = sequence
        self._status = status
        self._children: list[SequenceBuilder] = []

    @property
    def sequence_call(self) -> SequenceCall:
        """The sequence call being built."""
        return self._sequence

    def add(self, step: AnyStep) -> Self:
        """Append a ready-made step (its status is kept as it is)."""
        self._sequence.steps.append(step)
        return self

    def sequence(
        self,
        name: str,
        *,
        path: str = "C:/SequenceCall.seq",
        file: str = "TestSequence.seq",
        version: str = "1.0.0",
        status: StepStatus | None = None,
        group: StepGroup = StepGroup.MAIN,
    ) -> SequenceBuilder:
        """Append a nested sequence call and return its builder (usable as ``with`` block)."""
        child = SequenceCall(
            name=name,
            group=group,
            seq_call=SeqCallInfo(path=path, name=file, version=version),
        )
        self._sequence.steps.append(child)
        builder = SequenceBuilder(child, status)
        self._children.append(builder)
        return builder

    def numeric(
        self,
        name: str,
        value: float,
        *,
        unit: str | None = None,
        low: float | None = None,
        high: float | None = None,
        comp: CompOp | str | None = None,
        status: StepStatus | None = None,
        group: StepGroup = StepGroup.MAIN,
        **fields: Any,
    ) -> Self:
        """Append a numeric limit test (``ET_NLT``).

        ``comp`` defaults to ``GELE`` with both limits, ``GE`` with ``low`` only, ``LOG``
        with none. Extra keyword arguments set step fields (``tot_time``, ``report_text``).
        """
        op = CompOp(comp) if comp is not None else _default_op(low, high)
        meas = NumericMeasurement(
            value=value, unit=unit, comp_op=op, low_limit=low, high_limit=high
        )
        meas.status = meas.evaluate()
        step_status = status or meas.status
        step = NumericStep(
            name=name,
            group=group,
            status=step_status,
            numeric_meas=[meas],
            **_known(StepBase, fields),
        )
        return self.add(step)

    def multi_numeric(
        self,
        name: str,
        measurements: Iterable[NumericMeasurement],
        *,
        status: StepStatus | None = None,
        group: StepGroup = StepGroup.MAIN,
        **fields: Any,
    ) -> Self:
        """Append a multi-numeric test (``ET_MNLT``); each measurement needs a ``name``."""
        meas = _evaluated(measurements)
        step_status = status or worst([m.status for m in meas])
        step = NumericStep(
            step_type="ET_MNLT",
            name=name,
            group=group,
            status=step_status,
            numeric_meas=meas,
            **_known(StepBase, fields),
        )
        return self.add(step)

    def passfail(
        self,
        name: str,
        passed: bool,
        *,
        status: StepStatus | None = None,
        group: StepGroup = StepGroup.MAIN,
        **fields: Any,
    ) -> Self:
        """Append a pass/fail test (``ET_PFT``)."""
        letter = StepStatus.PASSED if passed else StepStatus.FAILED
        meas = BooleanMeasurement(value=passed, status=letter)
        step = BooleanStep(
            name=name,
            group=group,
            status=status or letter,
            boolean_meas=[meas],
            **_known(StepBase, fields),
        )
        return self.add(step)

    def multi_passfail(
        self,
        name: str,
        outcomes: Mapping[str, bool],
        *,
        status: StepStatus | None = None,
        group: StepGroup = StepGroup.MAIN,
        **fields: Any,
    ) -> Self:
        """Append a multi pass/fail test (``ET_MPFT``): one named outcome per measurement."""
        meas = [
            BooleanMeasurement(
                name=key, value=ok, status=StepStatus.PASSED if ok else StepStatus.FAILED
            )
            for key, ok in outcomes.items()
        ]
        step = BooleanStep(
            step_type="ET_MPFT",
            name=name,
            group=group,
            status=status or worst([m.status for m in meas]),
            boolean_meas=meas,
            **_known(StepBase, fields),
        )
        return self.add(step)

    def string(
        self,
        name: str,
        value: str,
        *,
        limit: str | None = None,
        comp: CompOp | str | None = None,
        status: StepStatus | None = None,
        group: StepGroup = StepGroup.MAIN,
        **fields: Any,
    ) -> Self:
        """Append a string value test (``ET_SVT``); with a ``limit`` it compares exactly."""
        if comp is not None:
            op = CompOp(comp)
        else:
            op = CompOp.LOG if limit is None else CompOp.CASESENSIT
        meas = StringMeasurement(value=value, limit=limit, comp_op=op)
        meas.status = meas.evaluate()
        step = StringStep(
            name=name,
            group=group,
            status=status or meas.status,
            string_meas=[meas],
            **_known(StepBase, fields),
        )
        return self.add(step)

    def multi_string(
        self,
        name: str,
        measurements: Iterable[StringMeasurement],
        *,
        status: StepStatus | None = None,
        group: StepGroup = StepGroup.MAIN,
        **fields: Any,
    ) -> Self:
        """Append a multi string test (``ET_MSVT``); each measurement needs a ``name``."""
        meas = _evaluated(measurements)
        step = StringStep(
            step_type="ET_MSVT",
            name=name,
            group=group,
            status=status or worst([m.status for m in meas]),
            string_meas=meas,
            **_known(StepBase, fields),
        )
        return self.add(step)

    def action(
        self,
        name: str,
        *,
        status: StepStatus = StepStatus.DONE,
        group: StepGroup = StepGroup.MAIN,
        **fields: Any,
    ) -> Self:
        """Append an action step (something done, not measured)."""
        return self.add(
            ActionStep(name=name, group=group, status=status, **_known(StepBase, fields))
        )

    def _settle(self) -> StepStatus:
        """Give this sequence (and nested ones) the worst status of their children."""
        for child in self._children:
            child._settle()
        if self._status is not None:
            self._sequence.status = self._status
        else:
            self._sequence.status = worst([s.status for s in self._sequence.steps])
        return self._sequence.status

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class UUTBuilder(SequenceBuilder):
    """Builds a :class:`~pywats.UUTReport`; steps added here go into the root sequence.

    Example::

        report = (
            UUTBuilder(
                part_number="PN-1",
                serial_number="SN-1",
                revision="A",
                process_code=10,
                station=Station("ST1", "Lab", "Dev"),
                operator="op",
            )
            .numeric("Voltage", 5.02, unit="V", low=4.5, high=5.5)
            .passfail("LED", True)
            .build()
        )
    """

    def __init__(
        self,
        *,
        part_number: str,
        serial_number: str,
        revision: str,
        process_code: int,
        station: Station | None = None,
        operator: str = "",
        start: datetime | None = None,
        result: ReportResult | None = None,
        report_id: uuid.UUID | None = None,
        **uut: Any,
    ) -> None:
        station = station or Station.local()
        root = SequenceCall(name="MainSequence Callback")
        super().__init__(root)
        self._result = result
        self._report = UUTReport(
            id=report_id or uuid.uuid4(),
            part_number=part_number,
            serial_number=serial_number,
            revision=revision,
            process_code=process_code,
            machine_name=station.name,
            location=station.location,
            purpose=station.purpose,
            start=start or datetime.now(UTC),
            uut=UUTInfo(operator=operator, **_known(UUTInfo, uut)),
            root=root,
        )

    def misc(self, description: str, text: str) -> Self:
        """Add a misc info (``description: text``), searchable on the server."""
        self._report.misc_infos.append(MiscInfo(description=description, text=text))
        return self

    def sub_unit(
        self, part_number: str, serial_number: str, revision: str = "", part_type: str | None = None
    ) -> Self:
        """Record a part built into the unit."""
        self._report.sub_units.append(
            SubUnit(
                part_number=part_number,
                serial_number=serial_number,
                revision=revision,
                part_type=part_type,
            )
        )
        return self

    def asset(self, serial_number: str, usage_count: int = 1) -> Self:
        """Record a test asset (fixture, instrument) the test used."""
        self._report.assets.append(AssetUsage(serial_number=serial_number, usage_count=usage_count))
        return self

    def build(self, *, validate: bool = True) -> UUTReport:
        """Return the report, statuses settled and (by default) checked against WATS's rules.

        Raises:
            ReportValidationError: the report breaks a WATS rule (``validate=True``).
        """
        root_status = self._settle()
        self._report.result = self._result or _RESULT_OF.get(root_status, ReportResult.PASSED)
        return _finish(self._report, validate=validate)


class UURBuilder:
    """Builds a :class:`~pywats.UURReport`, usually from the test report it repairs.

    Example::

        repair = UURBuilder.from_uut(failed_report, operator="tech").failure("Solder", "S01")
        report = repair.build()
    """

    def __init__(
        self,
        *,
        part_number: str,
        serial_number: str,
        revision: str,
        station: Station | None = None,
        operator: str = "",
        process_code: int = 500,
        test_operation_code: int | None = None,
        ref_uut: uuid.UUID | None = None,
        start: datetime | None = None,
        comment: str | None = None,
    ) -> None:
        station = station or Station.local()
        self._report = UURReport(
            part_number=part_number,
            serial_number=serial_number,
            revision=revision,
            process_code=process_code,
            machine_name=station.name,
            location=station.location,
            purpose=station.purpose,
            start=start or datetime.now(UTC),
            uur=UURInfo(
                operator=operator,
                comment=comment,
                process_code=test_operation_code,
                test_operation_code=test_operation_code,
                ref_uut=ref_uut,
            ),
            sub_units=[
                UURSubUnit(
                    part_number=part_number,
                    serial_number=serial_number,
                    revision=revision,
                    part_type="Main",
                    idx=0,
                )
            ],
        )

    @classmethod
    def from_uut(
        cls,
        uut: UUTReport,
        *,
        operator: str = "",
        station: Station | None = None,
        process_code: int = 500,
        comment: str | None = None,
    ) -> UURBuilder:
        """Start a repair of the unit ``uut`` tested (its ids and test operation carry over)."""
        station = station or Station(uut.machine_name, uut.location, uut.purpose)
        return cls(
            part_number=uut.part_number,
            serial_number=uut.serial_number,
            revision=uut.revision,
            station=station,
            operator=operator,
            process_code=process_code,
            test_operation_code=uut.process_code,
            ref_uut=uut.id,
            comment=comment,
        )

    def failure(self, category: str, code: str, *, idx: int = 0, **fields: Any) -> Self:
        """Record a failure found on sub-unit ``idx`` (0 is the unit itself)."""
        for sub in self._report.sub_units:
            if sub.idx == idx:
                sub.failures.append(
                    Failure(category=category, code=code, **_known(Failure, fields))
                )
                return self
        msg = f"no sub-unit with idx={idx}; add it with sub_unit() first"
        raise ValueError(msg)

    def sub_unit(
        self,
        part_number: str,
        serial_number: str,
        revision: str = "",
        *,
        part_type: str | None = None,
        parent_idx: int = 0,
        replaced_idx: int | None = None,
    ) -> Self:
        """Add a part of the repaired unit; its ``idx`` is the next free number."""
        idx = max(s.idx for s in self._report.sub_units) + 1
        self._report.sub_units.append(
            UURSubUnit(
                part_number=part_number,
                serial_number=serial_number,
                revision=revision,
                part_type=part_type,
                idx=idx,
                parent_idx=parent_idx,
                replaced_idx=replaced_idx,
            )
        )
        return self

    def misc(self, description: str, text: str) -> Self:
        """Add a misc info (``description: text``)."""
        self._report.misc_infos.append(MiscInfo(description=description, text=text))
        return self

    def build(self, *, validate: bool = True) -> UURReport:
        """Return the report, (by default) checked against WATS's rules.

        Raises:
            ReportValidationError: the report breaks a WATS rule (``validate=True``).
        """
        return _finish(self._report, validate=validate)

"""The WSJF step tree: sequence calls, measurement steps and generic steps.

A step is one of six classes, chosen by its ``stepType`` (the names WATS and TestStand use,
including the long aliases the upstream client accepts). Any other ``stepType`` (TestStand
flow steps, charts, ``GenericTest``) becomes a :class:`GenericStep`, so nothing is lost on read.
Measurements are always arrays on the wire, even for a single one.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from pywats._wire import CompOp, StepGroup, StepStatus, WireModel, alias

SEQUENCE_TYPES = frozenset({"SequenceCall", "WATS_SeqCall"})
NUMERIC_TYPES = frozenset({"ET_NLT", "ET_MNLT", "NumericLimitTest", "MultiNumericLimitTest"})
BOOLEAN_TYPES = frozenset({"ET_PFT", "ET_MPFT", "PassFailTest", "MultiPassFailTest"})
STRING_TYPES = frozenset({"ET_SVT", "ET_MSVT", "StringValueTest", "MultiStringValueTest"})
ACTION_TYPES = frozenset({"Action"})
MULTI_TYPES = frozenset(
    {
        "ET_MNLT",
        "MultiNumericLimitTest",
        "ET_MPFT",
        "MultiPassFailTest",
        "ET_MSVT",
        "MultiStringValueTest",
    }
)


class Attachment(WireModel):
    """A file attached to a step; ``data`` is base64."""

    name: str
    content_type: str = "application/octet-stream"
    data: str


class Chart(WireModel):
    """A chart drawn for a step; ``series`` items are kept as WATS sends them."""

    chart_type: str = "Line"
    label: str = ""
    x_label: str = ""
    x_unit: str = ""
    y_label: str = ""
    y_unit: str = ""
    series: list[dict[str, Any]] = Field(default_factory=list)


class SeqCallInfo(WireModel):
    """The sequence file a sequence call ran (WATS requires all three fields)."""

    path: str = "C:/SequenceCall.seq"
    name: str = "TestSequence.seq"
    version: str = "1.0.0"


class NumericMeasurement(WireModel):
    """A number compared against limits (``lowLimit`` and ``highLimit`` as ``comp_op`` needs)."""

    name: str | None = None
    status: StepStatus = StepStatus.PASSED
    value: float | None = None
    unit: str | None = None
    comp_op: CompOp = CompOp.LOG
    low_limit: float | None = None
    high_limit: float | None = None
    value_format: str | None = None
    low_limit_format: str | None = None
    high_limit_format: str | None = None

    def evaluate(self) -> StepStatus:
        """Return the status the value earns against the limits (NaN fails any comparison)."""
        op = self.comp_op
        if op is CompOp.LOG:
            return StepStatus.PASSED
        v, lo, hi = self.value, self.low_limit, self.high_limit
        if v is None or math.isnan(v) or lo is None:
            return StepStatus.FAILED
        if op.limits == 2 and hi is None:
            return StepStatus.FAILED
        ok = _compare(op, v, lo, hi)
        return StepStatus.PASSED if ok else StepStatus.FAILED


def _compare(op: CompOp, v: float, lo: float, hi: float | None) -> bool:
    one = {
        CompOp.EQ: v == lo,
        CompOp.NE: v != lo,
        CompOp.LT: v < lo,
        CompOp.LE: v <= lo,
        CompOp.GT: v > lo,
        CompOp.GE: v >= lo,
    }
    if op in one:
        return one[op]
    if op is CompOp.EQT:
        return v == lo if hi is None else abs(v - lo) <= hi
    assert hi is not None
    two = {
        CompOp.GTLT: lo < v < hi,
        CompOp.GTLE: lo < v <= hi,
        CompOp.GELT: lo <= v < hi,
        CompOp.GELE: lo <= v <= hi,
        CompOp.LTGT: v < lo or v > hi,
        CompOp.LTGE: v < lo or v >= hi,
        CompOp.LEGT: v <= lo or v > hi,
        CompOp.LEGE: v <= lo or v >= hi,
    }
    return two[op]


class BooleanMeasurement(WireModel):
    """A pass/fail outcome."""

    name: str | None = None
    status: StepStatus = StepStatus.PASSED
    value: bool = True


class StringMeasurement(WireModel):
    """A string compared against ``limit`` (``CASESENSIT``, ``IGNORECASE``) or logged (``LOG``)."""

    name: str | None = None
    status: StepStatus = StepStatus.PASSED
    value: str | None = None
    comp_op: CompOp = CompOp.LOG
    limit: str | None = None

    def evaluate(self) -> StepStatus:
        """Return the status the value earns against the limit."""
        if self.comp_op is CompOp.LOG:
            return StepStatus.PASSED
        value, limit = self.value or "", self.limit or ""
        if self.comp_op is CompOp.IGNORECASE:
            value, limit = value.casefold(), limit.casefold()
        return StepStatus.PASSED if value == limit else StepStatus.FAILED


class StepBase(WireModel):
    """Fields every step carries."""

    step_type: str
    name: str
    group: StepGroup = StepGroup.MAIN
    status: StepStatus = StepStatus.PASSED
    id: int | None = None
    error_code: int | None = None
    error_message: str | None = None
    report_text: str | None = None
    start: datetime | None = None
    tot_time: float | None = None
    ts_guid: str | None = None
    caused_seq_failure: bool | None = None
    caused_uut_failure: bool | None = alias("causedUUTFailure", None)
    loop: dict[str, Any] | None = None
    additional_results: list[dict[str, Any]] | None = None
    chart: Chart | None = None
    attachment: Attachment | None = None


class SequenceCall(StepBase):
    """A call of a sub-sequence: it holds child steps."""

    step_type: str = "SequenceCall"
    seq_call: SeqCallInfo = Field(default_factory=SeqCallInfo)
    steps: list[Step] = Field(default_factory=list)
    caller: dict[str, Any] | None = None
    module: dict[str, Any] | None = None

    def walk(self) -> list[StepBase]:
        """Return this step and every step below it, depth first."""
        found: list[StepBase] = [self]
        for step in self.steps:
            if isinstance(step, SequenceCall):
                found.extend(step.walk())
            else:
                found.append(step)
        return found


class NumericStep(StepBase):
    """A numeric limit test (``ET_NLT``) or multi-numeric test (``ET_MNLT``)."""

    step_type: str = "ET_NLT"
    numeric_meas: list[NumericMeasurement] = Field(default_factory=list)


class BooleanStep(StepBase):
    """A pass/fail test (``ET_PFT``) or multi pass/fail test (``ET_MPFT``)."""

    step_type: str = "ET_PFT"
    boolean_meas: list[BooleanMeasurement] = Field(default_factory=list)


class StringStep(StepBase):
    """A string value test (``ET_SVT``) or multi string test (``ET_MSVT``)."""

    step_type: str = "ET_SVT"
    string_meas: list[StringMeasurement] = Field(default_factory=list)


class ActionStep(StepBase):
    """An action: something done, not measured."""

    step_type: Literal["Action"] = "Action"


class GenericStep(StepBase):
    """Any other step type (``GenericTest``, ``Chart``, TestStand flow steps)."""

    step_type: str = "GenericTest"


def step_tag(value: Any) -> str:
    """Pick the step class for a raw dict or a model by its ``stepType``."""
    if isinstance(value, dict):
        kind = value.get("stepType", value.get("step_type", ""))
    else:
        kind = getattr(value, "step_type", "")
    if kind in SEQUENCE_TYPES:
        return "sequence"
    if kind in NUMERIC_TYPES:
        return "numeric"
    if kind in BOOLEAN_TYPES:
        return "boolean"
    if kind in STRING_TYPES:
        return "string"
    if kind in ACTION_TYPES:
        return "action"
    return "generic"


STEP_TAGS = frozenset({"sequence", "numeric", "boolean", "string", "action", "generic"})

AnyStep = SequenceCall | NumericStep | BooleanStep | StringStep | ActionStep | GenericStep
"""Any step class (for annotations; :data:`Step` adds how pydantic picks the class)."""

Step = Annotated[
    Annotated[SequenceCall, Tag("sequence")]
    | Annotated[NumericStep, Tag("numeric")]
    | Annotated[BooleanStep, Tag("boolean")]
    | Annotated[StringStep, Tag("string")]
    | Annotated[ActionStep, Tag("action")]
    | Annotated[GenericStep, Tag("generic")],
    Discriminator(step_tag),
]
"""Any step of the tree; the class follows its ``stepType``."""


SequenceCall.model_rebuild()

"""Shared pydantic configuration and the letter codes of the WATS wire format.

Python names are snake_case; the wire uses camelCase aliases. Both are accepted on input.
Floats that are NaN or infinite serialise as the JSON strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``, which is what WATS expects (plain JSON has no such numbers).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticUndefined


def alias(name: str, default: Any = PydanticUndefined) -> Any:
    """A field whose wire name is not the camelCase of its Python name (``pn``, ``user``).

    A plain function on purpose: type checkers then see the Python name as the constructor
    keyword, which is what callers write (both names are accepted at run time).
    """
    return Field(default, alias=name)


class WireModel(BaseModel):
    """Base of every WSJF model: camelCase on the wire, unknown keys ignored.

    Assignments are validated (``report.result = "F"`` stores ``ReportResult.FAILED``; a
    letter WATS does not know raises at once).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        validate_assignment=True,
        extra="ignore",
        ser_json_inf_nan="strings",
    )


class ResourceModel(BaseModel):
    """Base of products, units, assets and the like: unknown keys are kept.

    Keeping them matters: a resource read, changed and written back (``PUT``) must not lose the
    fields this library does not model.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="allow",
        ser_json_inf_nan="strings",
    )
    # The kept fields, by wire name. Declared (as pydantic documents) so their type is known,
    # rather than inherited from BaseModel, whose annotation doc tools may rewrite.
    __pydantic_extra__: dict[str, Any] = Field(init=False)


class StepStatus(StrEnum):
    """Status letter of a step or a measurement."""

    PASSED = "P"
    FAILED = "F"
    SKIPPED = "S"
    DONE = "D"
    ERROR = "E"
    TERMINATED = "T"


class ReportResult(StrEnum):
    """Result letter of a whole report."""

    PASSED = "P"
    FAILED = "F"
    DONE = "D"
    ERROR = "E"
    TERMINATED = "T"


class StepGroup(StrEnum):
    """Which part of a sequence a step ran in."""

    SETUP = "S"
    MAIN = "M"
    CLEANUP = "C"


class CompOp(StrEnum):
    """Comparison operator of a measurement against its limits."""

    LOG = "LOG"
    EQ = "EQ"
    EQT = "EQT"
    NE = "NE"
    LT = "LT"
    LE = "LE"
    GT = "GT"
    GE = "GE"
    GTLT = "GTLT"
    GTLE = "GTLE"
    GELT = "GELT"
    GELE = "GELE"
    LTGT = "LTGT"
    LTGE = "LTGE"
    LEGT = "LEGT"
    LEGE = "LEGE"
    CASESENSIT = "CASESENSIT"
    IGNORECASE = "IGNORECASE"

    @property
    def limits(self) -> int:
        """How many numeric limits the operator compares against (0, 1 or 2)."""
        if self in _ONE_LIMIT:
            return 1
        if self in _TWO_LIMITS:
            return 2
        return 0

    @property
    def is_string(self) -> bool:
        """Whether the operator compares strings."""
        return self in (CompOp.CASESENSIT, CompOp.IGNORECASE)


# EQT (equal within a threshold) needs the nominal in lowLimit; highLimit, if given, is the
# threshold. That is how the reference's limit rule groups it.
_ONE_LIMIT = frozenset(
    {CompOp.EQ, CompOp.EQT, CompOp.NE, CompOp.LT, CompOp.LE, CompOp.GT, CompOp.GE}
)
_TWO_LIMITS = frozenset(
    {
        CompOp.GTLT,
        CompOp.GTLE,
        CompOp.GELT,
        CompOp.GELE,
        CompOp.LTGT,
        CompOp.LTGE,
        CompOp.LEGT,
        CompOp.LEGE,
    }
)


def worst(statuses: list[StepStatus]) -> StepStatus:
    """Return the status a parent gets from its children's statuses.

    An error or termination outranks a failure, a failure outranks a pass; skipped and done
    children leave the parent passed.
    """
    for letter in (StepStatus.ERROR, StepStatus.TERMINATED, StepStatus.FAILED):
        if letter in statuses:
            return letter
    return StepStatus.PASSED

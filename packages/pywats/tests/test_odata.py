"""The OData filter builder: quoting, datetimes, combinations."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum

import pytest

from pywats import F, Filter, ReportResult
from pywats.odata import literal


def test_comparisons() -> None:
    assert str(F.serialNumber == "SN-1") == "serialNumber eq 'SN-1'"
    assert str(F.processCode != 10) == "processCode ne 10"
    assert str(F.x > 1.5) == "x gt 1.5"
    assert str(F.x >= 1) == "x ge 1"
    assert str(F.x < 1) == "x lt 1"
    assert str(F.x <= 1) == "x le 1"
    assert str(F("a/b") == True) == "a/b eq true"  # noqa: E712
    assert str(F.x == None) == "x eq null"  # noqa: E711
    assert str(F.result == ReportResult.FAILED) == "result eq 'F'"
    assert repr(F.x == 1) == "Filter('x eq 1')"


def test_quotes_are_escaped() -> None:
    assert str(F.partNumber == "O'Brien") == "partNumber eq 'O''Brien'"
    assert literal(uuid.UUID(int=0)) == "'00000000-0000-0000-0000-000000000000'"


def test_non_finite_numbers_use_odata_spellings() -> None:
    # Python's repr would give "nan" and "inf", which no OData parser reads.
    assert literal(float("nan")) == "NaN"
    assert str(F.x < float("inf")) == "x lt INF"
    assert str(F.x > float("-inf")) == "x gt -INF"
    assert literal(1e-05) == "1e-05"


def test_datetimes_are_utc_and_unquoted() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert literal(datetime(2026, 1, 1, 2, 0, tzinfo=plus2)) == "2026-01-01T00:00:00Z"
    assert literal(datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)) == "2026-01-01T00:00:00.5Z"
    naive = datetime(2026, 6, 1, 12, 0)
    expected = naive.astimezone().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert literal(naive) == expected
    assert literal(date(2026, 1, 2)) == "2026-01-02"


def test_combinations_group_mixed_operators() -> None:
    a, b, c = F.a == 1, F.b == 2, F.c == 3
    assert str(a & b & c) == "a eq 1 and b eq 2 and c eq 3"
    assert str((a | b) & c) == "(a eq 1 or b eq 2) and c eq 3"
    assert str((a & b) | c) == "(a eq 1 and b eq 2) or c eq 3"
    assert str(~a) == "not (a eq 1)"


def test_functions_and_lambdas() -> None:
    assert str(F.serialNumber.startswith("SN")) == "startswith(serialNumber,'SN')"
    flt = F.subUnits.any(lambda s: s.partNumber == "X")
    assert str(flt) == "subUnits/any(s: s/partNumber eq 'X')"
    assert str(F.result.is_in(["P", "F"])) == "result eq 'P' or result eq 'F'"
    with pytest.raises(ValueError, match="at least one"):
        F.result.is_in([])


def test_misuse_is_refused() -> None:
    with pytest.raises(TypeError, match="combine filters"):
        bool(F.a == 1)
    with pytest.raises(TypeError, match="no OData literal"):
        literal(object())
    with pytest.raises(AttributeError):
        F.__wrapped__  # noqa: B018

    class Color(Enum):
        RED = "red"

    assert literal(Color.RED) == "'red'"
    assert isinstance(F.a == 1, Filter)

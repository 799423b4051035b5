"""Build OData ``$filter`` expressions for WATS queries without writing them by hand.

Fields come from :data:`F` (``F.serialNumber`` or ``F("serialNumber")``); comparisons give a
:class:`Filter`, combined with ``&`` (and), ``|`` (or) and ``~`` (not)::

    from datetime import UTC, datetime

    from pywats.odata import F

    flt = (F.partNumber == "PN-1") & (F.start >= datetime(2026, 1, 1, tzinfo=UTC))
    str(flt)  # "partNumber eq 'PN-1' and start ge 2026-01-01T00:00:00Z"

Strings are quoted with ``'`` doubled inside them (the upstream client did not escape them);
datetimes are sent in UTC, unquoted, ending in ``Z`` (a naive datetime is taken as local time
and converted, where upstream labelled local time as UTC).
"""

from __future__ import annotations

__all__ = ["F", "Field", "Fields", "Filter", "literal"]

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from enum import Enum
from uuid import UUID


def literal(value: object) -> str:
    """Format a Python value as an OData literal.

    Raises:
        TypeError: the value has no OData form (pass str, int, float, bool, datetime, date,
            UUID, an Enum of those, or None).
    """
    if isinstance(value, Enum):
        value = value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.astimezone()
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + _fraction(aware) + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str | UUID):
        return "'" + str(value).replace("'", "''") + "'"
    msg = f"{value!r} ({type(value).__name__}) has no OData literal; pass a str, number or datetime"
    raise TypeError(msg)


def _number(value: int | float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        # OData's spellings; Python's repr ("nan", "inf") is not an OData literal.
        return "NaN" if math.isnan(value) else ("INF" if value > 0 else "-INF")
    return repr(value)


def _fraction(value: datetime) -> str:
    return f".{value.microsecond:06d}".rstrip("0") if value.microsecond else ""


class Filter:
    """An OData boolean expression; ``str(filter)`` is the ``$filter`` text."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Filter({self._text!r})"

    def __and__(self, other: Filter) -> Filter:
        return Filter(f"{_group(self, 'and')} and {_group(other, 'and')}")

    def __or__(self, other: Filter) -> Filter:
        return Filter(f"{_group(self, 'or')} or {_group(other, 'or')}")

    def __invert__(self) -> Filter:
        return Filter(f"not ({self._text})")

    def __bool__(self) -> bool:
        msg = "combine filters with & and |, not 'and'/'or' (which would drop one side)"
        raise TypeError(msg)


def _group(flt: Filter, op: str) -> str:
    text = str(flt)
    other = " or " if op == "and" else " and "
    return f"({text})" if other in text else text


class Field:
    """A field to compare; made by :data:`F`."""

    __slots__ = ("_path",)

    def __init__(self, path: str) -> None:
        self._path = path

    def __str__(self) -> str:
        return self._path

    def _cmp(self, op: str, value: object) -> Filter:
        return Filter(f"{self._path} {op} {literal(value)}")

    def __eq__(self, value: object) -> Filter:  # type: ignore[override]
        return self._cmp("eq", value)

    def __ne__(self, value: object) -> Filter:  # type: ignore[override]
        return self._cmp("ne", value)

    def __gt__(self, value: object) -> Filter:
        return self._cmp("gt", value)

    def __ge__(self, value: object) -> Filter:
        return self._cmp("ge", value)

    def __lt__(self, value: object) -> Filter:
        return self._cmp("lt", value)

    def __le__(self, value: object) -> Filter:
        return self._cmp("le", value)

    __hash__ = None  # type: ignore[assignment]

    def startswith(self, prefix: str) -> Filter:
        """Match values beginning with ``prefix``."""
        return Filter(f"startswith({self._path},{literal(prefix)})")

    def is_in(self, values: list[object]) -> Filter:
        """Match any of ``values`` (``a eq x or a eq y``)."""
        if not values:
            msg = f"{self._path}.is_in() needs at least one value"
            raise ValueError(msg)
        return Filter(" or ".join(f"{self._path} eq {literal(v)}" for v in values))

    def any(self, predicate: Callable[[Fields], Filter], var: str = "s") -> Filter:
        """Match when any element of this collection satisfies ``predicate``.

        ``F.subUnits.any(lambda s: s.partNumber == "X")`` gives
        ``subUnits/any(s: s/partNumber eq 'X')``.
        """
        inner = predicate(Fields(f"{var}/"))
        return Filter(f"{self._path}/any({var}: {inner})")


class Fields:
    """Makes fields by attribute (``F.serialNumber``) or by call for any name (``F("a/b")``).

    Use the instance :data:`F`; inside :meth:`Field.any`, the lambda receives one whose
    fields are prefixed with the lambda variable.
    """

    __slots__ = ("_prefix",)

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix

    def __getattr__(self, name: str) -> Field:
        if name.startswith("__"):
            raise AttributeError(name)
        return Field(self._prefix + name)

    def __call__(self, name: str) -> Field:
        """Return the field ``name`` (any name, e.g. a path ``"subUnits/partNumber"``)."""
        return Field(self._prefix + name)


F = Fields()
"""Field factory; write ``F.serialNumber``, ``F.start`` or ``F("subUnits")``."""

"""The OData subset WATS query endpoints accept: ``$filter``, ``$orderby``, ``$top``, ``$skip``.

Supported in ``$filter``: ``eq ne gt ge lt le`` between a field and a literal; ``and``, ``or``,
``not`` and parentheses; ``startswith``, ``endswith`` and ``contains`` (field, string);
``<collection>/any(x: x/<field> <op> <literal> ...)`` over array fields. Literals are
single-quoted strings (``''`` escapes a quote), numbers, ``true``/``false``/``null``, and
unquoted ISO-8601 datetimes (``2026-01-01T00:00:00Z``; also ``datetime'...'``).

Strings compare regardless of letter case, as WATS's SQL Server collation does. A field the
entity does not have is an error the caller answers with 400.

Why hand-written: the Python OData libraries are clients (they build queries) or full
server frameworks over SQLAlchemy; the emulator needs a ~200-line evaluator over dicts.
"""

from __future__ import annotations

__all__ = ["Field", "ODataError", "Schema", "apply_query", "compile_filter", "sort_rows"]

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias

Kind: TypeAlias = Literal["str", "int", "float", "bool", "datetime", "collection"]
Predicate: TypeAlias = Callable[[Mapping[str, Any]], bool]

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<dtprefix>datetime(?:offset)?'[^']*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|-?INF\b|NaN\b)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE,
)
_COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_FUNCTIONS = frozenset({"startswith", "endswith", "contains"})


class ODataError(ValueError):
    """A query option WATS would refuse; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Field:
    """A queryable field: its wire name, kind, and for collections the items' schema."""

    name: str
    kind: Kind = "str"
    items: Schema | None = None


class Schema:
    """The queryable fields of an entity, looked up regardless of letter case."""

    def __init__(self, entity: str, fields: Iterable[Field]) -> None:
        self.entity = entity
        self.fields = {f.name.casefold(): f for f in fields}

    def get(self, name: str) -> Field:
        """The field called ``name``.

        Raises:
            ODataError: the entity has no such field.
        """
        found = self.fields.get(name.casefold())
        if found is None:
            known = ", ".join(sorted(f.name for f in self.fields.values()))
            msg = f"{self.entity} has no field {name!r}; queryable fields: {known}"
            raise ODataError(msg)
        return found


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ODataError(f"$filter: unexpected {text[pos : pos + 10]!r} at position {pos}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


def _parse_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ODataError(f"$filter: {text!r} is not an ISO-8601 datetime") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _norm(value: object, kind: Kind) -> object:
    """A field value or literal in the form comparisons use."""
    if value is None:
        return None
    if kind == "datetime":
        if isinstance(value, datetime):
            return value
        return _parse_datetime(str(value)) if isinstance(value, str) else value
    if isinstance(value, str):
        return value.casefold()
    return value


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def _compare(op: str, left: object, right: object) -> bool:
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    try:
        return _ORDERING[op](left, right)
    except TypeError:  # e.g. a string field compared with a number: no match, as in SQL
        return False


class _Parser:
    def __init__(self, text: str, schema: Schema) -> None:
        self.tokens = _tokens(text)
        self.index = 0
        self.scopes: list[tuple[str, Schema]] = [("", schema)]

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, text: str | None = None, what: str = "more") -> _Token:
        token = self.peek()
        wanted = repr(text) if text is not None else what
        if token is None:
            raise ODataError(f"$filter: expected {wanted} at the end")
        if text is not None and token.text.lower() != text:
            msg = f"$filter: expected {wanted} at position {token.pos}, got {token.text!r}"
            raise ODataError(msg)
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text.lower() == word:
            self.index += 1
            return True
        return False

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        token = self.peek()
        if token is not None:
            raise ODataError(f"$filter: unexpected {token.text!r} at position {token.pos}")
        return predicate

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def unary(self) -> Predicate:
        if self.keyword("not"):
            inner = self.unary()
            return lambda row: not inner(row)
        token = self.peek()
        if token is not None and token.text == "(":
            self.take("(")
            inner = self.or_expr()
            self.take(")")
            return inner
        return self.primary()

    def field(self, token: _Token) -> tuple[Callable[[Mapping[str, Any]], object], Field]:
        """Resolve a (possibly lambda-variable-prefixed) field name to a getter."""
        path = token.text
        for variable, schema in reversed(self.scopes):
            if variable and path.lower().startswith(variable.lower() + "/"):
                found = schema.get(path[len(variable) + 1 :])
                return (lambda item, _n=found.name: item.get(_n)), found
        found = self.scopes[0][1].get(path)
        return (lambda row, _n=found.name: row.get(_n)), found

    def primary(self) -> Predicate:
        token = self.take()
        if token.kind != "name":
            raise ODataError(
                f"$filter: expected a field at position {token.pos}, got {token.text!r}"
            )
        lowered = token.text.lower()
        if lowered in _FUNCTIONS:
            return self.function(lowered)
        if lowered.endswith(("/any", "/all")):
            return self.lambda_expr(token)
        getter, field = self.field(token)
        op = self.take().text.lower()
        if op not in _COMPARISONS:
            raise ODataError(f"$filter: {op!r} is not one of {', '.join(sorted(_COMPARISONS))}")
        literal = _norm(self.literal(field), field.kind)
        kind = field.kind
        return lambda row: _compare(op, _norm(getter(row), kind), literal)

    def function(self, name: str) -> Predicate:
        self.take("(")
        getter, field = self.field(self.take())
        self.take(",")
        token = self.take()
        if token.kind != "string":
            raise ODataError(f"$filter: {name}() takes a quoted string, got {token.text!r}")
        needle = token.text[1:-1].replace("''", "'").casefold()
        self.take(")")
        if field.kind != "str":
            raise ODataError(f"$filter: {name}() needs a string field; {field.name} is not one")

        def test(row: Mapping[str, Any]) -> bool:
            value = getter(row)
            if not isinstance(value, str):
                return False
            value = value.casefold()
            if name == "startswith":
                return value.startswith(needle)
            if name == "endswith":
                return value.endswith(needle)
            return needle in value

        return test

    def lambda_expr(self, token: _Token) -> Predicate:
        collection_name, _, quantifier = token.text.rpartition("/")
        getter, field = self.field(_Token("name", collection_name, token.pos))
        if field.kind != "collection" or field.items is None:
            raise ODataError(f"$filter: {field.name} is not a collection; any/all need one")
        self.take("(")
        variable = self.take()
        if variable.kind != "name" or "/" in variable.text:
            raise ODataError(f"$filter: expected a lambda variable at position {variable.pos}")
        self.take(":")
        self.scopes.append((variable.text, field.items))
        inner = self.or_expr()
        self.scopes.pop()
        self.take(")")
        every = quantifier.lower() == "all"

        def test(row: Mapping[str, Any]) -> bool:
            items = getter(row) or []
            if not isinstance(items, list):
                return False
            matches = (inner(i) for i in items if isinstance(i, Mapping))
            return all(matches) if every else any(matches)

        return test

    def literal(self, field: Field) -> object:
        token = self.take(what="a value")
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'")
        if token.kind == "dtprefix":
            return _parse_datetime(token.text[token.text.index("'") + 1 : -1])
        if token.kind == "datetime":
            if field.kind != "datetime":
                raise ODataError(f"$filter: {field.name} is not a datetime; got {token.text!r}")
            return _parse_datetime(token.text)
        if token.kind == "number":
            return _number(token.text)
        if token.kind == "name" and token.text.lower() in ("true", "false"):
            return token.text.lower() == "true"
        if token.kind == "name" and token.text.lower() == "null":
            return None
        raise ODataError(f"$filter: expected a value at position {token.pos}, got {token.text!r}")


def _number(text: str) -> int | float:
    if text.lstrip("-").isdigit():
        return int(text)
    # OData spells infinity INF; Python's float() reads it, and NaN, as they are.
    return float(text)


def compile_filter(text: str, schema: Schema) -> Predicate:
    """Compile a ``$filter`` expression into a predicate over rows (dicts).

    Raises:
        ODataError: the expression is malformed or names an unknown field.
    """
    return _Parser(text, schema).parse()


def sort_rows(rows: list[dict[str, Any]], orderby: str, schema: Schema) -> list[dict[str, Any]]:
    """Sort ``rows`` by an ``$orderby`` list (``"start desc, serialNumber"``); nulls first.

    Raises:
        ODataError: a clause is malformed or names an unknown field.
    """
    clauses: list[tuple[Field, bool]] = []
    for clause in orderby.split(","):
        parts = clause.split()
        if (
            not parts
            or len(parts) > 2
            or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc"))
        ):
            raise ODataError(f"$orderby: expected 'field [asc|desc]', got {clause.strip()!r}")
        clauses.append((schema.get(parts[0]), len(parts) == 2 and parts[1].lower() == "desc"))
    ordered = list(rows)
    for field, descending in reversed(clauses):
        kind = field.kind

        def key(
            row: Mapping[str, Any], _name: str = field.name, _kind: Kind = kind
        ) -> tuple[int, Any]:
            value = _norm(row.get(_name), _kind)
            return (0, "") if value is None else (1, value)

        ordered.sort(key=key, reverse=descending)
    return ordered


def _count(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise ODataError(f"{name}: expected a whole number, got {value!r}") from exc
    if number < 0:
        raise ODataError(f"{name}: expected 0 or more, got {number}")
    return number


def apply_query(
    rows: Sequence[dict[str, Any]], params: Mapping[str, str], schema: Schema
) -> list[dict[str, Any]]:
    """Filter, order and page ``rows`` by the ``$filter``/``$orderby``/``$skip``/``$top`` params.

    Raises:
        ODataError: a query option is invalid.
    """
    selected = list(rows)
    text = params.get("$filter")
    if text:
        predicate = compile_filter(text, schema)
        selected = [row for row in selected if predicate(row)]
    orderby = params.get("$orderby")
    if orderby:
        selected = sort_rows(selected, orderby, schema)
    skip = _count("$skip", params.get("$skip")) or 0
    top = _count("$top", params.get("$top"))
    return selected[skip:] if top is None else selected[skip : skip + top]

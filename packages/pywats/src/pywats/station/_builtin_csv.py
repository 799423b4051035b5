"""The ``csv`` converter: the WATS-CSV test-log format (version 1), one report per file.

The format is specified in the converter authoring guide (``docs/pywats/converters.md``).
In short: a ``WATS-CSV,1`` marker line, ``Key,Value`` header lines (part number, serial
number, revision, process code, station, start time, ...), then a step table whose first row
names the columns (``Step,Type,Value,Unit,Low,High,Comp,Status,Sequence``). The report is
built with :class:`pywats.UUTBuilder`, so statuses and the result follow the limits unless a
row or the header says otherwise. Every error names the line it was found on.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pywats._builder import SequenceBuilder, Station, UUTBuilder
from pywats._wire import CompOp, ReportResult, StepStatus
from pywats.station._builtin_wsjf import read_source
from pywats.station._converters import Validation, stable_report_id
from pywats.station._errors import ConversionError

if TYPE_CHECKING:
    from pywats._report import ReportBase

__all__ = ["MARKER", "CSVConverter"]

MARKER = "WATS-CSV"
"""The first cell of a WATS-CSV file's first line; the second cell is the version (1)."""

_VERSION = "1"
_SNIFF = 4096

_HEADER_KEYS = {
    "partnumber": "part_number",
    "pn": "part_number",
    "serialnumber": "serial_number",
    "sn": "serial_number",
    "revision": "revision",
    "rev": "revision",
    "processcode": "process_code",
    "station": "station",
    "machinename": "station",
    "location": "location",
    "purpose": "purpose",
    "operator": "operator",
    "starttime": "start",
    "start": "start",
    "result": "result",
    "reportid": "report_id",
    "id": "report_id",
    "comment": "comment",
    "exectime": "exec_time",
    "fixtureid": "fixture_id",
}
_REQUIRED = ("part_number", "serial_number", "revision", "process_code", "start")
_COLUMNS = frozenset({"step", "type", "value", "unit", "low", "high", "comp", "status", "sequence"})
_TYPES = frozenset({"numeric", "passfail", "string", "action"})
_TRUE = frozenset({"true", "pass", "passed", "yes", "1"})
_FALSE = frozenset({"false", "fail", "failed", "no", "0"})
_WORDS = {
    "passed": "P",
    "failed": "F",
    "skipped": "S",
    "done": "D",
    "error": "E",
    "terminated": "T",
}


def _key(cell: str) -> str:
    return "".join(ch for ch in cell.casefold() if ch not in " _-.")


def _letter(text: str) -> str:
    cleaned = text.strip()
    return _WORDS.get(cleaned.casefold(), cleaned.upper())


@dataclass
class _Header:
    values: dict[str, str] = field(default_factory=dict)
    misc: list[tuple[str, str]] = field(default_factory=list)
    sub_units: list[tuple[str, str, str, str | None]] = field(default_factory=list)


class _Reader:
    """Parses one file's rows; every error carries the line number."""

    def __init__(self, rows: list[tuple[int, list[str]]], settings: Mapping[str, Any]) -> None:
        self.rows = rows
        self.settings = settings

    def fail(self, line: int, message: str) -> ConversionError:
        return ConversionError(f"line {line}: {message}")

    def header(self) -> tuple[_Header, int]:
        header = _Header()
        for position, (line, row) in enumerate(self.rows):
            first = _key(row[0])
            if first == "step":
                return header, position
            if first == _key(MARKER):
                version = row[1].strip() if len(row) > 1 else ""
                if version != _VERSION:
                    raise self.fail(line, f"WATS-CSV version {version!r}; only 1 is read")
            elif first == "misc":
                if len(row) < 3 or not row[1].strip():
                    raise self.fail(line, "a Misc line is Misc,<description>,<text>")
                header.misc.append((row[1].strip(), row[2].strip()))
            elif first == "subunit":
                if len(row) < 3:
                    raise self.fail(line, "a SubUnit line is SubUnit,<pn>,<sn>[,<rev>[,<type>]]")
                cells = [c.strip() for c in row[1:5]] + ["", ""]
                header.sub_units.append((cells[0], cells[1], cells[2], cells[3] or None))
            elif first in _HEADER_KEYS:
                name = _HEADER_KEYS[first]
                if name in header.values:
                    raise self.fail(line, f"{row[0].strip()} is given twice")
                header.values[name] = row[1].strip() if len(row) > 1 else ""
            else:
                known = "PartNumber, SerialNumber, Revision, ProcessCode, Station, StartTime, ..."
                raise self.fail(line, f"unknown header key {row[0].strip()!r}; known: {known}")
        last = self.rows[-1][0] if self.rows else 1
        raise self.fail(last, "no step table: add a line starting with Step (the column names)")

    def builder(self, header: _Header, content: bytes) -> UUTBuilder:
        values = header.values
        line = self.rows[0][0] if self.rows else 1
        for name in _REQUIRED:
            if not values.get(name):
                label = _label(name)
                raise self.fail(line, f"the header has no {label}; add a {label} line")
        try:
            process_code = int(values["process_code"])
        except ValueError:
            code = values["process_code"]
            raise self.fail(line, f"ProcessCode {code!r} is not a whole number") from None
        builder = UUTBuilder(
            part_number=values["part_number"],
            serial_number=values["serial_number"],
            revision=values["revision"],
            process_code=process_code,
            station=self.station(values),
            operator=values.get("operator", ""),
            start=self.start(line, values["start"]),
            result=self.result(line, values.get("result", "")),
            report_id=self.report_id(line, values.get("report_id", ""), content),
            **self.uut_fields(line, values),
        )
        for description, text in header.misc:
            builder.misc(description, text)
        for pn, sn, rev, part_type in header.sub_units:
            builder.sub_unit(pn, sn, rev, part_type)
        return builder

    def station(self, values: dict[str, str]) -> Station:
        name = values.get("station") or self.settings.get("station")
        return Station(
            str(name or Station.local().name),
            values.get("location") or str(self.settings.get("location", "Unknown")),
            values.get("purpose") or str(self.settings.get("purpose", "Test")),
        )

    def start(self, line: int, text: str) -> datetime:
        try:
            start = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(line, f"StartTime {text!r} is not ISO 8601") from None
        if start.tzinfo is None:
            raise self.fail(line, f"StartTime {text!r} needs a UTC offset (Z, +01:00)")
        return start

    def result(self, line: int, text: str) -> ReportResult | None:
        if not text:
            return None
        try:
            return ReportResult(_letter(text))
        except ValueError:
            allowed = "Passed, Failed, Error, Terminated, Done"
            raise self.fail(line, f"Result {text!r}; use one of {allowed}") from None

    def report_id(self, line: int, text: str, content: bytes) -> uuid.UUID:
        if not text:
            return stable_report_id(content)
        try:
            return uuid.UUID(text)
        except ValueError:
            raise self.fail(line, f"ReportId {text!r} is not a UUID") from None

    def uut_fields(self, line: int, values: dict[str, str]) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if values.get("comment"):
            extra["comment"] = values["comment"]
        if values.get("fixture_id"):
            extra["fixture_id"] = values["fixture_id"]
        if values.get("exec_time"):
            extra["exec_time"] = self.number(line, "ExecTime", values["exec_time"])
        return extra

    def number(self, line: int, column: str, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise self.fail(line, f"{column} {text!r} is not a number") from None
        if math.isnan(value) and column != "Value":
            raise self.fail(line, f"{column} must not be NaN")
        return value

    def steps(self, builder: UUTBuilder, start: int) -> None:
        line, names = self.rows[start]
        columns = [_key(c) for c in names]
        if unknown := [names[i].strip() for i, c in enumerate(columns) if c not in _COLUMNS]:
            known = "Step, Type, Value, Unit, Low, High, Comp, Status, Sequence"
            raise self.fail(line, f"unknown column(s) {', '.join(unknown)}; known: {known}")
        if "value" not in columns:
            raise self.fail(line, "the step table has no Value column")
        sequences: dict[str, SequenceBuilder] = {}
        count = 0
        for row_line, row in self.rows[start + 1 :]:
            if len(row) > len(columns):
                raise self.fail(row_line, f"{len(row)} cells but {len(columns)} columns")
            cells = dict(zip(columns, (c.strip() for c in row), strict=False))
            target = self.sequence(builder, sequences, cells.get("sequence", ""))
            self.step(target, row_line, cells)
            count += 1
        if count == 0:
            raise self.fail(line, "the step table has no rows")

    def sequence(
        self, builder: UUTBuilder, sequences: dict[str, SequenceBuilder], path: str
    ) -> SequenceBuilder:
        parent: SequenceBuilder = builder
        so_far = ""
        for part in (p.strip() for p in path.split("/")):
            if not part:
                continue
            so_far = f"{so_far}/{part}"
            if so_far not in sequences:
                sequences[so_far] = parent.sequence(part)
            parent = sequences[so_far]
        return parent

    def step(self, target: SequenceBuilder, line: int, cells: dict[str, str]) -> None:
        name = cells.get("step", "")
        if not name:
            raise self.fail(line, "the Step cell (the step name) is empty")
        value = cells.get("value", "")
        kind = cells.get("type", "").casefold() or _infer(value)
        if kind not in _TYPES:
            raise self.fail(line, f"Type {kind!r}; use numeric, passfail, string or action")
        status = None
        if cells.get("status"):
            try:
                status = StepStatus(_letter(cells["status"]))
            except ValueError:
                text = cells["status"]
                raise self.fail(line, f"Status {text!r}; use P, F, S, D, E or T") from None
        row = _Row(line, name, value, cells, cells.get("comp", "").upper() or None, status)
        try:
            if row.comp is not None:
                CompOp(row.comp)
            if kind == "numeric":
                self.numeric(target, row)
            elif kind == "passfail":
                self.passfail(target, row)
            elif kind == "string":
                limit = cells.get("low") or None
                target.string(name, value, limit=limit, comp=row.comp, status=status)
            else:
                target.action(name, status=status or StepStatus.DONE)
        except ValueError as exc:
            raise self.fail(line, f"step {name!r}: {exc}") from None

    def numeric(self, target: SequenceBuilder, row: _Row) -> None:
        low_text, high_text = row.cells.get("low", ""), row.cells.get("high", "")
        low = self.number(row.line, "Low", low_text) if low_text else None
        high = self.number(row.line, "High", high_text) if high_text else None
        comp = row.comp
        if low is None and high is not None:
            # An upper limit alone: WATS keeps a single limit in lowLimit.
            comp = comp or CompOp.LE.value
            if CompOp(comp).limits == 1:
                low, high = high, None
        target.numeric(
            row.name,
            self.number(row.line, "Value", row.value),
            unit=row.cells.get("unit") or None,
            low=low,
            high=high,
            comp=comp,
            status=row.status,
        )

    def passfail(self, target: SequenceBuilder, row: _Row) -> None:
        text = row.value.casefold()
        if text not in _TRUE | _FALSE:
            msg = f"pass/fail value {row.value!r}; use true/false or pass/fail"
            raise self.fail(row.line, msg)
        target.passfail(row.name, text in _TRUE, status=row.status)


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    name: str
    value: str
    cells: dict[str, str]
    comp: str | None
    status: StepStatus | None


def _label(name: str) -> str:
    return {
        "part_number": "PartNumber",
        "serial_number": "SerialNumber",
        "revision": "Revision",
        "process_code": "ProcessCode",
        "start": "StartTime",
    }[name]


def _infer(value: str) -> str:
    if not value:
        return "action"
    try:
        float(value)
    except ValueError:
        return "passfail" if value.casefold() in _TRUE | _FALSE else "string"
    return "numeric"


def _rows(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """The non-blank, non-comment rows with their line numbers."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    line = 1
    for row in reader:
        if row and any(c.strip() for c in row) and not row[0].lstrip().startswith("#"):
            rows.append((line, row))
        line = reader.line_num + 1
    return rows


def _delimiter(settings: Mapping[str, Any]) -> str:
    delimiter = settings.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        msg = f"the csv converter's 'delimiter' setting must be one character, got {delimiter!r}"
        raise ConversionError(msg)
    return delimiter


class CSVConverter:
    """Reads WATS-CSV test logs (one test report per file).

    Settings (the ``settings`` table of the converter's configuration):

    * ``delimiter``: the cell separator, default ``","`` (e.g. ``";"``);
    * ``station``, ``location``, ``purpose``: used when the file has no such header line
      (without either, the station is this host's name, the location ``Unknown`` and the
      purpose ``Test``).

    A file without a ``ReportId`` line gets an id derived from its bytes, so converting the
    same file again yields the same id.
    """

    name = "csv"
    patterns: tuple[str, ...] = ("*.csv",)

    def validate(self, path: Path) -> Validation:
        """Rate ``path``: 1.0 with the ``WATS-CSV`` marker, 0.5 with header and step table."""
        try:
            with path.open("rb") as file:
                head = file.read(_SNIFF).decode("utf-8-sig", errors="replace")
        except OSError as exc:
            return Validation(0.0, f"cannot read {path.name}: {exc.strerror or exc}")
        keys = {_key(line.split(",")[0].split(";")[0]) for line in head.splitlines()}
        if _key(MARKER) in keys:
            return Validation(1.0, "a WATS-CSV test log")
        if {"partnumber", "step"} <= keys or {"pn", "step"} <= keys:
            return Validation(0.5, f"a header and a step table but no {MARKER},1 first line")
        return Validation(0.0, f"not a WATS-CSV test log (no {MARKER} line)")

    def convert(self, path: Path, settings: Mapping[str, Any]) -> list[ReportBase]:
        """Build the test report the file describes.

        Raises:
            ConversionError: the file breaks the format; the reason names the line.
            ReportValidationError: the built report breaks a WATS rule.
        """
        content = read_source(path)
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConversionError(f"not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
        try:
            rows = _rows(text, _delimiter(settings))
        except csv.Error as exc:
            raise ConversionError(f"not readable as CSV: {exc}") from None
        if not rows:
            raise ConversionError("the file is empty")
        reader = _Reader(rows, settings)
        header, table = reader.header()
        builder = reader.builder(header, content)
        reader.steps(builder, table)
        return [builder.build()]

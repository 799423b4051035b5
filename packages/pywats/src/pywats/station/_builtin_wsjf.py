"""The ``wsjf`` converter: a WATS JSON report file, passed through after validation.

The file is parsed with :func:`pywats.parse_report` and checked against WATS's rules, so a
bad file is refused with the path of each bad field rather than dead-lettered by the server
later. A file that is a JSON array holds several reports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pywats._report import parse_report
from pywats._validation import rule_issues
from pywats.errors import ReportValidationError, ValidationIssue
from pywats.station._converters import Validation, stable_report_id
from pywats.station._errors import ConversionError

if TYPE_CHECKING:
    from pywats._report import ReportBase

__all__ = ["WSJFConverter", "read_source"]

_HEADER_KEYS = frozenset({"pn", "sn", "rev", "processCode", "machineName"})


def read_source(path: Path) -> bytes:
    """Return a source file's bytes.

    Raises:
        ConversionError: the file cannot be read; the reason names the file and the error.
    """
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConversionError(f"cannot read {path.name}: {exc.strerror or exc}") from exc


def _objects(content: bytes) -> list[Any]:
    try:
        data = json.loads(content)
    except ValueError as exc:  # also bytes that are not UTF-8
        raise ConversionError(f"not JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise ConversionError("the file holds an empty JSON array: no report to convert")
    return items


class WSJFConverter:
    """Passes WSJF (WATS JSON) report files through, checked.

    A report without an ``id`` gets one derived from the file's bytes, so converting the
    same file again yields the same id.
    """

    name = "wsjf"
    patterns: tuple[str, ...] = ("*.json", "*.wsjf")

    def validate(self, path: Path) -> Validation:
        """Rate ``path``: 1.0 for a JSON object with report header keys, lower otherwise."""
        try:
            items = _objects(read_source(path))
        except ConversionError as exc:
            return Validation(0.0, exc.reason)
        first = items[0]
        if not isinstance(first, dict):
            return Validation(0.0, "the JSON is not an object (or an array of objects)")
        found = _HEADER_KEYS & first.keys()
        if len(found) == len(_HEADER_KEYS):
            return Validation(1.0, "a WSJF report")
        if found:
            missing = ", ".join(sorted(_HEADER_KEYS - found))
            return Validation(0.4, f"JSON with some WSJF header keys; missing {missing}")
        return Validation(0.1, "JSON without WSJF header keys (pn, sn, rev, processCode)")

    def convert(self, path: Path, settings: Mapping[str, Any]) -> list[ReportBase]:  # noqa: ARG002
        """Parse and check every report in the file.

        Raises:
            ConversionError: the file is unreadable, not JSON or empty.
            ReportValidationError: a report is invalid; ``issues`` carry the field paths
                (prefixed ``[i].`` in a file of several reports).
        """
        content = read_source(path)
        items = _objects(content)
        reports: list[ReportBase] = []
        for index, item in enumerate(items):
            prefix = f"[{index}]." if len(items) > 1 else ""
            try:
                report = parse_report(item)
                if issues := rule_issues(report):
                    raise ReportValidationError(issues)
            except ReportValidationError as exc:
                raise ReportValidationError(
                    [ValidationIssue(prefix + i.path, i.message) for i in exc.issues]
                ) from None
            if "id" not in report.model_fields_set:
                report.id = stable_report_id(content, index)
            reports.append(report)
        return reports

"""The ``wsxf`` converter: a WATS XML report file, read with :func:`pywats.from_wsxf`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pywats._validation import rule_issues
from pywats._wsxf import NAMESPACE, from_wsxf
from pywats.errors import ReportValidationError, ValidationIssue
from pywats.station._builtin_wsjf import read_source
from pywats.station._converters import Validation, stable_report_id
from pywats.station._errors import ConversionError

if TYPE_CHECKING:
    from pywats._report import ReportBase

__all__ = ["WSXFConverter"]

_SNIFF = 4096


class WSXFConverter:
    """Reads WSXF documents (``<Reports>`` of test reports) into reports.

    A report without an ``ID`` attribute gets an id derived from the file's bytes, so
    converting the same file again yields the same id.
    """

    name = "wsxf"
    patterns: tuple[str, ...] = ("*.xml", "*.wsxf")

    def validate(self, path: Path) -> Validation:
        """Rate ``path`` by its first bytes: the WSXF namespace, a ``Reports`` root, XML."""
        try:
            with path.open("rb") as file:
                head = file.read(_SNIFF)
        except OSError as exc:
            return Validation(0.0, f"cannot read {path.name}: {exc.strerror or exc}")
        if NAMESPACE.encode() in head:
            return Validation(1.0, "a WSXF document")
        if b"<Reports" in head or b"<Report " in head:
            return Validation(0.5, "XML with a Reports element but not the WSXF namespace")
        if head.lstrip().startswith(b"<"):
            return Validation(0.1, "XML, but not WSXF (no Reports element or namespace)")
        return Validation(0.0, "not XML")

    def convert(self, path: Path, settings: Mapping[str, Any]) -> list[ReportBase]:  # noqa: ARG002
        """Read every report in the document and check it against WATS's rules.

        Raises:
            ConversionError: the file is unreadable or holds no report.
            ReportValidationError: the XML is malformed, or a report is invalid; ``issues``
                carry the field paths (prefixed ``[i].`` in a file of several reports).
        """
        content = read_source(path)
        parsed = from_wsxf(content)
        if not parsed:
            raise ConversionError("the WSXF document holds no <Report> element")
        reports: list[ReportBase] = []
        for index, report in enumerate(parsed):
            if issues := rule_issues(report):
                prefix = f"[{index}]." if len(parsed) > 1 else ""
                raise ReportValidationError(
                    [ValidationIssue(prefix + i.path, i.message) for i in issues]
                )
            if "id" not in report.model_fields_set:
                report.id = stable_report_id(content, index)
            reports.append(report)
        return reports

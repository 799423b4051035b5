"""WSJF checks and header derivation, done the way the WATS server does them.

The emulator deliberately does not use pywats's report models: it plays the server, and a
server that shared the client's models would accept whatever the client gets wrong. These
light checks follow the reference's list of what WATS rejects (ids, header fields, status
letters, comparison operators and their limits, NaN and infinities sent as strings).
"""

from __future__ import annotations

__all__ = [
    "COMP_OPS",
    "STEP_STATUSES",
    "ReportRejected",
    "derive_header",
    "parse_json",
    "parse_start",
    "validate_report",
]

import json
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

HEADER_STRINGS = ("pn", "sn", "rev", "machineName", "location", "purpose")
REPORT_RESULTS = frozenset("PFDET")
STEP_STATUSES = frozenset("PFSDET")
STEP_GROUPS = frozenset("SMC")
NON_FINITE = frozenset({"NaN", "Infinity", "-Infinity"})
ONE_LIMIT = frozenset({"EQ", "EQT", "NE", "LT", "LE", "GT", "GE"})
TWO_LIMITS = frozenset({"GTLT", "GTLE", "GELT", "GELE", "LTGT", "LTGE", "LEGT", "LEGE"})
STRING_OPS = frozenset({"CASESENSIT", "IGNORECASE"})
LIMITED = ONE_LIMIT | TWO_LIMITS
COMP_OPS = frozenset({"LOG"}) | LIMITED | STRING_OPS
KNOWN_TOP_LEVEL = frozenset(
    {
        "id", "type", "pn", "sn", "rev", "processCode", "processName", "processCodeFormat",
        "result", "machineName", "location", "purpose", "start", "startUTC", "uut", "uur",
        "root", "subUnits", "miscInfos", "assets", "assetStats", "binaryData",
        "additionalData", "origin", "productName",
    }
)  # fmt: skip
MEAS_KEYS = ("numericMeas", "booleanMeas", "stringMeas")
# What a known step type may carry; generic and unknown types may carry any of them.
TYPE_MEAS: dict[str, str] = {
    "ET_NLT": "numericMeas",
    "NumericLimitTest": "numericMeas",
    "ET_MNLT": "numericMeas",
    "MultiNumericLimitTest": "numericMeas",
    "ET_PFT": "booleanMeas",
    "PassFailTest": "booleanMeas",
    "ET_MPFT": "booleanMeas",
    "ET_SVT": "stringMeas",
    "StringValueTest": "stringMeas",
    "ET_MSVT": "stringMeas",
}
SEQUENCE_TYPES = frozenset({"SequenceCall", "WATS_SeqCall"})
MAX_TEXT = 100
MAX_DEPTH = 64


class ReportRejected(ValueError):
    """A report WATS would refuse; ``path`` names the bad field (``root.steps[2].status``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


def _no_constant(name: str) -> Any:
    msg = f"bare {name} is not JSON; send it as the string {json.dumps(_SPELLING[name])}"
    raise ReportRejected("", msg)


_SPELLING = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}


def parse_json(raw: bytes) -> Any:
    """Parse a request body the way a strict JSON server does (no bare NaN or Infinity).

    Raises:
        ReportRejected: the body is not JSON.
    """
    try:
        # orjson is the fast path and is as strict (it refuses bare NaN and Infinity too);
        # what it refuses is parsed again by json, whose errors name the problem better.
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except ReportRejected:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportRejected("", f"the body is not valid JSON ({exc})") from exc


def parse_start(value: object, path: str) -> datetime:
    """An ISO-8601 timestamp that carries its UTC offset.

    Raises:
        ReportRejected: ``value`` is not such a timestamp.
    """
    if not isinstance(value, str):
        raise ReportRejected(path, f"expected an ISO-8601 timestamp string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ReportRejected(path, f"{value!r} is not an ISO-8601 timestamp") from exc
    if parsed.tzinfo is None:
        msg = f"{value!r} has no UTC offset; add one, e.g. '+00:00' or 'Z'"
        raise ReportRejected(path, msg)
    return parsed


def validate_report(
    report: object, *, strict: bool = False, known_processes: frozenset[int] | None = None
) -> dict[str, Any]:
    """Check a WSJF report as WATS does and return it.

    Args:
        report: the parsed JSON body.
        strict: reject top-level keys WSJF does not define.
        known_processes: when given, ``processCode`` must be one of these.

    Raises:
        ReportRejected: the first problem found, with the path of the bad field.
    """
    if not isinstance(report, dict):
        raise ReportRejected("", f"expected a WSJF report object, got {type(report).__name__}")
    if strict:
        unknown = sorted(set(report) - KNOWN_TOP_LEVEL)
        if unknown:
            raise ReportRejected(unknown[0], "not a WSJF field (the emulator runs in strict mode)")
    _check_header(report, known_processes)
    kind = report["type"]
    detail = "uut" if kind == "T" else "uur"
    if report.get(detail) is not None and not isinstance(report[detail], dict):
        raise ReportRejected(detail, "expected an object")
    if kind == "R" and isinstance(report.get("uur"), dict):
        ref = report["uur"].get("refUUT")
        if ref is not None:
            _check_id(ref, "uur.refUUT")
    _check_list_of_objects(report, "miscInfos", "")
    _check_list_of_objects(report, "subUnits", "")
    _check_list_of_objects(report, "assets", "")
    if "root" in report:
        _check_step(report["root"], "root", depth=0)
    for index, sub in enumerate(report.get("subUnits") or []):
        if "root" in sub:
            _check_step(sub["root"], f"subUnits[{index}].root", depth=0)
    return report


def _check_header(report: Mapping[str, Any], known_processes: frozenset[int] | None) -> None:
    _check_id(report.get("id"), "id")
    kind = report.get("type")
    if kind not in ("T", "R"):
        raise ReportRejected("type", f"expected 'T' (UUT) or 'R' (UUR), got {kind!r}")
    for name in HEADER_STRINGS:
        _text(report.get(name), name)
    code = report.get("processCode")
    if isinstance(code, bool) or not isinstance(code, int):
        raise ReportRejected("processCode", f"expected an integer process code, got {code!r}")
    if known_processes is not None and code not in known_processes:
        known = ", ".join(str(c) for c in sorted(known_processes))
        raise ReportRejected("processCode", f"{code} is not a known process; known: {known}")
    result = report.get("result", "P")
    if not _member(result, REPORT_RESULTS):
        raise ReportRejected("result", f"expected one of P, F, D, E, T; got {result!r}")
    parse_start(report.get("start"), "start")


def _check_id(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise ReportRejected(path, f"expected a UUID string, got {value!r}")
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise ReportRejected(path, f"{value!r} is not a UUID") from exc


def _text(value: object, path: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ReportRejected(path, f"expected a non-empty string, got {value!r}")
    if len(value) > MAX_TEXT:
        raise ReportRejected(path, f"{len(value)} characters; at most {MAX_TEXT} are allowed")


def _check_list_of_objects(parent: Mapping[str, Any], key: str, prefix: str) -> None:
    value = parent.get(key)
    if value is None:
        return
    path = f"{prefix}{key}"
    if not isinstance(value, list):
        raise ReportRejected(path, f"expected an array, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ReportRejected(f"{path}[{index}]", "expected an object")


def _member(value: object, allowed: frozenset[str]) -> bool:
    # A JSON list or object is not hashable: test the type before the set.
    return isinstance(value, str) and value in allowed


def _check_step(step: object, path: str, *, depth: int) -> None:
    # The hot path of a submit: paths of fields are formatted only when one is wrong.
    if depth > MAX_DEPTH:
        raise ReportRejected(path, f"steps nest deeper than {MAX_DEPTH} levels")
    if not isinstance(step, dict):
        raise ReportRejected(path, "expected a step object")
    step_type = _check_step_fields(step, path)
    allowed = TYPE_MEAS.get(step_type)
    for key in MEAS_KEYS:
        items = step.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise ReportRejected(f"{path}.{key}", "expected an array, even for one measurement")
        if allowed is not None and key != allowed:
            msg = f"a {step_type} step carries {allowed}, not {key}"
            raise ReportRejected(f"{path}.{key}", msg)
        for index, meas in enumerate(items):
            _check_measurement(key, meas, path, index)
    steps = step.get("steps")
    if steps is None:
        return
    if not isinstance(steps, list):
        raise ReportRejected(f"{path}.steps", "expected an array of steps")
    for index, child in enumerate(steps):
        _check_step(child, f"{path}.steps[{index}]", depth=depth + 1)


def _check_step_fields(step: Mapping[str, Any], path: str) -> str:
    """Check a step's type, name, status and group; return its type."""
    step_type = step.get("stepType")
    if not isinstance(step_type, str) or not step_type:
        raise ReportRejected(f"{path}.stepType", f"expected a step type, got {step_type!r}")
    name = step.get("name")
    if name is not None and not _short_text(name):
        _text(name, f"{path}.name")
    if not _member(step.get("status"), STEP_STATUSES):
        _letter(step.get("status"), STEP_STATUSES, f"{path}.status")
    group = step.get("group")
    if group is not None and not _member(group, STEP_GROUPS):
        _letter(group, STEP_GROUPS, f"{path}.group")
    return step_type


def _short_text(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_TEXT and not value.isspace() and value != ""


def _letter(value: object, allowed: frozenset[str], path: str) -> None:
    if not _member(value, allowed):
        raise ReportRejected(path, f"expected one of {', '.join(sorted(allowed))}; got {value!r}")


def _number(value: object, path: str, *, required: bool) -> None:
    if value is None:
        if required:
            raise ReportRejected(path, "required by the comparison operator")
        return
    if isinstance(value, bool):
        raise ReportRejected(path, f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return
    if not _member(value, NON_FINITE):
        msg = f"expected a number or one of 'NaN', 'Infinity', '-Infinity'; got {value!r}"
        raise ReportRejected(path, msg)


def _check_measurement(key: str, meas: object, step_path: str, index: int) -> None:
    if not isinstance(meas, dict):
        raise ReportRejected(f"{step_path}.{key}[{index}]", "expected a measurement object")
    status = meas.get("status")
    if status is not None and not _member(status, STEP_STATUSES):
        _letter(status, STEP_STATUSES, f"{step_path}.{key}[{index}].status")
    comp = meas.get("compOp")
    if comp is not None and not _member(comp, COMP_OPS):
        path = f"{step_path}.{key}[{index}].compOp"
        raise ReportRejected(path, f"{comp!r} is not a WATS comparison operator")
    if key == "numericMeas":
        value, low, high = meas.get("value"), meas.get("lowLimit"), meas.get("highLimit")
        if comp in STRING_OPS or not (
            _plain_number(value)
            and (_plain_number(low) and (low is not None or comp not in LIMITED))
            and (_plain_number(high) and (high is not None or comp not in TWO_LIMITS))
        ):
            _check_numbers(meas, comp, f"{step_path}.{key}[{index}]")
    elif key == "booleanMeas":
        value = meas.get("value")
        if value is not None and not isinstance(value, bool):
            path = f"{step_path}.{key}[{index}].value"
            raise ReportRejected(path, f"expected true or false, got {value!r}")
    else:
        value = meas.get("value")
        if value is not None and not isinstance(value, str):
            path = f"{step_path}.{key}[{index}].value"
            raise ReportRejected(path, f"expected a string, got {value!r}")
        if comp in STRING_OPS and meas.get("limit") is None:
            path = f"{step_path}.{key}[{index}].limit"
            raise ReportRejected(path, f"required by the comparison operator {comp}")


def _plain_number(value: object) -> bool:
    """Whether ``value`` is absent or a number: the common case, checked without paths."""
    return value is None or (type(value) is float or type(value) is int)


def _check_numbers(meas: Mapping[str, Any], comp: object, path: str) -> None:
    _number(meas.get("value"), f"{path}.value", required=False)
    if comp in STRING_OPS:
        raise ReportRejected(f"{path}.compOp", f"{comp} compares strings, not numbers")
    _number(meas.get("lowLimit"), f"{path}.lowLimit", required=comp in LIMITED)
    _number(meas.get("highLimit"), f"{path}.highLimit", required=comp in TWO_LIMITS)


def _utc(start: datetime) -> str:
    return start.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _walk(step: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield step
    for child in step.get("steps") or ():
        yield from _walk(child)


def derive_header(
    report: Mapping[str, Any], *, process_name: str | None, receive_count: int, size: int
) -> dict[str, Any]:
    """The report header WATS derives from a stored report (what ``Query/Header`` answers).

    ``subUnits``, ``uurSubUnits``, ``miscInfo`` and ``assets`` are always present here; the
    query drops the ones not asked for with ``$expand``.
    """
    kind = report["type"]
    detail: Mapping[str, Any] = report.get("uut" if kind == "T" else "uur") or {}
    root = report.get("root")
    seq = (root or {}).get("seqCall") or {}
    header: dict[str, Any] = {
        "uuid": str(report["id"]).lower(),
        "serialNumber": report["sn"],
        "partNumber": report["pn"],
        "revision": report["rev"],
        "reportType": kind,
        "stationName": report["machineName"],
        "location": report["location"],
        "purpose": report["purpose"],
        "processCode": report["processCode"],
        "processName": process_name,
        "result": report.get("result", "P"),
        "start": report["start"],
        "startUtc": _utc(parse_start(report["start"], "start")),
        "operator": detail.get("user"),
        "comment": detail.get("comment"),
        "executionTime": detail.get("execTime"),
        "fixtureId": detail.get("fixtureId"),
        "testSocketIndex": detail.get("testSocketIndex"),
        "batchNumber": detail.get("batchSN"),
        "errorCode": detail.get("errorCode"),
        "errorMessage": detail.get("errorMessage"),
        "swFilename": seq.get("name"),
        "swVersion": seq.get("version"),
        "rootNodeType": (root or {}).get("stepType"),
        "receiveCount": receive_count,
        "reportSize": size,
        "miscInfo": [
            {"description": m.get("description"), "value": m.get("text", m.get("numeric"))}
            for m in report.get("miscInfos") or ()
        ],
        "assets": [
            {
                "serialNumber": a.get("sn"),
                "runningCount": a.get("usageCount"),
                "totalCount": a.get("usageCount"),
            }
            for a in report.get("assets") or ()
        ],
    }
    subs = [
        {
            "serialNumber": s.get("sn"),
            "partNumber": s.get("pn"),
            "revision": s.get("rev"),
            "partType": s.get("partType"),
        }
        for s in report.get("subUnits") or ()
    ]
    if kind == "T":
        header["subUnits"] = subs
        header["uurSubUnits"] = []
        failed = _first_failure(root)
        header["causedUutFailure"] = failed
    else:
        header["subUnits"] = []
        header["uurSubUnits"] = subs
        header["referencedUut"] = detail.get("refUUT")
        header["testOperation"] = detail.get("testOperationName")
    return header


def _first_failure(root: Mapping[str, Any] | None) -> str | None:
    if root is None:
        return None
    for step in _walk(root):
        if step.get("status") == "F" and step.get("stepType") not in SEQUENCE_TYPES:
            name = step.get("name")
            return name if isinstance(name, str) else None
    return None

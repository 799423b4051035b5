"""Routes of the App and Report controllers: version, processes, WSJF submit, get and query."""

from __future__ import annotations

__all__ = ["HEADER_SCHEMA", "add_report_routes", "check_report", "store_report"]

import copy
import logging
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from pywats.emulator._http import WATSHTTPError, query_params, truthy
from pywats.emulator._odata import Field, ODataError, Schema, apply_query
from pywats.emulator._records import new_product, new_unit, upsert_revision
from pywats.emulator._state import EmulatorState, StoredReport, key
from pywats.emulator._wsjf import ReportRejected, derive_header, parse_json, validate_report
from pywats.emulator._wsxf import from_wsxf, to_wsxf

logger = logging.getLogger(__name__)

_SUB_UNIT = Schema(
    "subUnit",
    [Field("serialNumber"), Field("partNumber"), Field("revision"), Field("partType")],
)
_MISC = Schema("miscInfo", [Field("description"), Field("value")])
_ASSET = Schema(
    "asset",
    [Field("serialNumber"), Field("runningCount", "int"), Field("totalCount", "int")],
)
HEADER_SCHEMA = Schema(
    "report header",
    [
        *(
            Field(name)
            for name in (
                "uuid", "serialNumber", "partNumber", "revision", "reportType", "stationName",
                "location", "purpose", "processName", "result", "operator", "comment",
                "fixtureId", "batchNumber", "errorMessage", "swFilename", "swVersion",
                "rootNodeType", "causedUutFailure", "referencedUut", "testOperation",
            )
        ),
        *(
            Field(name, "int")
            for name in (
                "processCode", "errorCode", "testSocketIndex", "receiveCount", "reportSize"
            )
        ),
        Field("executionTime", "float"),
        Field("start", "datetime"),
        Field("startUtc", "datetime"),
        Field("subUnits", "collection", _SUB_UNIT),
        Field("uurSubUnits", "collection", _SUB_UNIT),
        Field("miscInfo", "collection", _MISC),
        Field("assets", "collection", _ASSET),
    ],
)  # fmt: skip
_EXPANDABLE = {
    "subunits": "subUnits",
    "uursubunits": "uurSubUnits",
    "miscinfo": "miscInfo",
    "uurmiscinfo": "miscInfo",
    "assets": "assets",
    "attachments": "attachments",
    "uurattachments": "attachments",
}
_REPORT_TYPES = {"u": "T", "t": "T", "r": "R"}


def add_report_routes(app: FastAPI, state: EmulatorState, clock: Callable[[], float]) -> None:
    """Add the App and Report routes over ``state``; ``clock`` gives the receive time."""
    _add_app_routes(app, state)
    _add_submit_routes(app, state, clock)
    _add_query_routes(app, state)


def _add_app_routes(router: FastAPI, state: EmulatorState) -> None:
    settings = state.settings

    @router.get("/api/App/Version")
    def version() -> JSONResponse:
        return JSONResponse(settings.version)

    @router.get("/api/internal/Client/ServerInfo")
    def server_info() -> dict[str, str]:
        return {"Name": "WATS emulator", "SiteCode": "EMU", "Version": settings.version}

    @router.get("/api/App/Processes")
    def processes(request: Request) -> list[dict[str, Any]]:
        params = query_params(request)
        wanted = {
            "test": truthy(params.get("includetestoperations"), default=True),
            "repair": truthy(params.get("includerepairoperations"), default=True),
            "wip": truthy(params.get("includewipoperations"), default=True),
        }
        inactive = truthy(params.get("includeinactiveprocesses"), default=False)
        return [
            {
                "code": p.code,
                "name": p.name,
                "description": p.description,
                "isTestOperation": p.kind == "test",
                "isRepairOperation": p.kind == "repair",
                "isWipOperation": p.kind == "wip",
                "processIndex": index,
                "state": 1 if p.active else 0,
            }
            for index, p in enumerate(settings.processes)
            if wanted[p.kind] and (p.active or inactive)
        ]


def _add_submit_routes(router: FastAPI, state: EmulatorState, clock: Callable[[], float]) -> None:
    @router.post("/api/Report/WSJF")
    async def submit(request: Request) -> JSONResponse:
        raw = await request.body()
        report = check_report(state, _parse(raw))
        report_id = store_report(state, report, len(raw), clock())
        # A response object, not a return value FastAPI would validate and re-encode.
        return JSONResponse([{"ID": report_id}])

    @router.post("/api/Report/WSXF")
    async def submit_xml(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            reports = from_wsxf(raw)
        except ReportRejected as exc:
            raise WATSHTTPError(400, f"The report is invalid. {exc}") from exc
        # Every report is checked before any is stored: a document is taken whole or not at all.
        checked = [check_report(state, report) for report in reports]
        received, size = clock(), len(raw) // len(checked)
        ids = [store_report(state, report, size, received) for report in checked]
        return {"id": ids[0], "ids": ids}

    @router.get("/api/Report/Wsxf/{report_id}")
    def get_report_xml(report_id: str) -> Response:
        stored = _find(state, report_id)
        document = to_wsxf(stored.raw, stored.header["processName"])
        return Response(document, media_type="application/xml")

    @router.get("/api/Report/Wsjf/{report_id}")
    def get_report(report_id: str) -> dict[str, Any]:
        stored = _find(state, report_id)
        report = copy.deepcopy(stored.raw)
        report["productName"] = _product_name(state, report["pn"])
        report["processName"] = stored.header["processName"]
        report["origin"] = report["machineName"]
        return report


def _add_query_routes(router: FastAPI, state: EmulatorState) -> None:
    @router.get("/api/Report/Query/Header")
    def query_headers(request: Request) -> list[dict[str, Any]]:
        params = query_params(request)
        kind = params.get("reporttype")
        if kind is not None and kind.lower() not in _REPORT_TYPES:
            raise WATSHTTPError(400, f"reportType: expected 'U' (UUT) or 'R' (UUR), got {kind!r}")
        wanted = _REPORT_TYPES.get((kind or "").lower())
        expand = _expand(params.get("$expand"))
        with state.lock:
            rows = [
                r.header for r in state.reports.values() if wanted in (None, r.header["reportType"])
            ]
        try:
            selected = apply_query(rows, params, HEADER_SCHEMA)
        except ODataError as exc:
            raise WATSHTTPError(400, str(exc)) from exc
        return [_shape(row, expand) for row in selected]

    @router.get("/api/Report/Query/HeaderByMiscInfo")
    def query_by_misc_info(request: Request) -> list[dict[str, Any]]:
        params = query_params(request)
        description = params.get("description")
        if not description:
            raise WATSHTTPError(400, "description is required (the misc info's description)")
        value = params.get("stringvalue")
        with state.lock:
            rows = [
                r.header
                for r in state.reports.values()
                if any(
                    str(m.get("description", "")).casefold() == description.casefold()
                    and (value is None or str(m.get("text", "")) == value)
                    for m in r.raw.get("miscInfos") or ()
                )
            ]
        try:
            selected = apply_query(rows, {"$top": params.get("$top", "")}, HEADER_SCHEMA)
        except ODataError as exc:
            raise WATSHTTPError(400, str(exc)) from exc
        return [_shape(row, {"miscInfo", "subUnits", "uurSubUnits"}) for row in selected]


def check_report(state: EmulatorState, report: object) -> dict[str, Any]:
    """Validate a parsed WSJF report against the emulator's settings.

    Raises:
        WATSHTTPError: 400 naming the bad field.
    """
    settings = state.settings
    known = (
        frozenset(p.code for p in settings.processes) if settings.require_known_process else None
    )
    try:
        return validate_report(report, strict=settings.strict, known_processes=known)
    except ReportRejected as exc:
        logger.info("rejected a report: %s", exc)
        raise WATSHTTPError(400, f"The report is invalid. {exc}") from exc


def store_report(state: EmulatorState, report: dict[str, Any], size: int, received: float) -> str:
    """Store a checked report (the same id overwrites) and derive its header; returns its id."""
    report_id = str(uuid.UUID(report["id"]))
    with state.lock:
        previous = state.reports.get(report_id)
        count = 1 if previous is None else previous.header["receiveCount"] + 1
        header = derive_header(
            report,
            process_name=state.process_name(report["processCode"]),
            receive_count=count,
            size=size,
        )
        state.reports[report_id] = StoredReport(report, header, received)
        if state.settings.auto_create:
            _auto_create(state, report)
    logger.debug("stored report %s (receive count %d)", report_id, count)
    return str(report["id"])


def _parse(raw: bytes) -> Any:
    try:
        return parse_json(raw)
    except ReportRejected as exc:
        raise WATSHTTPError(400, f"The report is invalid. {exc}") from exc


def _auto_create(state: EmulatorState, report: dict[str, Any]) -> None:
    product = state.products.get(key(report["pn"]))
    if product is None:
        product = new_product({"partNumber": report["pn"], "name": report["pn"]})
        state.products[key(report["pn"])] = product
    if not any(r["revision"].casefold() == report["rev"].casefold() for r in product["revisions"]):
        upsert_revision(product, {"revision": report["rev"]})
    unit_key = key(report["sn"], report["pn"])
    if report["type"] == "T" and unit_key not in state.units:
        state.units[unit_key] = new_unit(
            {
                "serialNumber": report["sn"],
                "partNumber": report["pn"],
                "revision": report["rev"],
                "serialDate": report["start"],
                "processCode": report["processCode"],
            }
        )


def _find(state: EmulatorState, report_id: str) -> StoredReport:
    try:
        canonical = str(uuid.UUID(report_id))
    except ValueError as exc:
        raise WATSHTTPError(400, f"{report_id!r} is not a report id (a UUID)") from exc
    with state.lock:
        stored = state.reports.get(canonical)
    if stored is None:
        raise WATSHTTPError(404, f"Report {report_id} was not found.")
    return stored


def _product_name(state: EmulatorState, part_number: str) -> str | None:
    with state.lock:
        product = state.products.get(key(part_number))
    return None if product is None else product.get("name")


def _expand(value: str | None) -> set[str]:
    if not value:
        return set()
    fields: set[str] = set()
    for part in value.split(","):
        name = _EXPANDABLE.get(part.strip().lower())
        if name is None:
            accepted = ", ".join(sorted(set(_EXPANDABLE.values())))
            raise WATSHTTPError(
                400, f"$expand: {part.strip()!r} cannot be expanded; use {accepted}"
            )
        fields.add(name)
    return fields


def _shape(header: dict[str, Any], expand: set[str]) -> dict[str, Any]:
    shaped = {k: v for k, v in header.items() if k not in _EXPANDABLE.values()}
    for name in expand & set(header):
        shaped[name] = copy.deepcopy(header[name])
    if "attachments" in expand:
        shaped["attachments"] = []
    return shaped

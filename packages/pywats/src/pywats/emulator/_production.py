"""Routes of the Production controller: units, phases, tags, child units, verification, serials."""

from __future__ import annotations

__all__ = ["UNIT_SCHEMA", "add_production_routes"]

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from pywats.emulator._http import WATSHTTPError, json_body, query_params
from pywats.emulator._odata import Field, ODataError, Schema, apply_query
from pywats.emulator._records import new_unit, required_text
from pywats.emulator._state import EmulatorState, key

UNIT_SCHEMA = Schema(
    "unit",
    [
        *(
            Field(name)
            for name in (
                "serialNumber", "partNumber", "revision", "parentSerialNumber", "batchNumber",
                "currentLocation", "unitPhase",
            )
        ),
        Field("serialDate", "datetime"),
        Field("unitPhaseId", "int"),
        Field("processCode", "int"),
        Field(
            "subUnits",
            "collection",
            Schema("subUnit", [Field("serialNumber"), Field("partNumber"), Field("revision")]),
        ),
        Field("tags", "collection", Schema("tag", [Field("key"), Field("value")])),
    ],
)  # fmt: skip
PHASES: tuple[tuple[int, str, str], ...] = (
    (1, "Under production", "The unit is being built"),
    (2, "Production repair", "The unit is in repair"),
    (4, "Finalized", "The unit is finished"),
    (8, "Scrapped", "The unit was scrapped"),
    (16, "Extended test", "The unit is in extended test"),
    (32, "Customization", "The unit is being customised"),
    (64, "Repaired", "The unit was repaired"),
)


def _unit_key(params: Mapping[str, str], prefix: str = "") -> tuple[str, str]:
    serial = params.get(f"{prefix}serialnumber")
    part = params.get(f"{prefix}partnumber")
    if not serial or not part:
        name = (
            f"{prefix}SerialNumber and {prefix}PartNumber"
            if prefix
            else "serialNumber and partNumber"
        )
        raise WATSHTTPError(400, f"{name} are required query parameters")
    return serial, part


def _find(state: EmulatorState, serial: str, part: str) -> dict[str, Any]:
    unit = state.units.get(key(serial, part))
    if unit is None:
        raise WATSHTTPError(404, f"Unit {serial!r} of product {part!r} was not found.")
    return unit


def _save(state: EmulatorState, data: object, *, create_only: bool) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise WATSHTTPError(400, "unit: expected a JSON object")
    serial = required_text(data, "serialNumber", "unit")
    part = required_text(data, "partNumber", "unit")
    with state.lock:
        existing = state.units.get(key(serial, part))
        if existing is not None and create_only:
            raise WATSHTTPError(409, f"Unit {serial!r} of product {part!r} already exists.")
        base = existing or {}
        record = new_unit({**base, **data})
        state.units[key(serial, part)] = record
        return copy.deepcopy(record)


def add_production_routes(app: FastAPI, state: EmulatorState) -> None:
    """Add the Production routes over ``state``."""
    _add_unit_routes(app, state)
    _add_unit_state_routes(app, state)
    _add_child_routes(app, state)
    _add_serial_number_routes(app, state)


def _add_unit_routes(app: FastAPI, state: EmulatorState) -> None:
    @app.get("/api/Production/Unit/Query")
    def query(request: Request) -> list[dict[str, Any]]:
        with state.lock:
            rows = copy.deepcopy(list(state.units.values()))
        try:
            return apply_query(rows, query_params(request), UNIT_SCHEMA)
        except ODataError as exc:
            raise WATSHTTPError(400, str(exc)) from exc

    @app.get("/api/Production/Unit/{serial}/{part}")
    def get_unit(serial: str, part: str) -> dict[str, Any]:
        with state.lock:
            return copy.deepcopy(_find(state, serial, part))

    @app.put("/api/Production/Units")
    async def put_units(request: Request) -> list[dict[str, Any]]:
        items = await json_body(request)
        if not isinstance(items, list):
            raise WATSHTTPError(400, "units: expected a JSON array of units")
        return [_save(state, item, create_only=False) for item in items]

    @app.post("/api/Production/Unit")
    async def post_unit(request: Request) -> dict[str, Any]:
        return _save(state, await json_body(request), create_only=True)

    @app.put("/api/Production/Unit")
    async def put_unit(request: Request) -> dict[str, Any]:
        return _save(state, await json_body(request), create_only=False)

    @app.delete("/api/Production/Unit")
    def delete_unit(request: Request) -> Response:
        serial, part = _unit_key(query_params(request))
        with state.lock:
            unit = _find(state, serial, part)
            if unit.get("subUnits"):
                msg = f"Unit {serial!r} has child units; remove them before deleting it."
                raise WATSHTTPError(409, msg)
            del state.units[key(serial, part)]
        return Response(status_code=204)

    @app.get("/api/Production/UnitVerification")
    def verification(request: Request) -> dict[str, Any]:
        params = query_params(request)
        serial, part = _unit_key(params)
        return _verify(state, serial, part, params.get("revision"))


def _change(
    state: EmulatorState, request: Request, change: Callable[[dict[str, Any], dict[str, str]], None]
) -> Response:
    params = query_params(request)
    serial, part = _unit_key(params)
    with state.lock:
        change(_find(state, serial, part), params)
    return Response(status_code=204)


def _add_unit_state_routes(app: FastAPI, state: EmulatorState) -> None:
    @app.get("/api/Production/Phases")
    def phases() -> list[dict[str, Any]]:
        return [{"UnitPhaseId": i, "Code": n, "Name": n, "Description": d} for i, n, d in PHASES]

    @app.put("/api/Production/SetUnitPhase")
    def set_phase(request: Request) -> Response:
        def change(unit: dict[str, Any], params: dict[str, str]) -> None:
            wanted = params.get("phase", "")
            for phase_id, name, _ in PHASES:
                if wanted == str(phase_id) or wanted.casefold() == name.casefold():
                    unit["unitPhaseId"], unit["unitPhase"] = phase_id, name
                    return
            known = ", ".join(f"{i} ({n})" for i, n, _ in PHASES)
            raise WATSHTTPError(400, f"phase: {wanted!r} is not a unit phase; known: {known}")

        return _change(state, request, change)

    @app.put("/api/Production/SetUnitProcess")
    def set_process(request: Request) -> Response:
        def change(unit: dict[str, Any], params: dict[str, str]) -> None:
            code = params.get("processcode", "")
            if not code.lstrip("-").isdigit():
                raise WATSHTTPError(400, f"processCode: expected an integer, got {code!r}")
            unit["processCode"] = int(code)

        return _change(state, request, change)

    @app.put("/api/Production/UnitTag")
    def set_tag(request: Request) -> Response:
        def change(unit: dict[str, Any], params: dict[str, str]) -> None:
            name = params.get("key")
            if not name:
                raise WATSHTTPError(400, "key is a required query parameter")
            tags = [t for t in unit.get("tags", []) if t.get("key") != name]
            tags.append({"key": name, "value": params.get("value")})
            unit["tags"] = tags

        return _change(state, request, change)


def _add_child_routes(app: FastAPI, state: EmulatorState) -> None:
    @app.post("/api/Production/AddChildUnit")
    def add_child(request: Request) -> Response:
        params = query_params(request)
        parent_sn, parent_pn = _unit_key(params, "parent")
        child_sn, child_pn = _unit_key(params, "child")
        with state.lock:
            parent = _find(state, parent_sn, parent_pn)
            child = _find(state, child_sn, child_pn)
            if child.get("parentSerialNumber"):
                msg = f"Unit {child_sn!r} already has a parent ({child['parentSerialNumber']!r})."
                raise WATSHTTPError(409, msg)
            child["parentSerialNumber"], child["parentPartNumber"] = parent_sn, parent_pn
            parent.setdefault("subUnits", []).append(
                {
                    "serialNumber": child_sn,
                    "partNumber": child_pn,
                    "revision": child.get("revision"),
                }
            )
        return Response(status_code=204)

    @app.post("/api/Production/RemoveChildUnit")
    def remove_child(request: Request) -> Response:
        params = query_params(request)
        parent_sn, parent_pn = _unit_key(params, "parent")
        child_sn, child_pn = _unit_key(params, "child")
        with state.lock:
            parent = _find(state, parent_sn, parent_pn)
            child = _find(state, child_sn, child_pn)
            subs = parent.get("subUnits", [])
            kept = [
                s
                for s in subs
                if key(s["serialNumber"], s["partNumber"]) != key(child_sn, child_pn)
            ]
            if len(kept) == len(subs):
                raise WATSHTTPError(404, f"Unit {child_sn!r} is not a child of {parent_sn!r}.")
            parent["subUnits"] = kept
            child["parentSerialNumber"] = child["parentPartNumber"] = None
        return Response(status_code=204)

    @app.get("/api/Production/CheckChildUnits")
    def check_children(request: Request) -> dict[str, Any]:
        serial, part = _unit_key(query_params(request))
        with state.lock:
            unit = _find(state, serial, part)
            children = copy.deepcopy(unit.get("subUnits", []))
        return {"serialNumber": serial, "partNumber": part, "childUnits": children, "ok": True}


def _verify(state: EmulatorState, serial: str, part: str, revision: str | None) -> dict[str, Any]:
    """Grade a unit from its stored reports, per test process in process-table order."""
    with state.lock:
        _find(state, serial, part)
        reports = [
            r.header
            for r in state.reports.values()
            if key(r.header["serialNumber"], r.header["partNumber"]) == key(serial, part)
            and (revision is None or r.header["revision"].casefold() == revision.casefold())
        ]
    reports.sort(key=lambda h: h["startUtc"])
    repairs = [h for h in reports if h["reportType"] == "R"]
    tests = [h for h in reports if h["reportType"] == "T"]
    order = {p.code: i for i, p in enumerate(state.settings.processes)}
    results = []
    for code in sorted({h["processCode"] for h in tests}, key=lambda c: order.get(c, len(order))):
        runs = [h for h in tests if h["processCode"] == code]
        results.append(
            {
                "processCode": code,
                "processName": state.process_name(code),
                "processIndex": order.get(code),
                "status": "Passed" if runs[-1]["result"] == "P" else "Failed",
                "startUtc": runs[-1]["startUtc"],
                "stationName": runs[-1]["stationName"],
                "totalCount": len(runs),
                "nonPassedCount": sum(h["result"] != "P" for h in runs),
                "repairCount": sum(
                    h["referencedUut"] in {r["uuid"] for r in runs} for h in repairs
                ),
                "_first": runs[0]["result"] == "P",
                "_any": any(h["result"] == "P" for h in runs),
            }
        )
    executed = [order.get(h["processCode"], len(order)) for h in tests]
    first_run = all(r.pop("_first") for r in results)
    any_run = all(r.pop("_any") for r in results)
    last_run = all(r["status"] == "Passed" for r in results)
    passed = bool(results) and last_run
    grade = "A" if passed and first_run and not repairs else "B" if passed else "F"
    return {
        "serialNumber": serial,
        "partNumber": part,
        "status": "Passed" if passed else ("Failed" if results else "Untested"),
        "grade": grade if results else None,
        "allProcessesExecutedInCorrectOrder": executed == sorted(executed),
        "allProcessesPassedFirstRun": bool(results) and first_run,
        "allProcessesPassedAnyRun": bool(results) and any_run,
        "allProcessesPassedLastRun": passed,
        "noRepairs": not repairs,
        "results": results,
    }


def _add_serial_number_routes(app: FastAPI, state: EmulatorState) -> None:
    @app.get("/api/Production/SerialNumbers/Types")
    def types() -> list[dict[str, Any]]:
        with state.lock:
            return [t.to_json() for t in state.sn_types.values()]

    @app.post("/api/Production/SerialNumbers/Take")
    def take(request: Request) -> list[str]:
        params = query_params(request)
        name = params.get("serialnumbertype", "")
        quantity = params.get("quantity", "1")
        if not quantity.isdigit() or not 1 <= int(quantity) <= 10_000:
            raise WATSHTTPError(400, f"quantity: expected 1 to 10000, got {quantity!r}")
        with state.lock:
            series = state.sn_types.get(name.casefold())
            if series is None:
                known = ", ".join(t.name for t in state.sn_types.values())
                raise WATSHTTPError(
                    404, f"Serial number type {name!r} was not found; known: {known}"
                )
            taken = []
            for _ in range(int(quantity)):
                taken.append(f"{series.prefix}{series.next:0{series.width}d}")
                series.next += 1
            state.taken.append(
                {
                    "type": series.name,
                    "serialNumbers": taken,
                    "refSN": params.get("refsn"),
                    "refPN": params.get("refpn"),
                    "stationName": params.get("stationname"),
                    "taken": datetime.fromtimestamp(state.clock(), UTC).isoformat(),
                }
            )
        return taken

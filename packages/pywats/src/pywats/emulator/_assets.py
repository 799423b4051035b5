"""Routes of the Asset controller: assets, types, state, counts, calibration, maintenance, log."""

from __future__ import annotations

__all__ = ["ASSET_SCHEMA", "add_asset_routes"]

import copy
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from pywats.emulator._http import WATSHTTPError, json_body, query_params
from pywats.emulator._odata import Field, ODataError, Schema, apply_query
from pywats.emulator._records import required_text
from pywats.emulator._state import EmulatorState

ASSET_FIELDS = (
    "serialNumber", "typeId", "assetId", "parentAssetId", "parentSerialNumber", "assetName",
    "partNumber", "revision", "ClientId", "state", "description", "location", "firstSeenDate",
    "lastSeenDate", "lastMaintenanceDate", "nextMaintenanceDate", "lastCalibrationDate",
    "nextCalibrationDate", "totalCount", "runningCount", "tags",
)  # fmt: skip
ASSET_SCHEMA = Schema(
    "asset",
    [
        *(
            Field(name)
            for name in (
                "serialNumber", "typeId", "assetId", "parentAssetId", "parentSerialNumber",
                "assetName", "partNumber", "revision", "description", "location",
            )
        ),
        Field("state", "int"),
        Field("totalCount", "int"),
        Field("runningCount", "int"),
        *(
            Field(name, "datetime")
            for name in (
                "firstSeenDate", "lastSeenDate", "lastMaintenanceDate", "nextMaintenanceDate",
                "lastCalibrationDate", "nextCalibrationDate",
            )
        ),
    ],
)  # fmt: skip
TYPE_SCHEMA = Schema("asset type", [Field("typeId"), Field("typeName")])
LOG_SCHEMA = Schema(
    "asset log entry",
    [
        Field("logId", "int"),
        Field("assetId"),
        Field("serialNumber"),
        Field("type", "int"),
        Field("date", "datetime"),
        Field("user"),
        Field("comment"),
    ],
)
MESSAGE, REGISTER, UPDATE, RESET_COUNT, CALIBRATION, MAINTENANCE, STATE_CHANGE = range(7)
STATES = range(7)  # 0 unknown ... 6 scrapped, as WATS numbers them


def _now(state: EmulatorState) -> datetime:
    """The emulator clock's time, so tests with a fake clock control due dates."""
    return datetime.fromtimestamp(state.clock(), UTC)


def _stamp(state: EmulatorState) -> str:
    return _iso(_now(state))


def _find(state: EmulatorState, params: Mapping[str, str]) -> dict[str, Any]:
    """The asset named by ``id`` or ``serialNumber`` (query parameters)."""
    asset_id = params.get("id") or params.get("assetid")
    serial = params.get("serialnumber")
    if not asset_id and not serial:
        raise WATSHTTPError(400, "id or serialNumber is a required query parameter")
    return _lookup(state, asset_id or serial or "")


def _lookup(state: EmulatorState, identifier: str) -> dict[str, Any]:
    asset = state.assets.get(identifier.lower())
    if asset is None:
        for candidate in state.assets.values():
            if candidate["serialNumber"].casefold() == identifier.casefold():
                return candidate
        raise WATSHTTPError(404, f"Asset {identifier!r} was not found.")
    return asset


def _type(state: EmulatorState, type_id: str) -> dict[str, Any]:
    for asset_type in state.asset_types:
        if str(asset_type["typeId"]).lower() == type_id.lower():
            return asset_type
    known = ", ".join(f"{t['typeId']} ({t['typeName']})" for t in state.asset_types)
    raise WATSHTTPError(400, f"typeId {type_id!r} is not an asset type; known: {known}")


def _log(
    state: EmulatorState,
    asset: Mapping[str, Any],
    kind: int,
    comment: str | None,
    user: str | None = None,
) -> None:
    state.asset_log.append(
        {
            "logId": len(state.asset_log) + 1,
            "assetId": asset["assetId"],
            "serialNumber": asset["serialNumber"],
            "type": kind,
            "date": _stamp(state),
            "user": user,
            "comment": comment,
        }
    )


def _view(state: EmulatorState, asset: Mapping[str, Any]) -> dict[str, Any]:
    """An asset as WATS answers it: with its type and its children."""
    view = copy.deepcopy(dict(asset))
    view["assetType"] = copy.deepcopy(_type(state, asset["typeId"]))
    view["assetChildren"] = [
        copy.deepcopy(a)
        for a in state.assets.values()
        if a.get("parentAssetId") == asset["assetId"]
    ]
    return view


def _save(state: EmulatorState, data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise WATSHTTPError(400, "asset: expected a JSON object")
    with state.lock:
        existing = None
        if data.get("assetId"):
            existing = state.assets.get(str(data["assetId"]).lower())
        if existing is None and isinstance(data.get("serialNumber"), str):
            existing = next(
                (
                    a
                    for a in state.assets.values()
                    if a["serialNumber"].casefold() == data["serialNumber"].casefold()
                ),
                None,
            )
        fields = {k: v for k, v in data.items() if k in ASSET_FIELDS}
        if existing is None:
            required_text(data, "serialNumber", "asset")
            type_id = required_text(data, "typeId", "asset")
            _type(state, type_id)
            record: dict[str, Any] = dict.fromkeys(ASSET_FIELDS)
            record.update(
                fields,
                assetId=str(data.get("assetId") or uuid.uuid4()).lower(),
                state=data.get("state", 1),
                totalCount=data.get("totalCount") or 0,
                runningCount=data.get("runningCount") or 0,
                firstSeenDate=data.get("firstSeenDate") or _stamp(state),
                tags=list(data.get("tags") or []),
            )
            if record["parentSerialNumber"] and not record["parentAssetId"]:
                record["parentAssetId"] = _lookup(state, record["parentSerialNumber"])["assetId"]
            state.assets[record["assetId"]] = record
            _log(state, record, REGISTER, "Asset registered")
        else:
            if "typeId" in fields:
                _type(state, str(fields["typeId"]))
            fields.pop("assetId", None)
            existing.update(fields)
            record = existing
            _log(state, record, UPDATE, "Asset updated")
        return _view(state, record)


def add_asset_routes(app: FastAPI, state: EmulatorState) -> None:
    """Add the Asset routes over ``state`` (``/api/Asset/{idOrSerial}`` last: it matches any)."""
    _add_collection_routes(app, state)
    _add_operation_routes(app, state)

    @app.get("/api/Asset/{identifier}")
    def get_asset(identifier: str) -> dict[str, Any]:
        with state.lock:
            return _view(state, _lookup(state, identifier))


def _add_collection_routes(app: FastAPI, state: EmulatorState) -> None:
    @app.get("/api/Asset")
    def list_assets(request: Request) -> list[dict[str, Any]]:
        with state.lock:
            rows = [_view(state, a) for a in state.assets.values()]
        try:
            return apply_query(rows, query_params(request), ASSET_SCHEMA)
        except ODataError as exc:
            raise WATSHTTPError(400, str(exc)) from exc

    @app.put("/api/Asset")
    async def put_asset(request: Request) -> dict[str, Any]:
        return _save(state, await json_body(request))

    @app.delete("/api/Asset")
    def delete_asset(request: Request) -> Response:
        with state.lock:
            asset = _find(state, query_params(request))
            if any(a.get("parentAssetId") == asset["assetId"] for a in state.assets.values()):
                msg = f"Asset {asset['serialNumber']!r} has sub-assets; move or delete them first."
                raise WATSHTTPError(409, msg)
            del state.assets[asset["assetId"]]
        return Response(status_code=204)

    @app.get("/api/Asset/Types")
    def list_types(request: Request) -> list[dict[str, Any]]:
        with state.lock:
            rows = copy.deepcopy(state.asset_types)
        try:
            return apply_query(rows, query_params(request), TYPE_SCHEMA)
        except ODataError as exc:
            raise WATSHTTPError(400, str(exc)) from exc

    @app.put("/api/Asset/Types")
    async def put_type(request: Request) -> dict[str, Any]:
        data = await json_body(request)
        if not isinstance(data, dict):
            raise WATSHTTPError(400, "asset type: expected a JSON object")
        name = required_text(data, "typeName", "asset type")
        with state.lock:
            for asset_type in state.asset_types:
                same_id = (
                    data.get("typeId")
                    and str(asset_type["typeId"]).lower() == str(data["typeId"]).lower()
                )
                if same_id or asset_type["typeName"].casefold() == name.casefold():
                    asset_type.update({k: v for k, v in data.items() if k != "typeId"})
                    return copy.deepcopy(asset_type)
            record = {**data, "typeId": str(data.get("typeId") or uuid.uuid4()).lower()}
            state.asset_types.append(record)
            return copy.deepcopy(record)

    @app.get("/api/Asset/Log")
    def log(request: Request) -> list[dict[str, Any]]:
        with state.lock:
            rows = copy.deepcopy(state.asset_log)
        try:
            return apply_query(rows, query_params(request), LOG_SCHEMA)
        except ODataError as exc:
            raise WATSHTTPError(400, str(exc)) from exc

    @app.post("/api/Asset/Message")
    async def message(request: Request) -> Response:
        data = await json_body(request)
        if not isinstance(data, dict):
            raise WATSHTTPError(400, "message: expected a JSON object")
        text = required_text(data, "comment", "message")
        with state.lock:
            asset = _lookup(state, str(data.get("assetId") or data.get("serialNumber") or ""))
            _log(state, asset, MESSAGE, text, data.get("user"))
        return Response(status_code=204)

    @app.get("/api/Asset/SubAssets")
    def sub_assets(request: Request) -> list[dict[str, Any]]:
        params = query_params(request)
        with state.lock:
            parent = _find(state, params)
            return [
                copy.deepcopy(a)
                for a in state.assets.values()
                if a.get("parentAssetId") == parent["assetId"]
            ]


def _operate(
    state: EmulatorState, request: Request, change: Callable[[dict[str, Any], dict[str, str]], None]
) -> Response:
    params = query_params(request)
    with state.lock:
        change(_find(state, params), params)
    return Response(status_code=204)


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name.lower())
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise WATSHTTPError(400, f"{name}: expected a whole number, got {value!r}") from exc


def _when(state: EmulatorState, params: Mapping[str, str]) -> datetime:
    value = params.get("datetime")
    if not value:
        return _now(state)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise WATSHTTPError(400, f"dateTime: {value!r} is not an ISO-8601 timestamp") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _status(state: EmulatorState, asset: Mapping[str, Any]) -> dict[str, Any]:
    asset_type = _type(state, asset["typeId"])
    limit = asset_type.get("runningCountLimit")
    warning = asset_type.get("warningThreshold") or 0.8
    alarm = asset_type.get("alarmThreshold") or 1.0
    running = asset.get("runningCount") or 0
    level = 0
    if limit:
        level = 2 if running >= limit * alarm else 1 if running >= limit * warning else 0
    due = asset.get("nextCalibrationDate")
    if due and datetime.fromisoformat(due) <= _now(state):
        level = 2
    return {
        "assetId": asset["assetId"],
        "serialNumber": asset["serialNumber"],
        "state": asset["state"],
        "alarmState": level,
        "message": ("OK", "Warning", "Alarm")[level],
        "runningCount": running,
        "runningCountLimit": limit,
        "totalCount": asset.get("totalCount") or 0,
        "totalCountLimit": asset_type.get("totalCountLimit"),
        "nextCalibrationDate": due,
        "nextMaintenanceDate": asset.get("nextMaintenanceDate"),
    }


def _add_operation_routes(app: FastAPI, state: EmulatorState) -> None:
    @app.get("/api/Asset/Status")
    def status(request: Request) -> dict[str, Any]:
        with state.lock:
            return _status(state, _find(state, query_params(request)))

    @app.put("/api/Asset/State")
    def set_state(request: Request) -> Response:
        def change(asset: dict[str, Any], params: dict[str, str]) -> None:
            value = _int_param(params, "state")
            if value not in STATES:
                raise WATSHTTPError(400, f"state: expected 0 to 6, got {params.get('state')!r}")
            asset["state"] = value
            _log(state, asset, STATE_CHANGE, f"State changed to {value}")

        return _operate(state, request, change)

    @app.put("/api/Asset/Count")
    def count(request: Request) -> Response:
        def change(asset: dict[str, Any], params: dict[str, str]) -> None:
            total = _int_param(params, "totalCount")
            step = _int_param(params, "incrementBy")
            if total is None and step is None:
                raise WATSHTTPError(400, "totalCount or incrementBy is a required query parameter")
            if step is None:
                step = (total or 0) - (asset.get("totalCount") or 0)
            asset["totalCount"] = (asset.get("totalCount") or 0) + step
            asset["runningCount"] = (asset.get("runningCount") or 0) + step
            asset["lastSeenDate"] = _stamp(state)

        return _operate(state, request, change)

    @app.put("/api/Asset/SetRunningCount")
    def set_running(request: Request) -> Response:
        def change(asset: dict[str, Any], params: dict[str, str]) -> None:
            value = _int_param(params, "runningCount")
            if value is None or value < 0:
                raise WATSHTTPError(400, "runningCount: a whole number >= 0 is required")
            asset["runningCount"] = value

        return _operate(state, request, change)

    @app.put("/api/Asset/SetTotalCount")
    def set_total(request: Request) -> Response:
        def change(asset: dict[str, Any], params: dict[str, str]) -> None:
            value = _int_param(params, "totalCount")
            if value is None or value < 0:
                raise WATSHTTPError(400, "totalCount: a whole number >= 0 is required")
            asset["totalCount"] = value

        return _operate(state, request, change)

    @app.post("/api/Asset/ResetRunningCount")
    def reset_running(request: Request) -> Response:
        def change(asset: dict[str, Any], params: dict[str, str]) -> None:
            asset["runningCount"] = 0
            _log(state, asset, RESET_COUNT, params.get("comment") or "Running count reset")

        return _operate(state, request, change)

    def service(
        kind: int, last: str, following: str, interval: str
    ) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            def change(asset: dict[str, Any], params: dict[str, str]) -> None:
                when = _when(state, params)
                asset[last] = _iso(when)
                days = _type(state, asset["typeId"]).get(interval)
                asset[following] = _iso(when + timedelta(days=float(days))) if days else None
                if kind == CALIBRATION:
                    asset["runningCount"] = 0
                _log(state, asset, kind, params.get("comment"))

            return _operate(state, request, change)

        return handler

    app.post("/api/Asset/Calibration")(
        service(CALIBRATION, "lastCalibrationDate", "nextCalibrationDate", "calibrationInterval")
    )
    app.post("/api/Asset/Maintenance")(
        service(MAINTENANCE, "lastMaintenanceDate", "nextMaintenanceDate", "maintenanceInterval")
    )

"""Every WATS call as a :class:`~pywats._transport.Call`: route, parameters, body, parsing.

Both clients send exactly these; see :mod:`pywats._transport`. Routes follow the casing of
the WATS documentation (WATS itself routes case-insensitively).
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]
from pydantic import BaseModel

from pywats._report import ReportBase, UURReport, UUTReport, parse_report
from pywats._resources import (
    Asset,
    AssetLogEntry,
    AssetType,
    Process,
    Product,
    ProductRevision,
    ReportHeader,
    SerialNumberType,
    Unit,
    UnitVerification,
)
from pywats._transport import Call, body, model, models, nothing, raw
from pywats._validation import check_report
from pywats.odata import Filter, literal

JSON_HEADERS = {"Content-Type": "application/json"}
XML_HEADERS = {"Content-Type": "application/xml"}


def _seg(value: object) -> str:
    """Quote one path segment (serial numbers may hold ``/``, ``#`` or spaces)."""
    return quote(str(value), safe="")


def _dump(value: BaseModel | dict[str, Any]) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


def odata_params(
    filter: Filter | str | None,
    *,
    top: int | None = None,
    skip: int | None = None,
    orderby: str | None = None,
    expand: Iterable[str] | str | None = None,
) -> dict[str, Any]:
    """The ``$filter``/``$top``/``$skip``/``$orderby``/``$expand`` query parameters."""
    if expand is not None and not isinstance(expand, str):
        expand = ",".join(expand)
    return {
        "$filter": str(filter) if filter is not None and str(filter) else None,
        "$top": top,
        "$skip": skip,
        "$orderby": orderby,
        "$expand": expand or None,
    }


def all_of(*parts: Filter | str | None) -> Filter | None:
    """``and`` of the given filters, skipping ``None``."""
    given = [p if isinstance(p, Filter) else Filter(p) for p in parts if p is not None]
    if not given:
        return None
    combined = given[0]
    for part in given[1:]:
        combined = combined & part
    return combined


def _eq(field: str, value: object) -> Filter | None:
    return None if value is None else Filter(f"{field} eq {literal(value)}")


def _cmp(field: str, op: str, value: object) -> Filter | None:
    return None if value is None else Filter(f"{field} {op} {literal(value)}")


# --- app ----------------------------------------------------------------------------------


def _version(response: Any) -> str:
    data = body(response)
    if data is None or data == "":
        msg = "empty version"
        raise ValueError(msg)
    return data if isinstance(data, str) else str(data)


def version() -> Call[str]:
    """``GET /api/App/Version``."""
    return Call("GET", "/api/App/Version", _version)


def processes(
    *,
    include_test: bool = True,
    include_repair: bool = True,
    include_wip: bool = True,
    include_inactive: bool = False,
) -> Call[list[Process]]:
    """``GET /api/App/Processes``."""
    params = {
        "includeTestOperations": _flag(include_test),
        "includeRepairOperations": _flag(include_repair),
        "includeWipOperations": _flag(include_wip),
        "includeInactiveProcesses": _flag(include_inactive),
    }
    return Call("GET", "/api/App/Processes", models(Process), params=params)


def _flag(value: bool) -> str:
    return "true" if value else "false"


# --- report -------------------------------------------------------------------------------


def _submitted(report_id: uuid.UUID) -> Any:
    def parse(response: Any) -> uuid.UUID:
        data = body(response)
        if isinstance(data, list) and data:
            data = data[0]
        if isinstance(data, dict):
            data = data.get("ID") or data.get("id") or data.get("uuid")
        if data is None:
            return report_id
        return uuid.UUID(str(data))

    return parse


def submit(report: ReportBase | dict[str, Any], *, validate: bool = True) -> Call[uuid.UUID]:
    """``POST /api/Report/WSJF``; idempotent, as WATS overwrites a report with the same id."""
    if isinstance(report, dict):
        report = parse_report(report)
    if validate:
        check_report(report)
    return Call(
        "POST",
        "/api/Report/WSJF",
        _submitted(report.id),
        content=report.to_wsjf(),
        headers=JSON_HEADERS,
        idempotent=True,
    )


def submit_wsjf(document: str | bytes) -> Call[uuid.UUID]:
    """``POST /api/Report/WSJF`` with WSJF bytes exactly as given (not re-serialised).

    Idempotent like :func:`submit`: the body carries the report's id. The id WATS answers is
    returned; if it answers none, the ``id`` of the document.
    """
    content = document.encode() if isinstance(document, str) else bytes(document)

    def parse(response: Any) -> uuid.UUID:
        data = body(response)
        if isinstance(data, list) and data:
            data = data[0]
        if isinstance(data, dict):
            data = data.get("ID") or data.get("id") or data.get("uuid")
        if data is None:
            data = json.loads(content).get("id")
        return uuid.UUID(str(data))

    return Call(
        "POST", "/api/Report/WSJF", parse, content=content, headers=JSON_HEADERS, idempotent=True
    )


def submit_wsxf(document: str | bytes) -> Call[uuid.UUID | str]:
    """``POST /api/Report/WSXF`` with the XML as it is."""

    def parse(response: Any) -> uuid.UUID | str:
        try:
            data = body(response)
        except ValueError:
            data = response.text.strip()  # some servers answer the id as plain text
        if isinstance(data, list) and data:
            data = data[0]
        if isinstance(data, dict):
            data = data.get("ID") or data.get("id") or data.get("uuid")
        text = "" if data is None else str(data)
        try:
            return uuid.UUID(text)
        except ValueError:
            return text

    content = document.encode() if isinstance(document, str) else document
    return Call(
        "POST",
        "/api/Report/WSXF",
        parse,
        content=content,
        headers=XML_HEADERS,
        idempotent=_all_reports_have_ids(content),
    )


def _all_reports_have_ids(document: bytes) -> bool:
    """Whether every ``<Report>`` carries an ``ID``: only then is a resubmit an overwrite.

    WATS gives a report without an ``ID`` a new one, so retrying it could store it twice.
    """
    try:
        root = SafeET.fromstring(document)
    except (ET.ParseError, ValueError):
        return False  # WATS will refuse it; one attempt is enough
    reports = [e for e in root.iter() if str(e.tag).rpartition("}")[2] == "Report"]
    return bool(reports) and all(e.get("ID") for e in reports)


def get_report(report_id: uuid.UUID | str) -> Call[UUTReport | UURReport]:
    """``GET /api/Report/Wsjf/{id}``; a body with ``uur`` is a repair report."""
    return Call("GET", f"/api/Report/Wsjf/{_seg(report_id)}", lambda r: parse_report(body(r)))


def get_report_wsxf(report_id: uuid.UUID | str) -> Call[bytes]:
    """``GET /api/Report/Wsxf/{id}``."""
    return Call("GET", f"/api/Report/Wsxf/{_seg(report_id)}", raw)


def query_headers(
    filter: Filter | str | None = None,
    *,
    report_type: str = "U",
    serial_number: str | None = None,
    part_number: str | None = None,
    revision: str | None = None,
    result: str | None = None,
    process_code: int | None = None,
    station_name: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    top: int | None = None,
    skip: int | None = None,
    orderby: str | None = None,
    expand: Iterable[str] | str | None = None,
) -> Call[list[ReportHeader]]:
    """``GET /api/Report/Query/Header``; keyword filters are ``and``-ed with ``filter``."""
    kind = report_type.upper()
    if kind not in ("U", "R"):
        from pywats.errors import WATSConfigurationError

        msg = f"report_type={report_type!r}: pass 'U' (test reports) or 'R' (repair reports)"
        raise WATSConfigurationError(msg)
    combined = all_of(
        filter,
        _eq("serialNumber", serial_number),
        _eq("partNumber", part_number),
        _eq("revision", revision),
        _eq("result", result),
        _eq("processCode", process_code),
        _eq("stationName", station_name),
        _cmp("start", "ge", since),
        _cmp("start", "le", until),
    )
    params = {
        "reportType": kind,
        **odata_params(combined, top=top, skip=skip, orderby=orderby, expand=expand),
    }
    return Call("GET", "/api/Report/Query/Header", models(ReportHeader), params=params)


def query_by_misc_info(
    description: str, value: str, *, top: int | None = None
) -> Call[list[ReportHeader]]:
    """``GET /api/Report/Query/HeaderByMiscInfo``."""
    params = {"description": description, "stringValue": value, "$top": top}
    return Call("GET", "/api/Report/Query/HeaderByMiscInfo", models(ReportHeader), params=params)


# --- product ------------------------------------------------------------------------------


def get_product(part_number: str) -> Call[Product]:
    """``GET /api/Product/{pn}``."""
    return Call("GET", f"/api/Product/{_seg(part_number)}", model(Product))


def put_product(product: Product | dict[str, Any]) -> Call[Product]:
    """``PUT /api/Product`` (create or update by part number)."""
    return Call("PUT", "/api/Product", model(Product), json=_dump(product))


def put_products(products: Iterable[Product | dict[str, Any]]) -> Call[list[Product]]:
    """``PUT /api/Product/Products`` (bulk)."""
    return Call("PUT", "/api/Product/Products", models(Product), json=[_dump(p) for p in products])


def query_products(
    filter: Filter | str | None = None,
    *,
    top: int | None = None,
    skip: int | None = None,
    orderby: str | None = None,
) -> Call[list[Product]]:
    """``GET /api/Product/Query``."""
    params = odata_params(filter, top=top, skip=skip, orderby=orderby)
    return Call("GET", "/api/Product/Query", models(Product), params=params)


def get_revision(part_number: str, revision: str) -> Call[ProductRevision]:
    """``GET /api/Product/{pn}/{rev}``."""
    route = f"/api/Product/{_seg(part_number)}/{_seg(revision)}"
    return Call("GET", route, model(ProductRevision))


def put_revision(revision: ProductRevision | dict[str, Any]) -> Call[ProductRevision]:
    """``PUT /api/Product/Revision`` (create or update; ``partNumber`` names the product)."""
    return Call("PUT", "/api/Product/Revision", model(ProductRevision), json=_dump(revision))


def delete_product(part_number: str, revision: str | None = None) -> Call[None]:
    """``DELETE /api/Product/{pn}`` or ``/api/Product/{pn}/{rev}``."""
    route = f"/api/Product/{_seg(part_number)}"
    if revision is not None:
        route += f"/{_seg(revision)}"
    return Call("DELETE", route, nothing)


# --- production ---------------------------------------------------------------------------


def get_unit(serial_number: str, part_number: str) -> Call[Unit]:
    """``GET /api/Production/Unit/{sn}/{pn}``."""
    route = f"/api/Production/Unit/{_seg(serial_number)}/{_seg(part_number)}"
    return Call("GET", route, model(Unit))


def _units(response: Any) -> list[Unit]:
    data = body(response)
    if isinstance(data, list):
        return [Unit.model_validate(item) for item in data]
    return []


def put_units(units: Iterable[Unit | dict[str, Any]]) -> Call[list[Unit]]:
    """``PUT /api/Production/Units`` (create or update several)."""
    return Call("PUT", "/api/Production/Units", _units, json=[_dump(u) for u in units])


def create_unit(unit: Unit | dict[str, Any]) -> Call[None]:
    """``POST /api/Production/Unit`` (409 if it exists)."""
    return Call("POST", "/api/Production/Unit", nothing, json=_dump(unit))


def update_unit(unit: Unit | dict[str, Any]) -> Call[None]:
    """``PUT /api/Production/Unit``."""
    return Call("PUT", "/api/Production/Unit", nothing, json=_dump(unit))


def _unit_key(serial_number: str, part_number: str) -> dict[str, Any]:
    return {"serialNumber": serial_number, "partNumber": part_number}


def delete_unit(serial_number: str, part_number: str) -> Call[None]:
    """``DELETE /api/Production/Unit?serialNumber&partNumber``."""
    params = _unit_key(serial_number, part_number)
    return Call("DELETE", "/api/Production/Unit", nothing, params=params)


def query_units(
    filter: Filter | str | None = None,
    *,
    top: int | None = None,
    skip: int | None = None,
    orderby: str | None = None,
) -> Call[list[Unit]]:
    """``GET /api/Production/Unit/Query``."""
    params = odata_params(filter, top=top, skip=skip, orderby=orderby)
    return Call("GET", "/api/Production/Unit/Query", models(Unit), params=params)


def set_unit_phase(serial_number: str, part_number: str, phase: str | int) -> Call[None]:
    """``PUT /api/Production/SetUnitPhase``."""
    params = {**_unit_key(serial_number, part_number), "phase": phase}
    return Call("PUT", "/api/Production/SetUnitPhase", nothing, params=params)


def set_unit_process(serial_number: str, part_number: str, process_code: int) -> Call[None]:
    """``PUT /api/Production/SetUnitProcess``."""
    params = {**_unit_key(serial_number, part_number), "processCode": process_code}
    return Call("PUT", "/api/Production/SetUnitProcess", nothing, params=params)


def set_unit_tag(serial_number: str, part_number: str, key: str, value: str) -> Call[None]:
    """``PUT /api/Production/UnitTag``."""
    params = {**_unit_key(serial_number, part_number), "key": key, "value": value}
    return Call("PUT", "/api/Production/UnitTag", nothing, params=params)


def child_unit(
    action: str,
    parent_serial_number: str,
    parent_part_number: str,
    child_serial_number: str,
    child_part_number: str,
) -> Call[None]:
    """``POST /api/Production/AddChildUnit`` or ``RemoveChildUnit``."""
    params = {
        "parentSerialNumber": parent_serial_number,
        "parentPartNumber": parent_part_number,
        "childSerialNumber": child_serial_number,
        "childPartNumber": child_part_number,
    }
    # Adding a child twice leaves one child: safe to retry.
    return Call("POST", f"/api/Production/{action}", nothing, params=params, idempotent=True)


def verify_unit(
    serial_number: str, part_number: str, revision: str | None = None
) -> Call[UnitVerification]:
    """``GET /api/Production/UnitVerification``."""
    params = {**_unit_key(serial_number, part_number), "revision": revision}
    return Call("GET", "/api/Production/UnitVerification", model(UnitVerification), params=params)


def serial_number_types() -> Call[list[SerialNumberType]]:
    """``GET /api/Production/SerialNumbers/Types``."""
    return Call("GET", "/api/Production/SerialNumbers/Types", models(SerialNumberType))


def _serials(response: Any) -> list[str]:
    text = response.content.strip()
    if text.startswith(b"<"):
        return _xml_serials(text)
    data = body(response)
    if isinstance(data, str) and data.lstrip().startswith("<"):
        return _xml_serials(data.encode())
    if not isinstance(data, list):
        msg = f"expected a list of serial numbers, got {type(data).__name__}"
        raise ValueError(msg)
    return [str(item) for item in data]


def _xml_serials(document: bytes) -> list[str]:
    try:
        root = SafeET.fromstring(document)
    except ET.ParseError as exc:
        msg = f"unreadable serial-number XML: {exc}"
        raise ValueError(msg) from None
    return [
        element.get("id") or (element.text or "").strip()
        for element in root.iter()
        if element.tag.rsplit("}", 1)[-1] == "SN"
    ]


def take_serial_numbers(
    serial_number_type: str,
    quantity: int = 1,
    *,
    ref_serial_number: str | None = None,
    ref_part_number: str | None = None,
    station_name: str | None = None,
) -> Call[list[str]]:
    """``POST /api/Production/SerialNumbers/Take`` (never retried: each call takes new ones)."""
    params = {
        "serialNumberType": serial_number_type,
        "quantity": quantity,
        "refSN": ref_serial_number,
        "refPN": ref_part_number,
        "stationName": station_name,
    }
    return Call("POST", "/api/Production/SerialNumbers/Take", _serials, params=params)


# --- asset --------------------------------------------------------------------------------


def asset_key(asset_id: uuid.UUID | str | None, serial_number: str | None) -> dict[str, Any]:
    """``id`` or ``serialNumber`` query parameters naming one asset.

    Raises:
        WATSConfigurationError: neither or both are given.
    """
    if (asset_id is None) == (serial_number is None):
        from pywats.errors import WATSConfigurationError

        msg = "name the asset by asset_id= or serial_number= (exactly one)"
        raise WATSConfigurationError(msg)
    if asset_id is not None:
        return {"id": str(asset_id)}
    return {"serialNumber": serial_number}


def get_asset(id_or_serial: uuid.UUID | str) -> Call[Asset]:
    """``GET /api/Asset/{idOrSerial}``."""
    return Call("GET", f"/api/Asset/{_seg(id_or_serial)}", model(Asset))


def query_assets(
    filter: Filter | str | None = None,
    *,
    top: int | None = None,
    skip: int | None = None,
    orderby: str | None = None,
) -> Call[list[Asset]]:
    """``GET /api/Asset``."""
    params = odata_params(filter, top=top, skip=skip, orderby=orderby)
    return Call("GET", "/api/Asset", models(Asset), params=params)


def put_asset(asset: Asset | dict[str, Any]) -> Call[Asset]:
    """``PUT /api/Asset`` (create needs ``serialNumber`` and ``typeId``)."""
    return Call("PUT", "/api/Asset", model(Asset), json=_dump(asset))


def delete_asset(key: dict[str, Any]) -> Call[None]:
    """``DELETE /api/Asset?id|serialNumber``."""
    return Call("DELETE", "/api/Asset", nothing, params=key)


def asset_types() -> Call[list[AssetType]]:
    """``GET /api/Asset/Types``."""
    return Call("GET", "/api/Asset/Types", models(AssetType))


def put_asset_type(asset_type: AssetType | dict[str, Any]) -> Call[AssetType]:
    """``PUT /api/Asset/Types``."""
    return Call("PUT", "/api/Asset/Types", model(AssetType), json=_dump(asset_type))


def asset_status(key: dict[str, Any]) -> Call[dict[str, Any]]:
    """``GET /api/Asset/Status``."""

    def parse(response: Any) -> dict[str, Any]:
        data = body(response)
        if not isinstance(data, dict):
            msg = f"expected an object, got {type(data).__name__}"
            raise ValueError(msg)
        return data

    return Call("GET", "/api/Asset/Status", parse, params=key)


def set_asset_state(key: dict[str, Any], state: int) -> Call[None]:
    """``PUT /api/Asset/State``."""
    return Call("PUT", "/api/Asset/State", nothing, params={**key, "state": state})


def asset_count(
    key: dict[str, Any], *, total_count: int | None = None, increment_by: int | None = None
) -> Call[None]:
    """``PUT /api/Asset/Count`` (an increment is not idempotent: never retried)."""
    params = {**key, "totalCount": total_count, "incrementBy": increment_by}
    return Call("PUT", "/api/Asset/Count", nothing, params=params, idempotent=increment_by is None)


def asset_action(
    action: str, key: dict[str, Any], *, when: datetime | None = None, comment: str | None = None
) -> Call[None]:
    """``POST /api/Asset/{ResetRunningCount|Calibration|Maintenance}``."""
    params = {**key, "dateTime": when.isoformat() if when else None, "comment": comment}
    return Call("POST", f"/api/Asset/{action}", nothing, params=params)


def asset_log(
    key: dict[str, Any] | None = None,
    filter: Filter | str | None = None,
    *,
    top: int | None = None,
    skip: int | None = None,
    orderby: str | None = None,
) -> Call[list[AssetLogEntry]]:
    """``GET /api/Asset/Log`` (OData over every asset's log; ``key`` narrows to one asset)."""
    if key is not None:
        field, value = next(iter(key.items()))
        name = "assetId" if field == "id" else "serialNumber"
        filter = all_of(filter, _eq(name, value))
    params = odata_params(filter, top=top, skip=skip, orderby=orderby)
    return Call("GET", "/api/Asset/Log", models(AssetLogEntry), params=params)


def asset_message(key: dict[str, Any], message: str, user: str | None = None) -> Call[None]:
    """``POST /api/Asset/Message`` (a JSON body naming the asset)."""
    field, value = next(iter(key.items()))
    payload = {"assetId" if field == "id" else "serialNumber": value, "comment": message}
    if user is not None:
        payload["user"] = user
    return Call("POST", "/api/Asset/Message", nothing, json=payload)

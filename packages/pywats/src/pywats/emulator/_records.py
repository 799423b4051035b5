"""Product, revision and unit records: how the emulator fills in what WATS fills in on save."""

from __future__ import annotations

__all__ = ["merge_product", "new_product", "new_revision", "new_unit", "upsert_revision"]

import uuid
from collections.abc import Mapping
from typing import Any

from pywats.emulator._http import WATSHTTPError

PRODUCT_FIELDS = (
    "partNumber", "name", "description", "nonSerial", "state", "productId",
    "productCategoryId", "productCategoryName", "xmlData", "revisions", "tags",
)  # fmt: skip
REVISION_FIELDS = (
    "revision", "partNumber", "name", "description", "state", "productRevisionId",
    "productId", "xmlData", "tags",
)  # fmt: skip
UNIT_FIELDS = (
    "serialNumber", "partNumber", "revision", "parentSerialNumber", "parentPartNumber",
    "batchNumber", "serialDate", "currentLocation", "xmlData", "unitPhaseId", "unitPhase",
    "processCode", "tags", "subUnits",
)  # fmt: skip


def required_text(data: Mapping[str, Any], name: str, what: str) -> str:
    """``data[name]`` as a non-empty string.

    Raises:
        WATSHTTPError: 400 naming the missing field.
    """
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise WATSHTTPError(400, f"{what}: {name} is required (a non-empty string), got {value!r}")
    return value


def _tags(value: object, what: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise WATSHTTPError(400, f"{what}: tags must be an array of {{key, value}} objects")
    return [dict(t) for t in value]


def new_revision(data: Mapping[str, Any], product: Mapping[str, Any]) -> dict[str, Any]:
    """A revision record for ``product`` from a request body."""
    revision = required_text(data, "revision", "revision")
    record: dict[str, Any] = {name: data.get(name) for name in REVISION_FIELDS}
    record.update(
        revision=revision,
        partNumber=product["partNumber"],
        productId=product["productId"],
        productRevisionId=data.get("productRevisionId") or str(uuid.uuid4()),
        state=data.get("state", 1),
        tags=_tags(data.get("tags"), "revision"),
    )
    return record


def upsert_revision(product: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Insert or update a revision of ``product``; returns the stored revision."""
    name = required_text(data, "revision", "revision")
    revisions: list[dict[str, Any]] = product.setdefault("revisions", [])
    for index, existing in enumerate(revisions):
        if existing["revision"].casefold() == name.casefold():
            fields = {k: v for k, v in data.items() if k in REVISION_FIELDS}
            # The stored spelling of the revision name wins, as the database row is updated.
            fields.update(
                revision=existing["revision"], productRevisionId=existing["productRevisionId"]
            )
            merged = new_revision({**existing, **fields}, product)
            revisions[index] = merged
            return merged
    record = new_revision(data, product)
    revisions.append(record)
    return record


def new_product(data: Mapping[str, Any]) -> dict[str, Any]:
    """A product record from a request body (revisions in the body are stored too)."""
    part_number = required_text(data, "partNumber", "product")
    record: dict[str, Any] = {name: data.get(name) for name in PRODUCT_FIELDS}
    record.update(
        partNumber=part_number,
        productId=data.get("productId") or str(uuid.uuid4()),
        nonSerial=bool(data.get("nonSerial", False)),
        state=data.get("state", 1),
        tags=_tags(data.get("tags"), "product"),
        revisions=[],
    )
    for revision in _revision_list(data.get("revisions")):
        upsert_revision(record, revision)
    return record


def merge_product(existing: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Update ``existing`` with the fields of ``data``; keeps its id and revisions."""
    fields = {k: v for k, v in data.items() if k in PRODUCT_FIELDS and k != "revisions"}
    merged = new_product(
        {**existing, **fields, "productId": existing["productId"], "revisions": []}
    )
    merged["revisions"] = existing.get("revisions", [])
    for revision in _revision_list(data.get("revisions")):
        upsert_revision(merged, revision)
    return merged


def _revision_list(value: object) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise WATSHTTPError(400, "product: revisions must be an array of revision objects")
    return value


def new_unit(data: Mapping[str, Any]) -> dict[str, Any]:
    """A unit record from a request body."""
    serial = required_text(data, "serialNumber", "unit")
    part = required_text(data, "partNumber", "unit")
    record: dict[str, Any] = {name: data.get(name) for name in UNIT_FIELDS}
    serial_date = data.get("serialDate")
    if serial_date is not None and not isinstance(serial_date, str):
        raise WATSHTTPError(
            400, f"unit: serialDate must be an ISO-8601 string, got {serial_date!r}"
        )
    record.update(
        serialNumber=serial,
        partNumber=part,
        tags=_tags(data.get("tags"), "unit"),
        subUnits=list(data.get("subUnits") or []),
    )
    return record

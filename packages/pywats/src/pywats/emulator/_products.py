"""Routes of the Product controller: products, revisions, bulk saves, queries, deletes."""

from __future__ import annotations

__all__ = ["PRODUCT_SCHEMA", "add_product_routes"]

import copy
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from pywats.emulator._http import WATSHTTPError, json_body, query_params
from pywats.emulator._odata import Field, ODataError, Schema, apply_query
from pywats.emulator._records import merge_product, new_product, required_text, upsert_revision
from pywats.emulator._state import EmulatorState, key

PRODUCT_SCHEMA = Schema(
    "product",
    [
        Field("partNumber"),
        Field("name"),
        Field("description"),
        Field("productId"),
        Field("productCategoryId"),
        Field("productCategoryName"),
        Field("nonSerial", "bool"),
        Field("state", "int"),
        Field("revisions", "collection", Schema("revision", [Field("revision"), Field("name")])),
        Field("tags", "collection", Schema("tag", [Field("key"), Field("value")])),
    ],
)


def save_product(state: EmulatorState, data: object) -> dict[str, Any]:
    """Insert or update a product by part number; returns a copy of what is stored.

    Raises:
        WATSHTTPError: 400 when ``data`` is not a product object.
    """
    if not isinstance(data, dict):
        raise WATSHTTPError(400, "product: expected a JSON object")
    part_number = required_text(data, "partNumber", "product")
    with state.lock:
        existing = state.products.get(key(part_number))
        record = new_product(data) if existing is None else merge_product(existing, data)
        state.products[key(part_number)] = record
        return copy.deepcopy(record)


def save_revision(state: EmulatorState, data: object) -> dict[str, Any]:
    """Insert or update a revision of an existing product; returns a copy of it.

    Raises:
        WATSHTTPError: 400 when ``data`` is not a revision, 404 when its product is missing.
    """
    if not isinstance(data, dict):
        raise WATSHTTPError(400, "revision: expected a JSON object")
    part_number = required_text(data, "partNumber", "revision")
    required_text(data, "revision", "revision")
    with state.lock:
        product = state.products.get(key(part_number))
        if product is None:
            msg = f"Product {part_number!r} was not found; save the product before its revisions."
            raise WATSHTTPError(404, msg)
        return copy.deepcopy(upsert_revision(product, data))


def _find(state: EmulatorState, part_number: str) -> dict[str, Any]:
    product = state.products.get(key(part_number))
    if product is None:
        raise WATSHTTPError(404, f"Product {part_number!r} was not found.")
    return product


def _revision(product: dict[str, Any], revision: str) -> dict[str, Any]:
    records: list[dict[str, Any]] = product.get("revisions", [])
    for record in records:
        if record["revision"].casefold() == revision.casefold():
            return record
    msg = f"Revision {revision!r} of product {product['partNumber']!r} was not found."
    raise WATSHTTPError(404, msg)


def _array(data: object, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise WATSHTTPError(400, f"{what}: expected a JSON array")
    return data


def add_product_routes(app: FastAPI, state: EmulatorState) -> None:
    """Add the Product routes over ``state``."""

    @app.get("/api/Product/Query")
    def query(request: Request) -> list[dict[str, Any]]:
        with state.lock:
            rows = copy.deepcopy(list(state.products.values()))
        try:
            return apply_query(rows, query_params(request), PRODUCT_SCHEMA)
        except ODataError as exc:
            raise WATSHTTPError(400, str(exc)) from exc

    @app.put("/api/Product")
    async def put_product(request: Request) -> dict[str, Any]:
        return save_product(state, await json_body(request))

    @app.put("/api/Product/Products")
    async def put_products(request: Request) -> list[dict[str, Any]]:
        items = _array(await json_body(request), "products")
        return [save_product(state, item) for item in items]

    @app.put("/api/Product/Revision")
    async def put_revision(request: Request) -> dict[str, Any]:
        return save_revision(state, await json_body(request))

    @app.put("/api/Product/Revisions")
    async def put_revisions(request: Request) -> list[dict[str, Any]]:
        items = _array(await json_body(request), "revisions")
        return [save_revision(state, item) for item in items]

    @app.get("/api/Product/{part_number}")
    def get_product(part_number: str) -> dict[str, Any]:
        with state.lock:
            return copy.deepcopy(_find(state, part_number))

    @app.get("/api/Product/{part_number}/{revision}")
    def get_revision(part_number: str, revision: str) -> dict[str, Any]:
        with state.lock:
            return copy.deepcopy(_revision(_find(state, part_number), revision))

    @app.delete("/api/Product/{part_number}")
    def delete_product(part_number: str) -> Response:
        with state.lock:
            _find(state, part_number)
            del state.products[key(part_number)]
        return Response(status_code=204)

    @app.delete("/api/Product/{part_number}/{revision}")
    def delete_revision(part_number: str, revision: str) -> Response:
        with state.lock:
            product = _find(state, part_number)
            product["revisions"].remove(_revision(product, revision))
        return Response(status_code=204)

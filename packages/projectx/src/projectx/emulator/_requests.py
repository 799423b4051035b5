"""Request bodies of the Gateway's REST endpoints, parsed as ASP.NET parses them.

Property names match regardless of case (ASP.NET's web defaults), unknown properties are
ignored, and a body that is not JSON or lacks a required property is a 400 with the
framework's problem-details body, listing each bad property.
"""

from __future__ import annotations

__all__ = [
    "AccountSearch",
    "BadRequestError",
    "Bars",
    "ByAccount",
    "ByAccountContract",
    "ByContract",
    "ById",
    "ContractSearch",
    "LiveOnly",
    "LoginKey",
    "Modify",
    "OrderQuery",
    "PartialClose",
    "Place",
    "TimeWindow",
    "parse",
]

import datetime as dt
from typing import Any, TypeVar

import orjson
from pydantic import AliasGenerator, BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.alias_generators import to_camel

_Model = TypeVar("_Model", bound=BaseModel)


class BadRequestError(Exception):
    """The body is not acceptable; ``errors`` maps each JSON path to its problems."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 problem details ASP.NET answers with."""
        return {
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": self.errors,
        }


class _Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_camel),
        extra="ignore",
        frozen=True,
    )


def _utc(value: dt.datetime) -> dt.datetime:
    # The Gateway reads an offset-less time as UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class LoginKey(_Body):
    """``Auth/loginKey``."""

    user_name: str
    api_key: str


class AccountSearch(_Body):
    """``Account/search``."""

    only_active_accounts: bool


class ContractSearch(_Body):
    """``Contract/search``."""

    search_text: str | None = None
    live: bool


class LiveOnly(_Body):
    """``Contract/available``."""

    live: bool


class ByContract(_Body):
    """``Contract/searchById``."""

    contract_id: str


class Bars(_Body):
    """``History/retrieveBars``."""

    contract_id: str
    live: bool
    start_time: dt.datetime
    end_time: dt.datetime
    unit: int
    unit_number: int
    limit: int
    include_partial_bar: bool

    @field_validator("start_time", "end_time")
    @classmethod
    def _as_utc(cls, value: dt.datetime) -> dt.datetime:
        return _utc(value)


class ByAccount(_Body):
    """``Order/searchOpen``, ``Position/searchOpen``."""

    account_id: int


class ById(_Body):
    """``Order/cancel``, ``Order/searchById``."""

    account_id: int
    order_id: int


class TimeWindow(_Body):
    """``Order/search``, ``Trade/search`` (``contractId`` is an extension the SDK sends)."""

    account_id: int
    start_timestamp: dt.datetime
    end_timestamp: dt.datetime | None = None
    contract_id: str | None = None

    @field_validator("start_timestamp", "end_timestamp")
    @classmethod
    def _as_utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else _utc(value)


class Bracket(_Body):
    """``stopLossBracket`` / ``takeProfitBracket``."""

    ticks: int
    type: int


class Place(_Body):
    """``Order/place``."""

    account_id: int
    contract_id: str
    type: int
    side: int
    size: int
    limit_price: float | None = None
    stop_price: float | None = None
    trail_price: float | None = None
    custom_tag: str | None = None
    linked_order_id: int | None = None
    stop_loss_bracket: Bracket | None = None
    take_profit_bracket: Bracket | None = None


class Modify(_Body):
    """``Order/modify``: only the given prices and size change."""

    account_id: int
    order_id: int
    size: int | None = None
    limit_price: float | None = None
    stop_price: float | None = None
    trail_price: float | None = None


class ByAccountContract(_Body):
    """``Position/closeContract``."""

    account_id: int
    contract_id: str


class PartialClose(ByAccountContract):
    """``Position/partialCloseContract``."""

    size: int


class QueryFilter(_Body):
    """The ``filter`` of ``Order/v2/query``."""

    account_id: int
    statuses: list[int] | None = None
    contract_id: str | None = None


class OrderQuery(_Body):
    """``Order/v2/query``."""

    filter: QueryFilter
    page_size: int = 100
    page_offset: int = 0
    include_total_count: bool = False


def _fold(data: Any, model: type[BaseModel]) -> Any:
    """Rename the keys of ``data`` to the model's aliases where they match regardless of case."""
    if not isinstance(data, dict):
        return data
    names: dict[str, tuple[str, Any]] = {}
    for name, info in model.model_fields.items():
        alias = to_camel(name)
        names[alias.lower()] = (alias, info.annotation)
    folded: dict[str, Any] = {}
    for key, value in data.items():
        alias, annotation = names.get(str(key).lower(), (key, None))
        nested = next(
            (a for a in getattr(annotation, "__args__", (annotation,)) if _is_model(a)), None
        )
        folded[alias] = _fold(value, nested) if nested is not None else value
    return folded


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def parse(model: type[_Model], raw: bytes) -> _Model:
    """Parse a request body into ``model``.

    Raises:
        BadRequestError: the body is not JSON, not an object, or not valid for the model.
    """
    try:
        data = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        raise BadRequestError({"$": [f"The body is not valid JSON: {exc}"]}) from exc
    if not isinstance(data, dict):
        raise BadRequestError({"$": ["A JSON object is required."]})
    try:
        return model.model_validate(_fold(data, model))
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            where = "$." + ".".join(str(part) for part in error["loc"])
            errors.setdefault(where, []).append(str(error["msg"]))
        raise BadRequestError(errors) from exc

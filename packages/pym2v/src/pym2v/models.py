"""Typed views of the m2v platform's JSON: users, routers, machines, measurements.

The models name the fields pym2v and its users rely on (snake_case, read from the API's
camelCase); everything else the server sends is kept as well, and the exact JSON object is
always reachable as :attr:`M2VModel.raw`. Unknown or missing optional fields never fail
validation, so a server that adds fields does not break the client.
"""

from __future__ import annotations

__all__ = ["M2VModel", "Machine", "Measurement", "Router", "User"]

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from pydantic.alias_generators import to_camel


class M2VModel(BaseModel):
    """Base of the m2v models: camelCase aliases, extra fields kept, the raw JSON at hand."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True
    )

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: Any) -> Any:
        model = handler(data)
        if isinstance(data, dict) and isinstance(model, M2VModel):
            model._raw = data
        return model

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object exactly as the server sent it."""
        return self._raw


class User(M2VModel):
    """The logged-in user (``GET /backend/user-controller/meGUI``)."""

    uuid: str | None = None
    username: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    company_name: str | None = None
    company_uuid: str | None = None
    admin: bool | None = None


class Router(M2VModel):
    """A router ("thing") that connects machines to the platform."""

    uuid: str
    name: str
    type: str | None = None
    online: bool | None = None
    company_name: str | None = None
    location_name: str | None = None
    last_connection: int | None = None


class Machine(M2VModel):
    """A machine; its ``uuid`` is what the measurement and data methods take."""

    uuid: str
    name: str
    thing_uuid: str | None = None
    thing_name: str | None = None
    company_name: str | None = None
    machine_type_definition_name: str | None = None
    last_connection: int | None = None


class Measurement(M2VModel):
    """A measurement or set-point definition of a machine.

    ``name`` is what :meth:`~pym2v.EurogardAPI.get_frame_from_names` takes; the uuid to write
    a set-point is :attr:`data_definition_key_item_uuid`.
    """

    uuid: str | None = None
    name: str
    data_definition_key_item: dict[str, Any] | None = None
    physical_unit: dict[str, Any] | None = Field(default=None)

    @property
    def data_definition_key_item_uuid(self) -> str | None:
        """The uuid of the data-definition key item (used to write a set-point)."""
        item = self.data_definition_key_item or {}
        value = item.get("dataDefinitionKeyItemUuid") or item.get("uuid")
        return value if isinstance(value, str) else None

    @property
    def unit(self) -> str | None:
        """The physical unit's symbol, if the server gave one."""
        unit = self.physical_unit or {}
        symbol = unit.get("symbol")
        return symbol if isinstance(symbol, str) else None

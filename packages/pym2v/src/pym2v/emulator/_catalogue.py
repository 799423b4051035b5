"""The emulator's deterministic catalogue: user, routers, machines, measurements, set-points.

Entities carry the fields the real server returns (reference §5), generated from the settings'
seed: the same settings always give the same UUIDs, names and timestamps.
"""

from __future__ import annotations

__all__ = ["Catalogue", "MachineRecord", "SeriesRecord"]

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from pym2v.emulator._settings import EmulatorSettings

_COMPANY = "Emulated Industries GmbH"
# A fixed moment (2024-11-01T00:00:00Z, ms) for "last connection" and "updated at" fields, so
# responses do not change between runs.
_EPOCH_MS = 1_730_419_200_000
_MEASUREMENT_NAMES = (
    "MW-Temperature",
    "MW-Pressure",
    "MW-pH",
    "MW-Flow",
    "MW-Level",
    "MW-Conductivity",
    "MW-Speed",
    "MW-Power",
)
_UNITS = ("°C", "bar", "pH", "m³/h", "%", "mS/cm", "rpm", "kW")
_SETPOINT_NAMES = ("SP-Temperature", "SP-Pressure", "SP-Speed", "SP-Level")


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    """A measurement or set-point: its entity and what the data generator needs."""

    name: str
    item_uuid: str
    index: int
    last: bool
    setpoint: bool
    entity: dict[str, Any]


@dataclass(slots=True)
class MachineRecord:
    """A machine: its entity and its series by name."""

    uuid: str
    name: str
    index: int
    entity: dict[str, Any]
    measurements: list[SeriesRecord] = field(default_factory=list)
    setpoints: list[SeriesRecord] = field(default_factory=list)
    series: dict[str, SeriesRecord] = field(default_factory=dict)


class Catalogue:
    """Every entity the emulator serves, built once from the settings."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self._seed = settings.seed
        self.company_uuid = self._uuid("company", 0)
        self.user = self._user(settings.username)
        self.routers = [self._router(i) for i in range(settings.routers)]
        self.machines: dict[str, MachineRecord] = {}
        for i in range(settings.machines):
            machine = self._machine(i)
            for j in range(settings.measurements):
                machine.measurements.append(
                    self._series(machine, j, last=j == settings.measurements - 1, setpoint=False)
                )
            for j in range(settings.setpoints):
                machine.setpoints.append(self._series(machine, j, last=False, setpoint=True))
            machine.series = {s.name: s for s in [*machine.measurements, *machine.setpoints]}
            self.machines[machine.uuid] = machine

    def _uuid(self, kind: str, index: int) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pym2v-emulator:{self._seed}:{kind}:{index}"))

    def _user(self, username: str) -> dict[str, Any]:
        return {
            "uuid": self._uuid("user", 0),
            "username": username,
            "firstname": "Emma",
            "lastname": "Ulator",
            "company": {
                "uuid": self.company_uuid,
                "name": _COMPANY,
                "street": "Musterstraße 1",
                "zip": "12345",
                "city": "Musterstadt",
                "country": "DE",
                "parent": None,
                "__archived": False,
                "updatedAt": _EPOCH_MS,
            },
            "companyUuid": self.company_uuid,
            "companyName": _COMPANY,
            "userInfoUuid": self._uuid("user-info", 0),
            "lastConnection": "2024-11-01T00:00:00.000Z",
            "receiveMessages": False,
            "street": "Musterstraße 1",
            "zip": "12345",
            "city": "Musterstadt",
            "country": "DE",
            "phone": "",
            "comment": "",
            "admin": False,
            "primaryRole": "USER",
            "role": "USER",
            "roles": ["USER"],
            "vpnRoleList": [],
            "notificationChannel": None,
            "userLanguage": "de",
            "desktopDesignMode": "light",
            "mobileDesignMode": "light",
            "privacyAccepted": True,
            "__updatedBy": None,
            "__updatedAt": _EPOCH_MS,
            "__removedAt": None,
            "__archived": False,
            "deletedAt": None,
        }

    def _router(self, index: int) -> dict[str, Any]:
        mac = self._uuid("mac", index).replace("-", "")[:12]
        return {
            "deletedAt": None,
            "uuid": self._uuid("router", index),
            "accessKey": self._uuid("access-key", index).replace("-", "")[:16],
            "macAddress": ":".join(mac[i : i + 2] for i in range(0, 12, 2)).upper(),
            "name": f"Router {index + 1:03d}",
            "type": "EG-ROUTER",
            "lastConnection": _EPOCH_MS - index * 60_000,
            "companyUuid": self.company_uuid,
            "companyName": _COMPANY,
            "filename": None,
            "locationUuid": self._uuid("location", index),
            "locationName": f"Hall {index % 4 + 1}",
            "online": index % 3 != 2,
            "archived": False,
            "__updatedBy": None,
            "__updatedAt": _EPOCH_MS - index * 1000,
            "__removedAt": None,
            "__archived": False,
        }

    def _machine(self, index: int) -> MachineRecord:
        router = self.routers[index % len(self.routers)] if self.routers else None
        machine_uuid = self._uuid("machine", index)
        name = f"Machine {index + 1:03d}"
        connection_uuid = self._uuid("connection", index)
        entity: dict[str, Any] = {
            "uuid": machine_uuid,
            "name": name,
            "deletedAt": None,
            "thingUuid": router["uuid"] if router else None,
            "thingName": router["name"] if router else None,
            "thing": copy.deepcopy(router),
            "machineTypeDefinitionUuid": self._uuid("machine-type", index % 2),
            "machineTypeDefinitionName": f"Type {'AB'[index % 2]}",
            "companyUuid": self.company_uuid,
            "companyName": _COMPANY,
            "machineConnectionMappings": [
                {
                    "uuid": self._uuid("mapping", index),
                    "connectionId": connection_uuid,
                    "connection": {
                        "uuid": connection_uuid,
                        "label": f"PLC {index + 1}",
                        "ip": f"192.168.{index // 250}.{index % 250 + 2}",
                        "port": 102,
                        "timeout": 1000,
                        "cycletime": 1000,
                        "cycletimeNow": 1000,
                    },
                    "connectionType": "S7",
                }
            ],
            "lastConnection": _EPOCH_MS - index * 60_000,
            "__updatedAt": _EPOCH_MS - index * 1000,
            "__archived": False,
        }
        return MachineRecord(uuid=machine_uuid, name=name, index=index, entity=entity)

    def _series(
        self, machine: MachineRecord, index: int, *, last: bool, setpoint: bool
    ) -> SeriesRecord:
        kind = "setpoint" if setpoint else "measurement"
        names = _SETPOINT_NAMES if setpoint else _MEASUREMENT_NAMES
        base = names[index % len(names)]
        name = base if index < len(names) else f"{base}-{index // len(names) + 1}"
        key = machine.index * 10_000 + index
        item_uuid = self._uuid(f"{kind}-item", key)
        type_uuid = machine.entity["machineTypeDefinitionUuid"]
        unit = _UNITS[index % len(_UNITS)]
        entity: dict[str, Any] = {
            "uuid": self._uuid(kind, key),
            "name": name,
            "deletedAt": None,
            "dataDefinitionKeyItem": {
                "label": name,
                "dataDefinitionKeyItemUuid": item_uuid,
                "dataDefinitionUuid": self._uuid("data-definition", machine.index),
                "texte": [
                    {"uuid": self._uuid(f"{kind}-text", key), "label": name, "language": "de"}
                ],
                "parentUuid": None,
                "dataDefinitionType": 2 if setpoint else 1,
                "uuid": item_uuid,
                "name": name,
                "machineTypeDefinitionName": machine.entity["machineTypeDefinitionName"],
                "machineTypeDefinitionUuid": type_uuid,
                "message": None,
                "lastTimestamp": _EPOCH_MS,
                "lastValue": "0.0",
            },
            "dataDefinitionType": 2 if setpoint else 1,
            "share": False,
            "readLevel": 0,
            "writeLevel": 1 if setpoint else 0,
            "machineTypeDefinitionUuid": type_uuid,
            "machineTypeDefinitionName": machine.entity["machineTypeDefinitionName"],
            "physicalUnit": {"symbol": unit, "texte": [{"label": unit, "language": "de"}]},
            "dataTrigger": None,
            "messageDefinition": None,
            "connectionType": 1,
            "connection": {
                "dataType": "REAL",
                "namespace": None,
                "stringAddress": f"DB{machine.index + 1}.DBD{index * 4}",
                "datatypeName": "REAL",
                "connectionId": machine.entity["machineConnectionMappings"][0]["connectionId"],
            },
            "scaling": None,
            "messageGroup": None,
            "messageDefinitionKeyItemUuidList": [],
            "destination": 0,
            "dataId": key,
            "archived": False,
            "__updatedBy": None,
            "__updatedAt": _EPOCH_MS - index * 1000,
            "__removedAt": None,
            "__archived": False,
        }
        return SeriesRecord(
            name=name, item_uuid=item_uuid, index=index, last=last, setpoint=setpoint, entity=entity
        )

    def series_key(self, machine: MachineRecord, series: SeriesRecord) -> int:
        """A stable integer identifying one series, for the data generator's phases."""
        machine_key = self._seed * 1_000_003 + machine.index
        return machine_key * 10_007 + series.index * 2 + int(series.setpoint)

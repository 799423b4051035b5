"""The emulator's in-memory WATS database: reports, products, units, assets, serial numbers.

One re-entrant lock guards everything: FastAPI runs sync handlers in a thread pool and tests
read the state from their own thread. Part and serial numbers are keyed regardless of letter
case, as WATS's SQL Server collation compares them.
"""

from __future__ import annotations

__all__ = ["EmulatorState", "StoredReport", "key"]

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pywats.emulator._settings import EmulatorSettings


def key(*parts: str) -> tuple[str, ...]:
    """The lookup key of part/serial numbers: compared regardless of letter case."""
    return tuple(p.casefold() for p in parts)


@dataclass(slots=True)
class StoredReport:
    """A submitted report: the WSJF as received and the header derived from it."""

    raw: dict[str, Any]
    header: dict[str, Any]
    received: float


@dataclass(slots=True)
class SerialNumberType:
    """A serial-number series ``Take`` hands numbers out of."""

    name: str
    description: str
    prefix: str
    width: int
    next: int = 1

    def to_json(self) -> dict[str, Any]:
        """The type as ``GET /api/Production/SerialNumbers/Types`` lists it."""
        return {
            "name": self.name,
            "description": self.description,
            "format": f"{self.prefix}{'#' * self.width}",
            "regEx": f"^{self.prefix}\\d{{{self.width}}}$",
        }


def _default_sn_types() -> dict[str, SerialNumberType]:
    types = (
        SerialNumberType("Default", "Sequential serial numbers", "SN", 6),
        SerialNumberType("MAC", "MAC address style numbers", "0050C2", 6),
    )
    return {t.name.casefold(): t for t in types}


def _default_asset_types() -> list[dict[str, Any]]:
    return [
        {
            "typeId": "00000000-0000-0000-0000-000000000001",
            "typeName": "Fixture",
            "calibrationInterval": 365.0,
            "maintenanceInterval": 90.0,
            "runningCountLimit": 10000,
            "totalCountLimit": 1000000,
            "warningThreshold": 0.8,
            "alarmThreshold": 1.0,
        },
        {
            "typeId": "00000000-0000-0000-0000-000000000002",
            "typeName": "Instrument",
            "calibrationInterval": 180.0,
            "maintenanceInterval": 365.0,
            "runningCountLimit": None,
            "totalCountLimit": None,
            "warningThreshold": 0.8,
            "alarmThreshold": 1.0,
        },
    ]


class EmulatorState:
    """Everything the emulator stores; :meth:`reset` empties it (``POST /_emulator/reset``).

    Tests read it through :func:`~pywats.emulator.emulator_state`. Hold ``lock`` while reading
    several attributes that must agree: the server thread writes them.

    Attributes:
        settings: the emulator's settings.
        clock: the wall-clock time source (seconds since the epoch).
        lock: the re-entrant lock guarding everything below.
        reports: stored reports by lower-case report id: ``raw`` (the WSJF as received),
            ``header`` (as ``Query/Header`` answers it) and ``received`` (clock time).
        products: products by case-folded part number, revisions inside.
        units: units by case-folded (serial number, part number).
        assets: assets by ``assetId``.
        asset_types: the asset types (two seeded).
        asset_log: the asset log, oldest first.
        sn_types: serial-number series by case-folded name, with their next number.
        taken: one entry per ``SerialNumbers/Take`` call.
    """

    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.lock = threading.RLock()
        self.reports: dict[str, StoredReport] = {}
        self.products: dict[tuple[str, ...], dict[str, Any]] = {}
        self.units: dict[tuple[str, ...], dict[str, Any]] = {}
        self.assets: dict[str, dict[str, Any]] = {}
        self.asset_types = _default_asset_types()
        self.asset_log: list[dict[str, Any]] = []
        self.sn_types = _default_sn_types()
        self.taken: list[dict[str, Any]] = []

    def reset(self) -> None:
        """Forget every report, product, unit, asset and taken serial number."""
        with self.lock:
            self.reports.clear()
            self.products.clear()
            self.units.clear()
            self.assets.clear()
            self.asset_types = _default_asset_types()
            self.asset_log.clear()
            self.sn_types = _default_sn_types()
            self.taken.clear()

    def process_name(self, code: object) -> str | None:
        """The name of process ``code``, or ``None`` when the table has no such process."""
        for process in self.settings.processes:
            if process.code == code:
                return process.name
        return None

"""The emulator's mutable state: current settings, catalogue, tokens, cache and counters."""

from __future__ import annotations

__all__ = ["EmulatorState", "ListQuery", "ProtocolError"]

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

import orjson

from corekit.clock import Clock
from pym2v.emulator._catalogue import Catalogue, MachineRecord
from pym2v.emulator._series import SeriesCache, SeriesSpec, count_labels
from pym2v.emulator._settings import DataModes, EmulatorSettings
from pym2v.emulator._tokens import TokenIssuer

# Sort keys the upstream client sends that name a field by another name on the entity.
_SORT_ALIASES = {"updatedAt": "__updatedAt"}


class ProtocolError(Exception):
    """A request the real server would refuse: answered with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The query of a paged list endpoint."""

    page: int = 0
    size: int = 10
    sort: str = ""
    order: str = "asc"
    filter: str = ""

    @classmethod
    def parse(cls, params: dict[str, str]) -> ListQuery:
        """Validate the query parameters (all optional; the defaults above apply)."""
        numbers: dict[str, int] = {}
        for name, default, low in (("page", 0, 0), ("size", 10, 1)):
            raw = params.get(name)
            try:
                value = default if raw is None else int(raw)
            except ValueError:
                raise ProtocolError(400, f"{name}: expected an integer, got {raw!r}") from None
            if value < low:
                raise ProtocolError(400, f"{name}: expected an integer >= {low}, got {value}")
            numbers[name] = value
        order = params.get("order", "asc").lower()
        if order not in {"asc", "desc"}:
            raise ProtocolError(400, f"order: expected 'asc' or 'desc', got {order!r}")
        return cls(
            page=numbers["page"],
            size=numbers["size"],
            sort=params.get("sort", ""),
            order=order,
            filter=params.get("filter", ""),
        )

    def apply(self, entities: list[dict[str, Any]]) -> dict[str, Any]:
        """Filter, sort and page ``entities`` into the paged envelope."""
        matching = [e for e in entities if _matches(e, self._conditions(entities))]
        key = _SORT_ALIASES.get(self.sort, self.sort)
        if key and entities and key in entities[0]:
            present = [e for e in matching if e.get(key) is not None]
            absent = [e for e in matching if e.get(key) is None]
            # A field of nested objects cannot be ordered: keep catalogue order.
            with contextlib.suppress(TypeError):
                present.sort(key=lambda e: e[key], reverse=self.order == "desc")
            matching = absent + present if self.order == "asc" else present + absent
        first = self.page * self.size
        return {
            "maxCount": len(matching),
            "size": self.size,
            "page": self.page,
            "entities": matching[first : first + self.size],
            "additionalInformation": "",
        }

    def _conditions(self, entities: list[dict[str, Any]]) -> list[tuple[str, str]]:
        conditions: list[tuple[str, str]] = []
        for part in self.filter.split(";"):
            if not part.strip():
                continue
            key, sep, value = part.partition(":")
            key = key.strip()
            if not sep or not key:
                msg = f"filter: {part!r} is not 'key:value'; separate filters with ';'"
                raise ProtocolError(400, msg)
            if entities and key not in entities[0]:
                fields = ", ".join(sorted(entities[0]))
                raise ProtocolError(400, f"filter: unknown key {key!r}; accepted: {fields}")
            conditions.append((key, value.strip()))
        return conditions


def _matches(entity: dict[str, Any], conditions: list[tuple[str, str]]) -> bool:
    for key, wanted in conditions:
        actual = entity.get(key)
        if isinstance(actual, bool):
            if str(actual).lower() != wanted.lower():
                return False
        elif actual is None:
            if wanted.lower() not in {"", "null"}:
                return False
        elif key.lower().endswith("uuid"):
            if str(actual) != wanted:
                return False
        elif wanted.lower() not in str(actual).lower():
            return False
    return True


class EmulatorState:
    """Everything that changes while the emulator runs; :meth:`reset` restores the start."""

    def __init__(self, settings: EmulatorSettings, clock: Clock) -> None:
        self.initial = settings
        self.settings = settings
        self.clock = clock
        self.issuer = TokenIssuer(settings.key(), clock)
        self.cache = SeriesCache(settings.cache_bytes)
        self._lock = threading.Lock()
        self.catalogue = Catalogue(settings)
        self.series_requests = 0
        self.setpoint_writes: list[dict[str, Any]] = []

    def reset(self) -> None:
        """Back to the settings given at start: catalogue, modes, lifetimes, revocations."""
        with self._lock:
            self.settings = self.initial
            self.catalogue = Catalogue(self.initial)
            self.issuer.reset()
            self.series_requests = 0
            self.setpoint_writes = []

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the data modes or token lifetimes while running; returns the current values.

        Raises:
            ValueError: an unknown name or an invalid value (the message names it).
        """
        lifetimes = {"token_lifetime", "refresh_token_lifetime"}
        accepted = lifetimes | set(DataModes.model_fields)
        unknown = sorted(set(changes) - accepted)
        if unknown:
            msg = f"{unknown[0]}: not configurable; accepted: {', '.join(sorted(accepted))}"
            raise ValueError(msg)
        with self._lock:
            modes = self.settings.modes.model_dump()
            update: dict[str, Any] = {}
            for name, value in changes.items():
                if name in lifetimes:
                    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                        raise ValueError(f"{name}: expected a whole number of seconds >= 1")
                    update[name] = value
                else:
                    if not isinstance(value, bool):
                        raise ValueError(f"{name}: expected true or false, got {value!r}")
                    modes[name] = value
            update["modes"] = DataModes(**modes)
            self.settings = self.settings.model_copy(update=update)
            return self.current()

    def current(self) -> dict[str, Any]:
        """The configurable values now in force."""
        return {
            "token_lifetime": self.settings.token_lifetime,
            "refresh_token_lifetime": self.settings.refresh_token_lifetime,
            **self.settings.modes.model_dump(),
        }

    def machine(self, machine_uuid: str) -> MachineRecord:
        """The machine with ``machine_uuid``.

        Raises:
            ProtocolError: 404 for an unknown machine.
        """
        machine = self.catalogue.machines.get(machine_uuid)
        if machine is None:
            raise ProtocolError(404, f"no machine with uuid {machine_uuid!r}")
        return machine

    def next_series_request(self) -> int:
        """Count a time-series request; returns its number since start or reset (from 1)."""
        with self._lock:
            self.series_requests += 1
            return self.series_requests

    def series_response(
        self, machine: MachineRecord, names: list[str], start: int, end: int, interval_s: int
    ) -> bytes:
        """The JSON body of ``postDataByRangeAndInterval`` for one validated query.

        Raises:
            ProtocolError: 400 when the answer would exceed ``max_points``.
        """
        settings = self.settings
        interval_ms = interval_s * 1000
        known = [machine.series[n] for n in dict.fromkeys(names) if n in machine.series]
        points = count_labels(start, end, interval_ms) * len(known)
        if points > settings.max_points:
            msg = (
                f"the query asks for {points} points, more than the {settings.max_points} "
                "allowed per request: shorten the window or widen intervalInS"
            )
            raise ProtocolError(400, msg)
        parts: list[bytes] = []
        lows: list[float] = []
        highs: list[float] = []
        for series in known:
            spec = SeriesSpec(
                machine_uuid=machine.uuid,
                machine_name=machine.name,
                item_uuid=series.item_uuid,
                name=series.name,
                key=self.catalogue.series_key(machine, series),
                last_measurement=series.last,
                start=start,
                end=end,
                interval_ms=interval_ms,
                sample_ms=settings.sample_interval_s * 1000,
                modes=settings.modes,
            )
            rendered = self.cache.get(spec)
            if rendered is not None:
                parts.append(rendered[0])
                lows.append(rendered[1])
                highs.append(rendered[2])
        if settings.modes.reordered_results and self.next_series_request() % 2 == 1:
            parts.reverse()
        low = orjson.dumps(min(lows) if lows else None)
        high = orjson.dumps(max(highs) if highs else None)
        # One join, one copy: these bodies run to tens of megabytes.
        pieces = [b'{"results":[']
        for index, part in enumerate(parts):
            pieces += [b",", part] if index else [part]
        pieces += [b'],"min":', low, b',"max":', high, b"}"]
        return b"".join(pieces)

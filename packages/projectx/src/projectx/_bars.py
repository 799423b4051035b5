"""Historical bars as polars frames with one fixed schema, paged past the 20,000-bar cap.

The Gateway returns at most 20,000 bars per ``History/retrieveBars`` call, newest first. A
longer window is split into chunks of 19,999 bar lengths, which cannot hold more than 20,000
bars (bars do not overlap; both ends are inclusive), fetched side by side; the pages are then
joined, de-duplicated and sorted oldest first. project-x-py paged backwards one request after
the other, at most 20 pages. Prices are cast to Float64 and volume to Int64
whatever the JSON numbers looked like (project-x-py's dtypes followed the number formatting).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import orjson
import polars as pl

from projectx._cache import BarCache, CacheKey
from projectx._models import BarUnit, as_utc
from projectx._session import Session, envelope
from projectx.errors import ProjectXError

if TYPE_CHECKING:
    # Annotations name the class alone, so the API docs need no polars inventory.
    import datetime

    from polars import DataFrame

__all__ = ["BAR_SCHEMA", "MAX_BARS_PER_REQUEST", "Bars", "bars_frame", "decode_page"]

logger = logging.getLogger(__name__)

MAX_BARS_PER_REQUEST = 20_000
"""The Gateway's cap on bars per ``History/retrieveBars`` call."""

_PRICES = ("open", "high", "low", "close")
_NEVER = dt.timedelta(days=1)  # any non-zero step, for the first row's missing diff
_SECONDS = {
    BarUnit.SECOND: 1,
    BarUnit.MINUTE: 60,
    BarUnit.HOUR: 3600,
    BarUnit.DAY: 86_400,
    BarUnit.WEEK: 7 * 86_400,
    BarUnit.MONTH: 31 * 86_400,
}


def bar_schema(tz: str = "UTC") -> dict[str, pl.DataType]:
    """Return the schema of a bar frame with its timestamps in zone ``tz``."""
    return {
        "timestamp": pl.Datetime("us", tz),
        **dict.fromkeys(_PRICES, pl.Float64()),
        "volume": pl.Int64(),
    }


BAR_SCHEMA = bar_schema()
"""Columns and dtypes of every bar frame (shown in UTC; the zone follows the request)."""


_WIRE_SCHEMA = {"t": pl.String(), **dict.fromkeys("ohlc", pl.Float64()), "v": pl.Int64()}
_WIRE_NAMES = {"t": "timestamp", "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}
_ISO = "%Y-%m-%dT%H:%M:%S%:z"
"""How the Gateway writes bar times (``2024-12-20T14:00:00+00:00``); parsed with no guessing."""


def _page(bars: list[dict[str, Any]]) -> DataFrame:
    """One page of wire bars as a UTC frame.

    The decoded dicts go straight into typed columns (no model object per bar); ``strict=False``
    casts whatever number formatting the Gateway used to the schema's dtypes.
    """
    return _stamped(pl.DataFrame(bars, schema=_WIRE_SCHEMA, strict=False).rename(_WIRE_NAMES))


def _stamped(frame: DataFrame) -> DataFrame:
    """Parse the ``timestamp`` strings as UTC instants."""
    try:
        stamps = frame["timestamp"].str.to_datetime(_ISO, time_unit="us", time_zone="UTC")
    except pl.exceptions.PolarsError:
        # Another ISO spelling (``Z``, fractions of a second): let polars infer it.
        stamps = frame["timestamp"].str.to_datetime(time_unit="us", time_zone="UTC")
    return frame.with_columns(stamps)


_ROWS_START = b'"bars":['


def decode_page(content: bytes) -> DataFrame | None:
    """A ``History/retrieveBars`` answer as a UTC frame (``None``: no bars), envelope checked.

    The bars, a JSON array of flat objects, are cut out of the answer and read by polars as
    newline-delimited JSON: in Rust, without a Python object per bar. Anything unusual (another
    layout, a volume written ``3.0``) is decoded with orjson instead.

    Raises:
        GatewayError: ``success: false`` (a subclass per ``errorCode``).
    """
    begin = content.find(_ROWS_START) + len(_ROWS_START)
    end = content.find(b"]", begin)
    if begin < len(_ROWS_START) or end < 0:
        bars = envelope("History/retrieveBars", content).get("bars") or []
        return _page(bars) if bars else None
    # The envelope alone (bars replaced by null): success and errorCode are checked first.
    envelope("History/retrieveBars", content[: begin - 1] + b"null" + content[end + 1 :])
    rows = content[begin:end]
    if not rows.strip():
        return None
    try:
        frame = pl.read_ndjson(rows.replace(b"},{", b"}\n{"), schema=_WIRE_SCHEMA)
    except pl.exceptions.PolarsError:
        return _page(orjson.loads(b"[" + rows + b"]"))
    return _stamped(frame.rename(_WIRE_NAMES))


def _finish(pages: list[DataFrame], tz: str) -> DataFrame:
    """Join pages, keep each bar once, sort oldest first, put the timestamps in ``tz``."""
    if not pages:
        return pl.DataFrame(schema=bar_schema(tz))
    frame = pl.concat(pages) if len(pages) > 1 else pages[0]
    # Sorted first, a bar repeated at a page edge sits next to itself: drop the repeats.
    frame = frame.sort("timestamp")
    frame = frame.filter(pl.col("timestamp").diff().fill_null(_NEVER) != dt.timedelta(0))
    return frame if tz == "UTC" else _in_zone(frame, tz)


def bars_frame(bars: list[dict[str, Any]], tz: str = "UTC") -> DataFrame:
    """Build a bar frame (oldest first, fixed schema) from the Gateway's ``bars`` list."""
    return _finish([_page(bars)] if bars else [], tz)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Bars:
    """Historical bars (``client.bars``).

    Args:
        session: the client's session.
        cache: where closed windows are kept; ``None`` for no cache.
        timezone: default zone of the ``timestamp`` column.
    """

    def __init__(self, session: Session, cache: BarCache | None, timezone: str) -> None:
        self._session = session
        self._cache = cache
        self._tz = timezone

    @property
    def cache(self) -> BarCache | None:
        """The bar cache, if any (its ``stats()`` give hits, misses, ratio, bytes)."""
        return self._cache

    async def get(
        self,
        contract_id: str,
        start: datetime.datetime | None = None,
        end: datetime.datetime | None = None,
        *,
        lookback: datetime.timedelta | None = None,
        unit: BarUnit = BarUnit.MINUTE,
        unit_number: int = 1,
        include_partial: bool = False,
        live: bool = False,
        tz: str | None = None,
        on_page: Callable[[int], object] | None = None,
    ) -> DataFrame:
        """Return the bars of ``contract_id`` in ``[start, end]``, oldest first.

        Give ``start`` (and optionally ``end``, default now) or ``lookback`` (a window ending
        at ``end``). Naive datetimes are read in ``tz``. Any window length works: more than
        20,000 bars are fetched in pages.

        Args:
            contract_id: e.g. ``"CON.F.US.MNQ.H26"``.
            start: first bar time (inclusive).
            end: last bar time; default now.
            lookback: window length, when ``start`` is not given.
            unit: bar unit.
            unit_number: bars of ``unit_number`` units (e.g. 5-minute bars).
            include_partial: include the still-forming last bar.
            live: use the live data subscription.
            tz: zone of the ``timestamp`` column; default the ``timezone`` setting (UTC).
            on_page: called with the number of bars of each page fetched (progress bars).

        Returns:
            Columns ``timestamp`` (``Datetime("us", tz)``), ``open``, ``high``, ``low``,
            ``close`` (Float64) and ``volume`` (Int64).

        Raises:
            ProjectXError: neither ``start`` nor ``lookback`` was given, or start > end.
            InvalidRequestError: the Gateway refused the unit or unit number.
            ContractNotFoundError: no such contract.
        """
        zone = tz or self._tz
        now = dt.datetime.fromtimestamp(self._session.clock.time(), dt.UTC)
        finish = now if end is None else as_utc(end, zone)
        if start is not None:
            begin = as_utc(start, zone)
        elif lookback is not None:
            begin = finish - lookback
        else:
            msg = "bars.get needs start= or lookback= (e.g. lookback=timedelta(days=1))"
            raise ProjectXError(msg)
        if begin > finish:
            msg = f"bars.get: start {begin.isoformat()} is after end {finish.isoformat()}"
            raise ProjectXError(msg)
        unit = BarUnit(unit)
        key: CacheKey = (
            contract_id,
            int(unit),
            unit_number,
            begin.isoformat(),
            finish.isoformat(),
            include_partial,
            live,
        )
        # Only a closed window can be cached: bars inside it will not change any more.
        closed = (
            not include_partial
            and finish + dt.timedelta(seconds=_SECONDS[unit] * unit_number) <= now
        )
        if closed and self._cache is not None:
            cached = self._cache.get(key)
            if cached is not None:
                return cached if zone == "UTC" else _in_zone(cached, zone)
        pages: list[DataFrame] = []
        request = _Request(contract_id, unit, unit_number, include_partial, live, on_page)
        chunks = _chunks(begin, finish, unit, unit_number)
        # The window is closed at both ends; a Gateway that reads ``endTime`` as exclusive
        # would drop a bar starting exactly at ``end``, so the last chunk reaches a microsecond
        # past it (no bar starts there: bars start on whole seconds).
        chunks[-1] = (chunks[-1][0], finish + _PAST_END)
        # Chunks short enough to hold no more bars than the cap are fetched side by side, so
        # the Gateway's work, the transfer and our parsing overlap (the bars bucket still
        # paces them).
        limiter = anyio.CapacityLimiter(_PARALLEL)

        async def fetch(chunk_begin: dt.datetime, chunk_end: dt.datetime) -> None:
            async with limiter:
                pages.extend(await self._fetch(request, chunk_begin, chunk_end))

        async with anyio.create_task_group() as tasks:
            for chunk_begin, chunk_end in chunks:
                tasks.start_soon(fetch, chunk_begin, chunk_end)
        frame = _finish(pages, "UTC")
        if closed and self._cache is not None:
            self._cache.put(key, frame)
        return frame if zone == "UTC" else _in_zone(frame, zone)

    async def _fetch(
        self, request: _Request, begin: dt.datetime, finish: dt.datetime
    ) -> list[DataFrame]:
        body = {
            "contractId": request.contract_id,
            "live": request.live,
            "startTime": _iso(begin),
            "endTime": _iso(finish),
            "unit": int(request.unit),
            "unitNumber": request.unit_number,
            "limit": MAX_BARS_PER_REQUEST,
            "includePartialBar": request.include_partial,
        }
        content = await self._session.call_bytes("History/retrieveBars", body)
        page = decode_page(content)
        if request.on_page is not None:
            request.on_page(0 if page is None else page.height)
        return [] if page is None else [page]


@dataclass(frozen=True, slots=True)
class _Request:
    contract_id: str
    unit: BarUnit
    unit_number: int
    include_partial: bool
    live: bool
    on_page: Callable[[int], object] | None


_PARALLEL = 4
_PAST_END = dt.timedelta(microseconds=1)
"""Most ``History/retrieveBars`` requests of one ``bars.get`` in flight at once."""


def _chunks(
    begin: dt.datetime, finish: dt.datetime, unit: BarUnit, unit_number: int
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Split ``[begin, finish]`` into windows that each hold fewer bars than the cap.

    Bars start on unit boundaries, so a window of ``MAX_BARS_PER_REQUEST - 1`` bar lengths
    holds at most ``MAX_BARS_PER_REQUEST`` of them (both ends inclusive).
    """
    span = dt.timedelta(seconds=_SECONDS[unit] * unit_number * (MAX_BARS_PER_REQUEST - 1))
    chunks = []
    start = begin
    while finish - start > span:
        chunks.append((start, start + span))
        start += span
    chunks.append((start, finish))
    return chunks


def _in_zone(frame: DataFrame, tz: str) -> DataFrame:
    return frame.with_columns(pl.col("timestamp").dt.convert_time_zone(tz))

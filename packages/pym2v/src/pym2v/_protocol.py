"""The m2v wire protocol, free of I/O: requests to send, answers to check, times to convert.

Both clients describe each call as a :class:`Call` built here and check the answer with the
functions here; they differ only in how they send (a blocking or an awaitable corekit client).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from corekit.http import Response
from pym2v.errors import M2VConfigurationError, ResponseFormatError

USER_INFO = "/backend/user-controller/meGUI"
ROUTERS = "/backend/thing-gui-controller/filter"
MACHINES = "/backend/machine-gui-controller/filter"
DATA = "/backend/machine-controller/postDataByRangeAndInterval"
SET_POINT = "/backend/data-definition-key-item-controller/set-point"
DEFAULT_FILTER = "__archived:false"
WIDE_TIMESTAMP = "timestamp"
"""The first column of a wide frame (:data:`pym2v._frames.TIMESTAMP`)."""
DEFAULT_MAX_FRAME_LENGTH = dt.timedelta(days=30)
MAX_PAGES = 100_000
"""A paging loop that has not ended after this many pages is a server bug, not data."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)
_BODY_EXCERPT = 500


def machine_path(machine_uuid: str, what: str) -> str:
    """The path of a machine's ``measurements`` or ``set-points`` list."""
    return f"/backend/machine-controller/{machine_uuid}/{what}"


@dataclass(frozen=True, slots=True)
class Call:
    """One request to the m2v API."""

    method: str
    path: str
    params: Mapping[str, str | int] | None = None
    json: Any = None
    idempotent: bool | None = None
    timeout: float | None = None


def page_call(path: str, *, page: int, size: int, sort: str, order: str, filter: str) -> Call:
    """A GET of one page of a paged list (query order as the platform documents it)."""
    check_int("page", page, minimum=0)
    check_int("size", size, minimum=1)
    if order not in {"asc", "desc"}:
        msg = f"order must be 'asc' or 'desc', got {order!r}"
        raise M2VConfigurationError(msg)
    params: dict[str, str | int] = {
        "page": page,
        "size": size,
        "sort": sort,
        "order": order,
        "filter": filter,
    }
    return Call("GET", path, params=params)


def check_uuid(machine_uuid: object) -> str:
    """Return ``machine_uuid`` if it is a usable path segment, else raise."""
    if not isinstance(machine_uuid, str) or not machine_uuid.strip() or "/" in machine_uuid:
        msg = (
            f"machine_uuid must be a machine's uuid (see get_machines / find_machine), "
            f"got {machine_uuid!r}"
        )
        raise M2VConfigurationError(msg)
    return machine_uuid.strip()


def check_int(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else raise M2VConfigurationError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"{name} must be an int >= {minimum}, got {value!r}"
        raise M2VConfigurationError(msg)
    return value


def check_names(names: object) -> list[str]:
    """Return the requested names, de-duplicated in order; raise if there are none."""
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, Sequence) or not names:
        msg = f"names must be a non-empty list of measurement names, got {names!r}"
        raise M2VConfigurationError(msg)
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        msg = f"names must be non-empty strings, got {bad[0]!r}"
        raise M2VConfigurationError(msg)
    return list(dict.fromkeys(names))


# -- time --------------------------------------------------------------------------------------


def to_utc(value: object, name: str) -> dt.datetime:
    """Return ``value`` as an aware UTC datetime; naive datetimes and dates mean UTC.

    Accepts a :class:`datetime.datetime`, a :class:`datetime.date` (midnight UTC) or an
    ISO 8601 string.
    """
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            msg = f"{name} must be an ISO 8601 datetime such as 2025-01-01T00:00Z, got {value!r}"
            raise M2VConfigurationError(msg) from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    msg = f"{name} must be a datetime, a date or an ISO 8601 string, got {value!r}"
    raise M2VConfigurationError(msg)


def to_ms(value: dt.datetime) -> int:
    """Epoch milliseconds of an aware datetime, exact (no float rounding)."""
    return (value - _EPOCH) // _MS


def to_seconds(value: object, name: str) -> int:
    """Return a whole number of seconds >= 1 from a timedelta or a number of seconds."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        msg = f"{name} must be a timedelta or a number of seconds, got {value!r}"
        raise M2VConfigurationError(msg)
    if not math.isfinite(seconds) or seconds < 1:
        msg = f"{name} must be at least one second, got {value!r}"
        raise M2VConfigurationError(msg)
    if seconds != int(seconds):
        msg = f"{name} must be a whole number of seconds (the API counts in seconds), got {value!r}"
        raise M2VConfigurationError(msg)
    return int(seconds)


def to_span_ms(value: object, name: str) -> int:
    """Return a positive duration in milliseconds from a timedelta or seconds."""
    if isinstance(value, dt.timedelta):
        ms = value // _MS
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        ms = int(value * 1000)
    else:
        msg = f"{name} must be a timedelta or a number of seconds, got {value!r}"
        raise M2VConfigurationError(msg)
    if ms <= 0:
        msg = f"{name} must be positive, got {value!r}"
        raise M2VConfigurationError(msg)
    return ms


@dataclass(frozen=True, slots=True)
class Query:
    """A checked time-series query: names, the window in epoch ms and the interval."""

    machine_uuid: str
    names: list[str]
    start_ms: int
    end_ms: int
    interval_s: int


def query(
    machine_uuid: object,
    names: object,
    start: object,
    end: object,
    interval: object,
    *,
    long: bool = False,
) -> Query:
    """Check the arguments of a frame method and return the query; raise before any request."""
    uuid = check_uuid(machine_uuid)
    checked = check_names(names)
    if not long and WIDE_TIMESTAMP in checked:
        msg = (
            f"a measurement named {WIDE_TIMESTAMP!r} would clash with the timestamp column of a "
            "wide frame; fetch it with long=True"
        )
        raise M2VConfigurationError(msg)
    start_utc, end_utc = to_utc(start, "start"), to_utc(end, "end")
    if start_utc >= end_utc:
        msg = (
            f"start must be before end, got start={start_utc.isoformat()} end={end_utc.isoformat()}"
        )
        raise M2VConfigurationError(msg)
    interval_s = to_seconds(interval, "interval")
    return Query(uuid, checked, to_ms(start_utc), to_ms(end_utc), interval_s)


def _epoch_ms(value: object, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return to_ms(to_utc(value, name))


def raw_query(
    machine_uuid: object, names: object, start: object, end: object, interval_in_s: object
) -> Query:
    """Check the arguments of ``get_historical_data`` (epoch ms, or datetimes)."""
    uuid = check_uuid(machine_uuid)
    checked = check_names(names)
    start_ms, end_ms = _epoch_ms(start, "start"), _epoch_ms(end, "end")
    if start_ms >= end_ms:
        msg = f"start must be before end, got start={start_ms} end={end_ms} (epoch ms)"
        raise M2VConfigurationError(msg)
    return Query(uuid, checked, start_ms, end_ms, to_seconds(interval_in_s, "interval_in_s"))


def batches(q: Query, max_frame_length: object) -> list[tuple[int, int]]:
    """Split the window into consecutive ``(start, end]`` windows of at most the given length.

    Inner boundaries fall on multiples of the interval counted from the epoch, where the
    server's buckets end, so no bucket is cut in two and the batched result equals what one
    request for the whole window returns.
    """
    length = to_span_ms(max_frame_length, "max_frame_length")
    step = q.interval_s * 1000
    length = max(step, length // step * step)
    bounds = [q.start_ms]
    edge = q.start_ms // step * step + length
    while edge < q.end_ms:
        bounds.append(edge)
        edge += length
    bounds.append(q.end_ms)
    return list(itertools.pairwise(bounds))


POINT_BYTES = 56
"""Bytes one point takes in an answer, ``{"timestamp":1735689660000,"value":20.81976...},``."""


def in_flight(q: Query, windows: Sequence[tuple[int, int]], limit: int, budget: int) -> int:
    """How many batches of a fetch may be in flight: ``limit``, fewer if their answers are big.

    Each answer is held whole until it is decoded, so the estimated answer size of the
    longest batch bounds how many fit in ``budget`` bytes; at least one always runs.
    """
    longest = max(end - start for start, end in windows)
    points = (longest // (q.interval_s * 1000) + 1) * len(q.names)
    fitting = budget // (points * POINT_BYTES)
    return max(1, min(limit, len(windows), fitting))


def data_call(q: Query, start_ms: int, end_ms: int, timeout: float | None = None) -> Call:
    """The POST of one time-series window (a read: safe to retry like a GET)."""
    body = {
        "condition": "",
        "values": q.names,
        "start": start_ms,
        "end": end_ms,
        "machineUuid": q.machine_uuid,
        "intervalInS": q.interval_s,
    }
    return Call("POST", DATA, json=body, idempotent=True, timeout=timeout)


# -- answers -----------------------------------------------------------------------------------


def format_error(response: Response, problem: str) -> ResponseFormatError:
    """A :class:`ResponseFormatError` for ``response`` saying what was wrong."""
    request = response.request
    url = str(request.url.copy_with(query=None))
    text = response.content[:_BODY_EXCERPT].decode("utf-8", "replace")
    more = len(response.content) - _BODY_EXCERPT
    if more > 0:
        text += f"... [{more} more bytes]"
    msg = (
        f"{request.method} {url} -> {response.status_code}: unexpected answer, {problem}; "
        f"is EUROGARD_BASE_URL the m2v API? Body: {text!r}"
    )
    return ResponseFormatError(
        msg, method=request.method, url=url, status_code=response.status_code, body=text
    )


def json_object(response: Response) -> dict[str, Any]:
    """The body as a JSON object, or a :class:`ResponseFormatError`."""
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise format_error(response, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise format_error(response, f"expected a JSON object, got a {type(data).__name__}")
    return data


def envelope(response: Response) -> dict[str, Any]:
    """A paged envelope (``entities``, ``maxCount``, ...), checked."""
    data = json_object(response)
    entities = data.get("entities")
    if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
        raise format_error(response, "'entities' is not a list of objects")
    count = data.get("maxCount")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        raise format_error(response, "'maxCount' is not an integer")
    return data


def next_page(data: Mapping[str, Any], page: int, size: int, seen: int) -> int | None:
    """The page to fetch after ``page``, or ``None`` when the list is exhausted.

    Stops on an empty or short page, or once ``maxCount`` entities were seen: some endpoints
    ignore paging and answer everything at once (with ``size`` set to the total).
    """
    got = len(data["entities"])
    total = data.get("maxCount")
    if got == 0 or got < size or (isinstance(total, int) and seen >= total):
        return None
    if page + 1 >= MAX_PAGES:
        return None
    return page + 1


@dataclass(slots=True)
class Pager:
    """Walks a paged list: the call of the next page, and what each answer says.

    Both clients drive it the same way::

        pager = Pager(path, filter=..., sort=..., order=..., size=...)
        while (call := pager.next_call()) is not None:
            yield from pager.take(envelope(send(call)))
    """

    path: str
    filter: str
    sort: str
    order: str
    size: int
    page: int | None = 0
    seen: int = 0

    def next_call(self) -> Call | None:
        """The GET of the next page, or ``None`` once the list is exhausted."""
        if self.page is None:
            return None
        return page_call(
            self.path,
            page=self.page,
            size=self.size,
            sort=self.sort,
            order=self.order,
            filter=self.filter,
        )

    def take(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The entities of a checked envelope (see :func:`envelope`); advances the page."""
        entities: list[dict[str, Any]] = data["entities"]
        self.seen += len(entities)
        assert self.page is not None
        self.page = next_page(data, self.page, self.size, self.seen)
        return entities


def name_filter(name: str, base: str = DEFAULT_FILTER) -> str:
    """A list filter narrowed to ``name`` where the filter syntax allows it."""
    if any(c in name for c in ":;"):
        return base
    return f"{base};name:{name}"


def set_point_call(
    machine_uuid: str, data_definition_key_item_uuid: str, value: object, timestamp: object
) -> Call:
    """The POST that writes a set-point (not idempotent: retried only if it never left)."""
    uuid = check_uuid(machine_uuid)
    item = check_uuid(data_definition_key_item_uuid)
    if isinstance(value, bool):
        text = "1" if value else "0"
    elif isinstance(value, int | float | str):
        text = str(value)
    else:
        msg = f"value must be a number or a string, got {value!r}"
        raise M2VConfigurationError(msg)
    when = dt.datetime.now(dt.UTC) if timestamp is None else to_utc(timestamp, "timestamp")
    body = {
        "dataDefinitionKeyItemUuid": item,
        "machineUuid": uuid,
        "setPointValue": text,
        "timestamp": to_ms(when),
    }
    return Call("POST", SET_POINT, json=body)

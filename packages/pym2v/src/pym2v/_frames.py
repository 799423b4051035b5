"""From time-series answers to polars frames, the same for every batch and both clients.

Each batch answer is decoded once into typed polars series and turned into a frame whose
schema is fixed by the request, not by the answer:
``timestamp`` then one Float64 column per requested name, in the requested order. Batches
therefore always concatenate, whatever the server left out, reordered or sent as integers.
Points are kept only inside the batch's ``(start, end]`` window, so shared batch boundaries
never yield a timestamp twice.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
import polars as pl

from corekit.http import Response
from pym2v._protocol import WIDE_TIMESTAMP, Query, format_error

TIMESTAMP = WIDE_TIMESTAMP
NAME = "name"
VALUE = "value"
TIMESTAMP_DTYPE = pl.Datetime("ms", "UTC")


@dataclass(frozen=True, slots=True)
class Series:
    """One decoded series of an answer: epoch-ms timestamps and float values."""

    name: str
    timestamps: pl.Series
    values: pl.Series


def _points(response: Response, result: Any) -> Series:
    if not isinstance(result, dict):
        raise format_error(response, "an element of 'results' is not an object")
    name = result.get("dataDefinitionKeyItemName")
    points = result.get("values")
    if not isinstance(name, str) or not isinstance(points, list):
        raise format_error(
            response, "a result lacks 'dataDefinitionKeyItemName' (text) or 'values' (a list)"
        )
    try:
        stamps = [p["timestamp"] for p in points]
        raw = [p["value"] for p in points]
    except (KeyError, TypeError):
        raise format_error(
            response, f"a point of {name!r} is not an object with 'timestamp' and 'value'"
        ) from None
    try:
        timestamps = pl.Series(TIMESTAMP, stamps, dtype=pl.Int64, strict=True)
    except (TypeError, OverflowError, pl.exceptions.PolarsError):
        raise format_error(response, f"a timestamp of {name!r} is not epoch milliseconds") from None
    if timestamps.null_count():
        raise format_error(response, f"a timestamp of {name!r} is null")
    # Integers and floats both become Float64 (never truncated); null stays null.
    values = pl.Series(name, raw, dtype=pl.Float64, strict=False)
    if values.null_count() != raw.count(None):
        raise format_error(response, f"a value of {name!r} is not a number")
    return Series(name, timestamps, values)


_VALUES = b'"values":['


_KEY = '{"timestamp"'
_NEXT_KEY = ',{"timestamp"'
_VALUE_KEY = ',"value"'


def _numbers(name: str, array: bytes) -> Series | None:
    """The points of one compact ``values`` array, or ``None`` if it holds anything else.

    Polars' CSV reader (native code, no Python object per point) splits
    ``{"timestamp":T,"value":V},...`` into rows at ``}`` and fields at ``:``; each row must then
    read ``{"timestamp"`` | ``T,"value"`` | ``V`` with an integer ``T`` and a number or
    ``null`` as ``V``.
    """
    if not array:
        return Series(name, pl.Series(TIMESTAMP, [], pl.Int64), pl.Series(name, [], pl.Float64))
    try:
        rows = pl.read_csv(
            io.BytesIO(array),
            has_header=False,
            separator=":",
            eol_char="}",
            quote_char=None,
            new_columns=["key", "stamp", "value"],
            infer_schema=False,
        )
    except pl.exceptions.PolarsError:
        return None
    if rows.width != 3 or any(rows[c].null_count() for c in rows.columns):
        return None
    keys, stamps, raw = rows["key"], rows["stamp"], rows["value"]
    if not (keys.is_in([_KEY, _NEXT_KEY]).all() and stamps.str.ends_with(_VALUE_KEY).all()):
        return None
    timestamps = stamps.str.head(-len(_VALUE_KEY)).cast(pl.Int64, strict=False).alias(TIMESTAMP)
    values = raw.cast(pl.Float64, strict=False).alias(name)
    if timestamps.null_count() or values.null_count() != (raw == "null").sum():
        return None
    return Series(name, timestamps, values)


def _decode_compact(body: bytes) -> list[Series] | None:
    """Decode an answer written compactly, as the platform writes it; ``None`` if it is not.

    orjson would build a dict, an int and a float object per point: for a 30-day batch of
    one-minute data for 5 names that is over a million objects, which costs several times the
    time and memory of the rest of the fetch. Points carry no strings and no nested arrays, so
    each ``values`` array ends at the first ``]`` after it; its points are parsed natively
    (:func:`_numbers`), and the rest of the answer (names, shape) is parsed with the arrays
    left empty. Anything unexpected returns ``None`` and the general decoder, which reports
    exactly what is wrong, takes over.
    """
    pieces: list[bytes] = []
    arrays: list[tuple[int, int]] = []  # where each array is; sliced one at a time, not all
    position = 0
    while (found := body.find(_VALUES, position)) >= 0:
        start = found + len(_VALUES)
        end = body.find(b"]", start)
        if end < 0:
            return None
        pieces.append(body[position:start])
        arrays.append((start, end))
        position = end
    pieces.append(body[position:])
    return _compact(b"".join(pieces), [partial(_cut, body, *a) for a in arrays])


def _cut(body: bytes, start: int, end: int) -> bytes:
    return body[start:end]


def _split_chunks(chunks: list[bytes]) -> tuple[list[bytes], list[int] | None]:
    """Cut a body that arrived in chunks at its ``values`` arrays, emptying ``chunks``.

    Returns the body's pieces in order, each array's text alone in a piece, and the indices
    of those pieces (``None`` if an array is not closed). Each chunk is dropped once cut, so
    the body is never held twice, nor joined into one buffer.
    """
    pieces: list[bytes] = []
    arrays: list[int] = []
    current: list[bytes] | None = None  # the open array's parts
    carry = b""  # a tail that may hold the start of the next ``"values":[``
    chunks.reverse()
    while chunks:
        data = carry + chunks.pop()
        carry = b""
        while data:
            if current is not None:
                end = data.find(b"]")
                if end < 0:
                    current.append(data)
                    break
                current.append(data[:end])
                arrays.append(len(pieces))
                pieces.append(b"".join(current))
                current, data = None, data[end:]
                continue
            found = data.find(_VALUES)
            if found < 0:
                keep = min(len(data), len(_VALUES) - 1)
                pieces.append(data[: len(data) - keep])
                carry = data[len(data) - keep :]
                break
            pieces.append(data[: found + len(_VALUES)])
            current, data = [], data[found + len(_VALUES) :]
    if current is not None:
        pieces.extend(current)
        return pieces, None
    pieces.append(carry)
    return pieces, arrays


def _compact(skeleton: bytes, arrays: Sequence[Callable[[], bytes]]) -> list[Series] | None:
    """The series of a compact answer: its ``skeleton`` (arrays emptied) and array texts."""
    try:
        parsed = orjson.loads(skeleton)
    except orjson.JSONDecodeError:
        return None
    results = parsed.get("results") if isinstance(parsed, dict) else None
    if not isinstance(results, list) or len(results) != len(arrays):
        return None
    decoded = []
    for result, array in zip(results, arrays, strict=True):
        name = result.get("dataDefinitionKeyItemName") if isinstance(result, dict) else None
        if not isinstance(name, str) or result.get("values") != []:
            return None
        series = _numbers(name, array())
        if series is None:
            return None
        decoded.append(series)
    return decoded


def decode(response: Response, chunks: list[bytes] | None = None) -> list[Series]:
    """Decode a time-series answer into its series, checking its shape.

    ``chunks``: the body as it arrived (``request_chunks``), instead of ``response.content``;
    the list is emptied.
    """
    if chunks is None:
        body = response.content
        fast = _decode_compact(body)
    else:
        pieces, arrays = _split_chunks(chunks)
        fast = None
        if arrays is not None:
            at = set(arrays)
            skeleton = b"".join(p for i, p in enumerate(pieces) if i not in at)
            fast = _compact(skeleton, [partial(pieces.__getitem__, i) for i in arrays])
        body = b""
        if fast is None:
            # Only a body that is not the platform's compact JSON is ever joined, into a read
            # response for the errors that quote it.
            body = b"".join(pieces)
            response = Response(response.status_code, content=body, request=response.request)
    if fast is not None:
        return fast
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise format_error(response, "the body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise format_error(response, "expected an object with a 'results' list")
    return [_points(response, result) for result in data["results"]]


def _in_window(frame: pl.DataFrame, start_ms: int, end_ms: int) -> pl.DataFrame:
    ts = frame[TIMESTAMP]
    if len(ts) and ts.min() > start_ms and ts.max() <= end_ms:  # type: ignore[operator]
        return frame
    return frame.filter((pl.col(TIMESTAMP) > start_ms) & (pl.col(TIMESTAMP) <= end_ms))


def _one_per_timestamp(frame: pl.DataFrame) -> pl.DataFrame:
    ts = frame[TIMESTAMP]
    if ts.is_sorted() and (ts.diff() > 0).all():  # strictly increasing: nothing to do
        return frame
    return frame.unique(subset=TIMESTAMP, keep="last").sort(TIMESTAMP)


def _by_name(series: Sequence[Series], names: Sequence[str]) -> dict[str, pl.DataFrame]:
    """Each requested name's points as ``timestamp`` and ``value`` (whatever the name is)."""
    wanted = set(names)
    found: dict[str, list[pl.DataFrame]] = {}
    for s in series:
        if s.name in wanted:
            found.setdefault(s.name, []).append(pl.DataFrame([s.timestamps, s.values.alias(VALUE)]))
    return {name: pl.concat(parts) if len(parts) > 1 else parts[0] for name, parts in found.items()}


def wide_batch(
    series: Sequence[Series], names: Sequence[str], start_ms: int, end_ms: int
) -> pl.DataFrame:
    """One batch as ``timestamp`` (epoch ms) plus a Float64 column per name, in ``names`` order."""
    columns = _by_name(series, names)
    frames = [
        _one_per_timestamp(_in_window(f, start_ms, end_ms)).rename({VALUE: name})
        for name, f in columns.items()
    ]
    if not frames:
        return empty_wide(names, timestamp=pl.Int64)
    first = frames[0][TIMESTAMP]
    if all(f[TIMESTAMP].equals(first) for f in frames[1:]):
        # Dense answers share their timestamps: place the columns side by side, no join.
        merged = pl.DataFrame([first, *(f.to_series(1) for f in frames)])
    else:
        merged = frames[0]
        for frame in frames[1:]:
            merged = merged.join(frame, on=TIMESTAMP, how="full", coalesce=True)
        merged = merged.sort(TIMESTAMP)
    missing = [pl.lit(None, pl.Float64).alias(n) for n in names if n not in columns]
    if missing:
        merged = merged.with_columns(missing)
    return merged.select(TIMESTAMP, *names)


def long_batch(
    series: Sequence[Series], names: Sequence[str], start_ms: int, end_ms: int
) -> pl.DataFrame:
    """One batch as ``timestamp`` (epoch ms), ``name`` (its index in ``names``), ``value``."""
    index = {name: i for i, name in enumerate(names)}
    parts = []
    for name, found in _by_name(series, names).items():
        frame = _one_per_timestamp(_in_window(found, start_ms, end_ms))
        parts.append(
            frame.select(
                pl.col(TIMESTAMP),
                pl.lit(index[name], pl.UInt32).alias(NAME),
                pl.col(VALUE),
            )
        )
    if not parts:
        return pl.DataFrame(schema={TIMESTAMP: pl.Int64, NAME: pl.UInt32, VALUE: pl.Float64})
    return pl.concat(parts).sort(TIMESTAMP, NAME)


def batch(
    response: Response,
    q: Query,
    window: tuple[int, int],
    *,
    long: bool,
    chunks: list[bytes] | None = None,
) -> pl.DataFrame:
    """One batch answer decoded into its wide or long frame (timestamps still epoch ms).

    ``chunks``: the body as it arrived, if it was read with ``request_chunks``.
    """
    build = long_batch if long else wide_batch
    return build(decode(response, chunks), q.names, *window)


def empty_wide(names: Sequence[str], *, timestamp: Any = TIMESTAMP_DTYPE) -> pl.DataFrame:
    """A frame with no rows and the full wide schema."""
    return pl.DataFrame(schema={TIMESTAMP: timestamp, **dict.fromkeys(names, pl.Float64)})


def finish(frames: Sequence[pl.DataFrame], q: Query, *, long: bool) -> pl.DataFrame:
    """Join the batch frames (in time order) and give the timestamps their UTC dtype."""
    names = q.names
    frame = pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]
    timestamp = pl.col(TIMESTAMP).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")
    if not long:
        return frame.with_columns(timestamp)
    label = pl.col(NAME).replace_strict(
        list(range(len(names))), list(names), return_dtype=pl.String
    )
    return frame.with_columns(timestamp, label)

"""Canonical bytes and hashes of chain events.

The payload is serialised with RFC 8785 (JSON Canonicalization Scheme) through the ``rfc8785``
package. RFC 8785 treats every number as an IEEE double, so integers beyond 2**53 cannot be
represented; rather than rejecting them or silently rounding, they are written as their exact
decimal digits (the only extension to RFC 8785 here, documented in the chain specification).

The canonical payload text is what the database stores, so what is hashed is exactly what is
stored: no JSON column type gets a chance to rewrite numbers (JSONB turns ``1e20`` into
``100000000000000000000``) and the verifier hashes the stored text as is.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from hashlib import sha256
from json.encoder import encode_basestring
from typing import Any

import rfc8785

from timeline.errors import ValidationFailedError

_SAFE_INT = 2**53 - 1


def canonical_json(value: Any) -> str:
    """RFC 8785 canonical JSON text of ``value`` (exact digits for integers beyond 2**53).

    Raises:
        ValidationFailedError: ``value`` holds NaN, an infinity or a non-JSON type.
    """
    try:
        return rfc8785.dumps(value).decode()
    except rfc8785.IntegerDomainError:
        return "".join(_walk(value))
    except (rfc8785.FloatDomainError, rfc8785.CanonicalizationError) as exc:
        msg = (
            f"payload cannot be written as canonical JSON ({exc}); "
            "remove NaN, infinities and invalid text"
        )
        raise ValidationFailedError(msg) from exc


def _walk(value: Any) -> list[str]:
    """Slow path for payloads holding big integers: RFC 8785 everywhere else."""
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return [canonical_json(value)]
    if isinstance(value, int):
        return [str(value) if abs(value) > _SAFE_INT else canonical_json(value)]
    if isinstance(value, dict):
        # RFC 8785 orders keys by their UTF-16 code units.
        keys = sorted(value, key=lambda k: str(k).encode("utf-16-be"))
        parts = ["{"]
        for i, key in enumerate(keys):
            if i:
                parts.append(",")
            parts += [canonical_json(str(key)), ":", *_walk(value[key])]
        return [*parts, "}"]
    if isinstance(value, list | tuple):
        parts = ["["]
        for i, item in enumerate(value):
            if i:
                parts.append(",")
            parts += _walk(item)
        return [*parts, "]"]
    return [canonical_json(value)]


def format_time(value: datetime) -> str:
    """``value`` in UTC with microseconds, e.g. ``2024-05-01T10:00:00.000000Z``.

    Raises:
        ValidationFailedError: ``value`` has no UTC offset.
    """
    if value.tzinfo is not UTC:
        if value.tzinfo is None or value.utcoffset() is None:
            msg = "event_time needs a UTC offset, e.g. 2024-05-01T10:00:00+02:00 or ...Z"
            raise ValidationFailedError(msg)
        value = value.astimezone(UTC)
    # isoformat is several times faster than strftime and always writes four year digits.
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def event_hash(
    *,
    tenant_id: str,
    subject_id: str,
    seq: int,
    event_id: str,
    event_type: str,
    schema_version: int,
    event_time: datetime,
    payload_json: str,
    prev_hash: str | None,
) -> str:
    """SHA-256 (lowercase hex) of the RFC 8785 canonical envelope of one event.

    ``payload_json`` must already be canonical (see :func:`canonical_json`); it is spliced in
    verbatim. The envelope is assembled by hand, in RFC 8785 key order, because verification
    hashes every stored event and a generic canonicaliser is several times slower; a property
    test holds it equal to ``rfc8785.dumps`` of the whole envelope.
    """
    return envelope_hash(
        event_id,
        format_time(event_time),
        event_type,
        payload_json,
        prev_hash,
        schema_version,
        seq,
        subject_id,
        tenant_id,
    )


def envelope_hash(  # noqa: PLR0917 (positional: called once per verified event)
    event_id: str,
    time_text: str,
    event_type: str,
    payload_json: str,
    prev_hash: str | None,
    schema_version: int,
    seq: int,
    subject_id: str,
    tenant_id: str,
) -> str:
    """:func:`event_hash` with the event time already formatted by :func:`format_time`.

    Positional and in envelope key order: the verifier calls it once per stored event.

    Raises:
        ValidationFailedError: a text field holds a lone surrogate (no UTF-8 form).
    """
    # Integers as Python's decimal digits: RFC 8785's form for safe integers, exact beyond.
    prev = "null" if prev_hash is None else _string(prev_hash)
    data = (
        f'{{"event_id":{_string(event_id)},"event_time":"{time_text}",'
        f'"event_type":{_string(event_type)},"payload":{payload_json},"prev_hash":{prev},'
        f'"schema_version":{schema_version:d},"seq":{seq:d}{envelope_tail(subject_id, tenant_id)}'
    )
    try:
        return sha256(data.encode()).hexdigest()
    except UnicodeEncodeError as exc:  # a lone surrogate has no UTF-8 form
        msg = "text must be valid Unicode (no lone surrogates)"
        raise ValidationFailedError(msg) from exc


def envelope_tail(subject_id: str, tenant_id: str) -> str:
    """The envelope's text after ``seq``: the same for every event of one subject's chain.

    The verifier computes it once per subject and builds the rest of each envelope inline,
    in the same form as :func:`envelope_hash`.
    """
    return f',"subject_id":{_string(subject_id)},"tenant_id":{_string(tenant_id)}}}'


# RFC 8785 escapes exactly what json's non-ASCII encoder escapes: quote, backslash and
# control characters (short forms where JSON has them, else lowercase \u00xx).
_string = encode_basestring


def is_finite_json(value: Any) -> bool:
    """Whether ``value`` holds no NaN or infinity (which JSON cannot carry)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(is_finite_json(v) for v in value.values())
    if isinstance(value, list):
        return all(is_finite_json(v) for v in value)
    return True

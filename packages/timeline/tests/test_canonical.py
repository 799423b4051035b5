"""Canonical JSON and event hashes: what is hashed is exactly what is stored."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st
from timeline_support import Tenant

from timeline._canonical import canonical_json, event_hash, format_time
from timeline.errors import ValidationFailedError

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=["Cs"]), max_size=5), children, max_size=4
        )
    ),
    max_leaves=12,
)
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


@given(
    payload=st.dictionaries(texts, json_values, max_size=5),
    tenant=texts,
    subject=texts,
    event_id=texts,
    event_type=texts,
    seq=st.integers(min_value=1, max_value=2**53 - 1),
    version=st.integers(min_value=1, max_value=2**31 - 1),
    prev=st.none() | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    when=st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    ),
)
def test_the_hand_built_envelope_is_rfc8785(
    payload: dict[str, Any],
    tenant: str,
    subject: str,
    event_id: str,
    event_type: str,
    seq: int,
    version: int,
    prev: str | None,
    when: datetime,
) -> None:
    envelope = {
        "tenant_id": tenant,
        "subject_id": subject,
        "seq": seq,
        "event_id": event_id,
        "event_type": event_type,
        "schema_version": version,
        "event_time": format_time(when),
        "payload": payload,
        "prev_hash": prev,
    }
    expected = hashlib.sha256(rfc8785.dumps(envelope)).hexdigest()
    assert (
        event_hash(
            tenant_id=tenant,
            subject_id=subject,
            seq=seq,
            event_id=event_id,
            event_type=event_type,
            schema_version=version,
            event_time=when,
            payload_json=canonical_json(payload),
            prev_hash=prev,
        )
        == expected
    )


@given(json_values)
def test_canonical_text_is_a_fixed_point(value: Any) -> None:
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text


@given(st.integers())
def test_big_integers_keep_every_digit(value: int) -> None:
    text = canonical_json({"n": value, "l": [value]})
    assert json.loads(text) == {"n": value, "l": [value]}
    assert canonical_json(json.loads(text)) == text


def test_big_integers_sort_keys_like_rfc8785() -> None:
    value = {"\u20ac": 1, "a": 2**70, "\U0001f600": [{}, []], "\ufb00": -0.0}
    text = canonical_json(value)
    assert text == '{"a":1180591620717411303424,"\u20ac":1,"\U0001f600":[{},[]],"\ufb00":0}'


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"x": [math.nan]}, "\ud800"])
def test_values_json_cannot_carry_are_refused(bad: Any) -> None:
    with pytest.raises(ValidationFailedError):
        canonical_json(bad)


def test_event_time_needs_an_offset_and_is_written_in_utc_microseconds() -> None:
    with pytest.raises(ValidationFailedError, match="UTC offset"):
        format_time(datetime(2024, 1, 1))
    when = datetime(2024, 1, 1, 3, 0, 0, 5, tzinfo=timezone(timedelta(hours=3)))
    assert format_time(when) == "2024-01-01T00:00:00.000005Z"


def test_lone_surrogates_in_hashed_text_are_refused() -> None:
    with pytest.raises(ValidationFailedError, match="Unicode"):
        event_hash(
            tenant_id="t",
            subject_id="s",
            seq=1,
            event_id="\ud800",
            event_type="x",
            schema_version=1,
            event_time=datetime.now(UTC),
            payload_json="{}",
            prev_hash=None,
        )


EDGE_PAYLOAD = {
    "big_float": 1e20,
    "tenth": 0.1,
    "negative_zero": -0.0,
    "tiny": 5e-324,
    "huge": 1.7976931348623157e308,
    "big_int": 123456789012345678901234567890,
    "negative_big_int": -(2**64),
    "unicode": 'é € 😀 \u2028 \u0000 "quoted" \\ tab\t',
    "nested": {"z": 1, "a": {"y": [], "b": {}}},
    "empty_list": [],
    "empty_object": {},
}


def test_edge_values_round_trip_through_the_database_and_verify(tenant: Tenant) -> None:
    tenant.schema()
    subject = tenant.subject()
    stamps = [
        "2024-02-29T23:59:59.999999+05:30",
        "2024-02-29T12:00:00-08:00",
        "1999-12-31T23:59:59.000001Z",
        "2024-01-01T00:00:00Z",  # earlier than the previous event: chain order is seq, not time
    ]
    appended = [tenant.append(subject, EDGE_PAYLOAD, when=when) for when in stamps]
    read = tenant.http.get(f"/api/v1/subjects/{subject}/events").json()["items"]
    assert read == appended  # what the append answered is what the database gives back
    assert read[0]["event_time"] == "2024-02-29T18:29:59.999999Z"
    assert read[1]["event_time"] == "2024-02-29T20:00:00Z"
    assert read[2]["event_time"] == "1999-12-31T23:59:59.000001Z"
    payload = read[0]["payload"]
    assert payload["big_int"] == EDGE_PAYLOAD["big_int"]
    assert payload["negative_big_int"] == -(2**64)
    assert payload["big_float"] == 1e20
    assert payload["tenth"] == 0.1
    assert payload["tiny"] == 5e-324
    assert payload["unicode"] == EDGE_PAYLOAD["unicode"]
    assert payload["nested"] == EDGE_PAYLOAD["nested"]
    assert list(payload) == sorted(payload)  # stored canonically
    result = tenant.verify_subject(subject)
    assert result["status"] == "valid"
    assert result["events_checked"] == 4

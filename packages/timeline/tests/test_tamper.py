"""Rows changed directly in the database are reported with the right reason code."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError
from timeline_support import (
    PgDatabases,
    Service,
    Tenant,
    make_settings,
    migrate,
    new_tenant,
    rows,
    tamper,
)

from corekit.testing import serve
from timeline import create_app
from timeline._canonical import canonical_json, event_hash
from timeline._models import new_id


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def own_service(
    request: pytest.FixtureRequest,
    pg_databases: PgDatabases,
    tmp_path_factory: pytest.TempPathFactory,
    keys_dir: Path,
) -> Iterator[Service]:
    """A database of its own: some tests here drop the chain's unique indexes."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('tamper') / 't.db'}"
    else:
        url = pg_databases.create()
    migrate(url)
    settings = make_settings(url, keys_dir)
    with serve(create_app(settings)) as served:
        yield Service(served.url, settings)


@pytest.fixture(scope="module")
def tenant_t(own_service: Service) -> Iterator[Tenant]:
    t = new_tenant(own_service)
    t.schema()
    yield t
    t.http.close()


def chain(tenant: Tenant, n: int = 5) -> tuple[str, list[dict[str, Any]]]:
    subject = tenant.subject()
    return subject, [tenant.append(subject, {"i": i}) for i in range(n)]


def codes(result: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(f["code"], f["seq"]) for f in result["findings"]]


def url(tenant: Tenant) -> str:
    return tenant.service.settings.database_url


def test_an_untouched_chain_is_valid(tenant_t: Tenant) -> None:
    subject, _ = chain(tenant_t)
    assert tenant_t.verify_subject(subject)["status"] == "valid"


def test_the_database_refuses_updates_and_deletes_of_events(tenant_t: Tenant) -> None:
    subject, _ = chain(tenant_t, 1)
    with pytest.raises(DBAPIError, match="immutable"):
        tamper(
            url(tenant_t),
            ("UPDATE event SET payload = '{}' WHERE subject_id = :s", {"s": subject}),
            bypass=False,
        )
    with pytest.raises(DBAPIError, match="immutable"):
        tamper(
            url(tenant_t), ("DELETE FROM event WHERE subject_id = :s", {"s": subject}), bypass=False
        )
    assert tenant_t.verify_subject(subject)["status"] == "valid"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("payload", '{"i":99}'),
        ("event_type", "other.type"),
        ("schema_version", 7),
        ("event_time", datetime(2001, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_changed_field_is_a_hash_mismatch(tenant_t: Tenant, column: str, value: Any) -> None:
    subject, _ = chain(tenant_t)
    if column == "event_time" and tenant_t.service.dialect == "sqlite":
        value = value.replace(tzinfo=None)
    tamper(
        url(tenant_t),
        (
            f"UPDATE event SET {column} = :v WHERE subject_id = :s AND seq = 3",
            {"v": value, "s": subject},
        ),
    )
    result = tenant_t.verify_subject(subject)
    assert result["status"] == "invalid"
    assert codes(result) == [("HASH_MISMATCH", 3)]


def test_a_deleted_middle_event_is_a_gap(tenant_t: Tenant) -> None:
    subject, _ = chain(tenant_t)
    tamper(url(tenant_t), ("DELETE FROM event WHERE subject_id = :s AND seq = 3", {"s": subject}))
    assert codes(tenant_t.verify_subject(subject)) == [("GAP", 3)]


def test_deleted_tail_events_are_truncation(tenant_t: Tenant) -> None:
    subject, _ = chain(tenant_t)
    tamper(url(tenant_t), ("DELETE FROM event WHERE subject_id = :s AND seq >= 4", {"s": subject}))
    assert codes(tenant_t.verify_subject(subject)) == [("TRUNCATED", 4)]


def test_a_deleted_genesis_is_a_genesis_error(tenant_t: Tenant) -> None:
    subject, _ = chain(tenant_t)
    tamper(url(tenant_t), ("DELETE FROM event WHERE subject_id = :s AND seq = 1", {"s": subject}))
    assert codes(tenant_t.verify_subject(subject)) == [("GENESIS_ERROR", 2)]


def test_swapped_events_are_detected(tenant_t: Tenant) -> None:
    subject, _ = chain(tenant_t)
    params = {"s": subject}
    tamper(
        url(tenant_t),
        ("UPDATE event SET seq = 100 WHERE subject_id = :s AND seq = 2", params),
        ("UPDATE event SET seq = 2 WHERE subject_id = :s AND seq = 3", params),
        ("UPDATE event SET seq = 3 WHERE subject_id = :s AND seq = 100", params),
    )
    found = codes(tenant_t.verify_subject(subject))
    assert found[0] == ("HASH_MISMATCH", 2)
    assert ("HASH_MISMATCH", 3) in found


def test_an_event_copied_to_another_subject_is_a_hash_mismatch(tenant_t: Tenant) -> None:
    source, events = chain(tenant_t, 3)
    target, target_events = chain(tenant_t, 2)
    original = events[1]
    tamper(
        url(tenant_t),
        (
            "INSERT INTO event (id, tenant_id, subject_id, seq, event_type, schema_version, "
            "event_time, payload, prev_hash, hash, recorded_at) SELECT :new, tenant_id, :t, 3, "
            "event_type, schema_version, event_time, payload, :prev, hash, recorded_at "
            "FROM event WHERE id = :id",
            {"new": new_id(), "t": target, "prev": target_events[-1]["hash"], "id": original["id"]},
        ),
        (
            "UPDATE chain_head SET last_seq = 3, last_hash = :h WHERE subject_id = :t",
            {"h": original["hash"], "t": target},
        ),
    )
    assert codes(tenant_t.verify_subject(target)) == [("HASH_MISMATCH", 3)]
    assert tenant_t.verify_subject(source)["status"] == "valid"


def _forged(
    tenant: Tenant, subject: str, seq: int, prev: str | None, payload: Any
) -> dict[str, Any]:
    """An event row with a correct hash, as an attacker who knows the scheme would write."""
    event_id, when = new_id(), datetime.now(UTC)
    payload_json = canonical_json(payload)
    digest = event_hash(
        tenant_id=tenant.id,
        subject_id=subject,
        seq=seq,
        event_id=event_id,
        event_type="thing.happened",
        schema_version=1,
        event_time=when,
        payload_json=payload_json,
        prev_hash=prev,
    )
    if tenant.service.dialect == "sqlite":
        when = when.replace(tzinfo=None)
    return {
        "id": event_id,
        "tenant_id": tenant.id,
        "subject_id": subject,
        "seq": seq,
        "event_type": "thing.happened",
        "schema_version": 1,
        "event_time": when,
        "payload": payload_json,
        "prev_hash": prev,
        "hash": digest,
        "recorded_at": when,
    }


INSERT = (
    "INSERT INTO event (id, tenant_id, subject_id, seq, event_type, schema_version, event_time, "
    "payload, prev_hash, hash, recorded_at) VALUES (:id, :tenant_id, :subject_id, :seq, "
    ":event_type, :schema_version, :event_time, :payload, :prev_hash, :hash, :recorded_at)"
)
DROP_UNIQUE = [
    ("DROP INDEX IF EXISTS ux_event_subject_seq", {}),
    ("DROP INDEX IF EXISTS ux_event_subject_prev", {}),
    ("DROP INDEX IF EXISTS ux_event_subject_genesis", {}),
]


def test_a_fork_is_reported_with_both_branches(tenant_t: Tenant) -> None:
    subject, events = chain(tenant_t)
    forged = _forged(tenant_t, subject, 3, events[1]["hash"], {"forked": True})
    tamper(url(tenant_t), *DROP_UNIQUE, (INSERT, forged))
    result = tenant_t.verify_subject(subject)
    forks = [f for f in result["findings"] if f["code"] == "FORK"]
    assert forks
    assert forks[0]["seq"] == 3
    assert events[2]["id"] in forks[0]["message"]
    assert forged["id"] in forks[0]["message"]


def test_a_second_genesis_is_a_fork(tenant_t: Tenant) -> None:
    subject, _ = chain(tenant_t, 2)
    tamper(url(tenant_t), *DROP_UNIQUE, (INSERT, _forged(tenant_t, subject, 1, None, {})))
    assert ("FORK", 1) in codes(tenant_t.verify_subject(subject))


def test_a_spliced_event_breaks_the_chain(tenant_t: Tenant) -> None:
    subject, events = chain(tenant_t)
    params = {"s": subject}
    tamper(
        url(tenant_t),
        *DROP_UNIQUE,
        ("UPDATE event SET seq = seq + 100 WHERE subject_id = :s AND seq >= 3", params),
        ("UPDATE event SET seq = seq - 99 WHERE subject_id = :s AND seq >= 100", params),
        (INSERT, _forged(tenant_t, subject, 3, events[1]["hash"], {"spliced": True})),
        ("UPDATE chain_head SET last_seq = 6 WHERE subject_id = :s", params),
    )
    found = codes(tenant_t.verify_subject(subject))
    assert found[0] == ("HASH_MISMATCH", 4)  # the old seq 3, renumbered
    # The old seq 3 and the spliced event both follow seq 2: a fork (V7: CHAIN_BREAK / FORK).
    assert ("FORK", 4) in found


def test_a_rewritten_chain_passes_alone_but_not_against_a_checkpoint(tenant_t: Tenant) -> None:
    subject, _events = chain(tenant_t, 3)
    checkpoint = tenant_t.http.post("/api/v1/checkpoints")
    assert checkpoint.status_code == 201
    prev = None
    forged = []
    for seq in (1, 2, 3):
        row = _forged(tenant_t, subject, seq, prev, {"rewritten": seq})
        forged.append(row)
        prev = row["hash"]
    tamper(
        url(tenant_t),
        ("DELETE FROM event WHERE subject_id = :s", {"s": subject}),
        *[(INSERT, row) for row in forged],
        ("UPDATE chain_head SET last_hash = :h WHERE subject_id = :s", {"h": prev, "s": subject}),
    )
    result = tenant_t.verify_subject(subject)
    assert codes(result) == [("CHECKPOINT_MISMATCH", 3)]
    assert result["checkpoint_id"] == checkpoint.json()["id"]


def test_truncation_with_a_forged_head_is_caught_by_the_checkpoint(tenant_t: Tenant) -> None:
    subject, events = chain(tenant_t, 4)
    assert tenant_t.http.post("/api/v1/checkpoints").status_code == 201
    tamper(
        url(tenant_t),
        ("DELETE FROM event WHERE subject_id = :s AND seq = 4", {"s": subject}),
        (
            "UPDATE chain_head SET last_seq = 3, last_hash = :h WHERE subject_id = :s",
            {"h": events[2]["hash"], "s": subject},
        ),
    )
    assert codes(tenant_t.verify_subject(subject)) == [("TRUNCATED", 4)]


def test_a_tampered_checkpoint_is_invalid(tenant_t: Tenant) -> None:
    subject, _ = chain(tenant_t, 1)
    checkpoint = tenant_t.http.post("/api/v1/checkpoints").json()
    tamper(
        url(tenant_t),
        (
            "UPDATE checkpoint_leaf SET seq = 0 WHERE checkpoint_id = :c AND subject_id = :s",
            {"c": checkpoint["id"], "s": subject},
        ),
    )
    result = tenant_t.verify_subject(subject)
    assert [f["code"] for f in result["findings"]] == ["CHECKPOINT_INVALID"]
    assert "Merkle root" in result["findings"][0]["message"]
    assert result["status"] == "invalid"
    assert (
        rows(
            url(tenant_t), "SELECT count(*) AS n FROM checkpoint WHERE id = :c", c=checkpoint["id"]
        )[0]["n"]
        == 1
    )

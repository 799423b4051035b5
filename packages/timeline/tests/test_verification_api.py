"""Tenant verification: partial results, resumption, exported checkpoints."""

from __future__ import annotations

from timeline_support import Tenant, tamper


def test_a_bounded_verification_is_partial_never_valid(tenant: Tenant) -> None:
    tenant.schema()
    subjects = sorted(tenant.subject() for _ in range(3))
    for subject in subjects:
        for i in range(4):
            tenant.append(subject, {"i": i})
    full = tenant.verify()
    assert full["status"] == "valid"
    assert full["subjects_checked"] == 4  # three subjects and the audit chain
    partial = tenant.verify(max_events=6)
    assert partial["status"] == "partial"
    assert partial["complete"] is False
    assert partial["events_checked"] == 6
    checked, resume = partial["events_checked"], partial["resume_after"]
    rounds = 0
    while resume is not None:
        rounds += 1
        nxt = tenant.verify(max_events=6, after_subject=resume)
        assert nxt["status"] in ("partial", "valid")
        checked += nxt["events_checked"]
        resume = nxt["resume_after"]
    assert rounds >= 2
    assert checked >= full["events_checked"]


def test_findings_make_a_partial_result_invalid(tenant: Tenant) -> None:
    tenant.schema()
    subject = tenant.subject()
    for i in range(3):
        tenant.append(subject, {"i": i})
    tamper(
        tenant.service.settings.database_url,
        ("UPDATE event SET payload = '{}' WHERE subject_id = :s AND seq = 1", {"s": subject}),
    )
    # Six events in all (three on the audit chain): four reach the tampered one in any order.
    result = tenant.verify(max_events=4)
    assert result["complete"] is False
    assert result["status"] == "invalid"


def test_an_exported_checkpoint_catches_what_the_database_forgot(tenant: Tenant) -> None:
    tenant.schema()
    subject = tenant.subject()
    for i in range(3):
        tenant.append(subject, {"i": i})
    created = tenant.http.post("/api/v1/checkpoints").json()
    exported = tenant.http.get(f"/api/v1/checkpoints/{created['id']}").json()
    assert exported == created
    assert {leaf["subject_id"] for leaf in exported["leaves"]} >= {subject}
    assert exported["public_key"]
    listed = tenant.http.get("/api/v1/checkpoints").json()
    assert [c["id"] for c in listed] == [created["id"]]
    assert listed[0]["leaves"] == []
    url = tenant.service.settings.database_url
    # A database-level attacker removes the tail, fixes the head and deletes the checkpoint.
    tamper(
        url,
        ("DELETE FROM event WHERE subject_id = :s AND seq = 3", {"s": subject}),
        (
            "UPDATE chain_head SET last_seq = 2, last_hash = "
            "(SELECT hash FROM event WHERE subject_id = :s AND seq = 2) WHERE subject_id = :s",
            {"s": subject},
        ),
        ("DELETE FROM checkpoint_leaf WHERE checkpoint_id = :c", {"c": created["id"]}),
        ("DELETE FROM checkpoint WHERE id = :c", {"c": created["id"]}),
    )
    assert tenant.verify()["status"] == "valid"  # nothing in the database remembers
    result = tenant.verify(checkpoint=exported)
    assert result["status"] == "invalid"
    assert [(f["code"], f["subject_id"], f["seq"]) for f in result["findings"]] == [
        ("TRUNCATED", subject, 3)
    ]
    forged = {**exported, "merkle_root": "0" * 64}
    invalid = tenant.verify(checkpoint=forged)
    assert invalid["findings"][0]["code"] == "CHECKPOINT_INVALID"
    missing = tenant.http.get(f"/api/v1/checkpoints/{created['id']}")
    assert missing.status_code == 404


def test_a_subject_deleted_whole_is_truncation(tenant: Tenant) -> None:
    tenant.schema()
    subject = tenant.subject()
    tenant.append(subject)
    tenant.http.post("/api/v1/checkpoints")
    tamper(
        tenant.service.settings.database_url,
        ("DELETE FROM event WHERE subject_id = :s", {"s": subject}),
        ("DELETE FROM chain_head WHERE subject_id = :s", {"s": subject}),
        ("DELETE FROM subject WHERE id = :s", {"s": subject}),
    )
    result = tenant.verify()
    assert [(f["code"], f["subject_id"]) for f in result["findings"]] == [("TRUNCATED", subject)]


def test_audit_trail_records_every_change(tenant: Tenant) -> None:
    tenant.schema()
    tenant.http.post("/api/v1/roles", json={"code": "r", "name": "R", "permissions": []})
    tenant.http.patch("/api/v1/roles/r", json={"name": "R2"})
    key = tenant.http.post("/api/v1/api-keys", json={"name": "k", "role": "r"}).json()
    tenant.http.delete(f"/api/v1/api-keys/{key['id']}")
    tenant.http.patch("/api/v1/tenant", json={"name": "Renamed"})
    trail = tenant.http.get("/api/v1/audit", params={"order": "chain"}).json()
    kinds = [e["event_type"] for e in trail["items"]]
    assert kinds == [
        "audit.tenant.created",
        "audit.user.created",
        "audit.schema.created",
        "audit.role.created",
        "audit.role.updated",
        "audit.api_key.created",
        "audit.api_key.revoked",
        "audit.tenant.updated",
    ]
    assert trail["items"][3]["payload"]["actor"] == f"user:{tenant.admin_id}"
    assert "key" not in str(trail["items"][5]["payload"]["changes"]).lower().replace("api_key", "")
    assert tenant.verify()["status"] == "valid"

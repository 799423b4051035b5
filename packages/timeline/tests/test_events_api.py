from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from timeline_support import ADMIN_TOKEN, PASSWORD, Service, Tenant


def test_append_read_and_verify_a_chain_longer_than_a_page(tenant: Tenant) -> None:
    tenant.schema()
    subject = tenant.subject("cust-1")
    appended = [tenant.append(subject, {"i": i}) for i in range(25)]
    assert [e["seq"] for e in appended] == list(range(1, 26))
    assert appended[0]["prev_hash"] is None
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(appended))

    page = tenant.http.get(f"/api/v1/subjects/{subject}/events", params={"limit": 10}).json()
    assert page["total"] == 25
    assert [e["seq"] for e in page["items"]] == list(range(1, 11))
    seen = [e["seq"] for e in page["items"]]
    while page["next_cursor"]:
        page = tenant.http.get(
            f"/api/v1/subjects/{subject}/events",
            params={"limit": 10, "cursor": page["next_cursor"]},
        ).json()
        seen += [e["seq"] for e in page["items"]]
    assert seen == list(range(1, 26))

    newest = tenant.http.get(
        f"/api/v1/subjects/{subject}/events", params={"order": "newest", "limit": 3}
    ).json()
    assert [e["seq"] for e in newest["items"]] == [25, 24, 23]
    older = tenant.http.get(
        f"/api/v1/subjects/{subject}/events",
        params={"order": "newest", "limit": 3, "cursor": newest["next_cursor"]},
    ).json()
    assert [e["seq"] for e in older["items"]] == [22, 21, 20]

    result = tenant.verify_subject(subject)
    assert result["status"] == "valid"
    assert result["complete"] is True
    assert result["events_checked"] == 25  # page size is 10: three pages, nothing skipped
    one = tenant.http.get(f"/api/v1/events/{appended[7]['id']}").json()
    assert one == appended[7]


def test_batch_is_all_or_nothing(tenant: Tenant) -> None:
    tenant.schema("order.placed", {"type": "object", "required": ["amount"]})
    subject = tenant.subject()
    now = datetime.now(UTC).isoformat()
    good = {"event_type": "order.placed", "schema_version": 1, "event_time": now}
    response = tenant.http.post(
        f"/api/v1/subjects/{subject}/events/batch",
        json={"events": [{**good, "payload": {"amount": 1}}, {**good, "payload": {"amount": 2}}]},
    )
    assert response.status_code == 201
    assert [e["seq"] for e in response.json()] == [1, 2]
    response = tenant.http.post(
        f"/api/v1/subjects/{subject}/events/batch",
        json={"events": [{**good, "payload": {"amount": 3}}, {**good, "payload": {}}]},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "VALIDATION_ERROR"
    assert body["details"]["errors"][0]["message"] == "'amount' is a required property"
    events = tenant.http.get(f"/api/v1/subjects/{subject}/events").json()
    assert events["total"] == 2
    assert tenant.verify_subject(subject)["status"] == "valid"


def test_payload_must_match_the_named_schema_version(tenant: Tenant) -> None:
    tenant.schema("reading", {"type": "object", "properties": {"v": {"type": "string"}}})
    tenant.schema("reading", {"type": "object", "properties": {"v": {"type": "number"}}})
    subject = tenant.subject()
    assert tenant.append(subject, {"v": "x"}, event_type="reading", version=1)["seq"] == 1
    assert tenant.append(subject, {"v": 2}, event_type="reading", version=2)["seq"] == 2
    body = {"event_type": "reading", "schema_version": 2, "event_time": "2024-01-01T00:00:00Z"}
    wrong = tenant.http.post(
        f"/api/v1/subjects/{subject}/events", json={**body, "payload": {"v": "x"}}
    )
    assert wrong.status_code == 422
    missing = tenant.http.post(
        f"/api/v1/subjects/{subject}/events", json={**body, "schema_version": 3, "payload": {}}
    )
    assert missing.status_code == 404
    assert "POST /api/v1/schemas" in missing.json()["message"]
    versions = tenant.http.get("/api/v1/schemas", params={"event_type": "reading"}).json()
    assert [s["version"] for s in versions] == [1, 2]
    v2 = tenant.http.get("/api/v1/schemas/reading/2").json()
    assert v2["schema"]["properties"]["v"]["type"] == "number"
    bad = tenant.http.post("/api/v1/schemas", json={"event_type": "x", "schema": {"type": 5}})
    assert bad.status_code == 422


@pytest.mark.parametrize(
    "when",
    ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "0001-01-01T00:30:00+01:00"],
)
def test_times_a_database_cannot_store_exactly_are_refused(tenant: Tenant, when: str) -> None:
    tenant.schema("tick", {"type": "object"})
    subject = tenant.subject()
    body = {"event_type": "tick", "schema_version": 1, "event_time": when, "payload": {}}
    refused = tenant.http.post(f"/api/v1/subjects/{subject}/events", json=body)
    assert refused.status_code == 422
    assert refused.json()["error"] == "VALIDATION_ERROR"
    body["event_time"] = "0001-01-01T00:00:00.000001Z"
    assert tenant.http.post(f"/api/v1/subjects/{subject}/events", json=body).status_code == 201
    assert tenant.verify_subject(subject)["status"] == "valid"


def test_events_by_type_and_time_range_with_keyset_pages(tenant: Tenant) -> None:
    tenant.schema("a.b")
    tenant.schema("c.d")
    subject = tenant.subject()
    base = datetime(2024, 3, 1, tzinfo=UTC)
    for i in range(12):
        kind = "a.b" if i % 2 else "c.d"
        tenant.append(
            subject, {"i": i}, event_type=kind, when=(base + timedelta(hours=i)).isoformat()
        )
    params = {
        "event_type": "a.b",
        "since": (base + timedelta(hours=2)).isoformat(),
        "until": (base + timedelta(hours=11)).isoformat(),
        "limit": 2,
    }
    page = tenant.http.get("/api/v1/events", params=params).json()
    assert page["total"] == 4  # hours 3, 5, 7, 9
    found = [e["payload"]["i"] for e in page["items"]]
    while page["next_cursor"]:
        page = tenant.http.get(
            "/api/v1/events", params={**params, "cursor": page["next_cursor"]}
        ).json()
        found += [e["payload"]["i"] for e in page["items"]]
    assert found == [3, 5, 7, 9]
    naive = tenant.http.get("/api/v1/events", params={"since": "2024-01-01T00:00:00"})
    assert naive.status_code == 400
    junk = tenant.http.get("/api/v1/events", params={"cursor": "not-a-cursor"})
    assert junk.status_code == 422
    assert junk.json()["error"] == "VALIDATION_ERROR"


def test_subjects_have_unique_external_refs_and_typed_lists(tenant: Tenant) -> None:
    first = tenant.subject("machine-7", "machine")
    tenant.subject("case-1", "case")
    duplicate = tenant.http.post(
        "/api/v1/subjects", json={"subject_type": "machine", "external_ref": "machine-7"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"] == "CONFLICT"
    by_ref = tenant.http.get("/api/v1/subjects", params={"external_ref": "machine-7"}).json()
    assert [s["id"] for s in by_ref["items"]] == [first]
    machines = tenant.http.get("/api/v1/subjects", params={"subject_type": "machine"}).json()
    assert machines["total"] == 1
    all_subjects = tenant.http.get("/api/v1/subjects", params={"limit": 1}).json()
    assert all_subjects["total"] == 3  # with the audit subject
    assert all_subjects["next_cursor"]
    rest = tenant.http.get(
        "/api/v1/subjects", params={"limit": 5, "cursor": all_subjects["next_cursor"]}
    ).json()
    assert len(rest["items"]) == 2
    assert tenant.http.get(f"/api/v1/subjects/{first}").json()["subject_type"] == "machine"


def test_the_audit_chain_cannot_be_appended_to_by_clients(tenant: Tenant) -> None:
    audit_id = tenant.http.get("/api/v1/audit").json()["items"][0]["subject_id"]
    tenant.schema()
    response = tenant.http.post(
        f"/api/v1/subjects/{audit_id}/events",
        json={
            "event_type": "thing.happened",
            "schema_version": 1,
            "event_time": "2024-01-01T00:00:00Z",
            "payload": {},
        },
    )
    assert response.status_code == 422


def test_errors_share_one_shape_and_carry_request_ids(service: Service) -> None:
    with service.client() as client:
        missing = client.get("/api/v1/nowhere", headers={"X-Request-ID": "abc-123"})
        assert missing.status_code == 404
        assert set(missing.json()) == {"error", "message", "details"}
        assert missing.headers["x-request-id"] == "abc-123"
        assert missing.headers["x-content-type-options"] == "nosniff"
        assert missing.headers["x-frame-options"] == "DENY"
        bad_id = client.get("/api/v1/events/x", headers={"X-Request-ID": "bad id!"})
        assert len(bad_id.headers["x-request-id"]) == 32
        invalid = client.post("/api/v1/auth/login", json={"tenant": 1})
        assert invalid.status_code == 422
        assert invalid.json()["error"] == "VALIDATION_ERROR"
        assert invalid.json()["details"]["errors"]


def test_tenant_creation_needs_the_platform_admin_token(service: Service) -> None:
    body = {"code": "nope", "name": "x", "admin_username": "a", "admin_password": PASSWORD}
    with service.client() as client:
        assert client.post("/api/v1/tenants", json=body).status_code == 401
        wrong = client.post("/api/v1/tenants", json=body, headers={"X-Admin-Token": "guess"})
        assert wrong.status_code == 401
        bad_code = client.post(
            "/api/v1/tenants",
            json={**body, "code": "-bad-"},
            headers={"X-Admin-Token": ADMIN_TOKEN},
        )
        assert bad_code.status_code == 422


def test_tenant_code_is_unique(tenant: Tenant) -> None:
    body = {"code": tenant.code, "name": "x", "admin_username": "a", "admin_password": PASSWORD}
    with tenant.service.client() as client:
        again = client.post("/api/v1/tenants", json=body, headers={"X-Admin-Token": ADMIN_TOKEN})
    assert again.status_code == 409


def test_id_ordered_lists_page_through_every_item_once(tenant: Tenant) -> None:
    tenant.schema("order.placed", {"type": "object"})
    subjects = [tenant.subject(f"page-{n}") for n in range(3)]
    for n in range(3):
        created = tenant.http.post(
            "/api/v1/users", json={"username": f"pager-{n}", "password": "long-enough-pw"}
        )
        assert created.status_code == 201, created.text
        rule = tenant.http.post(
            "/api/v1/workflows",
            json={
                "name": f"r{n}",
                "event_type": "order.placed",
                "action": {
                    "type": "append_event",
                    "event_type": "order.placed",
                    "schema_version": 1,
                    "payload": {},
                },
            },
        )
        assert rule.status_code == 201, rule.text
        account = tenant.http.post(
            "/api/v1/email-accounts",
            json={
                "name": f"inbox {n}",
                "subject_id": subjects[n],
                "host": "127.0.0.1",
                "port": 993,
                "security": "tls",
                "username": "u",
                "secret": "s",
            },
        )
        assert account.status_code == 201, account.text
    for path in (
        "/api/v1/users",
        "/api/v1/subjects",
        "/api/v1/workflows",
        "/api/v1/email-accounts",
    ):
        first = tenant.http.get(path, params={"limit": 2}).json()
        ids = [item["id"] for item in first["items"]]
        page = first
        while page["next_cursor"]:
            page = tenant.http.get(path, params={"limit": 2, "cursor": page["next_cursor"]}).json()
            ids += [item["id"] for item in page["items"]]
        assert len(ids) == first["total"] >= 3, path
        assert ids == sorted(set(ids)), path
        refused = tenant.http.get(path, params={"cursor": "not-a-cursor"})
        assert refused.status_code == 422, path

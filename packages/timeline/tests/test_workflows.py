"""Workflow rules: conditions, the append_event action, the loop guard, the log, access."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from timeline_support import Service, Tenant, migrate, new_tenant

from timeline._db import Database
from timeline.workflows._rules import RuleCache

ORDER_SCHEMA = {
    "type": "object",
    "properties": {"total": {"type": "number"}, "country": {"type": "string"}},
    "required": ["total"],
}
FLAG_SCHEMA = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "trigger": {
            "type": "object",
            "required": ["event_id", "event_type", "subject_id", "seq"],
        },
    },
    "required": ["reason", "trigger"],
    "additionalProperties": False,
}
BIG_ORDER = {
    "type": "object",
    "properties": {"total": {"type": "number", "minimum": 1000}},
    "required": ["total"],
}


def flag_rule(
    tenant: Tenant, condition: dict[str, Any] | None = None, **action: Any
) -> dict[str, Any]:
    body = {
        "name": "flag big orders",
        "event_type": "order.placed",
        "condition": BIG_ORDER if condition is None else condition,
        "action": {
            "type": "append_event",
            "event_type": "order.flagged",
            "schema_version": 1,
            "payload": {"reason": "big"},
            **action,
        },
    }
    response = tenant.http.post("/api/v1/workflows", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def events_of(tenant: Tenant, subject: str) -> list[dict[str, Any]]:
    response = tenant.http.get(f"/api/v1/subjects/{subject}/events")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def executions(tenant: Tenant, rule_id: str) -> list[dict[str, Any]]:
    response = tenant.http.get(f"/api/v1/workflows/{rule_id}/executions")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_condition_selects_events_and_append_event_chains_a_verified_event(
    tenant: Tenant,
) -> None:
    tenant.schema("order.placed", ORDER_SCHEMA)
    tenant.schema("order.flagged", FLAG_SCHEMA)
    rule = flag_rule(tenant)
    assert rule["secret"] is None
    assert rule["action"]["type"] == "append_event"
    subject = tenant.subject()

    tenant.append(subject, {"total": 5}, event_type="order.placed")
    assert [e["event_type"] for e in events_of(tenant, subject)] == ["order.placed"]
    assert executions(tenant, rule["id"]) == []

    big = tenant.append(subject, {"total": 5000}, event_type="order.placed")
    chain = events_of(tenant, subject)
    assert [e["event_type"] for e in chain] == ["order.placed", "order.placed", "order.flagged"]
    flagged = chain[-1]
    assert flagged["payload"] == {
        "reason": "big",
        "trigger": {
            "event_id": big["id"],
            "event_type": "order.placed",
            "subject_id": subject,
            "seq": big["seq"],
        },
    }
    assert flagged["prev_hash"] == big["hash"]
    assert tenant.verify_subject(subject)["status"] == "valid"

    (run,) = executions(tenant, rule["id"])
    assert run["event_id"] == big["id"]
    assert run["action"] == "append_event"
    assert run["status"] == "succeeded"
    assert run["detail"] == {"appended_event_id": flagged["id"], "subject_id": subject}


def test_workflow_events_never_trigger_rules(tenant: Tenant) -> None:
    tenant.schema("order.placed", ORDER_SCHEMA)
    tenant.schema("order.flagged", FLAG_SCHEMA)
    first = flag_rule(tenant)
    # Would loop for ever if workflow output triggered rules: flagged -> flagged -> ...
    body = {
        "name": "echo",
        "event_type": "order.flagged",
        "action": {
            "type": "append_event",
            "event_type": "order.flagged",
            "schema_version": 1,
            "payload": {"reason": "echo"},
        },
    }
    echo = tenant.http.post("/api/v1/workflows", json=body)
    assert echo.status_code == 201, echo.text
    subject = tenant.subject()
    tenant.append(subject, {"total": 2000}, event_type="order.placed")
    assert [e["event_type"] for e in events_of(tenant, subject)] == [
        "order.placed",
        "order.flagged",
    ]
    assert len(executions(tenant, first["id"])) == 1
    assert executions(tenant, echo.json()["id"]) == []


def test_batch_appends_trigger_per_event_and_other_subject_target(tenant: Tenant) -> None:
    tenant.schema("order.placed", ORDER_SCHEMA)
    tenant.schema("order.flagged", FLAG_SCHEMA)
    watch = tenant.subject("watch-list")
    rule = flag_rule(tenant, subject_id=watch)
    subject = tenant.subject()
    now = "2024-05-01T00:00:00Z"
    batch = [
        {"event_type": "order.placed", "schema_version": 1, "event_time": now, "payload": p}
        for p in ({"total": 1500}, {"total": 1}, {"total": 9999})
    ]
    response = tenant.http.post(f"/api/v1/subjects/{subject}/events/batch", json={"events": batch})
    assert response.status_code == 201, response.text
    triggered = [response.json()[0]["id"], response.json()[2]["id"]]
    flagged = events_of(tenant, watch)
    assert [e["payload"]["trigger"]["event_id"] for e in flagged] == triggered
    assert len(events_of(tenant, subject)) == 3
    assert {r["event_id"] for r in executions(tenant, rule["id"])} == set(triggered)
    path = f"/api/v1/workflows/{rule['id']}/executions"
    first = tenant.http.get(path, params={"limit": 1}).json()
    assert first["total"] == 2
    second = tenant.http.get(path, params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert second["next_cursor"] is None
    pages = first["items"] + second["items"]
    assert [r["id"] for r in pages] == [r["id"] for r in executions(tenant, rule["id"])]
    assert pages[0]["created_at"] >= pages[1]["created_at"]  # newest first
    assert tenant.verify_subject(watch)["status"] == "valid"


def test_a_failing_action_is_logged_and_never_fails_the_append(tenant: Tenant) -> None:
    tenant.schema("order.placed", ORDER_SCHEMA)
    tenant.schema("order.flagged", FLAG_SCHEMA)
    rule = flag_rule(tenant, condition={}, payload={"reason": 42})  # not a string
    subject = tenant.subject()
    event = tenant.append(subject, {"total": 1}, event_type="order.placed")
    assert [e["id"] for e in events_of(tenant, subject)] == [event["id"]]
    (run,) = executions(tenant, rule["id"])
    assert run["status"] == "failed"
    assert "does not match order.flagged schema version 1" in run["detail"]["error"]
    assert run["detail"]["details"]["errors"][0]["path"] == "reason"


def test_condition_on_nested_values_and_enums(tenant: Tenant) -> None:
    tenant.schema("order.placed", {"type": "object"})
    tenant.schema("order.flagged", FLAG_SCHEMA)
    condition = {
        "properties": {
            "customer": {
                "type": "object",
                "properties": {"tier": {"enum": ["gold", "platinum"]}},
                "required": ["tier"],
            },
            "tags": {"contains": {"const": "rush"}},
        },
        "required": ["customer", "tags"],
    }
    rule = flag_rule(tenant, condition=condition)
    subject = tenant.subject()
    tenant.append(subject, {"customer": {"tier": "gold"}, "tags": ["x"]}, event_type="order.placed")
    tenant.append(
        subject, {"customer": {"tier": "basic"}, "tags": ["rush"]}, event_type="order.placed"
    )
    hit = tenant.append(
        subject, {"customer": {"tier": "platinum"}, "tags": ["rush"]}, event_type="order.placed"
    )
    assert [r["event_id"] for r in executions(tenant, rule["id"])] == [hit["id"]]


BAD_RULES: list[tuple[dict[str, Any], str]] = [
    ({"condition": {"type": "nonsense"}}, "condition is not a valid JSON Schema"),
    ({"condition": {"minimum": "ten"}}, "condition is not a valid JSON Schema at minimum"),
    ({"payload": {"trigger": 1}}, "payload key 'trigger' is reserved"),
    ({"schema_version": 7}, "no schema version 7 for event type 'order.flagged'"),
    ({"subject_id": "0" * 32}, "subject 00000000000000000000000000000000 does not exist"),
    ({"url": "ftp://example.com/x", "type": "webhook"}, "http:// or https://"),
    ({"url": "https://user:pw@example.com/x", "type": "webhook"}, "must not carry"),
]


def test_bad_rules_are_refused_with_422(tenant: Tenant) -> None:
    tenant.schema("order.flagged", FLAG_SCHEMA)
    for change, message in BAD_RULES:
        action: dict[str, Any] = {
            "type": "append_event",
            "event_type": "order.flagged",
            "schema_version": 1,
        }
        body: dict[str, Any] = {"name": "bad", "event_type": "order.placed", "action": action}
        if "condition" in change:
            body["condition"] = change["condition"]
        elif change.get("type") == "webhook":
            body["action"] = change
        else:
            action.update(change)
        response = tenant.http.post("/api/v1/workflows", json=body)
        assert response.status_code == 422, response.text
        assert message in response.json()["message"], response.json()
        assert "pw" not in response.text
    assert tenant.http.get("/api/v1/workflows").json()["total"] == 0


def test_rule_lifecycle_is_audited_and_takes_effect_at_once(tenant: Tenant) -> None:
    tenant.schema("order.placed", ORDER_SCHEMA)
    tenant.schema("order.flagged", FLAG_SCHEMA)
    rule = flag_rule(tenant)
    subject = tenant.subject()
    tenant.append(subject, {"total": 1000}, event_type="order.placed")  # loads the rule cache

    patched = tenant.http.patch(f"/api/v1/workflows/{rule['id']}", json={"enabled": False})
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False
    tenant.append(subject, {"total": 1000}, event_type="order.placed")
    assert len(executions(tenant, rule["id"])) == 1  # the disabled rule no longer acts

    again = tenant.http.patch(
        f"/api/v1/workflows/{rule['id']}",
        json={"enabled": True, "condition": {"properties": {"total": {"maximum": 10}}}},
    )
    assert again.status_code == 200, again.text
    tenant.append(subject, {"total": 1000}, event_type="order.placed")
    tenant.append(subject, {"total": 3}, event_type="order.placed")
    assert len(executions(tenant, rule["id"])) == 2

    bad = tenant.http.patch(f"/api/v1/workflows/{rule['id']}", json={"condition": {"type": 3}})
    assert bad.status_code == 422
    listed = tenant.http.get("/api/v1/workflows").json()
    assert [r["id"] for r in listed["items"]] == [rule["id"]]
    assert tenant.http.get(f"/api/v1/workflows/{rule['id']}").json()["condition"] == {
        "properties": {"total": {"maximum": 10}}
    }

    deleted = tenant.http.delete(f"/api/v1/workflows/{rule['id']}")
    assert deleted.status_code == 200, deleted.text
    assert tenant.http.get(f"/api/v1/workflows/{rule['id']}").status_code == 404
    assert tenant.http.get(f"/api/v1/workflows/{rule['id']}/executions").status_code == 404
    tenant.append(subject, {"total": 3}, event_type="order.placed")
    assert len(events_of(tenant, subject)) == 7  # 5 orders + 2 flags, none after the delete

    audit = tenant.http.get("/api/v1/audit", params={"order": "chain"}).json()["items"]
    actions = [e["event_type"] for e in audit if e["payload"]["resource_id"] == rule["id"]]
    assert actions == [
        "audit.workflow.created",
        "audit.workflow.updated",
        "audit.workflow.updated",
        "audit.workflow.deleted",
    ]


def test_permissions_and_tenant_isolation(service: Service, tenant: Tenant) -> None:
    tenant.schema("order.placed", ORDER_SCHEMA)
    tenant.schema("order.flagged", FLAG_SCHEMA)
    rule = flag_rule(tenant)
    agent = tenant.user("agent-wf", roles=["agent"])
    try:
        response = agent.get("/api/v1/workflows")
        assert response.status_code == 403
        assert response.json()["details"]["permission"] == "workflow:read"
        assert agent.delete(f"/api/v1/workflows/{rule['id']}").status_code == 403
    finally:
        agent.close()
    other = new_tenant(service)
    try:
        assert other.http.get("/api/v1/workflows").json()["total"] == 0
        for method, path in [
            ("GET", f"/api/v1/workflows/{rule['id']}"),
            ("PATCH", f"/api/v1/workflows/{rule['id']}"),
            ("DELETE", f"/api/v1/workflows/{rule['id']}"),
            ("GET", f"/api/v1/workflows/{rule['id']}/executions"),
        ]:
            response = other.http.request(method, path, json={"enabled": False})
            assert response.status_code == 404, (method, path, response.text)
        # The other tenant's events never reach this tenant's rules.
        other.schema("order.placed", ORDER_SCHEMA)
        other_subject = other.subject()
        other.append(other_subject, {"total": 5000}, event_type="order.placed")
        assert executions(tenant, rule["id"]) == []
    finally:
        other.http.close()
    assert tenant.http.get(f"/api/v1/workflows/{rule['id']}").json()["enabled"] is True


def test_rule_cache_reads_each_tenant_once_per_ttl(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cache.db'}"
    migrate(url)
    now = [0.0]

    async def run() -> list[int]:
        db = Database(url)
        cache = RuleCache(db, ttl=5.0, clock=lambda: now[0])
        loads = 0
        load = cache._load

        async def counted(tenant_id: str) -> Any:
            nonlocal loads
            loads += 1
            return await load(tenant_id)

        cache._load = counted  # type: ignore[method-assign]
        seen = []
        try:
            for _ in range(100):  # a burst of appends of a tenant without rules
                assert await cache.rules("t1", "order.placed") == []
            seen.append(loads)
            now[0] += 4.9
            await cache.rules("t1", "order.placed")
            seen.append(loads)
            now[0] += 0.2  # past the TTL: read again
            await cache.rules("t1", "order.placed")
            seen.append(loads)
            cache.invalidate("t1")  # a change through this process: read at once
            await cache.rules("t1", "other.type")
            seen.append(loads)
            await cache.rules("t2", "order.placed")
            seen.append(loads)
        finally:
            await db.dispose()
        return seen

    assert asyncio.run(run()) == [1, 1, 2, 3, 4]

"""Every route checks a permission, and no id reaches another tenant's data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from timeline_support import PASSWORD, Service, Tenant, new_tenant

from timeline import create_app
from timeline._auth import permission_granted, valid_permission
from timeline._routes import PUBLIC_ROUTES

EXAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/tenant"): {"name": "Renamed"},
    ("POST", "/api/v1/users"): {"username": "walker", "password": PASSWORD},
    ("PATCH", "/api/v1/users/{user_id}"): {"roles": ["agent"]},
    ("POST", "/api/v1/roles"): {"code": "walker", "name": "W", "permissions": ["event:read"]},
    ("PATCH", "/api/v1/roles/{code}"): {"name": "Renamed"},
    ("POST", "/api/v1/api-keys"): {"name": "k", "role": "agent"},
    ("POST", "/api/v1/subjects"): {"subject_type": "case"},
    ("POST", "/api/v1/schemas"): {"event_type": "thing.happened", "schema": {}},
    ("POST", "/api/v1/subjects/{subject_id}/events"): {
        "event_type": "thing.happened",
        "schema_version": 1,
        "event_time": "2024-01-01T00:00:00Z",
        "payload": {},
    },
    ("POST", "/api/v1/subjects/{subject_id}/events/batch"): {
        "events": [
            {
                "event_type": "thing.happened",
                "schema_version": 1,
                "event_time": "2024-01-01T00:00:00Z",
                "payload": {},
            }
        ]
    },
    ("POST", "/api/v1/verify"): {},
}


def _flatten(routes: list[Any]) -> Iterator[Any]:
    # FastAPI keeps included routers as nodes holding the original router.
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _flatten(inner.routes)
        else:
            yield route


def api_routes(service: Service) -> list[tuple[str, str, str | None]]:
    """(method, path, permission) of every /api/v1 route of a freshly built app."""
    app = create_app(service.settings)
    found = []
    for route in _flatten(app.routes):
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/v1"):
            continue
        permissions = {
            getattr(dep.call, "permission", None) for dep in route.dependant.dependencies
        } - {None}
        for method in route.methods:
            permission = next(iter(permissions)) if permissions else None
            found.append((method, route.path, permission))
    return sorted(found)


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


@pytest.fixture(scope="module")
def walk_tenant(sqlite_service: Service) -> Iterator[Tenant]:
    t = new_tenant(sqlite_service)
    yield t
    t.http.close()


def test_every_route_is_public_or_names_a_permission(sqlite_service: Service) -> None:
    routes = api_routes(sqlite_service)
    assert len(routes) > 25
    for method, path, permission in routes:
        if (method, path) in PUBLIC_ROUTES:
            assert permission is None
        else:
            assert permission is not None, f"{method} {path} checks no permission"
            assert valid_permission(permission)


def test_every_route_refuses_anonymous_and_unprivileged_callers(
    sqlite_service: Service, walk_tenant: Tenant
) -> None:
    service, tenant_a = sqlite_service, walk_tenant
    ids = {
        "subject_id": "0" * 32,
        "event_id": "0" * 32,
        "user_id": tenant_a.admin_id,
        "key_id": "0" * 32,
        "checkpoint_id": "0" * 32,
        "code": "agent",
        "event_type": "thing.happened",
        "version": "1",
        "document_id": "0" * 32,
        "account_id": "0" * 32,
        "rule_id": "0" * 32,
        "delivery_id": "0" * 32,
        "run_id": "0" * 32,
    }
    nobody = tenant_a.user("nobody", roles=[])
    with service.client() as anonymous:
        for method, path, permission in api_routes(service):
            if permission is None:
                continue
            url, body = fill(path, ids), EXAMPLE_BODIES.get((method, path))
            response = anonymous.request(method, url, json=body)
            assert response.status_code == 401, (method, path)
            response = nobody.request(method, url, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["details"]["permission"] == permission
    nobody.close()


def test_each_permission_opens_exactly_its_routes(
    sqlite_service: Service, walk_tenant: Tenant
) -> None:
    service, tenant_a = sqlite_service, walk_tenant
    tenant_a.schema()
    subject = tenant_a.subject()
    event = tenant_a.append(subject)
    target = tenant_a.http.post("/api/v1/users", json={"username": "target", "password": PASSWORD})
    ids = {
        "subject_id": subject,
        "event_id": event["id"],
        "user_id": target.json()["id"],
        "key_id": "0" * 32,
        "checkpoint_id": "0" * 32,
        "code": "agent",
        "event_type": "thing.happened",
        "version": "1",
        "document_id": "0" * 32,
        "account_id": "0" * 32,
        "rule_id": "0" * 32,
        "delivery_id": "0" * 32,
        "run_id": "0" * 32,
    }
    routes = [r for r in api_routes(service) if r[2] is not None]
    permissions = sorted({r[2] for r in routes if r[2] is not None})
    keys: dict[str, str] = {}
    for permission in permissions:
        role = "only-" + permission.replace(":", "-").replace("_", "-")
        created = tenant_a.http.post(
            "/api/v1/roles", json={"code": role, "name": role, "permissions": [permission]}
        )
        assert created.status_code == 201, created.text
        key = tenant_a.http.post("/api/v1/api-keys", json={"name": role, "role": role}).json()
        keys[permission] = key["key"]
    with service.client() as client:
        for n, (method, path, needed) in enumerate(routes):
            assert needed is not None
            url, body = fill(path, ids), EXAMPLE_BODIES.get((method, path))
            own = client.request(method, url, json=body, headers={"X-API-Key": keys[needed]})
            assert own.status_code not in (401, 403), (needed, method, path, own.text)
            # Three other permissions, rotating, so every key is refused somewhere.
            others = [p for p in permissions if p != needed]
            for other in (others[n % len(others)], others[(n + 7) % len(others)], others[-1]):
                refused = client.request(method, url, json=body, headers={"X-API-Key": keys[other]})
                assert refused.status_code == 403, (other, method, path)


def test_no_id_reaches_another_tenants_data(service: Service, tenant: Tenant) -> None:
    tenant_a = new_tenant(service)
    try:
        _isolation_walk(service, tenant_a, tenant)
    finally:
        tenant_a.http.close()


def _isolation_walk(service: Service, tenant_a: Tenant, other: Tenant) -> None:
    tenant_a.schema("secret.kind")
    subject = tenant_a.subject("a-secret-ref")
    event = tenant_a.append(subject, {"secret": 1}, event_type="secret.kind")
    key = tenant_a.http.post("/api/v1/api-keys", json={"name": "k", "role": "agent"}).json()
    checkpoint = tenant_a.http.post("/api/v1/checkpoints").json()
    ids = {
        "subject_id": subject,
        "event_id": event["id"],
        "user_id": tenant_a.admin_id,
        "key_id": key["id"],
        "checkpoint_id": checkpoint["id"],
    }
    other.schema()
    tried = 0
    for method, path, permission in api_routes(service):
        names = set(re.findall(r"\{(\w+)\}", path))
        if permission is None or not names & set(ids):
            continue
        response = other.http.request(
            method, fill(path, ids), json=EXAMPLE_BODIES.get((method, path))
        )
        assert response.status_code == 404, (method, path, response.text)
        tried += 1
    assert tried >= 10
    leaks = [
        other.http.get("/api/v1/subjects", params={"external_ref": "a-secret-ref"}).json(),
        other.http.get("/api/v1/events", params={"event_type": "secret.kind"}).json(),
    ]
    assert all(page["total"] == 0 for page in leaks)
    assert other.http.get("/api/v1/schemas", params={"event_type": "secret.kind"}).json() == []
    assert key["id"] not in {k["id"] for k in other.http.get("/api/v1/api-keys").json()}
    assert other.verify()["subjects_checked"] == 1  # its own audit subject only
    # The key still works for its own tenant, and still only there.
    with service.client(**{"X-API-Key": key["key"]}) as client:
        assert client.get(f"/api/v1/events/{event['id']}").status_code == 200


def test_deactivation_and_password_change_end_sessions(tenant: Tenant) -> None:
    user = tenant.user("temp", roles=["agent"])
    login = tenant.login("temp").json()
    assert user.get("/api/v1/subjects").status_code == 200
    user_id = next(
        u["id"] for u in tenant.http.get("/api/v1/users").json()["items"] if u["username"] == "temp"
    )
    off = tenant.http.patch(f"/api/v1/users/{user_id}", json={"is_active": False})
    assert off.json()["is_active"] is False
    assert user.get("/api/v1/subjects").status_code == 401
    refresh = tenant.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]}
    )
    assert refresh.status_code == 401
    assert tenant.login("temp").status_code == 401
    tenant.http.patch(f"/api/v1/users/{user_id}", json={"is_active": True})
    fresh = tenant.login("temp").json()
    tenant.http.patch(f"/api/v1/users/{user_id}", json={"password": "another-password-1"})
    with tenant.service.client(Authorization=f"Bearer {fresh['access_token']}") as old:
        assert old.get("/api/v1/subjects").status_code == 401
    assert tenant.login("temp", "another-password-1").status_code == 200
    user.close()


def test_refresh_gives_new_tokens_and_refuses_access_tokens(tenant: Tenant) -> None:
    login = tenant.login("admin").json()
    assert login["token_type"] == "bearer"
    refreshed = tenant.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]}
    )
    assert refreshed.status_code == 200
    with tenant.service.client(Authorization=f"Bearer {refreshed.json()['access_token']}") as c:
        assert c.get("/api/v1/tenant").json()["code"] == tenant.code
    wrong_kind = tenant.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": login["access_token"]}
    )
    assert wrong_kind.status_code == 401
    with tenant.service.client(Authorization=f"Bearer {login['refresh_token']}") as c:
        assert c.get("/api/v1/tenant").status_code == 401
    with tenant.service.client(Authorization="Bearer not-a-jwt") as c:
        assert c.get("/api/v1/tenant").status_code == 401
    assert tenant.login("admin", "wrong-password").status_code == 401


def test_revoked_api_keys_stop_working(tenant: Tenant) -> None:
    key = tenant.http.post("/api/v1/api-keys", json={"name": "ci", "role": "auditor"}).json()
    assert key["key"].startswith("tlk_")
    with tenant.service.client(**{"X-API-Key": key["key"]}) as client:
        assert client.get("/api/v1/subjects").status_code == 200
        assert client.post("/api/v1/subjects", json={"subject_type": "x"}).status_code == 403
        revoked = tenant.http.delete(f"/api/v1/api-keys/{key['id']}")
        assert revoked.json()["revoked_at"] is not None
        assert client.get("/api/v1/subjects").status_code == 401
    with tenant.service.client(**{"X-API-Key": "tlk_unknown"}) as client:
        assert client.get("/api/v1/subjects").status_code == 401


def test_a_suspended_tenant_cannot_log_in(tenant: Tenant) -> None:
    t = tenant
    assert (
        t.http.patch("/api/v1/tenant", json={"status": "suspended"}).json()["status"] == "suspended"
    )
    assert t.http.get("/api/v1/tenant").status_code == 401
    assert t.login("admin").status_code == 401


def test_roles_are_seeded_and_custom_roles_are_checked(tenant: Tenant) -> None:
    roles = {r["code"]: r for r in tenant.http.get("/api/v1/roles").json()}
    assert set(roles) == {"admin", "agent", "auditor", "manager"}
    assert roles["admin"]["permissions"] == ["*:*"]
    bad = tenant.http.post(
        "/api/v1/roles", json={"code": "bad", "name": "B", "permissions": ["nothing:read"]}
    )
    assert bad.status_code == 422
    assert tenant.http.patch("/api/v1/roles/admin", json={"name": "x"}).status_code == 422
    assert (
        tenant.http.patch("/api/v1/roles/agent", json={"permissions": ["event:*"]}).status_code
        == 200
    )
    again = tenant.http.post(
        "/api/v1/roles", json={"code": "agent", "name": "A", "permissions": []}
    )
    assert again.status_code == 409
    unknown = tenant.http.post(
        "/api/v1/users", json={"username": "u", "password": PASSWORD, "roles": ["ghost"]}
    )
    assert unknown.status_code == 422
    dup = tenant.http.post("/api/v1/users", json={"username": "admin", "password": PASSWORD})
    assert dup.status_code == 409


@pytest.mark.parametrize(
    ("granted", "needed", "ok"),
    [
        (["*:*"], "event:create", True),
        (["event:*"], "event:create", True),
        (["*:read"], "event:read", True),
        (["*:read"], "event:create", False),
        (["event:read"], "event:create", False),
        (["ev*:create"], "event:create", False),
        ([], "event:read", False),
    ],
)
def test_wildcards_cover_whole_segments(granted: list[str], needed: str, ok: bool) -> None:
    assert permission_granted(granted, needed) is ok

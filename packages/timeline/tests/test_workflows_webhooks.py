"""Webhook rules: signed deliveries to real loopback receivers, retries, dead letters."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI, Request, Response
from timeline_support import CREDENTIAL_KEY, Service, Tenant, make_settings, new_tenant, wait_for

from corekit.queue import QueueItemStatus, SQLiteQueue
from corekit.testing import serve
from timeline import create_app
from timeline._crypto import SecretCipher, generate_key
from timeline._db import Database
from timeline.errors import ValidationFailedError
from timeline.workflows import reencrypt
from timeline.workflows._rules import check_url_target
from timeline.workflows._webhooks import _classify


@dataclass
class Receiver:
    """A loopback webhook receiver: records requests, answers from a plan (then 200)."""

    plan: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    hang: float = 0.0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.requests.append((dict(request.headers), body))
                status, headers, text = self.plan.pop(0) if self.plan else (200, {}, "ok")
            if self.hang:
                await asyncio.sleep(self.hang)
            return Response(text, status_code=status, headers=headers)

        return app

    def received(self) -> int:
        with self.lock:
            return len(self.requests)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    with serve(rec.app()) as served:
        yield rec, f"{served.url}/hook"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def webhook_rule(tenant: Tenant, url: str, **extra: Any) -> dict[str, Any]:
    tenant.schema("order.placed", {"type": "object"})
    body = {
        "name": "notify",
        "event_type": "order.placed",
        "condition": {"properties": {"total": {"minimum": 100}}},
        "action": {"type": "webhook", "url": url, **extra},
    }
    response = tenant.http.post("/api/v1/workflows", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def execution(tenant: Tenant, rule_id: str, status: str) -> dict[str, Any] | None:
    items = tenant.http.get(f"/api/v1/workflows/{rule_id}/executions").json()["items"]
    return next((e for e in items if e["status"] == status), None)


def deliveries(tenant: Tenant, **params: str) -> list[dict[str, Any]]:
    response = tenant.http.get("/api/v1/workflows/deliveries", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_delivery_is_signed_and_logged(tenant: Tenant, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    rule = webhook_rule(tenant, url, headers={"X-Api-Token": "receiver-token-123"})
    secret = rule["secret"]
    assert secret.startswith("whsec_")
    assert rule["action"] == {"type": "webhook", "url": url, "header_names": ["X-Api-Token"]}
    shown = tenant.http.get(f"/api/v1/workflows/{rule['id']}").text
    assert secret not in shown
    assert "receiver-token-123" not in shown

    subject = tenant.subject()
    tenant.append(subject, {"total": 5}, event_type="order.placed")  # condition not met
    event = tenant.append(subject, {"total": 500}, event_type="order.placed")
    run = wait_for(lambda: execution(tenant, rule["id"], "delivered"))
    assert rec.received() == 1
    headers, body = rec.requests[0]

    timestamp = headers["x-timeline-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(headers["x-timeline-signature"], f"sha256={expected.hexdigest()}")
    assert headers["x-api-token"] == "receiver-token-123"
    assert headers["content-type"] == "application/json"
    sent = json.loads(body)
    assert sent == {
        "delivery_id": run["id"],
        "rule_id": rule["id"],
        "tenant_id": tenant.id,
        "event": {
            "id": event["id"],
            "subject_id": subject,
            "seq": event["seq"],
            "event_type": "order.placed",
            "schema_version": 1,
            "event_time": sent["event"]["event_time"],
            "payload": {"total": 500},
            "hash": event["hash"],
        },
    }
    assert headers["x-timeline-delivery"] == run["id"]
    assert run["attempts"] == 1
    assert run["last_status"] == 200
    assert run["event_id"] == event["id"]

    (listed,) = deliveries(tenant, status="delivered")
    assert listed["delivery_id"] == run["id"]
    assert listed["queue_status"] == "done"
    assert [h["action"] for h in listed["history"]] == ["ack"]
    assert listed["history"][0]["detail"] == {"status": 200}
    again = tenant.http.post(f"/api/v1/workflows/deliveries/{run['id']}/retry")
    assert again.status_code == 409
    assert "already delivered" in again.json()["message"]

    audit = tenant.http.get("/api/v1/audit").text
    assert secret not in audit
    assert "receiver-token-123" not in audit


def test_receiver_down_then_up_loses_nothing(tenant: Tenant) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    rule = webhook_rule(tenant, url)
    event = tenant.append(tenant.subject(), {"total": 100}, event_type="order.placed")
    run = wait_for(lambda: execution(tenant, rule["id"], "retrying"))
    assert run["attempts"] == 1
    assert run["last_status"] is None
    assert "127.0.0.1" in run["detail"]["error"]
    (waiting,) = deliveries(tenant, status="retrying")
    assert waiting["queue_status"] == "pending"
    assert waiting["next_attempt_at"] is not None

    rec = Receiver()
    with serve(rec.app(), port=port):
        retried = tenant.http.post(f"/api/v1/workflows/deliveries/{run['id']}/retry")
        assert retried.status_code == 200, retried.text
        done = wait_for(lambda: execution(tenant, rule["id"], "delivered"))
    assert done["id"] == run["id"]
    assert done["attempts"] == 2
    assert rec.received() == 1
    assert json.loads(rec.requests[0][1])["event"]["id"] == event["id"]
    (listed,) = deliveries(tenant)
    assert [h["action"] for h in listed["history"]] == ["nack", "ack"]


def test_client_error_goes_dead_and_retry_resends(
    tenant: Tenant, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rec.plan.append((400, {}, "unknown order format " + "x" * 1000))
    rule = webhook_rule(tenant, url)
    tenant.append(tenant.subject(), {"total": 100}, event_type="order.placed")
    dead = wait_for(lambda: execution(tenant, rule["id"], "dead"))
    assert dead["last_status"] == 400
    assert dead["attempts"] == 1
    assert dead["detail"]["error"] == "the receiver answered HTTP 400"
    assert dead["detail"]["response"].startswith("unknown order format")
    assert len(dead["detail"]["response"]) == 300

    (listed,) = deliveries(tenant, status="dead")
    assert listed["queue_status"] == "dead"
    assert listed["last_error"] == "the receiver answered HTTP 400"
    assert [(h["action"], h["status"]) for h in listed["history"]] == [("nack", "dead")]
    assert deliveries(tenant, status="delivered") == []

    retried = tenant.http.post(f"/api/v1/workflows/deliveries/{dead['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] in {"queued", "delivered"}
    delivered = wait_for(lambda: execution(tenant, rule["id"], "delivered"))
    assert delivered["id"] == dead["id"]
    assert rec.received() == 2


def test_service_unavailable_honours_retry_after(
    tenant: Tenant, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rec.plan.append((503, {"Retry-After": "120"}, "maintenance"))
    rule = webhook_rule(tenant, url)
    tenant.append(tenant.subject(), {"total": 100}, event_type="order.placed")
    run = wait_for(lambda: execution(tenant, rule["id"], "retrying"))
    assert run["last_status"] == 503
    assert 110 < run["detail"]["next_attempt_at"] - time.time() <= 121
    time.sleep(0.3)
    assert rec.received() == 1  # nothing is sent before the receiver's Retry-After
    retried = tenant.http.post(f"/api/v1/workflows/deliveries/{run['id']}/retry")
    assert retried.status_code == 200, retried.text
    wait_for(lambda: execution(tenant, rule["id"], "delivered"))
    assert rec.received() == 2


def test_deliveries_are_tenant_scoped(
    service: Service, tenant: Tenant, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rec.plan.append((410, {}, "gone"))
    rule = webhook_rule(tenant, url)
    tenant.append(tenant.subject(), {"total": 100}, event_type="order.placed")
    dead = wait_for(lambda: execution(tenant, rule["id"], "dead"))
    other = new_tenant(service)
    try:
        assert deliveries(other) == []
        response = other.http.post(f"/api/v1/workflows/deliveries/{dead['id']}/retry")
        assert response.status_code == 404
        viewer = tenant.user("wf-viewer", roles=["agent"])
        try:
            response = viewer.post(f"/api/v1/workflows/deliveries/{dead['id']}/retry")
            assert response.status_code == 403
            assert response.json()["details"]["permission"] == "workflow:update"
            assert viewer.get("/api/v1/workflows/deliveries").status_code == 403
        finally:
            viewer.close()
    finally:
        other.http.close()
    assert deliveries(tenant, status="dead")[0]["delivery_id"] == dead["id"]


def test_rotating_keys_reencrypts_webhook_secrets(service: Service, tenant: Tenant) -> None:
    rule = webhook_rule(tenant, "http://127.0.0.1:9/hook")
    new_key = generate_key()

    async def rotate() -> int:
        db = Database(service.settings.database_url)
        try:
            async with db.write() as session:
                return await reencrypt(session, SecretCipher([new_key, CREDENTIAL_KEY]))
        finally:
            await db.dispose()

    assert asyncio.run(rotate()) >= 1

    async def stored() -> str:
        from sqlalchemy import select

        from timeline.workflows._models import WorkflowRule

        db = Database(service.settings.database_url)
        try:
            async with db.read() as session:
                row = await session.execute(
                    select(WorkflowRule.secret_encrypted).where(WorkflowRule.id == rule["id"])
                )
                return str(row.scalar_one())
        finally:
            await db.dispose()

    token = asyncio.run(stored())
    assert SecretCipher([new_key]).decrypt(token).decode() == rule["secret"]


def test_private_targets_are_refused_unless_allowed(
    tmp_path: Path, sqlite_service: Service
) -> None:
    url_db = sqlite_service.settings.database_url
    settings = make_settings(url_db, tmp_path, webhook_allow_private=False)
    with serve(create_app(settings)) as served:
        tenant = new_tenant(Service(served.url, settings))
        try:
            for url in (
                "http://127.0.0.1:8080/hook",
                "http://localhost/hook",
                "https://10.1.2.3/hook",
                "http://169.254.169.254/latest/meta-data",
                "http://[::1]/hook",
                "http://[::ffff:192.168.0.1]/hook",
            ):
                body = {
                    "name": "n",
                    "event_type": "order.placed",
                    "action": {"type": "webhook", "url": url},
                }
                response = tenant.http.post("/api/v1/workflows", json=body)
                assert response.status_code == 422, (url, response.text)
                assert "TIMELINE_WEBHOOK_ALLOW_PRIVATE" in response.json()["message"]
        finally:
            tenant.http.close()

    async def check(url: str, allow: bool) -> None:
        await check_url_target(url, allow_private=allow)

    asyncio.run(check("https://93.184.215.14/hook", False))  # a public literal: no DNS needed
    asyncio.run(check("http://127.0.0.1/hook", True))
    with pytest.raises(ValidationFailedError, match="private, loopback or link-local"):
        asyncio.run(check("http://127.0.0.1/hook", False))


def test_shutdown_hands_back_a_delivery_in_flight(tmp_path: Path, sqlite_service: Service) -> None:
    settings = make_settings(sqlite_service.settings.database_url, tmp_path)
    rec = Receiver(hang=2.0)
    with serve(rec.app()) as hook:
        with serve(create_app(settings)) as served:
            tenant = new_tenant(Service(served.url, settings))
            try:
                rule = webhook_rule(tenant, f"{hook.url}/hook")
                tenant.append(tenant.subject(), {"total": 100}, event_type="order.placed")
                wait_for(rec.received)
            finally:
                tenant.http.close()
            started = time.monotonic()
        assert time.monotonic() - started < 1.5  # the send in flight was cut short
        with SQLiteQueue(settings.webhook_queue_file, name="webhooks") as queue:
            (item,) = queue.items()
            assert item.status is QueueItemStatus.PENDING
            assert item.last_error == "worker stopped"
            assert item.max_attempts == settings.webhook_max_attempts + 1  # not counted

        rec.hang = 0.0
        with (
            serve(create_app(settings)),
            SQLiteQueue(settings.webhook_queue_file, name="webhooks") as queue,
        ):
            wait_for(lambda: queue.items()[0].status is QueueItemStatus.DONE)
    assert rec.received() == 2
    assert json.loads(rec.requests[1][1])["rule_id"] == rule["id"]


def test_updates_keep_headers_and_rotate_the_secret(
    tenant: Tenant, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rule = webhook_rule(tenant, "http://127.0.0.1:9/old", headers={"X-Api-Token": "t0k3n"})
    path = f"/api/v1/workflows/{rule['id']}"
    moved = tenant.http.patch(path, json={"action": {"type": "webhook", "url": url}})
    assert moved.status_code == 200, moved.text
    assert moved.json()["secret"] is None
    assert moved.json()["action"] == {
        "type": "webhook",
        "url": url,
        "header_names": ["X-Api-Token"],
    }
    rotated = tenant.http.patch(path, json={"rotate_secret": True})
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["secret"]
    assert secret.startswith("whsec_")
    assert secret != rule["secret"]

    tenant.append(tenant.subject(), {"total": 100}, event_type="order.placed")
    wait_for(lambda: execution(tenant, rule["id"], "delivered"))
    headers, body = rec.requests[0]
    signed = f"{headers['x-timeline-timestamp']}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["x-timeline-signature"] == f"sha256={expected}"
    assert headers["x-api-token"] == "t0k3n"

    action = {"type": "append_event", "event_type": "order.placed", "schema_version": 1}
    plain = tenant.http.patch(path, json={"action": action})
    assert plain.status_code == 200, plain.text
    assert plain.json()["action"]["type"] == "append_event"
    refused = tenant.http.patch(path, json={"rotate_secret": True})
    assert refused.status_code == 422
    assert "webhook rules only" in refused.json()["message"]


def test_retry_queues_a_delivery_that_never_reached_the_queue(
    service: Service, tenant: Tenant, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rec.plan.append((422, {}, "no"))
    rule = webhook_rule(tenant, url)
    event = tenant.append(tenant.subject(), {"total": 100}, event_type="order.placed")
    dead = wait_for(lambda: execution(tenant, rule["id"], "dead"))
    # As if the process died between logging the delivery and queueing it.
    with sqlite3.connect(service.settings.webhook_queue_file) as conn:
        conn.execute("DELETE FROM webhooks WHERE key = ?", (f"{rule['id']}:{event['id']}",))
    (listed,) = deliveries(tenant, rule_id=rule["id"])
    assert listed["queue_status"] is None
    assert listed["history"] == []
    retried = tenant.http.post(f"/api/v1/workflows/deliveries/{dead['id']}/retry")
    assert retried.status_code == 200, retried.text
    delivered = wait_for(lambda: execution(tenant, rule["id"], "delivered"))
    assert delivered["id"] == dead["id"]
    sent = json.loads(rec.requests[-1][1])
    assert sent["delivery_id"] == dead["id"]
    assert sent["event"]["id"] == event["id"]


def test_answers_are_classified() -> None:
    def outcome(status: int, **headers: str) -> tuple[str, float | None, str | None]:
        result = _classify(httpx2.Response(status, headers=headers, text="body"))
        return result.kind, result.retry_after, result.error

    assert outcome(204)[0] == "ok"
    assert outcome(408) == ("retry", None, "the receiver answered HTTP 408")
    assert outcome(429, **{"Retry-After": "7"})[:2] == ("retry", 7.0)
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    kind, wait, _ = outcome(502, **{"Retry-After": later})
    assert kind == "retry"
    assert wait is not None
    assert 25 < wait <= 31
    assert outcome(404)[:2] == ("dead", None)
    kind, _, error = outcome(301, Location="https://elsewhere.example/")
    assert kind == "dead"
    assert error is not None
    assert "redirects are not followed" in error


def test_max_attempts_send_a_delivery_to_dead_letters(
    tmp_path: Path, sqlite_service: Service, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rec.plan.extend([(500, {}, "boom"), (500, {}, "boom again")])
    settings = make_settings(sqlite_service.settings.database_url, tmp_path, webhook_max_attempts=2)
    with serve(create_app(settings)) as served:
        tenant = new_tenant(Service(served.url, settings))
        try:
            rule = webhook_rule(tenant, url)
            tenant.append(tenant.subject(), {"total": 100}, event_type="order.placed")
            first = wait_for(lambda: execution(tenant, rule["id"], "retrying"))
            assert first["last_status"] == 500
            assert first["detail"]["response"] == "boom"
            retried = tenant.http.post(f"/api/v1/workflows/deliveries/{first['id']}/retry")
            assert retried.status_code == 200, retried.text
            dead = wait_for(lambda: execution(tenant, rule["id"], "dead"))
            assert dead["attempts"] == 2
            assert dead["detail"]["response"] == "boom again"
            (listed,) = deliveries(tenant, status="dead")
            assert [h["action"] for h in listed["history"]] == ["nack", "nack"]
            assert listed["history"][-1]["status"] == "dead"
        finally:
            tenant.http.close()
    assert rec.received() == 2

"""E-mail account routes, progress streams, credentials, key rotation and the CLI."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from dovecot_support import (
    Dovecot,
    account_body,
    create_account,
    direct_sync,
    dovecot,
    make_message,
    settings_with,
    sync,
    user,
)
from pydantic import SecretStr
from timeline_support import CREDENTIAL_KEY, Service, Tenant, make_settings, new_tenant, rows

from timeline._crypto import SecretCipher, generate_key
from timeline._db import Database
from timeline.errors import TimelineError
from timeline.mail import MailProvider, reencrypt
from timeline.mail import _sync as mail_sync
from timeline.mail._provider import FetchResult, Position, ProgressCallback

__all__ = ["dovecot", "user"]  # the fixtures


def test_progress_is_streamed_until_done(tenant: Tenant, dovecot: Dovecot, user: str) -> None:
    for n in range(30):
        dovecot.deliver(user, make_message(n))
    account = create_account(tenant, dovecot, user)
    missing = tenant.http.get(f"/api/v1/email-accounts/{account['id']}/sync/events")
    assert missing.status_code == 404
    started = tenant.http.post(f"/api/v1/email-accounts/{account['id']}/sync")
    assert started.status_code == 202
    events: list[tuple[str, dict[str, Any]]] = []
    with tenant.http.stream("GET", f"/api/v1/email-accounts/{account['id']}/sync/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    names = [n for n, _ in events]
    assert names[-1] == "done"
    assert "progress" in names
    assert names.count("done") == 1
    final = events[-1][1]
    assert (final["id"], final["imported"], final["state"]) == (
        started.json()["id"],
        30,
        "succeeded",
    )
    fetched = [data["fetched"] for n, data in events if n == "progress"]
    assert fetched == sorted(fetched)


def test_stream_follows_a_sync_run_by_another_process(
    tenant: Tenant, service: Service, dovecot: Dovecot, user: str
) -> None:
    for n in range(12):
        dovecot.deliver(user, make_message(n))
    account = create_account(tenant, dovecot, user)
    settings = service.settings

    async def claim() -> str:
        db = Database(settings.database_url)
        try:
            run = await mail_sync.claim(db, settings, tenant.id, account["id"], trigger="cli")
            return run.id
        finally:
            await db.dispose()

    run_id = asyncio.run(claim())
    received: list[tuple[str, dict[str, Any]]] = []
    seen = {"queued": threading.Event(), "running": threading.Event()}

    def read() -> None:
        path = f"/api/v1/email-accounts/{account['id']}/sync/events"
        with tenant.http.stream("GET", path, params={"run_id": run_id}) as stream:
            name = ""
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
                    received.append((name, data))
                    if data["state"] in seen:
                        seen[data["state"]].set()

    reader = threading.Thread(target=read)
    reader.start()
    assert seen["queued"].wait(10)
    assert received[0][0] == "progress"
    # The sync runs here, not in the server: the stream follows it through the database.
    asyncio.run(_direct_run(settings, tenant.id, account["id"], run_id, seen["running"]))
    reader.join(15)
    assert not reader.is_alive()
    names = [name for name, _ in received]
    states = [data["state"] for _, data in received]
    assert names[-1] == "done"
    assert received[-1][1]["imported"] == 12
    assert states[0] == "queued"
    assert "running" in states


class _Paused:
    """The IMAP provider, holding its first progress report until ``resume`` is set."""

    def __init__(self, inner: MailProvider, resume: threading.Event) -> None:
        self.inner = inner
        self.resume = resume

    async def fetch(
        self, position: Position, *, limit: int, keep_body: bool, progress: ProgressCallback
    ) -> FetchResult:
        async def held(fetched: int, total: int) -> None:
            await progress(fetched, total)
            if fetched == 0:  # the run row says "running" now: wait until the stream saw it
                assert await anyio.to_thread.run_sync(self.resume.wait, 10)

        return await self.inner.fetch(position, limit=limit, keep_body=keep_body, progress=held)


async def _direct_run(
    settings: Any, tenant_id: str, account_id: str, run_id: str, resume: threading.Event
) -> None:
    db = Database(settings.database_url)
    try:
        await mail_sync.execute(
            db,
            settings,
            tenant_id,
            account_id,
            run_id,
            provider_factory=lambda a, s: _Paused(mail_sync.imap_provider(a, s), resume),
        )
    finally:
        await db.dispose()


def test_failed_run_streams_failed(tenant: Tenant, dovecot: Dovecot, user: str) -> None:
    account = create_account(tenant, dovecot, user, secret="wrong-one")
    run = sync(tenant, account["id"])
    body = tenant.http.get(
        f"/api/v1/email-accounts/{account['id']}/sync/events", params={"run_id": run["id"]}
    ).text
    assert "event: failed" in body
    assert "refused the credentials" in body


def test_credentials_never_in_answers(tenant: Tenant, dovecot: Dovecot, user: str) -> None:
    account = create_account(tenant, dovecot, user, name="secretive")
    secret = dovecot.passwords[user]
    answers = [
        json.dumps(account),
        tenant.http.get("/api/v1/email-accounts").text,
        tenant.http.get(f"/api/v1/email-accounts/{account['id']}").text,
        tenant.http.patch(
            f"/api/v1/email-accounts/{account['id']}", json={"mailbox": "INBOX"}
        ).text,
        tenant.http.get("/api/v1/events", params={"limit": 1000}).text,  # the audit chain
    ]
    for text in answers:
        assert secret not in text
        assert "username" not in text or f'"{user}"' not in text
    listed = tenant.http.get("/api/v1/email-accounts").json()
    assert listed["total"] == 1
    assert set(listed["items"][0]) >= {"id", "host", "port", "mailbox", "sync_running"}
    assert "secret" not in listed["items"][0]
    assert "username" not in listed["items"][0]
    stored = rows(
        tenant.service.settings.database_url,
        "SELECT credentials FROM email_account WHERE id = :id",
        id=account["id"],
    )[0]["credentials"]
    assert secret not in stored
    assert user not in stored
    audit = tenant.http.get("/api/v1/events", params={"limit": 1000}).json()["items"]
    actions = [e["event_type"] for e in audit if e["event_type"].startswith("audit.email")]
    assert actions == ["audit.email_account.create", "audit.email_account.update"]


def test_validation_permissions_and_tenancy(
    tenant: Tenant, service: Service, dovecot: Dovecot, user: str
) -> None:
    subject = tenant.subject()
    bad: list[tuple[dict[str, Any], int]] = [
        ({"security": "none"}, 422),
        ({"port": 0}, 422),
        ({"mailbox": "Posteingang \u00fc"}, 422),
        ({"tls_ca_pem": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"}, 422),
        ({"host": "bad host"}, 422),
        ({"provider": "pop3"}, 422),
    ]
    for overrides, status in bad:
        body = account_body(dovecot, user, subject, **overrides)
        response = tenant.http.post("/api/v1/email-accounts", json=body)
        assert response.status_code == status, (overrides, response.text)
        assert dovecot.passwords[user] not in response.text
    missing = account_body(dovecot, user, "0" * 32)
    assert tenant.http.post("/api/v1/email-accounts", json=missing).status_code == 404
    account = create_account(tenant, dovecot, user, subject_id=subject, port=None)
    assert account["port"] == 993  # the default for tls
    again = tenant.http.post("/api/v1/email-accounts", json=account_body(dovecot, user, subject))
    assert again.status_code == 409
    agent = tenant.user(f"agent-{user}", ["agent"])
    assert agent.get("/api/v1/email-accounts").status_code == 403
    assert agent.post(f"/api/v1/email-accounts/{account['id']}/sync").status_code == 403
    agent.close()
    other = new_tenant(service)
    try:
        for method, path in [
            ("GET", f"/api/v1/email-accounts/{account['id']}"),
            ("PATCH", f"/api/v1/email-accounts/{account['id']}"),
            ("DELETE", f"/api/v1/email-accounts/{account['id']}"),
            ("POST", f"/api/v1/email-accounts/{account['id']}/sync"),
            ("GET", f"/api/v1/email-accounts/{account['id']}/sync"),
        ]:
            kwargs: dict[str, Any] = {"json": {}} if method == "PATCH" else {}
            assert other.http.request(method, path, **kwargs).status_code == 404, path
        # Another tenant's subject cannot receive this tenant's mail.
        foreign = account_body(dovecot, user, subject, name="foreign")
        assert other.http.post("/api/v1/email-accounts", json=foreign).status_code == 404
    finally:
        other.http.close()
    deleted = tenant.http.delete(f"/api/v1/email-accounts/{account['id']}")
    assert deleted.status_code == 204
    assert tenant.http.get(f"/api/v1/email-accounts/{account['id']}").status_code == 404


async def _rotate(url: str, cipher: SecretCipher) -> int:
    db = Database(url)
    try:
        async with db.write() as session:
            return await reencrypt(session, cipher)
    finally:
        await db.dispose()


def test_key_rotation_keeps_accounts_usable(
    tenant: Tenant, service: Service, dovecot: Dovecot, user: str
) -> None:
    dovecot.deliver(user, make_message(1))
    account = create_account(tenant, dovecot, user)
    url = service.settings.database_url
    before = rows(url, "SELECT credentials FROM email_account WHERE id = :id", id=account["id"])
    new_key = generate_key()
    count = asyncio.run(_rotate(url, SecretCipher([new_key, CREDENTIAL_KEY])))
    assert count >= 1
    after = rows(url, "SELECT credentials FROM email_account WHERE id = :id", id=account["id"])
    assert after != before
    # Only the new key is configured now: the account still syncs.
    only_new = settings_with(service, credential_keys=[SecretStr(new_key)])
    result = asyncio.run(direct_sync(only_new, tenant.id, account["id"]))
    assert (result["state"], result["imported"]) == ("succeeded", 1), result
    # Without the key it was written with, the failure says what to do.
    only_old = settings_with(service, credential_keys=[SecretStr(CREDENTIAL_KEY)])
    result = asyncio.run(direct_sync(only_old, tenant.id, account["id"]))
    assert result["state"] == "failed"
    assert "TIMELINE_CREDENTIAL_KEYS" in result["error"]
    with pytest.raises(TimelineError):
        asyncio.run(_rotate(url, SecretCipher([generate_key()])))
    # Put the account back under the service's key for the other tests of this session.
    asyncio.run(_rotate(url, SecretCipher([CREDENTIAL_KEY, new_key])))


def test_missing_key_is_explained(tenant: Tenant, service: Service, tmp_path: Path) -> None:
    from corekit.testing import serve
    from timeline import create_app

    settings = make_settings(service.settings.database_url, tmp_path, credential_keys=[])
    with serve(create_app(settings)) as served:
        client = Service(served.url, settings).client(**dict(tenant.http.headers))
        body = {
            "name": "x",
            "subject_id": tenant.subject(),
            "host": "127.0.0.1",
            "username": "u",
            "secret": "p",
        }
        response = client.post("/api/v1/email-accounts", json=body)
        client.close()
    assert response.status_code == 500
    assert response.json()["error"] == "NOT_CONFIGURED"
    assert "TIMELINE_CREDENTIAL_KEYS" in response.json()["message"]


def test_cli_sync_and_accounts(
    tenant: Tenant,
    service: Service,
    dovecot: Dovecot,
    user: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from timeline.cli import app

    dovecot.deliver(user, make_message(1))
    account = create_account(tenant, dovecot, user)
    monkeypatch.chdir(tmp_path)
    env = {
        "TIMELINE_CREDENTIAL_KEYS": json.dumps([CREDENTIAL_KEY]),
        "TIMELINE_KEY_DIR": str(service.settings.key_dir),
        "TIMELINE_AUTO_MIGRATE": "false",
    }
    url = service.settings.database_url
    runner = CliRunner()
    done = runner.invoke(app, ["email", "sync", account["id"], "--database-url", url], env=env)
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert (result["state"], result["imported"], result["trigger"]) == ("succeeded", 1, "cli")
    assert "1 imported" in done.stderr
    listed = runner.invoke(
        app, ["email", "accounts", "--tenant", tenant.code, "--database-url", url], env=env
    )
    assert listed.exit_code == 0, listed.output
    accounts = json.loads(listed.stdout)
    assert [a["id"] for a in accounts] == [account["id"]]
    assert dovecot.passwords[user] not in listed.stdout
    # A failing sync: exit 1 with the reason on stderr.
    tenant.http.patch(f"/api/v1/email-accounts/{account['id']}", json={"secret": "nope-nope"})
    failed = runner.invoke(app, ["email", "sync", account["id"], "--database-url", url], env=env)
    assert failed.exit_code == 1
    assert "refused the credentials" in failed.stderr
    assert "nope-nope" not in failed.output
    unknown = runner.invoke(app, ["email", "sync", "0" * 32, "--database-url", url], env=env)
    assert unknown.exit_code == 2
    assert "no e-mail account" in unknown.stderr
    assert runner.invoke(app, ["email", "sync", "xyz"], env=env).exit_code == 2


def test_stream_ends_when_the_client_disconnects(
    tenant: Tenant,
    service: Service,
    dovecot: Dovecot,
    user: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from timeline.mail import _routes as mail_routes

    account = create_account(tenant, dovecot, user)
    settings = service.settings

    async def claim() -> str:  # a run that never progresses: its process "hangs"
        db = Database(settings.database_url)
        try:
            run = await mail_sync.claim(db, settings, tenant.id, account["id"], trigger="cli")
            return run.id
        finally:
            await db.dispose()

    claim_id = asyncio.run(claim())
    polls: list[float] = []
    original = mail_routes._latest_run

    async def counting(*args: Any, **kwargs: Any) -> Any:
        polls.append(time.monotonic())
        return await original(*args, **kwargs)

    # The server runs in this process (corekit.testing.serve): count its polls of the run row.
    monkeypatch.setattr(mail_routes, "_latest_run", counting)
    path = f"/api/v1/email-accounts/{account['id']}/sync/events"
    with tenant.http.stream("GET", path) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                assert json.loads(line.removeprefix("data: "))["id"] == claim_id
                break
    # The stream polled while open; once the client is gone, the polling stops.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        seen = len(polls)
        time.sleep(5 * mail_routes.SSE_POLL)
        if len(polls) == seen:
            break
    else:
        raise AssertionError("the stream kept polling after the client disconnected")
    assert len(polls) >= 2

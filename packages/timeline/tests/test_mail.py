"""IMAP sync semantics against a real dovecot on loopback (both databases)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime
from typing import Any

import anyio.to_thread
from dovecot_support import (
    Dovecot,
    create_account,
    direct_sync,
    dovecot,
    mail_events,
    make_message,
    settings_with,
    sync,
    user,
    wait_run,
)
from timeline_support import Service, Tenant, tamper

from timeline.mail import _sync as mail_sync
from timeline.mail._models import EmailSyncRun
from timeline.mail._provider import FetchResult, Position, ProgressCallback

__all__ = ["dovecot", "user"]  # the fixtures


def test_first_and_incremental_sync(tenant: Tenant, dovecot: Dovecot, user: str) -> None:
    with_attachment = make_message(1, attachment=("report.pdf", b"%PDF-1.4 data"))
    dovecot.deliver(user, with_attachment)
    dovecot.deliver(user, make_message(2, message_id=None, subject="no id here"))
    dovecot.deliver(
        user,
        make_message(3, message_id="<Reply.3@Example.ORG>").replace(
            b"Subject:",
            b"In-Reply-To: <abc@x.org>\r\nReferences: <a@x.org> <abc@x.org>\r\nSubject:",
            1,
        ),
    )
    account = create_account(tenant, dovecot, user)
    assert account["port"] == dovecot.imaps_port
    assert account["last_uid"] == 0
    assert account["sync_running"] is False

    run = sync(tenant, account["id"])
    assert run["state"] == "succeeded", run
    assert (run["fetched"], run["imported"], run["duplicates"]) == (3, 3, 0)
    assert run["trigger"] == "api"
    assert run["started_at"] is not None
    assert run["finished_at"] is not None
    events = mail_events(tenant, account["subject_id"])
    assert [e["payload"]["subject"] for e in events] == ["message 1", "no id here", "message 3"]
    first = events[0]["payload"]
    assert first["from"] == ["Sender 1 <sender1@example.org>"]
    assert first["to"] == ["Case Desk <desk@example.com>"]
    assert first["cc"] == ["cc@example.com"]
    assert first["has_attachments"] is True
    assert first["attachment_names"] == ["report.pdf"]
    assert first["mailbox"] == "INBOX"
    assert first["uid"] == 1
    assert first["size"] >= len(with_attachment)
    body = with_attachment.split(b"\n\n", 1)[1]
    assert first["body_sha256"] in {
        hashlib.sha256(body).hexdigest(),
        hashlib.sha256(body.replace(b"\n", b"\r\n")).hexdigest(),
    }
    assert "text_body" not in first  # not stored unless TIMELINE_MAIL_STORE_BODY
    assert first["date"] == "2026-01-01T09:01:00+00:00"
    assert events[0]["event_time"].startswith("2026-01-01T09:01:00")
    assert events[1]["payload"]["message_id"] is None
    third = events[2]["payload"]
    assert third["message_id"] == "Reply.3@example.org"
    assert third["in_reply_to"] == "abc@x.org"
    assert third["references"] == ["a@x.org", "abc@x.org"]

    got = tenant.http.get(f"/api/v1/email-accounts/{account['id']}").json()
    assert got["last_uid"] == 3
    assert got["uidvalidity"] is not None
    assert got["last_synced_at"] is not None

    # New mail: only it is imported.
    dovecot.deliver(user, make_message(4))
    dovecot.deliver(user, make_message(5))
    run = sync(tenant, account["id"])
    assert (run["fetched"], run["imported"], run["duplicates"]) == (2, 2, 0)
    assert [e["payload"]["uid"] for e in mail_events(tenant, account["subject_id"])] == [
        1,
        2,
        3,
        4,
        5,
    ]
    # Nothing new: an empty, successful run.
    run = sync(tenant, account["id"])
    assert (run["state"], run["fetched"], run["imported"]) == ("succeeded", 0, 0)
    assert tenant.verify_subject(account["subject_id"])["status"] == "valid"
    latest = tenant.http.get(f"/api/v1/email-accounts/{account['id']}/sync").json()
    assert latest["id"] == run["id"]


def test_overlapping_sync_imports_nothing_twice(
    tenant: Tenant, dovecot: Dovecot, user: str
) -> None:
    for n in range(3):
        dovecot.deliver(user, make_message(n, message_id=None if n == 1 else "auto"))
    account = create_account(tenant, dovecot, user)
    assert sync(tenant, account["id"])["imported"] == 3
    # Another run starts from an older position (as an overlapping run would).
    tamper(
        tenant.service.settings.database_url,
        ("UPDATE email_account SET last_uid = 0 WHERE id = :id", {"id": account["id"]}),
        bypass=False,
    )
    dovecot.deliver(user, make_message(9))
    run = sync(tenant, account["id"])
    assert (run["fetched"], run["imported"], run["duplicates"]) == (4, 1, 3)
    assert len(mail_events(tenant, account["subject_id"])) == 4


def test_uidvalidity_change_rescans_without_duplicates(
    tenant: Tenant, dovecot: Dovecot, user: str
) -> None:
    for n in range(3):
        dovecot.deliver(user, make_message(n))
    account = create_account(tenant, dovecot, user)
    assert sync(tenant, account["id"])["imported"] == 3
    before = tenant.http.get(f"/api/v1/email-accounts/{account['id']}").json()["uidvalidity"]

    new_validity = dovecot.reset_uidvalidity(user)
    dovecot.deliver(user, make_message(7))
    run = sync(tenant, account["id"])
    assert run["state"] == "succeeded", run
    assert run["uidvalidity_changed"] is True
    assert (run["fetched"], run["imported"], run["duplicates"]) == (4, 1, 3)
    after = tenant.http.get(f"/api/v1/email-accounts/{account['id']}").json()
    assert after["uidvalidity"] == new_validity != before
    assert after["last_uid"] == 4
    events = mail_events(tenant, account["subject_id"])
    assert [e["payload"]["subject"] for e in events] == [f"message {n}" for n in (0, 1, 2, 7)]
    assert events[-1]["payload"]["uidvalidity"] == after["uidvalidity"]


def test_wrong_password_fails_clearly(tenant: Tenant, dovecot: Dovecot, user: str) -> None:
    dovecot.deliver(user, make_message(1))
    wrong = "not-the-Password-42"
    account = create_account(tenant, dovecot, user, secret=wrong, name="Desk inbox")
    run = sync(tenant, account["id"])
    assert run["state"] == "failed"
    assert run["error"] == "the IMAP server refused the credentials of account Desk inbox"
    assert wrong not in json.dumps(run)
    got = tenant.http.get(f"/api/v1/email-accounts/{account['id']}").json()
    assert got["sync_running"] is False  # the lease is released
    assert got["last_uid"] == 0
    # Fix the password: the next run imports.
    fixed = tenant.http.patch(
        f"/api/v1/email-accounts/{account['id']}", json={"secret": dovecot.passwords[user]}
    )
    assert fixed.status_code == 200, fixed.text
    assert sync(tenant, account["id"])["imported"] == 1


def test_starttls_with_xoauth2(tenant: Tenant, dovecot: Dovecot, user: str) -> None:
    dovecot.deliver(user, make_message(1))
    token = f"token-for-{user}"
    dovecot.tokens[token] = user
    account = create_account(
        tenant,
        dovecot,
        user,
        security="starttls",
        port=dovecot.imap_port,
        auth="xoauth2",
        secret=token,
    )
    assert (account["security"], account["auth"]) == ("starttls", "xoauth2")
    run = sync(tenant, account["id"])
    assert (run["state"], run["imported"]) == ("succeeded", 1), run
    # A token the server does not accept: a clear failure, the token not in it.
    bad = tenant.http.patch(
        f"/api/v1/email-accounts/{account['id']}", json={"secret": "expired-token-xyz"}
    )
    assert bad.status_code == 200
    dovecot.deliver(user, make_message(2))
    run = sync(tenant, account["id"])
    assert run["state"] == "failed"
    assert "refused the credentials" in run["error"]
    assert "expired-token-xyz" not in run["error"]


def test_unknown_ca_and_closed_port_are_refused(
    tenant: Tenant, dovecot: Dovecot, user: str
) -> None:
    dovecot.deliver(user, make_message(1))
    no_ca = create_account(tenant, dovecot, user, tls_ca_pem=None, name="no ca")
    run = sync(tenant, no_ca["id"])
    assert run["state"] == "failed"
    assert "TLS certificate" in run["error"]
    assert "could not be verified" in run["error"]
    starttls_no_ca = create_account(
        tenant,
        dovecot,
        user,
        security="starttls",
        port=dovecot.imap_port,
        tls_ca_pem=None,
        name="starttls no ca",
    )
    run = sync(tenant, starttls_no_ca["id"])
    assert (run["state"], "could not be verified" in run["error"]) == ("failed", True)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    refused = create_account(tenant, dovecot, user, port=closed, name="closed port")
    run = sync(tenant, refused["id"])
    assert run["state"] == "failed"
    assert f"connection to 127.0.0.1:{closed} refused" in run["error"]


def test_concurrent_sync_is_refused(tenant: Tenant, dovecot: Dovecot, user: str) -> None:
    account = create_account(tenant, dovecot, user)
    url = tenant.service.settings.database_url
    # Another process holds the lease.
    tamper(
        url,
        (
            "UPDATE email_account SET sync_lease_until = :until, sync_lease_owner = :owner "
            "WHERE id = :id",
            {"until": datetime(2100, 1, 1), "owner": "f" * 32, "id": account["id"]},
        ),
        bypass=False,
    )
    response = tenant.http.post(f"/api/v1/email-accounts/{account['id']}/sync")
    assert response.status_code == 409, response.text
    assert "already running" in response.json()["message"]
    assert tenant.http.get(f"/api/v1/email-accounts/{account['id']}").json()["sync_running"]
    assert tenant.http.delete(f"/api/v1/email-accounts/{account['id']}").status_code == 409
    # The lease of a process that died expires: the account can be synced again.
    tamper(
        url,
        (
            "UPDATE email_account SET sync_lease_until = :until WHERE id = :id",
            {"until": datetime(2000, 1, 1), "id": account["id"]},
        ),
        bypass=False,
    )
    dovecot.deliver(user, make_message(1))
    assert sync(tenant, account["id"])["imported"] == 1

    # Two requests at once: exactly one is accepted.
    import concurrent.futures

    dovecot.deliver(user, make_message(2))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        clients = [tenant.service.client(**dict(tenant.http.headers)) for _ in range(2)]
        answers = list(
            pool.map(lambda c: c.post(f"/api/v1/email-accounts/{account['id']}/sync"), clients)
        )
        for c in clients:
            c.close()
    codes = sorted(a.status_code for a in answers)
    assert codes in ([202, 202], [202, 409])  # 202+202 only if the first finished already
    accepted = [a.json()["id"] for a in answers if a.status_code == 202]
    for run_id in accepted:
        wait_run(tenant, account["id"], run_id)
    assert len(mail_events(tenant, account["subject_id"])) == 2


class _Hanging:
    """A provider whose server never answers."""

    async def fetch(
        self, position: Position, *, limit: int, keep_body: bool, progress: ProgressCallback
    ) -> FetchResult:
        await progress(0, 1)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


def test_shutdown_cancels_a_hanging_sync_and_frees_the_account(
    tenant: Tenant, service: Service, dovecot: Dovecot, user: str
) -> None:
    from timeline._context import Context
    from timeline.mail import SyncService

    account = create_account(tenant, dovecot, user)

    async def scenario() -> dict[str, Any]:
        ctx = Context.build(service.settings)
        sync_service = SyncService(ctx, grace=0.2, provider_factory=lambda a, s: _Hanging())
        try:
            await sync_service.start()
            run = await mail_sync.claim(
                ctx.db, ctx.settings, tenant.id, account["id"], trigger="api"
            )
            sync_service.submit(tenant.id, account["id"], run.id)
            with anyio.fail_after(10):
                while True:  # wait until the sync is inside the hanging fetch
                    async with ctx.db.read() as session:
                        got = await session.get(EmailSyncRun, run.id)
                        assert got is not None
                        if got.state == "running" and got.total == 1:
                            break
                    await anyio.sleep(0.02)
            assert sync_service.running == 1
            await sync_service.stop()
            assert sync_service.running == 0
            return {"id": run.id}
        finally:
            await ctx.db.dispose()

    run_id = asyncio.run(scenario())["id"]
    run = tenant.http.get(f"/api/v1/email-accounts/{account['id']}/sync-runs/{run_id}").json()
    assert run["state"] == "failed"
    assert "cancelled" in run["error"]
    assert run["finished_at"] is not None
    assert (
        tenant.http.get(f"/api/v1/email-accounts/{account['id']}").json()["sync_running"] is False
    )
    dovecot.deliver(user, make_message(1))
    assert sync(tenant, account["id"])["imported"] == 1


def test_batch_limit_and_stored_body(
    tenant: Tenant, service: Service, dovecot: Dovecot, user: str
) -> None:
    for n in range(5):
        dovecot.deliver(user, make_message(n, body=f"Body text number {n}\n"))
    account = create_account(tenant, dovecot, user)
    settings = settings_with(service, mail_sync_batch=2, mail_store_body=True)
    imported = [
        asyncio.run(direct_sync(settings, tenant.id, account["id"]))["imported"] for _ in range(4)
    ]
    assert imported == [2, 2, 1, 0]
    events = mail_events(tenant, account["subject_id"])
    assert [e["payload"]["text_body"] for e in events] == [
        f"Body text number {n}\n" for n in range(5)
    ]
    assert tenant.verify_subject(account["subject_id"])["status"] == "valid"

"""`timeline generate-key` and `timeline rotate-keys` over every stored secret."""

from __future__ import annotations

import json

import pytest
from timeline_support import CREDENTIAL_KEY, Service, new_tenant, rows
from typer.testing import CliRunner

from timeline._crypto import SecretCipher
from timeline.cli import app
from timeline.errors import TimelineError


def _secrets(url: str) -> list[str]:
    accounts = rows(url, "SELECT credentials AS token FROM email_account")
    rules = rows(
        url,
        "SELECT secret_encrypted AS token FROM workflow_rule WHERE secret_encrypted IS NOT NULL "
        "UNION ALL SELECT headers_encrypted FROM workflow_rule WHERE headers_encrypted IS NOT NULL",
    )
    return [r["token"] for r in accounts + rules]


def test_rotate_keys_reencrypts_every_stored_secret(
    sqlite_service: Service, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    tenant = new_tenant(sqlite_service)
    request.addfinalizer(tenant.http.close)
    subject = tenant.subject()
    account = tenant.http.post(
        "/api/v1/email-accounts",
        json={
            "name": "inbox",
            "subject_id": subject,
            "host": "127.0.0.1",
            "port": 993,
            "security": "tls",
            "username": "someone",
            "secret": "imap-password-1",
        },
    )
    assert account.status_code == 201, account.text
    tenant.schema("order.placed", {"type": "object"})
    rule = tenant.http.post(
        "/api/v1/workflows",
        json={
            "name": "notify",
            "event_type": "order.placed",
            "action": {
                "type": "webhook",
                "url": "http://127.0.0.1:9/hook",
                "headers": {"X-Api-Token": "receiver-token"},
            },
        },
    )
    assert rule.status_code == 201, rule.text
    url = sqlite_service.settings.database_url
    before = _secrets(url)
    assert len(before) >= 3

    runner = CliRunner()
    generated = runner.invoke(app, ["generate-key"])
    assert generated.exit_code == 0
    new_key = generated.stdout.strip()
    monkeypatch.setenv("TIMELINE_CREDENTIAL_KEYS", json.dumps([new_key, CREDENTIAL_KEY]))
    rotated = runner.invoke(app, ["rotate-keys", "--database-url", url])
    assert rotated.exit_code == 0, rotated.output
    counts = json.loads(rotated.stdout)
    assert counts["email_accounts"] >= 1
    assert counts["webhook_secrets"] >= 1
    assert "re-encrypted" in rotated.stderr

    after = _secrets(url)
    assert len(after) == len(before)
    only_new, only_old = SecretCipher([new_key]), SecretCipher([CREDENTIAL_KEY])
    for old_token, new_token in zip(before, after, strict=True):
        assert new_token != old_token
        # Same plaintext, now readable with the new key alone.
        assert only_new.decrypt(new_token) == only_old.decrypt(old_token)
        with pytest.raises(TimelineError, match="rotate-keys"):
            only_old.decrypt(new_token)
    assert b"imap-password-1" not in rotated.stdout.encode()


def test_rotate_keys_explains_missing_or_wrong_keys(
    sqlite_service: Service, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    url = sqlite_service.settings.database_url
    runner = CliRunner()
    monkeypatch.setenv("TIMELINE_CREDENTIAL_KEYS", "[]")
    missing = runner.invoke(app, ["rotate-keys", "--database-url", url])
    assert missing.exit_code == 2
    assert "TIMELINE_CREDENTIAL_KEYS" in missing.stderr
    # The first test of this module may not have run: make sure something is stored.
    tenant = new_tenant(sqlite_service)
    request.addfinalizer(tenant.http.close)
    tenant.schema("order.placed", {"type": "object"})
    created = tenant.http.post(
        "/api/v1/workflows",
        json={
            "name": "n",
            "event_type": "order.placed",
            "action": {"type": "webhook", "url": "http://127.0.0.1:9/x"},
        },
    )
    assert created.status_code == 201, created.text
    unrelated = runner.invoke(app, ["generate-key"]).stdout.strip()
    monkeypatch.setenv("TIMELINE_CREDENTIAL_KEYS", json.dumps([unrelated]))
    wrong = runner.invoke(app, ["rotate-keys", "--database-url", url])
    assert wrong.exit_code == 1
    assert "cannot be decrypted" in wrong.stderr

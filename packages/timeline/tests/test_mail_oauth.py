"""XOAUTH2 access-token refresh against dovecot's oauth2 passdb (both databases).

The fixture's OAuth2 server (``dovecot_support.OAuthServer``) issues access tokens that dovecot
accepts through introspection until they expire, and rotates refresh tokens: an old refresh
token is refused once a new one is issued, so a later successful refresh proves the rotated
token was stored.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from dovecot_support import Dovecot, create_account, dovecot, make_message, sync, user
from timeline_support import CREDENTIAL_KEY, Tenant, rows

from timeline._crypto import SecretCipher, generate_key
from timeline.mail._accounts import Credentials
from timeline.mail._oauth import OAuth2Refresh

__all__ = ["dovecot", "user"]  # the fixtures


def _oauth_account(
    tenant: Tenant, dovecot: Dovecot, user: str, **overrides: object
) -> dict[str, Any]:
    refresh_token = dovecot.oauth.refresh_token_for(user)
    body: dict[str, object] = {
        "auth": "xoauth2",
        "secret": None,
        "oauth2": dovecot.oauth.settings_for(refresh_token),
    }
    body.update(overrides)
    return create_account(tenant, dovecot, user, **body)


def _account(tenant: Tenant, account_id: str) -> dict[str, Any]:
    response = tenant.http.get(f"/api/v1/email-accounts/{account_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_expired_token_is_refreshed_before_sync_and_rotation_persisted(
    tenant: Tenant, dovecot: Dovecot, user: str
) -> None:
    oauth = dovecot.oauth
    oauth.lifetimes[user] = 30  # shorter than the refresh margin: renewed before each sync
    dovecot.deliver(user, make_message(1))
    account = _oauth_account(tenant, dovecot, user)
    assert (account["auth"], account["refresh"], account["token_expires_at"]) == (
        "xoauth2",
        True,
        None,
    )
    first_grant = len(oauth.grants)

    run = sync(tenant, account["id"])
    assert (run["state"], run["imported"]) == ("succeeded", 1), run
    assert len(oauth.grants) == first_grant + 1
    expires = datetime.fromisoformat(_account(tenant, account["id"])["token_expires_at"])
    now = datetime.now(UTC)
    assert now < expires <= now + timedelta(seconds=31)

    # The stored token is about to expire: the next sync renews it with the ROTATED refresh
    # token (the first one is refused by the server now).
    rotated = oauth.issued[-1]
    dovecot.deliver(user, make_message(2))
    run = sync(tenant, account["id"])
    assert (run["state"], run["imported"]) == ("succeeded", 1), run
    assert oauth.grants[-1] == rotated

    # A sync that fails after the refresh still keeps the rotated refresh token.
    moved = tenant.http.patch(
        f"/api/v1/email-accounts/{account['id']}", json={"mailbox": "Missing"}
    )
    assert moved.status_code == 200, moved.text
    run = sync(tenant, account["id"])
    assert run["state"] == "failed", run
    assert oauth.grants[-1] == oauth.issued[-2]
    rotated = oauth.issued[-1]
    back = tenant.http.patch(f"/api/v1/email-accounts/{account['id']}", json={"mailbox": "INBOX"})
    assert back.status_code == 200, back.text
    run = sync(tenant, account["id"])
    assert (run["state"], run["duplicates"]) == ("succeeded", 2), run
    assert oauth.grants[-1] == rotated
    # The stored blob holds the newest tokens; none of them in clear.
    stored = rows(
        tenant.service.settings.database_url,
        "SELECT credentials FROM email_account WHERE id = :id",
        id=account["id"],
    )[0]["credentials"]
    creds = Credentials.decrypt(tenant.service.settings.secret_cipher(), stored)
    assert creds.oauth2 is not None
    assert creds.oauth2.refresh_token == oauth.issued[-1]
    assert oauth.active_user(creds.secret) == user
    for secret in (creds.secret, creds.oauth2.refresh_token, oauth.client_secret):
        assert secret not in stored


def test_refused_token_is_renewed_once_and_retried(
    tenant: Tenant, dovecot: Dovecot, user: str
) -> None:
    oauth = dovecot.oauth
    dovecot.deliver(user, make_message(1))
    account = _oauth_account(tenant, dovecot, user, security="starttls", port=dovecot.imap_port)
    assert sync(tenant, account["id"])["state"] == "succeeded"
    grants = len(oauth.grants)

    # The stored token looks valid for an hour, but the server revoked it: the IMAP login is
    # refused, the token renewed once and the sync retried.
    oauth.expire_access_tokens(user)
    dovecot.deliver(user, make_message(2))
    run = sync(tenant, account["id"])
    assert (run["state"], run["imported"]) == ("succeeded", 1), run
    assert len(oauth.grants) == grants + 1

    # The server refuses every token of the user: one renewal, one retry, then a clear failure.
    oauth.refused_users.add(user)
    try:
        run = sync(tenant, account["id"])
    finally:
        oauth.refused_users.discard(user)
    assert run["state"] == "failed", run
    assert "refused the credentials" in run["error"]
    assert len(oauth.grants) == grants + 2
    assert oauth.issued[-1] not in run["error"]


def test_refused_refresh_token_fails_the_run_clearly(
    tenant: Tenant, dovecot: Dovecot, user: str
) -> None:
    oauth = dovecot.oauth
    dovecot.deliver(user, make_message(1))
    revoked = "rt-revoked-4f9c2d"
    account = _oauth_account(
        tenant, dovecot, user, oauth2=oauth.settings_for(revoked), name="revoked"
    )
    run = sync(tenant, account["id"])
    assert run["state"] == "failed", run
    assert "the refresh token of account 'revoked' was refused" in run["error"]
    assert "reconnect the account" in run["error"]
    assert revoked not in run["error"]
    assert oauth.client_secret not in run["error"]
    assert run["imported"] == 0

    # A wrong client secret is named as such; the secret itself is not shown.
    wrong = "not-the-client-secret"
    fixed = tenant.http.patch(
        f"/api/v1/email-accounts/{account['id']}",
        json={"oauth2": oauth.settings_for(oauth.refresh_token_for(user), client_secret=wrong)},
    )
    assert fixed.status_code == 200, fixed.text
    run = sync(tenant, account["id"])
    assert run["state"] == "failed", run
    assert "invalid_client" in run["error"]
    assert wrong not in run["error"]

    # An endpoint that cannot be reached: named, and the run fails without a secret.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    fixed = tenant.http.patch(
        f"/api/v1/email-accounts/{account['id']}",
        json={
            "oauth2": oauth.settings_for("rt-unused-77", token_url=f"http://127.0.0.1:{port}/token")
        },
    )
    assert fixed.status_code == 200, fixed.text
    run = sync(tenant, account["id"])
    assert run["state"] == "failed", run
    assert "could not be reached" in run["error"]
    assert "rt-unused-77" not in run["error"]

    # Reconnected (new refresh settings): the sync works again.
    fixed = tenant.http.patch(
        f"/api/v1/email-accounts/{account['id']}",
        json={"oauth2": oauth.settings_for(oauth.refresh_token_for(user))},
    )
    assert fixed.status_code == 200, fixed.text
    assert sync(tenant, account["id"])["imported"] == 1


def test_refresh_settings_validated_and_never_shown(
    tenant: Tenant, dovecot: Dovecot, user: str
) -> None:
    oauth = dovecot.oauth
    subject = tenant.subject()
    base = {
        "name": "checked",
        "subject_id": subject,
        "host": dovecot.host,
        "username": user,
        "auth": "xoauth2",
    }
    refresh_token = oauth.refresh_token_for(user)

    def create(**fields: object) -> int:
        response = tenant.http.post("/api/v1/email-accounts", json={**base, **fields})
        return response.status_code

    plain_remote = oauth.settings_for(refresh_token, token_url="http://oauth.example.com/token")
    assert create(oauth2=plain_remote) == 422
    refused = tenant.http.post("/api/v1/email-accounts", json={**base, "oauth2": plain_remote})
    assert "https" in refused.text
    assert create(oauth2=oauth.settings_for(refresh_token), auth="password") == 422
    assert create() == 422  # neither a secret nor refresh settings

    account = _oauth_account(tenant, dovecot, user, name="shown")
    patched = tenant.http.patch(
        f"/api/v1/email-accounts/{account['id']}",
        json={"oauth2": oauth.settings_for(refresh_token, scope="imap offline")},
    )
    assert patched.status_code == 200, patched.text
    switched = tenant.http.patch(
        f"/api/v1/email-accounts/{account['id']}", json={"auth": "password", "secret": "pw"}
    )
    assert switched.status_code == 422  # refresh settings must be removed first
    assert sync(tenant, account["id"])["state"] == "succeeded"
    answers = [
        json.dumps(account),
        patched.text,
        tenant.http.get("/api/v1/email-accounts").text,
        tenant.http.get(f"/api/v1/email-accounts/{account['id']}").text,
        tenant.http.get("/api/v1/events", params={"limit": 1000}).text,  # the audit chain
    ]
    secrets = [oauth.client_secret, refresh_token, *oauth.issued]
    secrets += [t for t, owner in oauth.tokens.items() if owner == user]
    for text in answers:
        for secret in secrets:
            assert secret not in text
    audit = tenant.http.get("/api/v1/events", params={"limit": 1000}).json()["items"]
    updates = [e["payload"] for e in audit if e["event_type"] == "audit.email_account.update"]
    assert updates[-1]["changes"]["oauth2"] == "changed"

    removed = tenant.http.patch(
        f"/api/v1/email-accounts/{account['id']}",
        json={"oauth2": None, "auth": "password", "secret": "pw"},
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["refresh"] is False


def test_rotated_keys_keep_refresh_settings() -> None:
    old = SecretCipher([CREDENTIAL_KEY])
    refresh = OAuth2Refresh("https://oauth.example/token", "client", "cs", "rt", "imap")
    token = Credentials("someone", "", refresh).encrypt(old)
    new_key = generate_key()
    rotated = SecretCipher([new_key, CREDENTIAL_KEY]).rotate(token)
    creds = Credentials.decrypt(SecretCipher([new_key]), rotated)
    assert creds.oauth2 == refresh
    assert creds.secret == ""
    assert "cs" not in repr(creds.oauth2)
    assert "rt'" not in repr(creds.oauth2)

"""E-mail accounts: create, read, update, delete, with encrypted credentials.

The username, the secret (password or OAuth2 access token) and, for XOAUTH2 accounts that
renew their token, the OAuth2 refresh settings (client secret, refresh token) are stored
together as one Fernet token under ``settings.secret_cipher()``
(``TIMELINE_CREDENTIAL_KEYS``); no answer, log line or audit record carries them.
:func:`reencrypt` rewrites every token under the newest key (``timeline rotate-keys``).
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from corekit.errors import ConfigurationError
from timeline._auth import Principal
from timeline._chain import AUDIT_TYPE, audit
from timeline._crypto import SecretCipher
from timeline._events import tenant_row
from timeline._models import Subject, new_id, utcnow
from timeline.errors import ApiError, ConflictError, NotFoundError, ValidationFailedError
from timeline.mail._imap import ImapConfig, tls_context
from timeline.mail._models import EmailAccount, EmailMessage, EmailSyncRun
from timeline.mail._oauth import OAuth2Refresh
from timeline.mail._schemas import AccountCreate, AccountOut, AccountUpdate, OAuth2RefreshIn
from timeline.settings import Settings

DEFAULT_PORTS = {"tls": 993, "starttls": 143}
# Changing one of these makes the stored UIDs meaningless: the position starts again.
_POSITION_FIELDS = ("host", "port", "mailbox")


class NotConfiguredError(ApiError):
    """The service lacks configuration the request needs (no credential encryption key)."""

    status_code = 500
    code = "NOT_CONFIGURED"


@dataclass(frozen=True)
class Credentials:
    """A decrypted username, secret and OAuth2 refresh settings (kept out of ``repr``).

    ``secret`` is empty for an XOAUTH2 account whose first access token is still to be fetched.
    """

    username: str
    secret: str
    oauth2: OAuth2Refresh | None = None
    _fields: ClassVar[tuple[str, ...]] = ("username", "secret", "oauth2")

    def __repr__(self) -> str:
        """No credential in any repr."""
        return "Credentials(<hidden>)"

    def encrypt(self, cipher: SecretCipher) -> str:
        """The Fernet token stored in ``email_account.credentials``."""
        data: dict[str, Any] = {"username": self.username, "secret": self.secret}
        if self.oauth2 is not None:
            data["oauth2"] = self.oauth2.as_dict()
        return cipher.encrypt(json.dumps(data).encode())

    @classmethod
    def decrypt(cls, cipher: SecretCipher, token: str) -> Credentials:
        """The credentials in ``token``.

        Raises:
            TimelineError: no configured key opens it.
        """
        data = json.loads(cipher.decrypt(token))
        oauth2 = data.get("oauth2")
        return cls(
            username=str(data["username"]),
            secret=str(data["secret"]),
            oauth2=OAuth2Refresh.from_dict(oauth2) if isinstance(oauth2, dict) else None,
        )


def _refresh_config(body: OAuth2RefreshIn) -> OAuth2Refresh:
    return OAuth2Refresh(
        token_url=body.token_url,
        client_id=body.client_id,
        client_secret=body.client_secret.get_secret_value(),
        refresh_token=body.refresh_token.get_secret_value(),
        scope=body.scope or None,
    )


def cipher_for(settings: Settings) -> SecretCipher:
    """The cipher of stored credentials.

    Raises:
        NotConfiguredError: ``TIMELINE_CREDENTIAL_KEYS`` is empty or not valid.
    """
    try:
        return settings.secret_cipher()
    except ConfigurationError as exc:
        msg = f"e-mail accounts need a credential encryption key: {exc}"
        raise NotConfiguredError(msg) from exc


def lease_active(account: EmailAccount, now: datetime | None = None) -> bool:
    """Whether a sync holds the account's lease."""
    until = account.sync_lease_until
    return until is not None and until > (now or utcnow())


def account_out(account: EmailAccount) -> AccountOut:
    """The API view of ``account`` (no credentials)."""
    return AccountOut(
        id=account.id,
        name=account.name,
        subject_id=account.subject_id,
        provider=account.provider,
        host=account.host,
        port=account.port,
        security=account.security,
        auth=account.auth,
        refresh=account.token_refresh,
        token_expires_at=account.token_expires_at,
        mailbox=account.mailbox,
        tls_ca_pem=account.tls_ca_pem,
        uidvalidity=account.uidvalidity,
        last_uid=account.last_uid,
        last_synced_at=account.last_synced_at,
        sync_running=lease_active(account),
        created_at=account.created_at,
        updated_at=account.updated_at,
    )


def imap_config(account: EmailAccount, cipher: SecretCipher, settings: Settings) -> ImapConfig:
    """How to reach ``account``'s mailbox, credentials decrypted.

    Raises:
        TimelineError: no configured key opens the stored credentials.
    """
    return imap_config_with(account, Credentials.decrypt(cipher, account.credentials), settings)


def imap_config_with(account: EmailAccount, creds: Credentials, settings: Settings) -> ImapConfig:
    """How to reach ``account``'s mailbox with the decrypted ``creds``."""
    return ImapConfig(
        account=account.name,
        host=account.host,
        port=account.port,
        security="starttls" if account.security == "starttls" else "tls",
        username=creds.username,
        secret=creds.secret,
        auth="xoauth2" if account.auth == "xoauth2" else "password",
        mailbox=account.mailbox,
        tls_ca_pem=account.tls_ca_pem,
        timeout=settings.mail_imap_timeout,
    )


def _check_ca(pem: str | None) -> None:
    if not pem:
        return
    try:
        tls_context(pem)
    except (ssl.SSLError, ValueError) as exc:
        msg = "tls_ca_pem holds no usable PEM certificate (-----BEGIN CERTIFICATE----- ...)"
        raise ValidationFailedError(msg) from exc


async def _check_subject(session: AsyncSession, tenant_id: str, subject_id: str) -> None:
    stmt = select(Subject.subject_type).where(
        Subject.tenant_id == tenant_id, Subject.id == subject_id
    )
    subject_type = (await session.execute(stmt)).scalar_one_or_none()
    if subject_type is None:
        msg = f"subject {subject_id} does not exist in this tenant; create it first"
        raise NotFoundError(msg)
    if subject_type == AUDIT_TYPE:
        msg = "the audit chain cannot receive mail; choose another subject"
        raise ValidationFailedError(msg)


async def _check_name(
    session: AsyncSession, tenant_id: str, name: str, account_id: str | None = None
) -> None:
    stmt = select(EmailAccount.id).where(
        EmailAccount.tenant_id == tenant_id, EmailAccount.name == name
    )
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found is not None and found != account_id:
        msg = f"an e-mail account named {name!r} exists in this tenant; choose another name"
        raise ConflictError(msg)


def accounts_query(tenant_id: str) -> Select[EmailAccount]:
    """The tenant's accounts, by id."""
    return select(EmailAccount).where(EmailAccount.tenant_id == tenant_id)


async def get_account(session: AsyncSession, tenant_id: str, account_id: str) -> EmailAccount:
    """One account of the tenant.

    Raises:
        NotFoundError: no such account in the tenant.
    """
    return await tenant_row(session, EmailAccount, tenant_id, account_id, "e-mail account")


def _public(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` for the audit record: credentials only as "changed"."""
    out = {}
    for key, value in values.items():
        if key in ("username", "secret"):
            out[key] = "changed"
        elif key == "oauth2":
            out[key] = "changed" if value else "removed"
        elif key == "tls_ca_pem":
            out[key] = "set" if value else "removed"
        else:
            out[key] = value
    return out


async def create_account(
    session: AsyncSession, principal: Principal, body: AccountCreate, cipher: SecretCipher
) -> EmailAccount:
    """A new account (audited).

    Raises:
        NotFoundError: the subject does not exist in the tenant.
        ConflictError: the name is taken.
        ValidationFailedError: the CA bundle is not usable, or the subject is the audit chain.
    """
    _check_ca(body.tls_ca_pem)
    await _check_subject(session, principal.tenant_id, body.subject_id)
    await _check_name(session, principal.tenant_id, body.name)
    now = utcnow()
    account = EmailAccount(
        id=new_id(),
        tenant_id=principal.tenant_id,
        name=body.name,
        subject_id=body.subject_id,
        provider=body.provider,
        host=body.host,
        port=body.port or DEFAULT_PORTS[body.security],
        security=body.security,
        auth=body.auth,
        mailbox=body.mailbox,
        tls_ca_pem=body.tls_ca_pem or None,
        credentials=Credentials(
            body.username,
            body.secret.get_secret_value() if body.secret is not None else "",
            _refresh_config(body.oauth2) if body.oauth2 is not None else None,
        ).encrypt(cipher),
        token_refresh=body.oauth2 is not None,
        token_expires_at=None,
        uidvalidity=None,
        last_uid=0,
        created_at=now,
        updated_at=now,
    )
    session.add(account)
    await session.flush()
    changes = body.model_dump(exclude={"username", "secret", "tls_ca_pem", "oauth2"})
    changes["oauth2"] = "set" if body.oauth2 is not None else None
    changes["port"] = account.port
    changes["tls_ca_pem"] = "set" if account.tls_ca_pem else None
    await audit(
        session,
        principal.tenant_id,
        principal.actor,
        "email_account.create",
        account.id,
        changes=changes,
    )
    return account


def _update_credentials(
    account: EmailAccount, body: AccountUpdate, values: dict[str, Any], settings: Settings
) -> None:
    """Apply the credential part of an update (username, secret, oauth2) to ``account``.

    Raises:
        ValidationFailedError: refresh settings without xoauth2, or no token and no refresh.
        NotConfiguredError: no encryption key is configured.
    """
    auth = values.get("auth", account.auth)
    refresh = account.token_refresh if "oauth2" not in values else body.oauth2 is not None
    if refresh and auth != "xoauth2":
        msg = "oauth2 (token refresh) is only used with auth='xoauth2'; send oauth2: null to "
        msg += "remove it when switching to password"
        raise ValidationFailedError(msg)
    if "username" in values or "secret" in values or "oauth2" in values:
        cipher = cipher_for(settings)
        old = Credentials.decrypt(cipher, account.credentials)
        secret = body.secret.get_secret_value() if body.secret is not None else old.secret
        if not secret and not refresh:
            msg = "this account has no access token and no oauth2 refresh settings; send secret"
            raise ValidationFailedError(msg)
        oauth2 = old.oauth2
        if "oauth2" in values:
            oauth2 = _refresh_config(body.oauth2) if body.oauth2 is not None else None
        account.credentials = Credentials(
            values.get("username", old.username), secret, oauth2
        ).encrypt(cipher)
        account.token_refresh = oauth2 is not None
        if "secret" in values:
            # An access token given by hand: its expiry is unknown (an IMAP refusal renews it).
            account.token_expires_at = None


async def update_account(
    session: AsyncSession,
    principal: Principal,
    account_id: str,
    body: AccountUpdate,
    settings: Settings,
) -> EmailAccount:
    """Change an account (audited); new credentials are encrypted, a new place resets the position.

    Raises:
        NotFoundError: no such account or subject in the tenant.
        ConflictError: the new name is taken, or a sync is running.
        ValidationFailedError: the CA bundle is not usable.
        NotConfiguredError: credentials change and no encryption key is configured.
    """
    account = await get_account(session, principal.tenant_id, account_id)
    values = body.model_dump(exclude_unset=True)
    values = {k: v for k, v in values.items() if v is not None or k in ("tls_ca_pem", "oauth2")}
    if not values:
        return account
    if lease_active(account):
        msg = "a sync of this account is running; change it when the sync has finished"
        raise ConflictError(msg)
    if "tls_ca_pem" in values:
        values["tls_ca_pem"] = values["tls_ca_pem"] or None
        _check_ca(values["tls_ca_pem"])
    if "subject_id" in values:
        await _check_subject(session, principal.tenant_id, values["subject_id"])
    if "name" in values:
        await _check_name(session, principal.tenant_id, values["name"], account.id)
    if "security" in values and "port" not in values and account.port in DEFAULT_PORTS.values():
        values["port"] = DEFAULT_PORTS[values["security"]]
    _update_credentials(account, body, values, settings)
    before = {k: getattr(account, k) for k in _POSITION_FIELDS}
    for key in ("name", "subject_id", "host", "port", "security", "auth", "mailbox", "tls_ca_pem"):
        if key in values:
            setattr(account, key, values[key])
    if any(k in values and values[k] != before[k] for k in _POSITION_FIELDS):
        account.uidvalidity = None
        account.last_uid = 0
    account.updated_at = utcnow()
    await session.flush()
    await audit(
        session,
        principal.tenant_id,
        principal.actor,
        "email_account.update",
        account.id,
        changes=_public(values),
    )
    return account


async def delete_account(session: AsyncSession, principal: Principal, account_id: str) -> None:
    """Delete an account, its runs and imported-id rows (audited); its events stay.

    Raises:
        NotFoundError: no such account in the tenant.
        ConflictError: a sync is running.
    """
    account = await get_account(session, principal.tenant_id, account_id)
    if lease_active(account):
        msg = "a sync of this account is running; delete it when the sync has finished"
        raise ConflictError(msg)
    await session.execute(delete(EmailMessage).where(EmailMessage.account_id == account.id))
    await session.execute(delete(EmailSyncRun).where(EmailSyncRun.account_id == account.id))
    await session.execute(delete(EmailAccount).where(EmailAccount.id == account.id))
    await audit(
        session,
        principal.tenant_id,
        principal.actor,
        "email_account.delete",
        account.id,
        changes={"name": account.name},
    )


async def reencrypt(session: AsyncSession, cipher: SecretCipher) -> int:
    """Re-encrypt every account's stored credentials under the cipher's newest key.

    Runs inside the caller's write transaction (``timeline rotate-keys``).

    Args:
        session: a session in a write transaction.
        cipher: the cipher of ``TIMELINE_CREDENTIAL_KEYS`` (new key first, old ones after).

    Returns:
        How many accounts were rewritten.

    Raises:
        TimelineError: a stored secret opens with none of the keys (nothing is committed if the
            caller lets the error end the transaction).
    """
    rows = (await session.execute(select(EmailAccount.id, EmailAccount.credentials))).all()
    for account_id, token in rows:
        await session.execute(
            update(EmailAccount)
            .where(EmailAccount.id == account_id)
            .values(credentials=cipher.rotate(token))
        )
    return len(rows)

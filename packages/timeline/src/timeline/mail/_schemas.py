"""Request and response models of the e-mail account routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from timeline._api_models import ID_PATTERN
from timeline.mail._oauth import check_token_url

_HOST = r"^[A-Za-z0-9._:\[\]-]{1,253}$"
_MAILBOX = r"^[\x20-\x7e]{1,200}$"

Security = Literal["tls", "starttls"]
Auth = Literal["password", "xoauth2"]
SyncState = Literal["queued", "running", "succeeded", "failed"]


class OAuth2RefreshIn(BaseModel):
    """How to renew an XOAUTH2 account's access token (RFC 6749 refresh_token grant).

    ``client_secret`` and ``refresh_token`` are stored encrypted and never shown.
    """

    model_config = ConfigDict(extra="forbid")

    token_url: str = Field(
        max_length=2000,
        description="the provider's token endpoint; https (plain http only on a loopback host)",
    )
    client_id: str = Field(min_length=1, max_length=500)
    client_secret: SecretStr = Field(min_length=1, max_length=2000, description="write-only")
    refresh_token: SecretStr = Field(min_length=1, max_length=8192, description="write-only")
    scope: str | None = Field(
        default=None, max_length=2000, description="space-separated scopes to ask for"
    )

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        return check_token_url(value)


class AccountCreate(BaseModel):
    """A mailbox to import from. ``username`` and ``secret`` are stored encrypted, never shown."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="unique in the tenant")
    subject_id: str = Field(
        pattern=ID_PATTERN, description="the subject whose chain receives the mail"
    )
    provider: Literal["imap"] = "imap"
    host: str = Field(pattern=_HOST, description="the IMAP server's host name or address")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="default: 993 for tls, 143 for starttls"
    )
    security: Security = Field(
        default="tls", description="tls (implicit, 993) or starttls (143); plain text is refused"
    )
    username: str = Field(min_length=1, max_length=320)
    auth: Auth = Field(
        default="password", description="password (LOGIN) or xoauth2 (an OAuth2 access token)"
    )
    secret: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=8192,
        description="the password or OAuth2 access token; may be omitted for xoauth2 with "
        "oauth2 (a token is then fetched before the first sync)",
    )
    oauth2: OAuth2RefreshIn | None = Field(
        default=None, description="xoauth2 only: renew the access token with a refresh token"
    )
    mailbox: str = Field(
        default="INBOX", pattern=_MAILBOX, description="the mailbox to import (printable ASCII)"
    )
    tls_ca_pem: str | None = Field(
        default=None,
        max_length=65536,
        description="PEM CA bundle that signed the server certificate (private CA); "
        "default: the system CAs",
    )

    @model_validator(mode="after")
    def _auth_fields(self) -> AccountCreate:
        if self.oauth2 is not None and self.auth != "xoauth2":
            msg = "oauth2 (token refresh) is only used with auth='xoauth2'"
            raise ValueError(msg)
        if self.secret is None and self.oauth2 is None:
            msg = "secret is required (the password or access token), unless auth='xoauth2' "
            msg += "with oauth2 refresh settings"
            raise ValueError(msg)
        return self


class AccountUpdate(BaseModel):
    """Fields to change; omitted ones stay.

    A new host, port or mailbox starts the sync position again (dedupe still holds).
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    subject_id: str | None = Field(default=None, pattern=ID_PATTERN)
    host: str | None = Field(default=None, pattern=_HOST)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security | None = None
    username: str | None = Field(default=None, min_length=1, max_length=320)
    auth: Auth | None = None
    secret: SecretStr | None = Field(default=None, min_length=1, max_length=8192)
    mailbox: str | None = Field(default=None, pattern=_MAILBOX)
    tls_ca_pem: str | None = Field(
        default=None, max_length=65536, description="an empty string removes the CA bundle"
    )
    oauth2: OAuth2RefreshIn | None = Field(
        default=None,
        description="new token refresh settings (all fields, replacing the stored ones); "
        "null removes them",
    )


class AccountOut(BaseModel):
    """An e-mail account as the API shows it: never its username or secret."""

    id: str
    name: str
    subject_id: str
    provider: str
    host: str
    port: int
    security: str
    auth: str = Field(description="password or xoauth2")
    refresh: bool = Field(description="xoauth2: the access token is renewed with a refresh token")
    token_expires_at: datetime | None = Field(
        description="xoauth2: when the stored access token expires (null: unknown or none)"
    )
    mailbox: str
    tls_ca_pem: str | None
    uidvalidity: int | None = Field(description="the mailbox validity of the stored position")
    last_uid: int = Field(description="the last UID imported (0: none yet)")
    last_synced_at: datetime | None
    sync_running: bool = Field(description="a sync holds the account's lease now")
    created_at: datetime
    updated_at: datetime


class SyncRunOut(BaseModel):
    """One sync run and its counters."""

    id: str
    account_id: str
    state: SyncState
    trigger: str = Field(description="api or cli")
    total: int = Field(description="messages this run fetches")
    fetched: int
    imported: int = Field(description="new events appended")
    duplicates: int = Field(description="messages skipped because their Message-ID was imported")
    uidvalidity_changed: bool = Field(
        description="the mailbox validity changed, so it was rescanned from the start"
    )
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

"""Request and response models of the e-mail account routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from timeline._api_models import ID_PATTERN

_HOST = r"^[A-Za-z0-9._:\[\]-]{1,253}$"
_MAILBOX = r"^[\x20-\x7e]{1,200}$"

Security = Literal["tls", "starttls"]
Auth = Literal["password", "xoauth2"]
SyncState = Literal["queued", "running", "succeeded", "failed"]


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
    secret: SecretStr = Field(
        min_length=1, max_length=8192, description="the password or OAuth2 access token"
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


class AccountOut(BaseModel):
    """An e-mail account as the API shows it: never its username or secret."""

    id: str
    name: str
    subject_id: str
    provider: str
    host: str
    port: int
    security: str
    auth: str
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

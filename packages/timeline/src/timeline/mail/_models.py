"""Tables of the e-mail feature (registered on timeline's one ``Base.metadata``).

- ``email_account``: one mailbox to import from, its encrypted credentials and sync position
  (UIDVALIDITY, last UID) and the lease that keeps one sync per account at a time.
- ``email_sync_run``: one sync run, its state and counters (read by the status and SSE routes).
- ``email_message``: the Message-ID (a SHA-256 key of the normalised id) of every imported
  message, unique per account: the dedupe across overlapping runs and UIDVALIDITY changes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from timeline._models import Base, new_id, utcnow


class EmailAccount(Base):
    """A mailbox whose new messages become ``email_received`` events on a subject's chain."""

    __tablename__ = "email_account"
    __table_args__ = (Index("ux_email_account_tenant_name", "tenant_id", "name", unique=True),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    name: Mapped[str] = mapped_column(String(200))
    subject_id: Mapped[str] = mapped_column(ForeignKey("subject.id"))
    provider: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(16))
    auth: Mapped[str] = mapped_column(String(16))
    mailbox: Mapped[str] = mapped_column(String(200))
    tls_ca_pem: Mapped[str | None] = mapped_column(Text)
    # Fernet token (settings.secret_cipher()) of {"username": ..., "secret": ...} and, for
    # XOAUTH2 accounts that refresh, "oauth2": {token_url, client_id, client_secret,
    # refresh_token, scope}.
    credentials: Mapped[str] = mapped_column(Text)
    # The access token can be renewed (an OAuth2 refresh configuration is stored).
    token_refresh: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the stored access token expires (from the token endpoint's expires_in).
    token_expires_at: Mapped[datetime | None] = mapped_column()
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_synced_at: Mapped[datetime | None] = mapped_column()
    sync_lease_until: Mapped[datetime | None] = mapped_column()
    sync_lease_owner: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailSyncRun(Base):
    """One sync of an account: ``queued`` -> ``running`` -> ``succeeded`` | ``failed``."""

    __tablename__ = "email_sync_run"
    __table_args__ = (Index("ix_email_sync_run_account_created", "account_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("email_account.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer, default=0)
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    uidvalidity_changed: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class EmailMessage(Base):
    """An imported message of an account, by the SHA-256 of its normalised Message-ID."""

    __tablename__ = "email_message"
    __table_args__ = (
        Index("ux_email_message_account_key", "account_id", "message_key", unique=True),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("email_account.id", ondelete="CASCADE"))
    message_key: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(32))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

"""Typed SQLAlchemy models: the tables the migrations create, described once.

The chain constraints are unique *indexes* rather than table constraints so that both databases
express them the same way (and an operator can inspect them by name).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    """A random 32-character hex id."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always returns an aware UTC datetime (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC (naive for SQLite, which would otherwise store the offset text)."""
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - the signature SQLAlchemy calls
    ) -> datetime | None:
        """Attach UTC to what SQLite returns naive."""
        if value is None or value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every timeline table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Tenant(Base):
    """An isolated customer of the service."""

    __tablename__ = "tenant"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """A person who logs in to one tenant."""

    __tablename__ = "app_user"
    __table_args__ = (UniqueConstraint("tenant_id", "username", name="uq_user_tenant_username"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), index=True)
    username: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on deactivation and password change: every token issued before stops working.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Role(Base):
    """A named set of ``resource:action`` permissions (wildcards allowed)."""

    __tablename__ = "role"
    __table_args__ = (UniqueConstraint("tenant_id", "code", name="uq_role_tenant_code"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    permissions: Mapped[list[str]] = mapped_column(JSON)
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserRole(Base):
    """A role granted to a user."""

    __tablename__ = "user_role"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[str] = mapped_column(
        ForeignKey("role.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), index=True)


class ApiKey(Base):
    """A per-tenant machine credential; only its SHA-256 is stored."""

    __tablename__ = "api_key"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("role.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class Subject(Base):
    """Whatever a chain is about: a customer, a machine, a case."""

    __tablename__ = "subject"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_ref", name="uq_subject_tenant_ref"),
        Index("ix_subject_tenant_type", "tenant_id", "subject_type", "id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    subject_type: Mapped[str] = mapped_column(String(100))
    external_ref: Mapped[str | None] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChainHead(Base):
    """The last (seq, hash) of a subject's chain; the row appends lock."""

    __tablename__ = "chain_head"
    subject_id: Mapped[str] = mapped_column(ForeignKey("subject.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), index=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventSchema(Base):
    """One version of the JSON Schema for an event type."""

    __tablename__ = "event_schema"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_type", "version", name="uq_schema_type_version"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    event_type: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """One link of a chain. Immutable: a trigger refuses UPDATE and DELETE."""

    __tablename__ = "event"
    __table_args__ = (
        Index("ux_event_subject_seq", "subject_id", "seq", unique=True),
        Index("ux_event_subject_prev", "subject_id", "prev_hash", unique=True),
        Index(
            "ux_event_subject_genesis",
            "subject_id",
            unique=True,
            sqlite_where=text("prev_hash IS NULL"),
            postgresql_where=text("prev_hash IS NULL"),
        ),
        Index("ix_event_tenant_time", "tenant_id", "event_time", "id"),
        Index("ix_event_tenant_type_time", "tenant_id", "event_type", "event_time", "id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    subject_id: Mapped[str] = mapped_column(ForeignKey("subject.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(100))
    schema_version: Mapped[int] = mapped_column(Integer)
    event_time: Mapped[datetime] = mapped_column()
    # Canonical JSON text, exactly the bytes that were hashed.
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Checkpoint(Base):
    """A signed Merkle root over every subject head of a tenant at one moment."""

    __tablename__ = "checkpoint"
    __table_args__ = (Index("ix_checkpoint_tenant_created", "tenant_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    subject_count: Mapped[int] = mapped_column(Integer)
    merkle_root: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))


class CheckpointLeaf(Base):
    """One subject head covered by a checkpoint."""

    __tablename__ = "checkpoint_leaf"
    checkpoint_id: Mapped[str] = mapped_column(
        ForeignKey("checkpoint.id", ondelete="CASCADE"), primary_key=True
    )
    subject_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))

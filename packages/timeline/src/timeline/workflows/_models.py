"""Tables of this feature (registered on timeline's one ``Base.metadata``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from timeline._models import Base, new_id, utcnow


class WorkflowRule(Base):
    """A tenant's rule: on an event type whose payload satisfies a condition, run an action.

    ``action`` holds the action's non-secret settings (``type`` plus its fields); a webhook's
    signing secret and extra headers are stored encrypted under the credential keys.
    """

    __tablename__ = "workflow_rule"
    __table_args__ = (Index("ix_workflow_rule_tenant_type", "tenant_id", "event_type"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    name: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    condition: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    action_type: Mapped[str] = mapped_column(String(20))
    action: Mapped[dict[str, Any]] = mapped_column(JSON)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    headers_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowExecution(Base):
    """One run of a rule for one triggering event (its id is a webhook's delivery id).

    ``(rule_id, event_id)`` is unique: a rule acts at most once per event, whoever asks.
    """

    __tablename__ = "workflow_execution"
    __table_args__ = (
        Index("ux_workflow_execution_rule_event", "rule_id", "event_id", unique=True),
        Index("ix_workflow_execution_rule_created", "tenant_id", "rule_id", "created_at", "id"),
        Index("ix_workflow_execution_status", "tenant_id", "action", "status", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    rule_id: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowOutbox(Base):
    """An appended event whose rules have not been evaluated yet (the transactional outbox).

    Written in the append's own transaction when the tenant has rules for the event's type
    (see :meth:`timeline._context.Context.wants_reactions`), deleted once the inline
    evaluation is done; rows a crash left behind are evaluated by the outbox sweeper. No
    foreign key on ``event_id``: PostgreSQL's hot path inserts the row and its event in one
    statement, and events are never deleted.
    """

    __tablename__ = "workflow_outbox"
    __table_args__ = (Index("ix_workflow_outbox_created", "created_at"),)
    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

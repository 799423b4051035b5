"""Request and response bodies of the workflow routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from timeline._api_models import ID_PATTERN, Name, Slug, Version

_RESERVED_HEADERS = {"content-type", "content-length", "host", "transfer-encoding", "connection"}
HeaderName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
]
HeaderValue = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00-\x1f\x7f]*$")]
Condition = Annotated[
    dict[str, Any],
    Field(
        description=(
            "a JSON Schema (Draft 2020-12 unless it names another in $schema) the triggering "
            "event's payload must satisfy; {} matches every event of the type"
        )
    ),
]


def _check_headers(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    if len(value) > 20:
        msg = "at most 20 extra headers"
        raise ValueError(msg)
    for name in value:
        lower = name.lower()
        if lower in _RESERVED_HEADERS or lower.startswith("x-timeline-"):
            msg = f"header {name!r} is set by the service and cannot be configured"
            raise ValueError(msg)
    return value


class AppendEventAction(BaseModel):
    """Append an event to the trigger's subject (or ``subject_id``), validated by its schema."""

    type: Literal["append_event"]
    event_type: Slug
    schema_version: Version
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description="the payload; the service adds the reserved key 'trigger' "
        "(event_id, event_type, subject_id, seq of the triggering event)",
    )
    subject_id: Annotated[str | None, Field(pattern=ID_PATTERN)] = Field(
        default=None, description="append here instead of the triggering event's subject"
    )


class WebhookAction(BaseModel):
    """POST a signed JSON body to ``url`` through the durable delivery queue."""

    type: Literal["webhook"]
    url: Annotated[str, StringConstraints(min_length=8, max_length=2000)]
    headers: dict[HeaderName, HeaderValue] | None = Field(
        default=None,
        description="extra request headers (stored encrypted; only their names are shown); "
        "on update, null keeps the stored ones",
    )

    _headers = field_validator("headers")(_check_headers)


Action = Annotated[AppendEventAction | WebhookAction, Field(discriminator="type")]


class RuleCreate(BaseModel):
    """A new workflow rule."""

    name: Name
    event_type: Slug = Field(description="the event type that triggers the rule")
    condition: Condition = Field(default_factory=dict)
    enabled: bool = True
    action: Action


class RuleUpdate(BaseModel):
    """Changes to a rule; absent fields stay as they are."""

    name: Name | None = None
    event_type: Slug | None = None
    condition: Condition | None = None
    enabled: bool | None = None
    action: Action | None = None
    rotate_secret: bool = Field(
        default=False, description="give the webhook a new signing secret (returned once)"
    )


class RuleOut(BaseModel):
    """A rule, without its webhook secret or header values."""

    id: str
    name: str
    event_type: str
    condition: dict[str, Any]
    enabled: bool
    action: dict[str, Any] = Field(
        description="the action's settings; a webhook shows header_names, never values"
    )
    created_at: datetime
    updated_at: datetime


class RuleCreated(RuleOut):
    """A rule as created or updated; ``secret`` is set only when a new one was made."""

    secret: str | None = Field(
        default=None,
        description="the webhook signing secret: shown in this answer only, keep it safe",
    )


class ExecutionOut(BaseModel):
    """One run of a rule for one triggering event."""

    id: str = Field(description="also the delivery id of a webhook")
    rule_id: str
    event_id: str
    action: str
    status: str = Field(
        description="succeeded | failed (append_event); queued | retrying | delivered | dead "
        "(webhook); failed also for a condition that could not be evaluated"
    )
    attempts: int
    last_status: int | None = Field(description="the receiver's last HTTP status")
    detail: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class DeliveryStep(BaseModel):
    """One step of a delivery's life in the queue."""

    at: datetime
    action: str
    status: str
    attempts: int
    error: str | None
    detail: dict[str, Any] | None


class DeliveryOut(BaseModel):
    """A webhook delivery: its execution log row and its state in the delivery queue."""

    delivery_id: str
    rule_id: str
    event_id: str
    status: str
    attempts: int
    last_status: int | None
    detail: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    queue_status: str | None = Field(
        description="pending | leased | done | dead | held in the queue; null if not queued"
    )
    next_attempt_at: datetime | None
    last_error: str | None
    history: list[DeliveryStep]


DeliveryStatus = Literal["queued", "retrying", "delivered", "dead", "failed"]

"""Request and response bodies of the HTTP API (what the OpenAPI document describes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from timeline._models import Event

T = TypeVar("T")

_NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_NO_NUL)]
Slug = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_.:-]*$")
]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_NO_NUL)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=200, pattern=_NO_NUL)]
Username = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@+-]+$")
]
Email = Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")]
Permission = Annotated[
    str, StringConstraints(min_length=3, max_length=100, pattern=r"^[a-z_*]+:[a-z_*]+$")
]
Version = Annotated[int, Field(ge=1, le=2**31 - 1)]
ID_PATTERN = r"^[0-9a-f]{32}$"


def _utc_representable(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError as exc:
        msg = "event_time is out of range once converted to UTC"
        raise ValueError(msg) from exc
    return value


EventTime = Annotated[AwareDatetime, AfterValidator(_utc_representable)]


class ErrorBody(BaseModel):
    """Every error answer has this shape."""

    error: str = Field(description="stable machine-readable code, e.g. NOT_FOUND")
    message: str = Field(description="what went wrong and what to do")
    details: dict[str, Any] = Field(default_factory=dict)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- tenancy ---------------------------------------------------------------------------------


class TenantCreate(BaseModel):
    """A new tenant and its first admin user."""

    code: Annotated[str, StringConstraints(min_length=3, max_length=32, pattern=r"^[a-z0-9-]+$")]
    name: Name
    admin_username: Username
    admin_password: Password
    admin_email: Email | None = None


class TenantOut(_Out):
    """A tenant."""

    id: str
    code: str
    name: str
    status: str
    created_at: datetime


class TenantCreated(BaseModel):
    """The new tenant and the id of its admin user."""

    tenant: TenantOut
    admin_user_id: str


class TenantUpdate(BaseModel):
    """Rename or change the status of the caller's tenant."""

    name: Name | None = None
    status: Literal["active", "suspended", "archived"] | None = None


class Login(BaseModel):
    """Credentials of a user of a tenant."""

    tenant: Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=_NO_NUL)]
    username: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_NO_NUL)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Refresh(BaseModel):
    """A refresh token from a login."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class Tokens(BaseModel):
    """A short-lived access token and a longer-lived refresh token."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name
    expires_in: int


class UserCreate(BaseModel):
    """A new user of the caller's tenant."""

    username: Username
    password: Password
    email: Email | None = None
    roles: list[Slug] = Field(default_factory=list, max_length=20)


class UserUpdate(BaseModel):
    """Changes to a user; deactivation and a new password end its sessions."""

    is_active: bool | None = None
    password: Password | None = None
    roles: list[Slug] | None = Field(default=None, max_length=20)


class UserOut(BaseModel):
    """A user (never its password hash)."""

    id: str
    username: str
    email: str | None
    is_active: bool
    roles: list[str]
    created_at: datetime


class RoleCreate(BaseModel):
    """A custom role."""

    code: Slug
    name: Name
    permissions: list[Permission] = Field(max_length=100)


class RoleUpdate(BaseModel):
    """Changes to a role."""

    name: Name | None = None
    permissions: list[Permission] | None = Field(default=None, max_length=100)


class RoleOut(_Out):
    """A role and its permissions."""

    code: str
    name: str
    permissions: list[str]
    is_system: bool


class ApiKeyCreate(BaseModel):
    """A new API key acting with one role's permissions."""

    name: Name
    role: Slug


class ApiKeyOut(_Out):
    """An API key (without its secret)."""

    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """A new API key; ``key`` is shown this once and never stored."""

    key: str


# --- subjects, schemas, events ---------------------------------------------------------------


class SubjectCreate(BaseModel):
    """A new subject."""

    subject_type: Slug
    external_ref: Ref | None = None
    display_name: Annotated[str, StringConstraints(max_length=500, pattern=_NO_NUL)] | None = None


class SubjectOut(_Out):
    """A subject."""

    id: str
    subject_type: str
    external_ref: str | None
    display_name: str | None
    created_at: datetime


class SchemaCreate(BaseModel):
    """The next version of an event type's JSON Schema."""

    event_type: Slug
    definition: dict[str, Any] = Field(alias="schema")

    model_config = ConfigDict(populate_by_name=True)


class SchemaOut(BaseModel):
    """One schema version."""

    event_type: str
    version: int
    definition: dict[str, Any] = Field(serialization_alias="schema")
    created_at: datetime


class EventCreate(BaseModel):
    """One event to append."""

    event_type: Slug
    schema_version: Version
    event_time: EventTime
    payload: dict[str, Any]


class EventBatch(BaseModel):
    """Events appended in order, in one transaction: all or none."""

    events: list[EventCreate] = Field(min_length=1, max_length=1000)


class EventOut(BaseModel):
    """A stored event and its place in the chain."""

    id: str
    subject_id: str
    seq: int
    event_type: str
    schema_version: int
    event_time: datetime
    payload: dict[str, Any]
    prev_hash: str | None
    hash: str
    recorded_at: datetime

    @classmethod
    def of(cls, event: Event) -> EventOut:
        """The response body of a stored event."""
        return cls(
            id=event.id,
            subject_id=event.subject_id,
            seq=event.seq,
            event_type=event.event_type,
            schema_version=event.schema_version,
            event_time=event.event_time,
            payload=json.loads(event.payload),
            prev_hash=event.prev_hash,
            hash=event.hash,
            recorded_at=event.recorded_at,
        )


class Page(BaseModel, Generic[T]):
    """One page of a keyset-paginated list; pass ``next_cursor`` back as ``cursor``."""

    items: list[T]
    next_cursor: str | None
    total: int


# --- verification and checkpoints ------------------------------------------------------------


class FindingOut(BaseModel):
    """Where a chain first goes wrong, and why."""

    code: str
    subject_id: str | None
    seq: int | None
    event_id: str | None
    message: str


class VerificationOut(BaseModel):
    """A verification result; only ``status == "valid"`` means everything checked out."""

    status: Literal["valid", "invalid", "partial"]
    complete: bool
    subjects_checked: int
    events_checked: int
    findings: list[FindingOut]
    findings_truncated: bool
    checkpoint_id: str | None
    resume_after: str | None


class LeafOut(BaseModel):
    """One subject head a checkpoint commits to."""

    subject_id: str
    seq: int
    hash: str


class CheckpointOut(BaseModel):
    """A signed checkpoint, exportable and checkable without the database."""

    id: str
    tenant_id: str
    created_at: str
    subject_count: int
    merkle_root: str
    key_id: str
    signature: str
    public_key: str | None = None
    leaves: list[LeafOut] = Field(default_factory=list)


class TenantVerify(BaseModel):
    """Options of a tenant-wide verification."""

    max_events: Annotated[int, Field(ge=1, le=10**9)] | None = None
    after_subject: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = None
    checkpoint: CheckpointOut | None = Field(
        default=None, description="an exported checkpoint to check against instead of the newest"
    )

"""The HTTP routes under ``/api/v1``; every one checks a permission or is listed as public."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.security import APIKeyHeader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from timeline import _events, _tenancy
from timeline._api_models import (
    ID_PATTERN,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    CheckpointOut,
    ErrorBody,
    EventBatch,
    EventCreate,
    EventOut,
    Login,
    Page,
    Refresh,
    RoleCreate,
    RoleOut,
    RoleUpdate,
    SchemaCreate,
    SchemaOut,
    SubjectCreate,
    SubjectOut,
    TenantCreate,
    TenantCreated,
    TenantOut,
    TenantUpdate,
    TenantVerify,
    Tokens,
    UserCreate,
    UserOut,
    UserUpdate,
    VerificationOut,
)
from timeline._auth import Principal, check_password_or_dummy, hash_password
from timeline._chain import AUDIT_REF, append, run_write
from timeline._checkpoint import CheckpointData, create_checkpoint, load_checkpoint
from timeline._context import Context, ContextDep, require
from timeline._models import ApiKey, Checkpoint, Event, EventSchema, Role, Subject, User
from timeline._verify import Verifier
from timeline.errors import ApiError, NotFoundError, UnauthorizedError

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 422, 429)
}
router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

Id = Annotated[str, Path(pattern=ID_PATTERN, description="a 32-hex-digit id")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=500)]
_admin_token = APIKeyHeader(
    name="X-Admin-Token", auto_error=False, description="the platform admin token"
)

#: Routes reachable without a tenant permission (checked by the route walk test).
PUBLIC_ROUTES = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/tenants"),
}


def _tokens(ctx: ContextDep, user: User) -> Tokens:
    return Tokens(
        access_token=ctx.tokens.issue(user.id, user.tenant_id, user.token_version, "access"),
        refresh_token=ctx.tokens.issue(user.id, user.tenant_id, user.token_version, "refresh"),
        expires_in=ctx.tokens.access_ttl,
    )


async def _user_out(session: AsyncSession, user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        email=user.email,
        is_active=user.is_active,
        roles=await _tenancy.user_roles(session, user.id),
        created_at=user.created_at,
    )


def _schema_out(schema: EventSchema) -> SchemaOut:
    return SchemaOut(
        event_type=schema.event_type,
        version=schema.version,
        definition=schema.definition,
        created_at=schema.created_at,
    )


# --- platform and auth -----------------------------------------------------------------------


@router.post("/tenants", status_code=201, tags=["tenants"])
async def create_tenant(
    body: TenantCreate,
    ctx: ContextDep,
    token: Annotated[str | None, Depends(_admin_token)],
) -> TenantCreated:
    """Create a tenant with seeded roles and its first admin user (platform admin only)."""
    configured = ctx.settings.admin_token
    if configured is None:
        msg = (
            "tenant creation over HTTP is off: set TIMELINE_ADMIN_TOKEN, "
            "or use `timeline tenant create`"
        )
        raise UnauthorizedError(msg)
    if token is None or not hmac.compare_digest(
        token.encode(), configured.get_secret_value().encode()
    ):
        msg = "send the platform admin token in X-Admin-Token"
        raise UnauthorizedError(msg)
    password_hash = await hash_password(body.admin_password)

    async def work(session: AsyncSession) -> TenantCreated:
        tenant, user = await _tenancy.create_tenant(
            session,
            code=body.code,
            name=body.name,
            admin_username=body.admin_username,
            admin_password_hash=password_hash,
            admin_email=body.admin_email,
        )
        return TenantCreated(tenant=TenantOut.model_validate(tenant), admin_user_id=user.id)

    return await run_write(ctx.db, work, retries=ctx.settings.append_retries)


@router.post("/auth/login", tags=["auth"])
async def login(body: Login, ctx: ContextDep) -> Tokens:
    """Exchange a tenant user's credentials for an access and a refresh token."""
    async with ctx.db.read() as session:
        tenant = await _tenancy.tenant_by_code(session, body.tenant)
        user = None
        if tenant is not None:
            stmt = select(User).where(User.tenant_id == tenant.id, User.username == body.username)
            user = (await session.execute(stmt)).scalar_one_or_none()
    ok = await check_password_or_dummy(body.password, user.password_hash if user else None)
    if not ok or user is None or tenant is None or not user.is_active or tenant.status != "active":
        msg = "unknown tenant, user or password, or the account is inactive"
        raise UnauthorizedError(msg)
    return _tokens(ctx, user)


@router.post("/auth/refresh", tags=["auth"])
async def refresh(body: Refresh, ctx: ContextDep) -> Tokens:
    """A new token pair for a valid refresh token of a still-active user."""
    claims = ctx.tokens.check(body.refresh_token, "refresh")
    async with ctx.db.read() as session:
        await _tenancy.principal_for_user(session, claims)
        user = await _tenancy.get_user(session, claims.tenant_id, claims.user_id)
    return _tokens(ctx, user)


# --- tenant, users, roles, keys --------------------------------------------------------------


@router.get("/tenant", tags=["tenants"])
async def get_tenant(ctx: ContextDep, p: Annotated[Principal, require("tenant:read")]) -> TenantOut:
    """The caller's tenant."""
    async with ctx.db.read() as session:
        return TenantOut.model_validate(await _tenancy.get_tenant(session, p.tenant_id))


@router.patch("/tenant", tags=["tenants"])
async def update_tenant(
    body: TenantUpdate, ctx: ContextDep, p: Annotated[Principal, require("tenant:update")]
) -> TenantOut:
    """Rename the caller's tenant or change its status."""

    async def work(session: AsyncSession) -> TenantOut:
        tenant = await _tenancy.update_tenant(session, p, name=body.name, status=body.status)
        return TenantOut.model_validate(tenant)

    return await run_write(ctx.db, work, retries=ctx.settings.append_retries)


@router.post("/users", status_code=201, tags=["users"])
async def create_user(
    body: UserCreate, ctx: ContextDep, p: Annotated[Principal, require("user:create")]
) -> UserOut:
    """Add a user to the caller's tenant."""
    password_hash = await hash_password(body.password)

    async def work(session: AsyncSession) -> UserOut:
        user = await _tenancy.create_user(
            session,
            p.tenant_id,
            p.actor,
            username=body.username,
            email=body.email,
            password_hash=password_hash,
            roles=body.roles,
        )
        return await _user_out(session, user)

    return await run_write(ctx.db, work, retries=ctx.settings.append_retries)


@router.get("/users", tags=["users"])
async def list_users(
    ctx: ContextDep,
    p: Annotated[Principal, require("user:read")],
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[UserOut]:
    """The tenant's users, by id."""
    async with ctx.db.read() as session:
        base = select(User).where(User.tenant_id == p.tenant_id)
        rows, next_cursor, total = await _events.page_by_id(session, base, User.id, cursor, limit)
        items = [await _user_out(session, u) for u in rows]
    return Page(items=items, next_cursor=next_cursor, total=total)


@router.get("/users/{user_id}", tags=["users"])
async def get_user(
    user_id: Id, ctx: ContextDep, p: Annotated[Principal, require("user:read")]
) -> UserOut:
    """One user of the tenant."""
    async with ctx.db.read() as session:
        return await _user_out(session, await _tenancy.get_user(session, p.tenant_id, user_id))


@router.patch("/users/{user_id}", tags=["users"])
async def update_user(
    user_id: Id, body: UserUpdate, ctx: ContextDep, p: Annotated[Principal, require("user:update")]
) -> UserOut:
    """Deactivate, reactivate, reset the password or replace the roles of a user."""
    password_hash = None if body.password is None else await hash_password(body.password)

    async def work(session: AsyncSession) -> UserOut:
        user = await _tenancy.update_user(
            session,
            p,
            user_id,
            is_active=body.is_active,
            password_hash=password_hash,
            roles=body.roles,
        )
        return await _user_out(session, user)

    return await run_write(ctx.db, work, retries=ctx.settings.append_retries)


@router.get("/roles", tags=["roles"])
async def list_roles(
    ctx: ContextDep, p: Annotated[Principal, require("role:read")]
) -> list[RoleOut]:
    """The tenant's roles."""
    async with ctx.db.read() as session:
        rows = await session.execute(
            select(Role).where(Role.tenant_id == p.tenant_id).order_by(Role.code)
        )
        return [RoleOut.model_validate(r) for r in rows.scalars()]


@router.post("/roles", status_code=201, tags=["roles"])
async def create_role(
    body: RoleCreate, ctx: ContextDep, p: Annotated[Principal, require("role:create")]
) -> RoleOut:
    """A custom role with ``resource:action`` permissions (``*`` as a whole segment)."""

    async def work(session: AsyncSession) -> RoleOut:
        role = await _tenancy.create_role(
            session, p, code=body.code, name=body.name, permissions=body.permissions
        )
        return RoleOut.model_validate(role)

    return await run_write(ctx.db, work, retries=ctx.settings.append_retries)


@router.patch("/roles/{code}", tags=["roles"])
async def update_role(
    code: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.:-]{0,99}$")],
    body: RoleUpdate,
    ctx: ContextDep,
    p: Annotated[Principal, require("role:update")],
) -> RoleOut:
    """Rename a role or replace its permissions."""

    async def work(session: AsyncSession) -> RoleOut:
        role = await _tenancy.update_role(
            session, p, code, name=body.name, permissions=body.permissions
        )
        return RoleOut.model_validate(role)

    return await run_write(ctx.db, work, retries=ctx.settings.append_retries)


@router.post("/api-keys", status_code=201, tags=["api keys"])
async def create_api_key(
    body: ApiKeyCreate, ctx: ContextDep, p: Annotated[Principal, require("api_key:create")]
) -> ApiKeyCreated:
    """A new API key; its secret is in this answer only."""

    async def work(session: AsyncSession) -> ApiKeyCreated:
        key, secret = await _tenancy.create_api_key(session, p, name=body.name, role=body.role)
        return ApiKeyCreated(
            id=key.id, name=key.name, created_at=key.created_at, revoked_at=None, key=secret
        )

    return await run_write(ctx.db, work, retries=ctx.settings.append_retries)


@router.get("/api-keys", tags=["api keys"])
async def list_api_keys(
    ctx: ContextDep, p: Annotated[Principal, require("api_key:read")]
) -> list[ApiKeyOut]:
    """The tenant's API keys (without secrets)."""
    async with ctx.db.read() as session:
        rows = await session.execute(
            select(ApiKey).where(ApiKey.tenant_id == p.tenant_id).order_by(ApiKey.created_at)
        )
        return [ApiKeyOut.model_validate(k) for k in rows.scalars()]


@router.delete("/api-keys/{key_id}", tags=["api keys"])
async def revoke_api_key(
    key_id: Id, ctx: ContextDep, p: Annotated[Principal, require("api_key:delete")]
) -> ApiKeyOut:
    """Revoke an API key."""

    async def work(session: AsyncSession) -> ApiKeyOut:
        return ApiKeyOut.model_validate(await _tenancy.revoke_api_key(session, p, key_id))

    return await run_write(ctx.db, work, retries=ctx.settings.append_retries)


# --- subjects and schemas --------------------------------------------------------------------


@router.post("/subjects", status_code=201, tags=["subjects"])
async def create_subject(
    body: SubjectCreate, ctx: ContextDep, p: Annotated[Principal, require("subject:create")]
) -> SubjectOut:
    """A subject with an empty chain; ``external_ref`` is unique per tenant."""

    async def work(session: AsyncSession) -> SubjectOut:
        subject = await _events.new_subject(
            session,
            p,
            subject_type=body.subject_type,
            external_ref=body.external_ref,
            display_name=body.display_name,
        )
        return SubjectOut.model_validate(subject)

    return await run_write(ctx.db, work, retries=ctx.settings.append_retries)


@router.get("/subjects", tags=["subjects"])
async def list_subjects(
    *,
    ctx: ContextDep,
    p: Annotated[Principal, require("subject:read")],
    subject_type: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
    external_ref: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[SubjectOut]:
    """The tenant's subjects by id, optionally by type or external reference."""
    async with ctx.db.read() as session:
        base = _events.subjects_query(p.tenant_id, subject_type, external_ref)
        rows, next_cursor, total = await _events.page_by_id(
            session, base, Subject.id, cursor, limit
        )
    items = [SubjectOut.model_validate(s) for s in rows]
    return Page(items=items, next_cursor=next_cursor, total=total)


@router.get("/subjects/{subject_id}", tags=["subjects"])
async def get_subject(
    subject_id: Id, ctx: ContextDep, p: Annotated[Principal, require("subject:read")]
) -> SubjectOut:
    """One subject."""
    async with ctx.db.read() as session:
        return SubjectOut.model_validate(
            await _events.get_subject(session, p.tenant_id, subject_id)
        )


@router.post("/schemas", status_code=201, tags=["schemas"])
async def create_schema(
    body: SchemaCreate, ctx: ContextDep, p: Annotated[Principal, require("schema:create")]
) -> SchemaOut:
    """The next version of an event type's JSON Schema (versions are immutable)."""

    async def work(session: AsyncSession) -> SchemaOut:
        schema = await _events.new_schema(
            session, p, event_type=body.event_type, definition=body.definition
        )
        return _schema_out(schema)

    return await run_write(ctx.db, work, retries=ctx.settings.append_retries)


@router.get("/schemas", tags=["schemas"])
async def list_schemas(
    ctx: ContextDep,
    p: Annotated[Principal, require("schema:read")],
    event_type: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
) -> list[SchemaOut]:
    """Every schema version of the tenant, optionally of one event type."""
    async with ctx.db.read() as session:
        stmt = select(EventSchema).where(EventSchema.tenant_id == p.tenant_id)
        if event_type is not None:
            stmt = stmt.where(EventSchema.event_type == event_type)
        rows = await session.execute(
            stmt.order_by(EventSchema.event_type, EventSchema.version).limit(1000)
        )
        return [_schema_out(s) for s in rows.scalars()]


@router.get("/schemas/{event_type}/{version}", tags=["schemas"])
async def get_schema(
    event_type: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.:-]{0,99}$")],
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    ctx: ContextDep,
    p: Annotated[Principal, require("schema:read")],
) -> SchemaOut:
    """One schema version."""
    async with ctx.db.read() as session:
        return _schema_out(await _events.get_schema(session, p.tenant_id, event_type, version))


# --- events ----------------------------------------------------------------------------------


def _items(events: list[EventCreate]) -> list[_events.EventInput]:
    return [
        _events.EventInput(e.event_type, e.schema_version, e.event_time, e.payload) for e in events
    ]


async def _append(
    ctx: Context, p: Principal, subject_id: str, bodies: list[EventCreate]
) -> list[EventOut]:
    # Events that may trigger a workflow rule also get an outbox row in their transaction, so
    # the reaction happens even if this process dies between the commit and the listener.
    outbox = await ctx.wants_reactions(p.tenant_id, {b.event_type for b in bodies})
    appender = await ctx.appender()
    if appender is None:
        items = _items(bodies)

        async def work(session: AsyncSession) -> list[Event]:
            prepared = [await _events.prepare(session, p.tenant_id, item) for item in items]
            return await append(session, p.tenant_id, subject_id, prepared, outbox=outbox)

        events = await run_write(ctx.db, work, retries=ctx.settings.append_retries)
    else:
        prepared = await _events.prepare_all(ctx.db, p.tenant_id, _items(bodies))
        events = await appender.append(p.tenant_id, subject_id, prepared, outbox=outbox)
    # Committed: workflows react now (a failing reaction never fails this append).
    await ctx.events_appended(p.tenant_id, events, origin="api")
    return [EventOut.of(e) for e in events]


@router.post("/subjects/{subject_id}/events", status_code=201, tags=["events"])
async def append_event(
    subject_id: Id,
    body: EventCreate,
    ctx: ContextDep,
    p: Annotated[Principal, require("event:create")],
) -> EventOut:
    """Append one event to the subject's chain; answered only once it is committed."""
    (event,) = await _append(ctx, p, subject_id, [body])
    return event


@router.post("/subjects/{subject_id}/events/batch", status_code=201, tags=["events"])
async def append_batch(
    subject_id: Id,
    body: EventBatch,
    ctx: ContextDep,
    p: Annotated[Principal, require("event:create")],
) -> list[EventOut]:
    """Append events in order in one transaction: all are written or none."""
    return await _append(ctx, p, subject_id, body.events)


@router.get("/subjects/{subject_id}/events", tags=["events"])
async def subject_events(
    *,
    subject_id: Id,
    ctx: ContextDep,
    p: Annotated[Principal, require("event:read")],
    order: Annotated[str, Query(pattern="^(chain|newest)$")] = "chain",
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[EventOut]:
    """The subject's events in chain order (``order=chain``) or newest first."""
    async with ctx.db.read() as session:
        rows, nxt, total = await _events.subject_events(
            session,
            p.tenant_id,
            subject_id,
            newest_first=order == "newest",
            cursor=cursor,
            limit=limit,
        )
    return Page(items=[EventOut.of(e) for e in rows], next_cursor=nxt, total=total)


@router.get("/events", tags=["events"])
async def list_events(
    *,
    ctx: ContextDep,
    p: Annotated[Principal, require("event:read")],
    event_type: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[EventOut]:
    """The tenant's events by event time, optionally by type and ``[since, until)``."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            msg = f"{name} needs a UTC offset, e.g. 2024-05-01T00:00:00Z"
            raise ApiError(msg)
    async with ctx.db.read() as session:
        rows, nxt, total = await _events.tenant_events(
            session,
            p.tenant_id,
            event_type=event_type,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
        )
    return Page(items=[EventOut.of(e) for e in rows], next_cursor=nxt, total=total)


@router.get("/events/{event_id}", tags=["events"])
async def get_event(
    event_id: Id, ctx: ContextDep, p: Annotated[Principal, require("event:read")]
) -> EventOut:
    """One event."""
    async with ctx.db.read() as session:
        return EventOut.of(await _events.get_event(session, p.tenant_id, event_id))


@router.get("/audit", tags=["audit"])
async def audit_trail(
    ctx: ContextDep,
    p: Annotated[Principal, require("audit:read")],
    order: Annotated[str, Query(pattern="^(chain|newest)$")] = "newest",
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[EventOut]:
    """The tenant's audit chain: every change to tenant, users, roles, keys and schemas."""
    async with ctx.db.read() as session:
        stmt = select(Subject.id).where(
            Subject.tenant_id == p.tenant_id, Subject.external_ref == AUDIT_REF
        )
        audit_id = (await session.execute(stmt)).scalar_one()
        rows, nxt, total = await _events.subject_events(
            session,
            p.tenant_id,
            audit_id,
            newest_first=order == "newest",
            cursor=cursor,
            limit=limit,
        )
    return Page(items=[EventOut.of(e) for e in rows], next_cursor=nxt, total=total)


# --- verification and checkpoints ------------------------------------------------------------


def _verification(verifier: Verifier) -> VerificationOut:
    return VerificationOut.model_validate(verifier.result().to_dict())


@router.get("/subjects/{subject_id}/verify", tags=["verification"])
async def verify_subject(
    subject_id: Id, ctx: ContextDep, p: Annotated[Principal, require("verification:run")]
) -> VerificationOut:
    """Verify one subject's chain against its head and the newest checkpoint."""
    async with ctx.db.read() as session:
        await _events.get_subject(session, p.tenant_id, subject_id)
        verifier = Verifier(
            session,
            p.tenant_id,
            page_size=ctx.settings.verify_page_size,
            checkpoint=await load_checkpoint(session, p.tenant_id),
            public_key=ctx.signing_key.public_key(),
        )
        await verifier.subject(subject_id)
    return _verification(verifier)


@router.post("/verify", tags=["verification"])
async def verify_tenant(
    body: TenantVerify, ctx: ContextDep, p: Annotated[Principal, require("verification:run")]
) -> VerificationOut:
    """Verify every chain of the tenant (``max_events`` bounds the work; resume after)."""
    async with ctx.db.read() as session:
        checkpoint = (
            CheckpointData.from_export(body.checkpoint.model_dump())
            if body.checkpoint is not None
            else await load_checkpoint(session, p.tenant_id)
        )
        verifier = Verifier(
            session,
            p.tenant_id,
            page_size=ctx.settings.verify_page_size,
            max_events=body.max_events,
            checkpoint=checkpoint,
            public_key=ctx.signing_key.public_key(),
        )
        await verifier.tenant(body.after_subject)
    return _verification(verifier)


def _checkpoint_out(ctx: ContextDep, data: CheckpointData) -> CheckpointOut:
    return CheckpointOut.model_validate(data.export(ctx.signing_key.public_key()))


@router.post("/checkpoints", status_code=201, tags=["checkpoints"])
async def new_checkpoint(
    ctx: ContextDep, p: Annotated[Principal, require("checkpoint:create")]
) -> CheckpointOut:
    """Sign the Merkle root of every chain head of the tenant now; keep the export safe."""

    async def work(session: AsyncSession) -> CheckpointData:
        return await create_checkpoint(session, p.tenant_id, p.actor, ctx.signing_key)

    return _checkpoint_out(ctx, await run_write(ctx.db, work, retries=ctx.settings.append_retries))


@router.get("/checkpoints", tags=["checkpoints"])
async def list_checkpoints(
    ctx: ContextDep, p: Annotated[Principal, require("checkpoint:read")], limit: Limit = 100
) -> list[CheckpointOut]:
    """The tenant's newest checkpoints (without leaves)."""
    async with ctx.db.read() as session:
        rows = await session.execute(
            select(Checkpoint)
            .where(Checkpoint.tenant_id == p.tenant_id)
            .order_by(Checkpoint.created_at.desc(), Checkpoint.id.desc())
            .limit(limit)
        )
        return [
            _checkpoint_out(
                ctx,
                CheckpointData(
                    c.id,
                    c.tenant_id,
                    c.created_at,
                    c.subject_count,
                    c.merkle_root,
                    c.key_id,
                    c.signature,
                ),
            )
            for c in rows.scalars()
        ]


@router.get("/checkpoints/{checkpoint_id}", tags=["checkpoints"])
async def export_checkpoint(
    checkpoint_id: Id, ctx: ContextDep, p: Annotated[Principal, require("checkpoint:read")]
) -> CheckpointOut:
    """A checkpoint with its leaves and the public key: keep it outside the database."""
    async with ctx.db.read() as session:
        data = await load_checkpoint(session, p.tenant_id, checkpoint_id)
    if data is None:  # pragma: no cover - load_checkpoint raises for a named id
        raise NotFoundError(checkpoint_id)
    return _checkpoint_out(ctx, data)

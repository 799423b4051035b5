"""HTTP routes of this feature, under ``/api/v1``."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from corekit.errors import ConfigurationError
from corekit.queue import QueueItem, QueueItemStatus
from timeline import _events
from timeline._api_models import Page
from timeline._auth import Principal
from timeline._chain import audit, run_write
from timeline._context import Context, ContextDep, require
from timeline._crypto import SecretCipher
from timeline._models import new_id, utcnow
from timeline._routes import ERROR_RESPONSES, Cursor, Id, Limit
from timeline.errors import ApiError, ConflictError, NotFoundError, ValidationFailedError
from timeline.workflows import _log
from timeline.workflows._api import (
    AppendEventAction,
    DeliveryOut,
    DeliveryStatus,
    DeliveryStep,
    ExecutionOut,
    RuleCreate,
    RuleCreated,
    RuleOut,
    RuleUpdate,
    WebhookAction,
)
from timeline.workflows._engine import TRIGGER_KEY, Engine
from timeline.workflows._models import WorkflowExecution, WorkflowRule
from timeline.workflows._rules import check_url_target, compile_condition
from timeline.workflows._webhooks import delivery_key

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["workflows"])
SECRET_PREFIX = "whsec_"  # noqa: S105 - a marker, not a secret


async def get_engine(request: Request) -> Engine:
    """The workflow engine of the running app."""
    engine: Engine = request.app.state.timeline_workflows
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def _rule_out(rule: WorkflowRule, secret: str | None = None) -> RuleCreated:
    return RuleCreated(
        id=rule.id,
        name=rule.name,
        event_type=rule.event_type,
        condition=rule.condition,
        enabled=rule.enabled,
        action={"type": rule.action_type, **rule.action},
        created_at=rule.created_at,
        updated_at=rule.updated_at,
        secret=secret,
    )


def _cipher(ctx: Context) -> SecretCipher:
    try:
        return ctx.settings.secret_cipher()
    except ConfigurationError as exc:
        msg = f"webhook rules need stored-secret encryption: {exc}"
        raise ApiError(msg) from exc


async def _check_action(
    ctx: Context, session: AsyncSession, tenant_id: str, action: AppendEventAction | WebhookAction
) -> None:
    if isinstance(action, WebhookAction):
        await check_url_target(action.url, allow_private=ctx.settings.webhook_allow_private)
        return
    if TRIGGER_KEY in action.payload:
        msg = f"payload key {TRIGGER_KEY!r} is reserved: the service fills it with the trigger"
        raise ValidationFailedError(msg)
    try:
        await _events.get_schema(session, tenant_id, action.event_type, action.schema_version)
        if action.subject_id is not None:
            await _events.get_subject(session, tenant_id, action.subject_id)
    except NotFoundError as exc:
        raise ValidationFailedError(f"action: {exc.message}") from exc


def _apply_action(
    ctx: Context,
    rule: WorkflowRule,
    action: AppendEventAction | WebhookAction,
    *,
    rotate_secret: bool,
) -> str | None:
    """Store ``action`` on ``rule``; the new webhook secret, if one was made."""
    new_secret = None
    if isinstance(action, AppendEventAction):
        rule.action_type = "append_event"
        rule.action = action.model_dump(exclude={"type"})
        rule.secret_encrypted = rule.headers_encrypted = None
        return None
    cipher = _cipher(ctx)
    if rule.action_type != "webhook" or rule.secret_encrypted is None or rotate_secret:
        new_secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        rule.secret_encrypted = cipher.encrypt(new_secret.encode())
    headers: dict[str, str] | None = action.headers
    if headers is None and rule.action_type == "webhook":
        names = list(rule.action.get("header_names", []))
    else:
        headers = headers or {}
        rule.headers_encrypted = cipher.encrypt(json.dumps(headers).encode()) if headers else None
        names = sorted(headers)
    rule.action_type = "webhook"
    rule.action = {"url": action.url, "header_names": names}
    return new_secret


def _changes(rule: WorkflowRule) -> dict[str, Any]:
    # What the audit chain records: never the secret or header values.
    return {
        "name": rule.name,
        "event_type": rule.event_type,
        "enabled": rule.enabled,
        "action": {"type": rule.action_type, **rule.action},
    }


async def _rule(session: AsyncSession, tenant_id: str, rule_id: str) -> WorkflowRule:
    return await _events.tenant_row(session, WorkflowRule, tenant_id, rule_id, "workflow rule")


@router.post("/workflows", status_code=201)
async def create_rule(
    body: RuleCreate,
    ctx: ContextDep,
    engine: EngineDep,
    p: Annotated[Principal, require("workflow:create")],
) -> RuleCreated:
    """A rule: when ``event_type`` is appended and its payload satisfies ``condition``, act.

    A webhook's signing secret is in this answer only.
    """
    compile_condition(body.condition)

    async def work(session: AsyncSession) -> RuleCreated:
        await _check_action(ctx, session, p.tenant_id, body.action)
        now = utcnow()
        rule = WorkflowRule(
            id=new_id(),
            tenant_id=p.tenant_id,
            name=body.name,
            event_type=body.event_type,
            condition=body.condition,
            enabled=body.enabled,
            created_at=now,
            updated_at=now,
        )
        secret = _apply_action(ctx, rule, body.action, rotate_secret=True)
        session.add(rule)
        await session.flush()
        await audit(
            session, p.tenant_id, p.actor, "workflow.created", rule.id, changes=_changes(rule)
        )
        return _rule_out(rule, secret)

    created = await run_write(ctx.db, work, retries=ctx.settings.append_retries)
    engine.rules.invalidate(p.tenant_id)
    return created


@router.get("/workflows")
async def list_rules(
    ctx: ContextDep,
    p: Annotated[Principal, require("workflow:read")],
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[RuleOut]:
    """The tenant's rules, by id."""
    async with ctx.db.read() as session:
        base = select(WorkflowRule).where(WorkflowRule.tenant_id == p.tenant_id)
        rows, next_cursor, total = await _events.page_by_id(
            session, base, WorkflowRule.id, cursor, limit
        )
    items = [RuleOut.model_validate(_rule_out(r).model_dump()) for r in rows]
    return Page(items=items, next_cursor=next_cursor, total=total)


# --- deliveries (before /workflows/{rule_id}, which would not match them anyway) -------------


def _epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


async def _delivery_out(engine: Engine, row: WorkflowExecution) -> DeliveryOut:
    queue = engine.queue.get()
    item = await queue.get_by_key(delivery_key(row.rule_id, row.event_id))
    history = [] if item is None else await queue.history(item.id)
    pending = item is not None and item.status is QueueItemStatus.PENDING
    return DeliveryOut(
        delivery_id=row.id,
        rule_id=row.rule_id,
        event_id=row.event_id,
        status=row.status,
        attempts=row.attempts,
        last_status=row.last_status,
        detail=row.detail,
        created_at=row.created_at,
        updated_at=row.updated_at,
        queue_status=None if item is None else item.status.value,
        next_attempt_at=_epoch(item.not_before) if pending and item is not None else None,
        last_error=None if item is None else item.last_error,
        history=[
            DeliveryStep(
                at=_epoch(h.at) or utcnow(),
                action=h.action,
                status=h.status.value,
                attempts=h.attempts,
                error=h.error,
                detail=h.detail,
            )
            for h in history
        ],
    )


def _newest_first(stmt: Any, cursor: str | None) -> Any:  # keyset on (created_at, id), newest first
    if cursor is None:
        return stmt
    time_text, last_id = _events.decode_cursor(cursor, 2)
    try:
        after = datetime.fromisoformat(str(time_text))
    except ValueError as exc:
        msg = "cursor is not valid; pass next_cursor from the previous page unchanged"
        raise ValidationFailedError(msg) from exc
    return stmt.where(
        or_(
            WorkflowExecution.created_at < after,
            and_(WorkflowExecution.created_at == after, WorkflowExecution.id < str(last_id)),
        )
    )


async def _executions(
    session: AsyncSession, base: Any, cursor: str | None, limit: int
) -> tuple[list[WorkflowExecution], str | None, int]:
    total = await _events.count(session, base)
    stmt = _newest_first(base, cursor).order_by(
        WorkflowExecution.created_at.desc(), WorkflowExecution.id.desc()
    )
    rows = list((await session.execute(stmt.limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = _events.encode_cursor(rows[-1].created_at.isoformat(), rows[-1].id) if more else None
    return rows, nxt, total


@router.get("/workflows/deliveries")
async def list_deliveries(
    *,
    ctx: ContextDep,
    engine: EngineDep,
    p: Annotated[Principal, require("workflow:read")],
    status: DeliveryStatus | None = None,
    rule_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[DeliveryOut]:
    """The tenant's webhook deliveries, newest first, with their queue state and history."""
    async with ctx.db.read() as session:
        base = select(WorkflowExecution).where(
            WorkflowExecution.tenant_id == p.tenant_id, WorkflowExecution.action == "webhook"
        )
        if status is not None:
            base = base.where(WorkflowExecution.status == status)
        if rule_id is not None:
            base = base.where(WorkflowExecution.rule_id == rule_id)
        rows, nxt, total = await _executions(session, base, cursor, limit)
    return Page(items=[await _delivery_out(engine, r) for r in rows], next_cursor=nxt, total=total)


async def _delivery_row(ctx: Context, tenant_id: str, delivery_id: str) -> WorkflowExecution:
    async with ctx.db.single() as session:
        stmt = select(WorkflowExecution).where(
            WorkflowExecution.tenant_id == tenant_id,
            WorkflowExecution.id == delivery_id,
            WorkflowExecution.action == "webhook",
        )
        row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        msg = f"webhook delivery {delivery_id} does not exist in this tenant"
        raise NotFoundError(msg)
    return row


@router.post("/workflows/deliveries/{delivery_id}/retry")
async def retry_delivery(
    delivery_id: Id,
    ctx: ContextDep,
    engine: EngineDep,
    p: Annotated[Principal, require("workflow:update")],
) -> DeliveryOut:
    """Send a delivery again now.

    A dead one gets a fresh attempt budget, a waiting one skips its back-off, one that never
    reached the queue is queued. Answers 409 when it is being sent right now or was already
    delivered.
    """
    row = await _delivery_row(ctx, p.tenant_id, delivery_id)
    if row.status == _log.DELIVERED:
        msg = "the delivery was already delivered; nothing to retry"
        raise ConflictError(msg)
    queue = engine.queue.get()
    item: QueueItem | None = await queue.get_by_key(delivery_key(row.rule_id, row.event_id))
    if item is not None and item.status is QueueItemStatus.LEASED:
        msg = "the delivery is being sent right now; look again in a moment"
        raise ConflictError(msg)
    if item is not None and item.status is QueueItemStatus.DONE:
        msg = "the delivery was already delivered; nothing to retry"
        raise ConflictError(msg)
    # Logged before the queue acts, so the worker's outcome is always the last word.
    detail = {**row.detail, "retry_requested_by": p.actor}
    await _log.record(
        ctx.db,
        row.id,
        status=_log.QUEUED,
        detail=detail,
        retries=ctx.settings.append_retries,
        unless=_log.DELIVERED,
    )
    if item is None:
        async with ctx.db.single() as session:
            event = await _events.get_event(session, p.tenant_id, row.event_id)
        await engine.put_delivery(ctx, row.tenant_id, row.rule_id, row.id, event)
    elif item.status is QueueItemStatus.DEAD:
        await queue.requeue(item)
    else:
        if item.status is QueueItemStatus.HELD:
            await queue.release(item)
        await queue.retry_now(item)
    engine.queue.wake.set()
    return await _delivery_out(engine, await _delivery_row(ctx, p.tenant_id, delivery_id))


# --- one rule --------------------------------------------------------------------------------


@router.get("/workflows/{rule_id}")
async def get_rule(
    rule_id: Id, ctx: ContextDep, p: Annotated[Principal, require("workflow:read")]
) -> RuleOut:
    """One rule (without its secret)."""
    async with ctx.db.read() as session:
        rule = await _rule(session, p.tenant_id, rule_id)
    return RuleOut.model_validate(_rule_out(rule).model_dump())


@router.patch("/workflows/{rule_id}")
async def update_rule(
    rule_id: Id,
    body: RuleUpdate,
    ctx: ContextDep,
    engine: EngineDep,
    p: Annotated[Principal, require("workflow:update")],
) -> RuleCreated:
    """Change a rule; ``secret`` is set in the answer only when a new one was made."""
    if body.condition is not None:
        compile_condition(body.condition)

    async def work(session: AsyncSession) -> RuleCreated:
        rule = await _rule(session, p.tenant_id, rule_id)
        secret = None
        if body.action is not None:
            await _check_action(ctx, session, p.tenant_id, body.action)
            secret = _apply_action(ctx, rule, body.action, rotate_secret=body.rotate_secret)
        elif body.rotate_secret:
            if rule.action_type != "webhook":
                msg = "rotate_secret applies to webhook rules only"
                raise ValidationFailedError(msg)
            secret = SECRET_PREFIX + secrets.token_urlsafe(32)
            rule.secret_encrypted = _cipher(ctx).encrypt(secret.encode())
        for field in ("name", "event_type", "condition", "enabled"):
            value = getattr(body, field)
            if value is not None:
                setattr(rule, field, value)
        rule.updated_at = utcnow()
        await session.flush()
        changes = {**_changes(rule), "secret_rotated": secret is not None}
        await audit(session, p.tenant_id, p.actor, "workflow.updated", rule.id, changes=changes)
        return _rule_out(rule, secret)

    updated = await run_write(ctx.db, work, retries=ctx.settings.append_retries)
    engine.rules.invalidate(p.tenant_id)
    return updated


@router.delete("/workflows/{rule_id}")
async def delete_rule(
    rule_id: Id,
    ctx: ContextDep,
    engine: EngineDep,
    p: Annotated[Principal, require("workflow:delete")],
) -> RuleOut:
    """Delete a rule and its execution log; its queued deliveries go to dead letters."""

    async def work(session: AsyncSession) -> RuleOut:
        rule = await _rule(session, p.tenant_id, rule_id)
        out = RuleOut.model_validate(_rule_out(rule).model_dump())
        await session.execute(
            delete(WorkflowExecution).where(
                WorkflowExecution.tenant_id == p.tenant_id, WorkflowExecution.rule_id == rule_id
            )
        )
        await session.delete(rule)
        await session.flush()
        await audit(session, p.tenant_id, p.actor, "workflow.deleted", rule_id, changes={})
        return out

    deleted = await run_write(ctx.db, work, retries=ctx.settings.append_retries)
    engine.rules.invalidate(p.tenant_id)
    return deleted


@router.get("/workflows/{rule_id}/executions")
async def list_executions(
    rule_id: Id,
    ctx: ContextDep,
    p: Annotated[Principal, require("workflow:read")],
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[ExecutionOut]:
    """The rule's execution log, newest first."""
    async with ctx.db.read() as session:
        await _rule(session, p.tenant_id, rule_id)
        base = select(WorkflowExecution).where(
            WorkflowExecution.tenant_id == p.tenant_id, WorkflowExecution.rule_id == rule_id
        )
        rows, nxt, total = await _executions(session, base, cursor, limit)
    items = [
        ExecutionOut(
            id=r.id,
            rule_id=r.rule_id,
            event_id=r.event_id,
            action=r.action,
            status=r.status,
            attempts=r.attempts,
            last_status=r.last_status,
            detail=r.detail,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rows
    ]
    return Page(items=items, next_cursor=nxt, total=total)

"""The execution log: one row per (rule, triggering event), following the action to its end.

Statuses: an ``append_event`` action ends ``succeeded`` or ``failed``; a ``webhook`` goes
``queued`` -> ``delivered``, or ``queued`` -> ``retrying`` (-> ``retrying`` ...) -> ``delivered``
or ``dead``; ``failed`` also records a condition that could not be evaluated or a delivery that
could not be queued.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from timeline._chain import run_write
from timeline._db import Database
from timeline._models import new_id, utcnow
from timeline.errors import ConflictError
from timeline.workflows._models import WorkflowExecution

SUCCEEDED = "succeeded"
FAILED = "failed"
QUEUED = "queued"
RETRYING = "retrying"
DELIVERED = "delivered"
DEAD = "dead"
STATUSES = (SUCCEEDED, FAILED, QUEUED, RETRYING, DELIVERED, DEAD)


def new_execution(
    tenant_id: str,
    rule_id: str,
    event_id: str,
    *,
    action: str,
    status: str,
    detail: dict[str, Any],
    execution_id: str | None = None,
) -> WorkflowExecution:
    """A new execution log row (not yet added to a session)."""
    now = utcnow()
    return WorkflowExecution(
        id=execution_id or new_id(),
        tenant_id=tenant_id,
        rule_id=rule_id,
        event_id=event_id,
        action=action,
        status=status,
        attempts=0,
        last_status=None,
        detail=detail,
        created_at=now,
        updated_at=now,
    )


async def insert(db: Database, row: WorkflowExecution, *, retries: int) -> bool:
    """Store ``row`` in its own transaction.

    Args:
        db: the service's database.
        row: from :func:`new_execution`.
        retries: write retries (``settings.append_retries``).

    Returns:
        ``False`` if the rule already ran for the event (nothing stored).
    """

    async def work(session: AsyncSession) -> None:
        session.add(row)
        await session.flush()

    try:
        await run_write(db, work, retries=retries)
    except ConflictError:  # the unique (rule_id, event_id): this rule already acted on it
        return False
    return True


async def record(
    db: Database,
    execution_id: str,
    *,
    status: str,
    retries: int,
    attempts: int | None = None,
    last_status: int | None = None,
    detail: dict[str, Any] | None = None,
    unless: str | None = None,
) -> None:
    """Move an execution to ``status`` (a missing row, e.g. its rule was deleted, is skipped).

    Args:
        db: the service's database.
        execution_id: the execution (a webhook's delivery id).
        status: the new status.
        retries: write retries (``settings.append_retries``).
        attempts: delivery attempts so far, if known.
        last_status: the receiver's last HTTP status, if any.
        detail: replaces the row's detail when given.
        unless: leave a row that has this status as it is.
    """
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if attempts is not None:
        values["attempts"] = attempts
    if last_status is not None:
        values["last_status"] = last_status
    if detail is not None:
        values["detail"] = detail

    stmt = update(WorkflowExecution).where(WorkflowExecution.id == execution_id)
    if unless is not None:
        stmt = stmt.where(WorkflowExecution.status != unless)

    async def work(session: AsyncSession) -> None:
        await session.execute(stmt.values(**values))

    await run_write(db, work, retries=retries)

"""Workflows: rules on appended events that append events or call signed webhooks.

Rules are evaluated right after an append commits; an append whose events may trigger a rule
also writes ``workflow_outbox`` rows in its transaction, which the outbox sweeper evaluates if
the process dies before it does (:mod:`timeline.workflows._outbox`). See
``docs/timeline/workflows.md`` for rules, conditions, actions and delivery guarantees.
"""

from __future__ import annotations

__all__ = ["install", "reencrypt", "sign"]

from typing import TYPE_CHECKING

from sqlalchemy import select

from timeline.workflows._engine import Engine
from timeline.workflows._models import WorkflowRule
from timeline.workflows._outbox import OutboxSweeper
from timeline.workflows._routes import router
from timeline.workflows._webhooks import DeliveryWorker, sign

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncSession

    from timeline._context import Context
    from timeline._crypto import SecretCipher


def install(app: FastAPI, ctx: Context) -> None:
    """Add the workflow routes, the append listener and the webhook delivery worker.

    Args:
        app: the service's application.
        ctx: its context (the listener goes on ``ctx.listeners``, the worker on
            ``ctx.services``).
    """
    engine = Engine(ctx)
    sweeper = OutboxSweeper(ctx, engine)
    app.state.timeline_workflows = engine
    app.state.timeline_outbox_sweeper = sweeper
    ctx.reaction_interest = engine.wants
    ctx.listeners.append(engine.on_appended)
    ctx.services.append(DeliveryWorker(ctx, engine.queue))
    ctx.services.append(sweeper)
    app.include_router(router)


async def reencrypt(session: AsyncSession, cipher: SecretCipher) -> int:
    """Re-encrypt every stored webhook secret and header set under the cipher's newest key.

    Args:
        session: a session in a write transaction (the caller commits).
        cipher: the configured cipher (``settings.secret_cipher()``).

    Returns:
        How many rules were rewritten.

    Raises:
        TimelineError: a stored secret opens with none of the configured keys.
    """
    rows = await session.execute(
        select(WorkflowRule).where(WorkflowRule.secret_encrypted.is_not(None))
    )
    count = 0
    for rule in rows.scalars():
        assert rule.secret_encrypted is not None
        rule.secret_encrypted = cipher.rotate(rule.secret_encrypted)
        if rule.headers_encrypted is not None:
            rule.headers_encrypted = cipher.rotate(rule.headers_encrypted)
        count += 1
    await session.flush()
    return count

"""The append listener: match committed events against rules and run their actions.

It runs in the appending request right after the commit (``ctx.events_appended``). A failing
action never fails that request (its events are already committed); the failure is written to
the execution log. Events appended by a workflow (origin ``workflow``) never trigger rules, so
rules cannot loop.

Crash safety: an append whose events may trigger a rule also wrote a ``workflow_outbox`` row
per event in its own transaction; the listener deletes those rows once their evaluation is
done, and :mod:`timeline.workflows._outbox` evaluates the rows a dead process left behind. So
every evaluation may run twice, and each step is idempotent: the execution log's unique
(rule, event) refuses a second run, and a webhook whose row exists but is still ``queued`` is
put on the queue again under the same key (a no-op if the first put happened).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from timeline import _chain, _events
from timeline._models import new_id, utcnow
from timeline.errors import ApiError, ChainConflictError, ConflictError
from timeline.workflows import _log, _outbox
from timeline.workflows._models import WorkflowExecution, WorkflowRule
from timeline.workflows._rules import CachedRule, RuleCache, condition_errors
from timeline.workflows._webhooks import (
    DeliveryQueue,
    delivery_body,
    delivery_key,
    queue_payload,
)

if TYPE_CHECKING:
    from timeline._context import Context
    from timeline._models import Event

logger = logging.getLogger(__name__)

WORKFLOW_ORIGIN = "workflow"
API_ORIGIN = "api"
TRIGGER_KEY = "trigger"


def trigger_of(event: Event) -> dict[str, Any]:
    """What an ``append_event`` action adds to its payload under the reserved ``trigger`` key."""
    return {
        "event_id": event.id,
        "event_type": event.event_type,
        "subject_id": event.subject_id,
        "seq": event.seq,
    }


class Engine:
    """Per-service workflow state: the rule cache, the delivery queue, the listener.

    Args:
        ctx: the service context.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rules = RuleCache(ctx.db, ctx.settings.workflow_rules_ttl)
        self.queue = DeliveryQueue(ctx)

    async def on_appended(
        self, ctx: Context, tenant_id: str, events: Sequence[Event], origin: str
    ) -> None:
        """The append listener (see the module docstring); never raises for an action.

        Args:
            ctx: the service context.
            tenant_id: the tenant whose chain grew.
            events: the committed events.
            origin: who appended them; ``workflow`` output is ignored (the loop guard).
        """
        if origin == WORKFLOW_ORIGIN or not events:
            return
        evaluated = await self.evaluate(ctx, tenant_id, events)
        # API appends wrote outbox rows only if the tenant had rules for these types (the
        # cache said so a moment ago); the other origins may write them regardless.
        if evaluated or origin != API_ORIGIN:
            try:
                await _outbox.delete(
                    ctx.db, [e.id for e in events], retries=ctx.settings.append_retries
                )
            except Exception:  # the sweeper deletes them later (evaluating again is harmless)
                logger.exception("could not delete the outbox rows of %d events", len(events))

    async def wants(self, tenant_id: str, event_types: Collection[str]) -> bool:
        """The interest check of :meth:`timeline._context.Context.wants_reactions`.

        Args:
            tenant_id: the tenant.
            event_types: the types of the events about to be appended.

        Returns:
            True if an enabled rule (as cached) is triggered by one of the types.
        """
        return await self.rules.has_rules(tenant_id, event_types)

    async def evaluate(self, ctx: Context, tenant_id: str, events: Sequence[Event]) -> bool:
        """Run the tenant's current rules on ``events`` (again, harmlessly, if they ran before).

        Args:
            ctx: the service context.
            tenant_id: the events' tenant.
            events: committed events not appended by a workflow.

        Returns:
            Whether any rule was triggered by their types (whatever its condition said).
        """
        evaluated = False
        for event in events:
            rules = await self.rules.rules(tenant_id, event.event_type)
            evaluated = evaluated or bool(rules)
            for rule in rules:
                try:
                    await self._run(ctx, tenant_id, rule, event)
                except Exception:
                    # The client's events are committed; a broken action must not undo that.
                    logger.exception("workflow rule %s failed on event %s", rule.id, event.id)
        return evaluated

    async def _run(self, ctx: Context, tenant_id: str, rule: CachedRule, event: Event) -> None:
        retries = ctx.settings.append_retries
        try:
            mismatch = condition_errors(rule.validator, json.loads(event.payload))
        except ApiError as exc:
            row = _log.new_execution(
                tenant_id,
                rule.id,
                event.id,
                action=rule.action_type,
                status=_log.FAILED,
                detail={"error": exc.message},
            )
            await _log.insert(ctx.db, row, retries=retries)
            return
        if mismatch:
            return
        if rule.action_type == "append_event":
            await self.append_event(ctx, tenant_id, rule.id, event)
        else:
            await self.queue_webhook(ctx, tenant_id, rule.id, event)

    async def _load_rule(self, tenant_id: str, rule_id: str) -> WorkflowRule | None:
        async with self.ctx.db.single() as session:
            stmt = select(WorkflowRule).where(
                WorkflowRule.tenant_id == tenant_id, WorkflowRule.id == rule_id
            )
            return (await session.execute(stmt)).scalar_one_or_none()

    async def append_event(self, ctx: Context, tenant_id: str, rule_id: str, event: Event) -> None:
        """Append the rule's event and its execution row in one transaction (once per event).

        A validation failure is logged as a ``failed`` run instead.

        Args:
            ctx: the service context.
            tenant_id: the tenant.
            rule_id: the rule (read again, so a concurrent change applies).
            event: the triggering event.
        """
        retries = ctx.settings.append_retries
        rule = await self._load_rule(tenant_id, rule_id)
        if rule is None:
            return
        action = rule.action
        target = action.get("subject_id") or event.subject_id
        payload = {**action.get("payload", {}), TRIGGER_KEY: trigger_of(event)}
        item = _events.EventInput(
            action["event_type"], int(action["schema_version"]), utcnow(), payload
        )
        try:
            (prepared,) = await _events.prepare_all(ctx.db, tenant_id, [item])

            async def work(session: AsyncSession) -> list[Event]:
                appended = await _chain.append(session, tenant_id, target, [prepared])
                detail = {"appended_event_id": appended[0].id, "subject_id": target}
                session.add(
                    _log.new_execution(
                        tenant_id,
                        rule_id,
                        event.id,
                        action="append_event",
                        status=_log.SUCCEEDED,
                        detail=detail,
                    )
                )
                await session.flush()
                return appended

            appended = await _chain.run_write(ctx.db, work, retries=retries)
        except ConflictError as exc:
            if isinstance(exc, ChainConflictError):
                await self._failed(ctx, tenant_id, rule_id, event, message=exc.message)
            return  # otherwise the rule already acted on this event
        except ApiError as exc:
            await self._failed(ctx, tenant_id, rule_id, event, message=exc.message, exc=exc)
            return
        await ctx.events_appended(tenant_id, appended, origin=WORKFLOW_ORIGIN)

    async def _failed(
        self,
        ctx: Context,
        tenant_id: str,
        rule_id: str,
        event: Event,
        *,
        message: str,
        exc: ApiError | None = None,
    ) -> None:
        detail: dict[str, Any] = {"error": message}
        if exc is not None and exc.details:
            detail["details"] = exc.details
        row = _log.new_execution(
            tenant_id, rule_id, event.id, action="append_event", status=_log.FAILED, detail=detail
        )
        await _log.insert(ctx.db, row, retries=ctx.settings.append_retries)

    async def queue_webhook(self, ctx: Context, tenant_id: str, rule_id: str, event: Event) -> None:
        """Log the delivery as ``queued``, then put it on the durable queue (once per event).

        Args:
            ctx: the service context.
            tenant_id: the tenant.
            rule_id: the webhook rule.
            event: the triggering event.
        """
        delivery_id = new_id()
        row = _log.new_execution(
            tenant_id,
            rule_id,
            event.id,
            action="webhook",
            status=_log.QUEUED,
            detail={},
            execution_id=delivery_id,
        )
        if not await _log.insert(ctx.db, row, retries=ctx.settings.append_retries):
            # Evaluated before: if the process died between the row and the put, put it now
            # (same key, so a put that did happen makes this a no-op).
            existing = await self._execution(rule_id, event.id)
            if existing is None or existing.action != "webhook" or existing.status != _log.QUEUED:
                return
            delivery_id = existing.id
        await self.put_delivery(ctx, tenant_id, rule_id, delivery_id, event)

    async def _execution(self, rule_id: str, event_id: str) -> WorkflowExecution | None:
        async with self.ctx.db.single() as session:
            stmt = select(WorkflowExecution).where(
                WorkflowExecution.rule_id == rule_id, WorkflowExecution.event_id == event_id
            )
            return (await session.execute(stmt)).scalar_one_or_none()

    async def put_delivery(
        self, ctx: Context, tenant_id: str, rule_id: str, delivery_id: str, event: Event
    ) -> None:
        """Put one delivery on the queue; a failure marks its execution ``failed``.

        Args:
            ctx: the service context.
            tenant_id: the tenant.
            rule_id: the webhook rule.
            delivery_id: the delivery's execution log id.
            event: the triggering event.
        """
        body = delivery_body(delivery_id, rule_id, tenant_id, event)
        try:
            await self.queue.put(
                queue_payload(delivery_id, rule_id, tenant_id, body),
                delivery_key(rule_id, event.id),
            )
        except Exception as exc:
            logger.exception("webhook delivery %s could not be queued", delivery_id)
            await _log.record(
                ctx.db,
                delivery_id,
                status=_log.FAILED,
                detail={"error": f"could not be queued: {exc}"[:500]},
                retries=ctx.settings.append_retries,
            )

"""The transactional outbox: rules still run for events whose process died after the commit.

An append whose events may trigger a rule (``Context.wants_reactions``) writes one
``workflow_outbox`` row per event in its own transaction. The append listener deletes the rows
once it has evaluated the events; if the process dies in between, the rows stay, and
:class:`OutboxSweeper` (a background service of every worker) evaluates them with the same
engine, against the rules as they are then (a rule disabled or deleted meanwhile does not run),
and deletes them.

The sweeper takes only rows older than ``workflow_outbox_grace`` seconds, so it does not race
the inline evaluation of a request still being answered; it runs at start and every
``workflow_outbox_sweep`` seconds, in transactions of at most ``workflow_outbox_batch`` rows.
Several workers may sweep at once: on PostgreSQL each claims its rows with ``FOR UPDATE SKIP
LOCKED``; on both databases the execution log's unique (rule, event) lets an event's rule act
once, however often it is evaluated. Rows never come from workflow-appended events (their
appends write none), so sweeping cannot loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Select, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncSession

from timeline._chain import run_write
from timeline._db import Database
from timeline._models import Event, utcnow
from timeline.workflows._models import WorkflowOutbox

if TYPE_CHECKING:
    from timeline._context import Context
    from timeline.workflows._engine import Engine

logger = logging.getLogger(__name__)

DELETE_CHUNK = 500
STOP_TIMEOUT = 30.0


async def delete(db: Database, event_ids: Sequence[str], *, retries: int) -> None:
    """Delete the outbox rows of ``event_ids`` (rows that do not exist are ignored).

    Args:
        db: the service's database.
        event_ids: the evaluated events.
        retries: write retries (``settings.append_retries``).
    """
    for start in range(0, len(event_ids), DELETE_CHUNK):
        chunk = list(event_ids[start : start + DELETE_CHUNK])

        async def work(session: AsyncSession, chunk: list[str] = chunk) -> None:
            await session.execute(
                sql_delete(WorkflowOutbox).where(WorkflowOutbox.event_id.in_(chunk))
            )

        await run_write(db, work, retries=retries)


class OutboxSweeper:
    """Evaluates the events a dead process left in the outbox (see the module docstring).

    Args:
        ctx: the service context (database and settings).
        engine: the workflow engine whose rules and actions run.
        clock: the current UTC time (injectable for tests).
    """

    def __init__(
        self, ctx: Context, engine: Engine, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._ctx = ctx
        self._engine = engine
        self._clock = clock
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Sweep now, then every ``workflow_outbox_sweep`` seconds, in the background."""
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Let a sweep in progress finish its current event, then stop."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT)
        except TimeoutError:
            task.cancel()  # its claimed rows roll back and are swept again later
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        interval = self._ctx.settings.workflow_outbox_sweep
        while not self._stopping.is_set():
            try:
                swept = await self.sweep()
                if swept:
                    logger.warning("outbox sweeper evaluated %d events left behind", swept)
            except Exception:
                logger.exception("outbox sweep failed; trying again in %.0f s", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def sweep(self) -> int:
        """Evaluate and delete every outbox row older than the grace period, batch by batch.

        Returns:
            How many rows were taken (their events evaluated).
        """
        settings = self._ctx.settings
        cutoff = self._clock() - timedelta(seconds=settings.workflow_outbox_grace)
        total = 0
        while not self._stopping.is_set():
            taken = await self._batch(cutoff, settings.workflow_outbox_batch)
            total += taken
            if taken < settings.workflow_outbox_batch:
                break
        return total

    async def _batch(self, cutoff: datetime, limit: int) -> int:
        db = self._ctx.db
        stmt = (
            select(WorkflowOutbox.event_id, WorkflowOutbox.tenant_id)
            .where(WorkflowOutbox.created_at < cutoff)
            .order_by(WorkflowOutbox.created_at, WorkflowOutbox.event_id)
            .limit(limit)
        )
        if db.is_sqlite:
            # A write transaction would hold SQLite's one write lock while the actions write;
            # concurrent sweepers are safe anyway (the unique (rule, event) of the log).
            async with db.read() as session:
                rows, events = await self._load(session, stmt)
            done = await self._evaluate(rows, events)
            await delete(db, done, retries=self._ctx.settings.append_retries)
            return len(rows)
        async with db.write() as session:  # the row locks hold until the rows are deleted
            rows, events = await self._load(session, stmt.with_for_update(skip_locked=True))
            done = await self._evaluate(rows, events)
            if done:
                await session.execute(
                    sql_delete(WorkflowOutbox).where(WorkflowOutbox.event_id.in_(done))
                )
        return len(rows)

    async def _load(
        self, session: AsyncSession, stmt: Select[str, str]
    ) -> tuple[list[tuple[str, str]], dict[str, Event]]:
        rows = [(str(r[0]), str(r[1])) for r in (await session.execute(stmt)).all()]
        if not rows:
            return rows, {}
        found = await session.execute(select(Event).where(Event.id.in_([r[0] for r in rows])))
        return rows, {e.id: e for e in found.scalars()}

    async def _evaluate(self, rows: list[tuple[str, str]], events: dict[str, Event]) -> list[str]:
        """Evaluate the rows' events in outbox order; the ids of the rows that are done."""
        done: list[str] = []
        for event_id, tenant_id in rows:
            if self._stopping.is_set():
                break
            event = events.get(event_id)
            if event is not None and event.tenant_id == tenant_id:
                await self._engine.evaluate(self._ctx, tenant_id, [event])
            done.append(event_id)  # an event that does not exist has nothing to evaluate
        return done

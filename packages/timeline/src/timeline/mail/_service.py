"""The background service that runs e-mail syncs started over HTTP.

Each run is an asyncio task owned by :class:`SyncService`, which the feature registers on
``ctx.services``: at shutdown, running syncs get ``grace`` seconds to finish, then are
cancelled (their run is recorded as failed and the lease released, so nothing stays locked).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from timeline.mail._sync import ProviderFactory, execute, imap_provider

if TYPE_CHECKING:
    from timeline._context import Context
    from timeline._models import Event

logger = logging.getLogger(__name__)


class SyncService:
    """Runs claimed syncs as tasks of the service's event loop.

    Args:
        ctx: the service context (database, settings, append listeners).
        grace: seconds :meth:`stop` lets running syncs finish before cancelling them.
        provider_factory: makes each account's provider (IMAP by default).
    """

    def __init__(
        self,
        ctx: Context,
        *,
        grace: float = 5.0,
        provider_factory: ProviderFactory = imap_provider,
    ) -> None:
        self._ctx = ctx
        self._grace = grace
        self._provider_factory = provider_factory
        self._tasks: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        """Nothing to prepare: runs start when :meth:`submit` is called."""

    def submit(self, tenant_id: str, account_id: str, run_id: str) -> None:
        """Run the claimed run ``run_id`` in the background."""
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(
            execute(
                self._ctx.db,
                self._ctx.settings,
                tenant_id,
                account_id,
                run_id,
                notify=self._notify,
                provider_factory=self._provider_factory,
            ),
            name=f"email-sync-{run_id}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("e-mail sync task failed", exc_info=task.exception())

    async def _notify(self, tenant_id: str, events: Sequence[Event]) -> None:
        await self._ctx.events_appended(tenant_id, events, origin="email")

    @property
    def running(self) -> int:
        """How many syncs are in progress in this process."""
        return len(self._tasks)

    async def stop(self) -> None:
        """Let running syncs finish for ``grace`` seconds, then cancel the rest and wait."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self._grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

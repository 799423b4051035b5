"""One sync of an e-mail account: lease, fetch, dedupe, one chained batch, release.

The steps:

1. :func:`claim` takes the account's lease with a conditional UPDATE (only if no lease or an
   expired one) and records a ``queued`` run, in one transaction: a second claim, from any
   process, gets 409 until the lease is released or expires. Runs left ``queued``/``running``
   by a process that died are marked failed at the next claim.
2. :func:`execute` marks the run ``running``, renews an XOAUTH2 access token that is missing or
   about to expire (and once more if the server refuses one that looked valid; see
   :mod:`timeline.mail._tokens`), fetches at most ``settings.mail_sync_batch``
   messages after the stored (UIDVALIDITY, last UID), recording progress on the run row
   (renewing the lease each time), and drops messages whose Message-ID key the account has
   already imported.
3. In ONE write transaction: every new message becomes an ``email_received`` event, appended in
   one ``_chain.append`` call; the imported-id rows, the account's new position and the run's
   final counters are written beside them, and the lease is released. Then
   ``events_appended(..., origin="email")`` tells the listeners.

A failure records a ``failed`` run (its error text names the cause, never a credential) and
releases the lease; the position does not move, so the next run retries the same messages.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import anyio
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from timeline._chain import append, run_write
from timeline._db import Database
from timeline._events import system_event
from timeline._models import Event, new_id, utcnow
from timeline.errors import ConflictError, TimelineError
from timeline.mail._accounts import cipher_for, get_account, imap_config
from timeline.mail._imap import ImapProvider
from timeline.mail._message import event_payload, event_time, message_key
from timeline.mail._models import EmailAccount, EmailMessage, EmailSyncRun
from timeline.mail._provider import FetchResult, MailProvider, MailProviderError, Position
from timeline.mail._tokens import can_refresh, renew, stale
from timeline.settings import Settings

logger = logging.getLogger(__name__)

EVENT_TYPE = "email_received"
_KEY_QUERY_CHUNK = 500

ProviderFactory = Callable[[EmailAccount, Settings], MailProvider]
Notify = Callable[[str, Sequence[Event]], Awaitable[None]]


def imap_provider(account: EmailAccount, settings: Settings) -> MailProvider:
    """The IMAP provider of ``account`` (credentials decrypted with the configured keys)."""
    return ImapProvider(imap_config(account, cipher_for(settings), settings))


async def claim(
    db: Database, settings: Settings, tenant_id: str, account_id: str, *, trigger: str
) -> EmailSyncRun:
    """Take the account's sync lease and record a queued run.

    Raises:
        NotFoundError: no such account in the tenant.
        ConflictError: another sync holds the lease.
    """

    async def work(session: AsyncSession) -> EmailSyncRun:
        await get_account(session, tenant_id, account_id)
        now = utcnow()
        run_id = new_id()
        claimed = await session.execute(
            update(EmailAccount)
            .where(
                EmailAccount.id == account_id,
                EmailAccount.tenant_id == tenant_id,
                or_(EmailAccount.sync_lease_until.is_(None), EmailAccount.sync_lease_until <= now),
            )
            .values(
                sync_lease_until=now + timedelta(seconds=settings.mail_sync_lease),
                sync_lease_owner=run_id,
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            msg = (
                "a sync of this account is already running; follow it with "
                "GET .../sync or wait for it to finish"
            )
            raise ConflictError(msg)
        # Runs a dead process left behind can never finish now: say so.
        await session.execute(
            update(EmailSyncRun)
            .where(
                EmailSyncRun.account_id == account_id,
                EmailSyncRun.state.in_(("queued", "running")),
            )
            .values(
                state="failed",
                finished_at=now,
                error="the process running this sync stopped before it finished",
            )
        )
        run = EmailSyncRun(
            id=run_id,
            tenant_id=tenant_id,
            account_id=account_id,
            state="queued",
            trigger=trigger,
            total=0,
            fetched=0,
            imported=0,
            duplicates=0,
            uidvalidity_changed=False,
            created_at=now,
        )
        session.add(run)
        await session.flush()
        return run

    return await run_write(db, work, retries=settings.append_retries)


async def _progress(
    db: Database, settings: Settings, account_id: str, run_id: str, **values: Any
) -> None:
    """Update the run's counters and renew the lease (both only while the run owns it)."""
    async with db.write() as session:
        await session.execute(
            update(EmailSyncRun).where(EmailSyncRun.id == run_id).values(**values)
        )
        await session.execute(
            update(EmailAccount)
            .where(EmailAccount.id == account_id, EmailAccount.sync_lease_owner == run_id)
            .values(sync_lease_until=utcnow() + timedelta(seconds=settings.mail_sync_lease))
        )


async def _known_keys(session: AsyncSession, account_id: str, keys: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(keys), _KEY_QUERY_CHUNK):
        chunk = keys[start : start + _KEY_QUERY_CHUNK]
        stmt = select(EmailMessage.message_key).where(
            EmailMessage.account_id == account_id, EmailMessage.message_key.in_(chunk)
        )
        known.update((await session.execute(stmt)).scalars())
    return known


async def _commit(
    db: Database,
    settings: Settings,
    account: EmailAccount,
    run_id: str,
    result: FetchResult,
) -> tuple[list[Event], dict[str, Any]]:
    """Append the new messages, record their ids, move the position, finish the run."""
    mailbox, account_id = account.mailbox, account.id

    async def work(session: AsyncSession) -> tuple[list[Event], dict[str, Any]]:
        owner = await session.execute(
            select(EmailAccount.sync_lease_owner).where(EmailAccount.id == account_id)
        )
        if owner.scalar_one_or_none() != run_id:
            msg = "the sync lost its lease (it ran longer than TIMELINE_MAIL_SYNC_LEASE)"
            raise ConflictError(msg)
        keyed = [(message_key(m), m) for m in result.messages]
        known = await _known_keys(session, account_id, [k for k, _ in keyed])
        new, seen = [], set(known)
        for key, message in keyed:
            if key in seen:
                continue
            seen.add(key)
            new.append((key, message))
        events: list[Event] = []
        if new:
            items = [
                system_event(
                    EVENT_TYPE,
                    event_payload(m, mailbox=mailbox, validity=result.validity, key=key),
                    event_time(m),
                )
                for key, m in new
            ]
            # Always with outbox rows (a sync is a batch, rarely run): its events reach the
            # workflow rules even when the listener never runs (a crash, or a CLI sync).
            events = await append(
                session, account.tenant_id, account.subject_id, items, outbox=True
            )
            now = utcnow()
            session.add_all(
                EmailMessage(
                    id=new_id(),
                    account_id=account_id,
                    message_key=key,
                    event_id=event.id,
                    uidvalidity=result.validity,
                    uid=message.uid,
                    created_at=now,
                )
                for (key, message), event in zip(new, events, strict=True)
            )
        now = utcnow()
        await session.execute(
            update(EmailAccount)
            .where(EmailAccount.id == account_id)
            .values(
                uidvalidity=result.validity,
                last_uid=result.last_uid,
                last_synced_at=now,
                sync_lease_until=None,
                sync_lease_owner=None,
            )
        )
        counters = {
            "state": "succeeded",
            "total": len(result.messages),
            "fetched": len(result.messages),
            "imported": len(events),
            "duplicates": len(result.messages) - len(new),
            "uidvalidity_changed": result.validity_changed,
            "finished_at": now,
        }
        await session.execute(
            update(EmailSyncRun).where(EmailSyncRun.id == run_id).values(**counters)
        )
        return events, counters

    return await run_write(db, work, retries=settings.append_retries)


async def _fail(db: Database, account_id: str, run_id: str, error: str) -> None:
    async with db.write() as session:
        await session.execute(
            update(EmailSyncRun)
            .where(EmailSyncRun.id == run_id)
            .values(state="failed", error=error, finished_at=utcnow())
        )
        await session.execute(
            update(EmailAccount)
            .where(EmailAccount.id == account_id, EmailAccount.sync_lease_owner == run_id)
            .values(sync_lease_until=None, sync_lease_owner=None)
        )


async def execute(
    db: Database,
    settings: Settings,
    tenant_id: str,
    account_id: str,
    run_id: str,
    *,
    notify: Notify | None = None,
    provider_factory: ProviderFactory = imap_provider,
) -> EmailSyncRun:
    """Run the claimed sync ``run_id`` to the end; the run row says how it ended.

    Args:
        db: the database.
        settings: the service settings (batch size, body storage, lease, keys).
        tenant_id: the account's tenant.
        account_id: the account.
        run_id: the run :func:`claim` recorded.
        notify: awaited with (tenant id, events) after the events are committed.
        provider_factory: makes the provider of the account (IMAP by default).

    Returns:
        The finished run (``succeeded`` or ``failed``).

    Raises:
        asyncio.CancelledError: the sync was cancelled (the run is recorded as failed first).
    """
    try:
        async with db.read() as session:
            account = await get_account(session, tenant_id, account_id)
        await _progress(db, settings, account_id, run_id, state="running", started_at=utcnow())

        async def progress(fetched: int, total: int) -> None:
            await _progress(db, settings, account_id, run_id, fetched=fetched, total=total)

        async def fetch() -> FetchResult:
            provider = provider_factory(account, settings)
            return await provider.fetch(
                Position(account.uidvalidity, account.last_uid),
                limit=settings.mail_sync_batch,
                keep_body=settings.mail_store_body,
                progress=progress,
            )

        renewed = stale(account, settings)
        if renewed:
            await renew(db, settings, account)
        try:
            result = await fetch()
        except MailProviderError as exc:
            if exc.kind != "auth" or renewed or not can_refresh(account):
                raise
            # The token looked valid but the server refused it (revoked, or expired early).
            logger.info("e-mail sync %s: access token refused; renewing it once", run_id)
            await renew(db, settings, account)
            result = await fetch()
        events, counters = await _commit(db, settings, account, run_id, result)
        logger.info(
            "e-mail sync %s of account %s: %d fetched, %d imported, %d duplicates",
            run_id,
            account_id,
            counters["fetched"],
            counters["imported"],
            counters["duplicates"],
        )
        if events and notify is not None:
            try:
                await notify(tenant_id, events)
            except Exception:
                logger.exception("a listener failed on e-mail sync %s", run_id)
    except MailProviderError as exc:
        logger.warning("e-mail sync %s of account %s failed: %s", run_id, account_id, exc.message)
        await _record_failure(db, account_id, run_id, exc.message)
    except TimelineError as exc:
        message = getattr(exc, "message", str(exc))
        logger.warning("e-mail sync %s of account %s failed: %s", run_id, account_id, message)
        await _record_failure(db, account_id, run_id, message)
    except anyio.get_cancelled_exc_class():
        await _record_failure(
            db, account_id, run_id, "the sync was cancelled (the service stopped); run it again"
        )
        raise
    except Exception as exc:
        logger.exception("e-mail sync %s of account %s failed", run_id, account_id)
        await _record_failure(
            db,
            account_id,
            run_id,
            f"internal error ({type(exc).__name__}); the server log has the details",
        )
    async with db.read() as session:
        run = await session.execute(select(EmailSyncRun).where(EmailSyncRun.id == run_id))
        return run.scalar_one()


async def _record_failure(db: Database, account_id: str, run_id: str, error: str) -> None:
    with anyio.CancelScope(shield=True):
        try:
            await _fail(db, account_id, run_id, error[:2000])
        except Exception:
            logger.exception("could not record the failure of e-mail sync %s", run_id)

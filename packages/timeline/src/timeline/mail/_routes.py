"""HTTP routes of the e-mail feature, under ``/api/v1/email-accounts``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from timeline import _events
from timeline._api_models import ID_PATTERN, Page
from timeline._auth import Principal
from timeline._chain import run_write
from timeline._context import ContextDep, require
from timeline._routes import ERROR_RESPONSES, Cursor, Id, Limit
from timeline.errors import NotFoundError
from timeline.mail import _accounts, _sync
from timeline.mail._models import EmailAccount, EmailSyncRun
from timeline.mail._schemas import AccountCreate, AccountOut, AccountUpdate, SyncRunOut
from timeline.mail._service import SyncService

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["e-mail"])

#: Seconds between looks at the run row while streaming progress.
SSE_POLL = 0.2
#: Seconds between keep-alive comments on a quiet stream.
SSE_KEEPALIVE = 15.0
_TERMINAL = ("succeeded", "failed")


def run_out(run: EmailSyncRun) -> SyncRunOut:
    """The API view of a sync run."""
    return SyncRunOut.model_validate(run, from_attributes=True)


@router.post("/email-accounts", status_code=201)
async def create_account(
    body: AccountCreate,
    ctx: ContextDep,
    p: Annotated[Principal, require("email_account:create")],
) -> AccountOut:
    """Add a mailbox to import from; its username and secret are stored encrypted."""
    cipher = _accounts.cipher_for(ctx.settings)

    async def work(session: AsyncSession) -> AccountOut:
        account = await _accounts.create_account(session, p, body, cipher)
        return _accounts.account_out(account)

    return await run_write(ctx.db, work, retries=ctx.settings.append_retries)


@router.get("/email-accounts")
async def list_accounts(
    ctx: ContextDep,
    p: Annotated[Principal, require("email_account:read")],
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[AccountOut]:
    """The tenant's e-mail accounts, by id (never their credentials)."""
    async with ctx.db.read() as session:
        base = _accounts.accounts_query(p.tenant_id)
        rows, next_cursor, total = await _events.page_by_id(
            session, base, EmailAccount.id, cursor, limit
        )
    items = [_accounts.account_out(a) for a in rows]
    return Page(items=items, next_cursor=next_cursor, total=total)


@router.get("/email-accounts/{account_id}")
async def get_account(
    account_id: Id, ctx: ContextDep, p: Annotated[Principal, require("email_account:read")]
) -> AccountOut:
    """One e-mail account and its sync position."""
    async with ctx.db.read() as session:
        account = await _accounts.get_account(session, p.tenant_id, account_id)
        return _accounts.account_out(account)


@router.patch("/email-accounts/{account_id}")
async def update_account(
    account_id: Id,
    body: AccountUpdate,
    ctx: ContextDep,
    p: Annotated[Principal, require("email_account:update")],
) -> AccountOut:
    """Change an account; a new host, port or mailbox starts the sync position again."""

    async def work(session: AsyncSession) -> AccountOut:
        account = await _accounts.update_account(session, p, account_id, body, ctx.settings)
        return _accounts.account_out(account)

    return await run_write(ctx.db, work, retries=ctx.settings.append_retries)


@router.delete("/email-accounts/{account_id}", status_code=204)
async def delete_account(
    account_id: Id, ctx: ContextDep, p: Annotated[Principal, require("email_account:delete")]
) -> Response:
    """Delete an account with its runs and imported ids; the events it imported stay."""

    async def work(session: AsyncSession) -> None:
        await _accounts.delete_account(session, p, account_id)

    await run_write(ctx.db, work, retries=ctx.settings.append_retries)
    return Response(status_code=204)


@router.post("/email-accounts/{account_id}/sync", status_code=202)
async def start_sync(
    account_id: Id,
    request: Request,
    ctx: ContextDep,
    p: Annotated[Principal, require("email_account:sync")],
) -> SyncRunOut:
    """Start a sync in the background; 409 while another sync of the account runs."""
    service: SyncService = request.app.state.timeline_mail
    run = await _sync.claim(ctx.db, ctx.settings, p.tenant_id, account_id, trigger="api")
    service.submit(p.tenant_id, account_id, run.id)
    return run_out(run)


async def _latest_run(
    session: AsyncSession, tenant_id: str, account_id: str, run_id: str | None = None
) -> EmailSyncRun:
    await _accounts.get_account(session, tenant_id, account_id)
    stmt = select(EmailSyncRun).where(
        EmailSyncRun.tenant_id == tenant_id, EmailSyncRun.account_id == account_id
    )
    if run_id is not None:
        stmt = stmt.where(EmailSyncRun.id == run_id)
    stmt = stmt.order_by(EmailSyncRun.created_at.desc(), EmailSyncRun.id.desc()).limit(1)
    run = (await session.execute(stmt)).scalar_one_or_none()
    if run is None:
        msg = (
            f"sync run {run_id} does not exist for this account"
            if run_id
            else "this account has not been synced yet; start with POST .../sync"
        )
        raise NotFoundError(msg)
    return run


@router.get("/email-accounts/{account_id}/sync")
async def latest_sync(
    account_id: Id, ctx: ContextDep, p: Annotated[Principal, require("email_account:read")]
) -> SyncRunOut:
    """The account's latest sync run."""
    async with ctx.db.read() as session:
        return run_out(await _latest_run(session, p.tenant_id, account_id))


@router.get("/email-accounts/{account_id}/sync-runs/{run_id}")
async def get_sync_run(
    account_id: Id,
    run_id: Id,
    ctx: ContextDep,
    p: Annotated[Principal, require("email_account:read")],
) -> SyncRunOut:
    """One sync run of the account."""
    async with ctx.db.read() as session:
        return run_out(await _latest_run(session, p.tenant_id, account_id, run_id))


def _sse(event: str, run: SyncRunOut) -> bytes:
    data = json.dumps(run.model_dump(mode="json"), separators=(",", ":"))
    return f"event: {event}\nid: {run.id}\ndata: {data}\n\n".encode()


@router.get(
    "/email-accounts/{account_id}/sync/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "progress events"}},
)
async def sync_events(
    account_id: Id,
    request: Request,
    ctx: ContextDep,
    p: Annotated[Principal, require("email_account:read")],
    run_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="a run id (default: the latest run)")
    ] = None,
) -> StreamingResponse:
    """Server-sent events of a sync run: ``progress`` on every change, then ``done`` or ``failed``.

    The stream reads the run row, so it follows a sync running in any worker or process; it
    ends when the run ends or the client disconnects.
    """
    async with ctx.db.read() as session:
        first = await _latest_run(session, p.tenant_id, account_id, run_id)
    tenant_id, chosen = p.tenant_id, first.id

    async def stream() -> AsyncIterator[bytes]:
        last: SyncRunOut | None = None
        quiet = 0.0
        while True:
            async with ctx.db.read() as session:
                run = run_out(await _latest_run(session, tenant_id, account_id, chosen))
            if run.state in _TERMINAL:
                if last is None or last.model_dump() != run.model_dump():
                    yield _sse("progress", run)
                yield _sse("done" if run.state == "succeeded" else "failed", run)
                return
            if last is None or run.model_dump() != last.model_dump():
                yield _sse("progress", run)
                last, quiet = run, 0.0
            elif quiet >= SSE_KEEPALIVE:
                yield b": keep-alive\n\n"
                quiet = 0.0
            if await request.is_disconnected():
                return
            await asyncio.sleep(SSE_POLL)
            quiet += SSE_POLL

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

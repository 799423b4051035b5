"""``timeline email ...``: run a sync in the foreground, list a tenant's accounts.

(``timeline rotate-keys`` lives in :mod:`timeline.cli` and calls :func:`timeline.mail.reencrypt`.)
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Annotated, Any

import typer

from timeline._cli_common import DatabaseOpt, err, settings_for

email_app = typer.Typer(
    help="E-mail accounts: sync mail into subject timelines.", no_args_is_help=True
)

_ID = re.compile(r"^[0-9a-f]{32}$")


@email_app.command("sync")
def sync(
    account_id: Annotated[str, typer.Argument(help="the e-mail account id (32 hex digits)")],
    database_url: DatabaseOpt = None,
) -> None:
    """Sync one account now, in the foreground.

    Progress goes to stderr, the finished run as JSON to stdout; exit 1 if the sync failed,
    2 if it could not start (unknown account, a sync already running).
    """
    if not _ID.match(account_id):
        err("timeline: the account id is 32 hex digits (see `timeline email accounts`)")
        raise typer.Exit(2)
    from timeline._app import create_app
    from timeline._context import Context
    from timeline.errors import ApiError
    from timeline.mail import _sync
    from timeline.mail._models import EmailAccount
    from timeline.mail._routes import run_out

    settings = settings_for(database_url)
    # The app wires the features' append listeners (workflows) onto its context.
    ctx: Context = create_app(settings).state.timeline

    async def run() -> dict[str, Any]:
        from sqlalchemy import select

        try:
            async with ctx.db.read() as session:
                stmt = select(EmailAccount.tenant_id).where(EmailAccount.id == account_id)
                tenant_id = (await session.execute(stmt)).scalar_one_or_none()
            if tenant_id is None:
                raise _NoAccountError
            claimed = await _sync.claim(ctx.db, settings, tenant_id, account_id, trigger="cli")

            async def notify(tenant: str, events: Any) -> None:
                await ctx.events_appended(tenant, events, origin="email")

            reporter = asyncio.create_task(_report(ctx, claimed.id))
            try:
                done = await _sync.execute(
                    ctx.db, settings, tenant_id, account_id, claimed.id, notify=notify
                )
            finally:
                reporter.cancel()
            return run_out(done).model_dump(mode="json")
        finally:
            await ctx.db.dispose()

    try:
        result = asyncio.run(run())
    except _NoAccountError as exc:
        err(f"timeline: no e-mail account {account_id}")
        raise typer.Exit(2) from exc
    except ApiError as exc:
        err(f"timeline: {exc.message}")
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(result, indent=2))
    if result["state"] != "succeeded":
        err(f"timeline: sync failed: {result['error']}")
        raise typer.Exit(1)
    err(
        f"timeline: synced: {result['imported']} imported, {result['duplicates']} duplicates"
        + (" (UIDVALIDITY changed: mailbox rescanned)" if result["uidvalidity_changed"] else "")
    )


class _NoAccountError(Exception):
    pass


async def _report(ctx: Any, run_id: str) -> None:
    """Print the run's counters to stderr whenever they change."""
    from sqlalchemy import select

    from timeline.mail._models import EmailSyncRun

    last = None
    while True:
        async with ctx.db.read() as session:
            run = (
                await session.execute(select(EmailSyncRun).where(EmailSyncRun.id == run_id))
            ).scalar_one()
            now = (run.state, run.fetched, run.total)
        if now != last and run.state == "running":
            err(f"timeline: {run.state}: {run.fetched}/{run.total} fetched")
            last = now
        await asyncio.sleep(0.5)


@email_app.command("accounts")
def accounts(
    tenant: Annotated[str, typer.Option(help="tenant code")],
    database_url: DatabaseOpt = None,
) -> None:
    """List a tenant's e-mail accounts as JSON (never their credentials)."""
    from timeline._db import Database
    from timeline._tenancy import tenant_by_code
    from timeline.mail._accounts import account_out, accounts_query
    from timeline.mail._models import EmailAccount

    settings = settings_for(database_url)

    async def run() -> list[dict[str, Any]] | None:
        db = Database(settings.database_url)
        try:
            async with db.read() as session:
                row = await tenant_by_code(session, tenant)
                if row is None:
                    return None
                result = await session.execute(accounts_query(row.id).order_by(EmailAccount.name))
                return [account_out(a).model_dump(mode="json") for a in result.scalars()]
        finally:
            await db.dispose()

    found = asyncio.run(run())
    if found is None:
        err(f"timeline: no tenant with code {tenant!r}")
        raise typer.Exit(2)
    typer.echo(json.dumps(found, indent=2))

"""The ``timeline`` command: serve, migrate, create tenants, verify chains, sign checkpoints.

Results go to stdout (JSON where it is data), diagnostics to stderr. Heavy modules are
imported inside the commands so ``timeline --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from timeline._cli_common import DatabaseOpt, err, settings_for
from timeline.documents.cli import documents_app
from timeline.mail.cli import email_app

app = typer.Typer(
    help="Tamper-evident event timeline service. Settings come from TIMELINE_* variables.",
    no_args_is_help=True,
    add_completion=False,
)
tenant_app = typer.Typer(help="Manage tenants directly in the database.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(email_app, name="email")
app.add_typer(documents_app, name="documents")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    database_url: DatabaseOpt = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the HTTP service (default http://127.0.0.1:8000, SQLite file in this directory)."""
    import uvicorn

    if database_url is not None:
        # Workers are fresh processes: they read the URL from the environment.
        os.environ["TIMELINE_DATABASE_URL"] = database_url
    settings = settings_for(None)
    if settings.should_migrate:
        # Once, here, rather than racing in every worker.
        from timeline._db import Database

        asyncio.run(_migrate(Database(settings.database_url)))
        os.environ["TIMELINE_AUTO_MIGRATE"] = "false"
    err(f"timeline: serving {_redact(settings.database_url)} on http://{host}:{port}")
    uvicorn.run(
        "timeline._app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )


def _redact(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


async def _migrate(db: Any) -> None:
    try:
        await db.migrate()
    finally:
        await db.dispose()


@app.command("generate-key")
def generate_key() -> None:
    """Print a new key for TIMELINE_CREDENTIAL_KEYS (put it first to start using it)."""
    from timeline._crypto import generate_key as new_key

    typer.echo(new_key())


@app.command("rotate-keys")
def rotate_keys(database_url: DatabaseOpt = None) -> None:
    """Re-encrypt every stored secret under the first TIMELINE_CREDENTIAL_KEYS key.

    Put the new key first in TIMELINE_CREDENTIAL_KEYS (keep the old ones after it), run this,
    then drop the old keys. Safe to run again: secrets already under the first key are rewritten
    under it.
    """
    from corekit.errors import ConfigurationError
    from timeline import mail, workflows
    from timeline._db import Database
    from timeline.errors import TimelineError

    settings = settings_for(database_url)
    try:
        cipher = settings.secret_cipher()
    except ConfigurationError as exc:
        err(f"timeline: {exc}")
        raise typer.Exit(2) from exc

    async def run() -> dict[str, int]:
        db = Database(settings.database_url)
        try:
            async with db.write() as session:
                return {
                    "email_accounts": await mail.reencrypt(session, cipher),
                    "webhook_secrets": await workflows.reencrypt(session, cipher),
                }
        finally:
            await db.dispose()

    try:
        counts = asyncio.run(run())
    except TimelineError as exc:
        err(f"timeline: {exc}")
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(counts))
    err(f"timeline: re-encrypted {sum(counts.values())} secrets under the first key")


@app.command()
def migrate(database_url: DatabaseOpt = None) -> None:
    """Apply the shipped database migrations."""
    from timeline._db import Database

    settings = settings_for(database_url)
    asyncio.run(_migrate(Database(settings.database_url)))
    err(f"timeline: {_redact(settings.database_url)} is at the newest migration")


@tenant_app.command("create")
def tenant_create(
    code: Annotated[str, typer.Argument(help="tenant code, e.g. acme")],
    name: Annotated[str | None, typer.Option(help="display name (default: the code)")] = None,
    admin_username: Annotated[str, typer.Option(help="first admin user")] = "admin",
    admin_password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="TIMELINE_NEW_ADMIN_PASSWORD",
            help="the admin's password (prompted if not given)",
        ),
    ] = "",
    database_url: DatabaseOpt = None,
) -> None:
    """Create a tenant, its seeded roles and its first admin user; prints them as JSON."""
    from timeline._auth import hash_password
    from timeline._chain import run_write
    from timeline._db import Database
    from timeline._tenancy import create_tenant

    if len(admin_password) < 8:
        err("timeline: the admin password needs at least 8 characters")
        raise typer.Exit(2)
    settings = settings_for(database_url)

    async def run() -> dict[str, str]:
        db = Database(settings.database_url)
        try:
            if settings.should_migrate:
                await db.migrate()
            hashed = await hash_password(admin_password)

            async def work(session: Any) -> dict[str, str]:
                tenant, user = await create_tenant(
                    session,
                    code=code,
                    name=name or code,
                    admin_username=admin_username,
                    admin_password_hash=hashed,
                )
                return {"tenant_id": tenant.id, "code": code, "admin_user_id": user.id}

            return await run_write(db, work, retries=settings.append_retries)
        finally:
            await db.dispose()

    from timeline.errors import ApiError

    try:
        typer.echo(json.dumps(asyncio.run(run())))
    except ApiError as exc:
        err(f"timeline: {exc.message}")
        raise typer.Exit(1) from exc


@app.command()
def verify(
    tenant: Annotated[str, typer.Option(help="tenant code")],
    subject: Annotated[str | None, typer.Option(help="only this subject id")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="an exported checkpoint (JSON) to check against")
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Verify a tenant's chains (or one subject's); exit 1 unless the result is valid."""
    from timeline._checkpoint import CheckpointData, load_checkpoint, load_or_create_key
    from timeline._db import Database
    from timeline._tenancy import tenant_by_code
    from timeline._verify import Verifier

    settings = settings_for(database_url)

    async def run() -> dict[str, Any] | None:
        db = Database(settings.database_url)
        try:
            async with db.read() as session:
                row = await tenant_by_code(session, tenant)
                if row is None:
                    return None
                data = (
                    CheckpointData.from_export(json.loads(checkpoint.read_text()))
                    if checkpoint is not None
                    else await load_checkpoint(session, row.id)
                )
                verifier = Verifier(
                    session,
                    row.id,
                    page_size=settings.verify_page_size,
                    checkpoint=data,
                    public_key=load_or_create_key(settings.signing_key_path).public_key(),
                )
                if subject is None:
                    await verifier.tenant()
                else:
                    await verifier.subject(subject)
                return verifier.result().to_dict()
        finally:
            await db.dispose()

    result = asyncio.run(run())
    if result is None:
        err(f"timeline: no tenant with code {tenant!r}")
        raise typer.Exit(2)
    typer.echo(json.dumps(result, indent=2))
    err(
        f"timeline: {result['status']}: {result['events_checked']} events in "
        f"{result['subjects_checked']} subjects, {len(result['findings'])} findings"
    )
    if result["status"] != "valid":
        raise typer.Exit(1)


@app.command("checkpoint")
def checkpoint_cmd(
    tenant: Annotated[str, typer.Option(help="tenant code")],
    database_url: DatabaseOpt = None,
) -> None:
    """Sign a checkpoint of every chain head of a tenant; prints its export (keep it safe)."""
    from timeline._chain import run_write
    from timeline._checkpoint import create_checkpoint, load_or_create_key
    from timeline._db import Database
    from timeline._tenancy import tenant_by_code

    settings = settings_for(database_url)
    key = load_or_create_key(settings.signing_key_path)

    async def run() -> dict[str, Any] | None:
        db = Database(settings.database_url)
        try:
            async with db.read() as session:
                row = await tenant_by_code(session, tenant)
            if row is None:
                return None
            tenant_id = row.id

            async def work(session: Any) -> dict[str, Any]:
                data = await create_checkpoint(session, tenant_id, "platform", key)
                return data.export(key.public_key())

            return await run_write(db, work, retries=settings.append_retries)
        finally:
            await db.dispose()

    doc = asyncio.run(run())
    if doc is None:
        err(f"timeline: no tenant with code {tenant!r}")
        raise typer.Exit(2)
    typer.echo(json.dumps(doc, indent=2))

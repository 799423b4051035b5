"""``timeline documents ...``: check stored documents against their chained checksums."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from timeline._cli_common import DatabaseOpt, err, settings_for

documents_app = typer.Typer(
    help="Documents: check stored files against their chained checksums.", no_args_is_help=True
)


@documents_app.callback()
def _group() -> None:
    """Documents: check stored files against their chained checksums."""


@documents_app.command("verify")
def verify(
    tenant: Annotated[str | None, typer.Option(help="tenant code (default: every tenant)")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Re-read every live document's content; exit 1 if any differs from its row or event.

    Prints a JSON report on stdout: each problem names the tenant, document, version and kind
    (missing_blob, checksum_mismatch, row_event_mismatch, missing_event). The store is the one
    the TIMELINE_STORAGE_* / TIMELINE_S3_* settings name.
    """
    from sqlalchemy import select

    from corekit.errors import ConfigurationError
    from timeline._db import Database
    from timeline._models import Tenant
    from timeline.documents._storage import build_store
    from timeline.documents._verify import verify_documents
    from timeline.errors import TimelineError

    settings = settings_for(database_url)
    try:
        store = build_store(settings)
    except ConfigurationError as exc:
        err(f"timeline: {exc}")
        raise typer.Exit(2) from exc

    async def run() -> dict[str, Any] | None:
        db = Database(settings.database_url)
        try:
            tenant_ids = None
            if tenant is not None:
                async with db.read() as session:
                    stmt = select(Tenant.id).where(Tenant.code == tenant)
                    tenant_ids = list((await session.execute(stmt)).scalars())
                if not tenant_ids:
                    return None
            return (await verify_documents(db, store, tenant_ids)).to_dict()
        finally:
            await store.stop()
            await db.dispose()

    try:
        result = asyncio.run(run())
    except TimelineError as exc:
        err(f"timeline: {exc}")
        raise typer.Exit(2) from exc
    if result is None:
        err(f"timeline: no tenant with code {tenant!r}")
        raise typer.Exit(2)
    typer.echo(json.dumps(result, indent=2))
    typer.echo(
        f"timeline: documents {result['status']}: {result['versions_checked']} versions, "
        f"{result['bytes_checked']} bytes, {len(result['problems'])} problems",
        err=True,
    )
    if result["problems"]:
        raise typer.Exit(1)

"""``python -m pywats.emulator``: run the WATS emulator until interrupted.

Defaults: ``--host 127.0.0.1 --port 8088 --username wats --password wats``; each flag can also
come from a ``PYWATS_EMULATOR_*`` environment variable (e.g. ``PYWATS_EMULATOR_PASSWORD``).
Port 8080 is avoided on purpose: the WATS client service binds its health server there.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

cli = typer.Typer(add_completion=False, help="Run a WATS server emulator for tests.")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8088


@cli.command()
def main(
    *,
    host: Annotated[
        str, typer.Option(envvar="PYWATS_EMULATOR_HOST", help="Interface to bind.")
    ] = DEFAULT_HOST,
    port: Annotated[
        int, typer.Option(envvar="PYWATS_EMULATOR_PORT", min=0, max=65535, help="Port to bind.")
    ] = DEFAULT_PORT,
    username: Annotated[
        str, typer.Option(envvar="PYWATS_EMULATOR_USERNAME", help="User clients authenticate as.")
    ] = "wats",
    password: Annotated[
        str,
        typer.Option(
            envvar="PYWATS_EMULATOR_PASSWORD",
            help="That user's password or token.",
            show_default=False,
        ),
    ] = "wats",  # noqa: S107 - a documented test credential of a local emulator
    accept_any_token: Annotated[
        bool, typer.Option(help="Accept any Basic credentials (smoke tests).")
    ] = False,
    strict: Annotated[
        bool, typer.Option(help="Reject unknown top-level WSJF keys (WATS ignores them).")
    ] = False,
    body_limit: Annotated[
        int,
        typer.Option(
            min=0, help="Bytes of each request body the request log keeps (0: none, fastest)."
        ),
    ] = 64 * 1024,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the WATS emulator on HOST:PORT until interrupted (Ctrl+C)."""
    from corekit.testing import run
    from pywats.emulator import EmulatorSettings, create_app

    settings = EmulatorSettings(
        username=username, password=password, accept_any_token=accept_any_token, strict=strict
    )
    typer.echo(f"WATS emulator on http://{host}:{port} (user {username!r})", err=True)
    app = create_app(settings, body_limit=body_limit)
    run(app, host=host, port=port, log_level=log_level)


if __name__ == "__main__":  # pragma: no cover - exercised by the subprocess test
    sys.exit(cli())

"""``python -m projectx.emulator``: run the emulated Gateway until interrupted.

Point a client at ``http://HOST:PORT/api`` (REST) and ``http://HOST:PORT/hubs/user`` /
``http://HOST:PORT/hubs/market`` (SignalR); log in with the user name and API key given here.
"""

from __future__ import annotations

import typer

cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@cli.command()
def main(
    *,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8080, help="Port to listen on (0 picks a free one)."),
    username: str = typer.Option(
        "emulator", envvar="PROJECTX_EMULATOR_USERNAME", help="User name Auth/loginKey accepts."
    ),
    api_key: str = typer.Option(
        "emulator-api-key",
        envvar="PROJECTX_EMULATOR_API_KEY",
        help="API key Auth/loginKey accepts.",
        show_default=True,
    ),
    token_lifetime: float = typer.Option(
        86_400.0, min=1.0, help="Seconds from login to the token's exp (the Gateway's: 24 h)."
    ),
    rate_limits: bool = typer.Option(
        True, help="Enforce 50 bars requests per 30 s and 200 other requests per 60 s."
    ),
    market_interval: float = typer.Option(
        0.0, min=0.0, help="Seconds between scripted price moves of the front months (0: none)."
    ),
    log_level: str = typer.Option("info", help="uvicorn's log level."),
) -> None:
    """Run the ProjectX Gateway emulator."""
    from pydantic import SecretStr

    from corekit.testing import run
    from projectx.emulator import EmulatorSettings, create_app

    settings = EmulatorSettings(
        username=username,
        api_key=SecretStr(api_key),
        token_lifetime=token_lifetime,
        rate_limits=rate_limits,
        market_interval=market_interval,
    )
    typer.echo(
        f"ProjectX Gateway emulator: REST http://{host}:{port}/api, hubs "
        f"http://{host}:{port}/hubs/user and /hubs/market, user {username!r}",
        err=True,
    )
    run(create_app(settings), host=host, port=port, log_level=log_level)


if __name__ == "__main__":  # pragma: no cover
    cli()

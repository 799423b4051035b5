"""``python -m pym2v.emulator``: run the m2v emulator under uvicorn until interrupted."""

from __future__ import annotations

from typing import Annotated

import typer

cli = typer.Typer(add_completion=False, help="Run the Eurogard m2v emulator (plain HTTP).")


@cli.command()
def main(
    *,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8080,
    username: Annotated[str, typer.Option(help="User of the password grant.")] = "user",
    password: Annotated[str, typer.Option(help="Password of the password grant.")] = "password",  # noqa: S107
    client_id: Annotated[str, typer.Option(help="OAuth2 client id.")] = "backend",
    client_secret: Annotated[str, typer.Option(help="OAuth2 client secret.")] = "secret",  # noqa: S107
    routers: Annotated[int, typer.Option(help="Number of routers.", min=0)] = 2,
    machines: Annotated[int, typer.Option(help="Number of machines.", min=0)] = 3,
    measurements: Annotated[int, typer.Option(help="Measurements per machine.", min=0)] = 5,
    setpoints: Annotated[int, typer.Option(help="Set-points per machine.", min=0)] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the generated catalogue and data.")] = 0,
    token_lifetime: Annotated[
        int, typer.Option(help="Access-token lifetime in seconds (expires_in).", min=1)
    ] = 7200,
    refresh_token_lifetime: Annotated[
        int, typer.Option(help="Refresh-token lifetime in seconds.", min=1)
    ] = 86400,
    sample_interval: Annotated[
        int, typer.Option(help="Seconds between generated raw samples.", min=1)
    ] = 10,
    sparse: Annotated[bool, typer.Option(help="Leave out about a third of the buckets.")] = False,
    missing_series: Annotated[
        bool, typer.Option(help="Last measurement of each machine has no data on odd UTC days.")
    ] = False,
    integer_values: Annotated[
        bool, typer.Option(help="Whole-number JSON integers on even UTC days.")
    ] = False,
    reordered_results: Annotated[
        bool, typer.Option(help="Every other time-series response in reverse order.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the emulator on http://HOST:PORT; the base URL for clients has no trailing slash."""
    from pydantic import SecretStr, ValidationError

    from corekit.testing import run
    from pym2v.emulator import DataModes, EmulatorSettings, create_app

    try:
        settings = EmulatorSettings(
            username=username,
            password=SecretStr(password),
            client_id=client_id,
            client_secret=SecretStr(client_secret),
            routers=routers,
            machines=machines,
            measurements=measurements,
            setpoints=setpoints,
            seed=seed,
            token_lifetime=token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
            sample_interval_s=sample_interval,
            modes=DataModes(
                sparse=sparse,
                missing_series=missing_series,
                integer_values=integer_values,
                reordered_results=reordered_results,
            ),
        )
    except ValidationError as exc:
        typer.echo(f"invalid option: {exc}", err=True)
        raise typer.Exit(2) from None
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"m2v emulator on http://{shown}:{port} (user {username!r})", err=True)
    run(create_app(settings), host=host, port=port, log_level=log_level)


if __name__ == "__main__":
    cli()

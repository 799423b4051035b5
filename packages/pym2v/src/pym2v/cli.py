"""The ``pym2v`` command: the m2v platform from a shell.

Results go to stdout (JSON, or the frame as CSV / JSON / Parquet), diagnostics and the
progress bar to stderr. Settings come from ``EUROGARD_*`` variables and, with ``--env-file``,
a dotenv file. Exit codes: 0 success, 1 the platform or the network failed, 2 bad usage or
settings.

Heavy modules (the client, polars) are imported inside the commands, so ``--help`` is fast.
"""

from __future__ import annotations

__all__ = ["app", "main"]

import datetime as dt
import enum
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from pym2v._sync import EurogardAPI

app = typer.Typer(
    name="pym2v",
    help="Query the Eurogard m2v platform (settings from EUROGARD_* variables).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Format(enum.StrEnum):
    """Output formats of ``pym2v data``."""

    csv = "csv"
    json = "json"
    parquet = "parquet"


EnvFile = Annotated[
    Path | None,
    typer.Option(
        "--env-file",
        help="A dotenv file with EUROGARD_* settings (the environment wins).",
        exists=True,
        dir_okay=False,
    ),
]
Page = Annotated[int, typer.Option(min=0, help="Page number (0-based); with --all, ignored.")]
Size = Annotated[int, typer.Option(min=1, help="Page size.")]
Filter = Annotated[str, typer.Option("--filter", help="Filter, e.g. '__archived:false;name:X'.")]
All = Annotated[bool, typer.Option("--all", help="Every page, as one JSON list of entities.")]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"pym2v: error: {message}", err=True)
    return typer.Exit(code)


def _client(env_file: Path | None) -> EurogardAPI:
    from pym2v._sync import EurogardAPI

    return EurogardAPI.from_env(env_file=env_file)


def _run(env_file: Path | None, action: Any) -> Any:
    """Run ``action(api)``, turning pym2v errors into a message and an exit code."""
    from pym2v.errors import M2VConfigurationError, Pym2vError

    try:
        with _client(env_file) as api:
            return action(api)
    except M2VConfigurationError as exc:
        raise _fail(str(exc), 2) from None
    except Pym2vError as exc:
        raise _fail(str(exc), 1) from None


def _print_json(data: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _listing(getter: str, iterator: str, what: str) -> Any:
    """A command printing one page of ``what``, or with ``--all`` every one, as JSON."""

    def command(
        env_file: EnvFile = None,
        every: All = False,
        page: Page = 0,
        size: Size = 100,
        filter: Filter = "__archived:false",
    ) -> None:
        def action(api: EurogardAPI) -> Any:
            if every:
                return [m.raw for m in getattr(api, iterator)(filter=filter, page_size=size)]
            return getattr(api, getter)(page=page, size=size, filter=filter)

        _print_json(_run(env_file, action))

    command.__doc__ = f"Print {what} as JSON."
    return command


def _machine_listing(getter: str, iterator: str, what: str) -> Any:
    """A command printing one page of a machine's ``what``, or every one, as JSON."""

    def command(  # noqa: PLR0917 - typer maps parameters to options
        machine: Annotated[str, typer.Argument(help="The machine uuid.")],
        env_file: EnvFile = None,
        every: All = False,
        page: Page = 0,
        size: Size = 100,
        filter: Filter = "__archived:false",
    ) -> None:
        def action(api: EurogardAPI) -> Any:
            if every:
                found = getattr(api, iterator)(machine, filter=filter, page_size=size)
                return [m.raw for m in found]
            return getattr(api, getter)(machine, page=page, size=size, filter=filter)

        _print_json(_run(env_file, action))

    command.__doc__ = f"Print a machine's {what} as JSON."
    return command


@app.command("user-info")
def user_info(env_file: EnvFile = None) -> None:
    """Print the logged-in user as JSON."""
    _print_json(_run(env_file, lambda api: api.get_user_info()))


app.command("routers")(_listing("get_routers", "iter_routers", "routers"))
app.command("machines")(_listing("get_machines", "iter_machines", "machines"))
app.command("measurements")(
    _machine_listing("get_machine_measurement_names", "iter_measurements", "measurements")
)
app.command("setpoints")(_machine_listing("get_machine_setpoints", "iter_setpoints", "set-points"))


@app.command("machine-uuid")
def machine_uuid(
    name: Annotated[str, typer.Argument(help="The exact machine name.")],
    env_file: EnvFile = None,
) -> None:
    """Print the uuid of the machine NAME (every page is searched)."""
    machine = _run(env_file, lambda api: api.find_machine(name))
    if machine is None:
        raise _fail(f"no machine named {name!r}", 1)
    typer.echo(machine.uuid)


def _datetime(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        msg = f"{value!r} is not an ISO 8601 datetime (e.g. 2025-01-01T00:00:00Z)"
        raise typer.BadParameter(msg) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@app.command()
def data(  # noqa: PLR0917 - typer maps parameters to options
    machine: Annotated[str, typer.Argument(help="The machine uuid.")],
    names: Annotated[list[str], typer.Argument(help="Measurement names.")],
    start: Annotated[
        dt.datetime,
        typer.Option(parser=_datetime, help="Window start, ISO 8601 (naive means UTC)."),
    ],
    end: Annotated[
        dt.datetime, typer.Option(parser=_datetime, help="Window end, ISO 8601 (inclusive).")
    ],
    interval: Annotated[int, typer.Option(min=1, help="Bucket length in seconds.")] = 60,
    max_frame_length: Annotated[
        int, typer.Option(min=1, help="Longest window per request, in seconds.")
    ] = 30 * 86400,
    output_format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.csv,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    long: Annotated[bool, typer.Option(help="Rows of (timestamp, name, value).")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
    env_file: EnvFile = None,
) -> None:
    """Fetch measurements NAMES of MACHINE between --start and --end as a frame."""
    if output_format is Format.parquet and output is None:
        raise _fail("--format parquet needs --output FILE (binary is not written to a terminal)", 2)
    frame = _run(
        env_file,
        lambda api: api.get_long_frame_from_names(
            machine,
            names,
            start,
            end,
            dt.timedelta(seconds=interval),
            dt.timedelta(seconds=max_frame_length),
            progress,
            long=long,
        ),
    )
    _write(frame, output_format, output)
    typer.echo(f"pym2v: {frame.height} rows", err=True)


def _write(frame: Any, output_format: Format, output: Path | None) -> None:
    if output_format is Format.parquet:
        assert output is not None
        frame.write_parquet(output)
        return
    text = frame.write_csv() if output_format is Format.csv else frame.write_json()
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        from corekit.files import atomic_write

        atomic_write(output, text)


def main() -> None:
    """Entry point of the ``pym2v`` script."""
    app()

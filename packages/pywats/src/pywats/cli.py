"""The ``pywats`` command: submit reports and look things up in WATS from a shell.

Settings come from ``PYWATS_*`` variables (or ``--env-file``), overridden by the options.
Results go to stdout (JSON for records, one line per row for lists); diagnostics and the
progress bar to stderr. A failure exits 1 with the reason; a configuration problem exits 2.
The client and tqdm are imported inside the commands, so ``pywats --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from pywats.station.cli import app as station_app

if TYPE_CHECKING:
    from pydantic import BaseModel

    from pywats._client import WATS
    from pywats._report import ReportBase

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="pywats",
    help="WATS test data from the shell. Configure with PYWATS_* variables or the options.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
report_app = typer.Typer(help="Submit, read and query test reports.", no_args_is_help=True)
product_app = typer.Typer(help="Look up products.", no_args_is_help=True)
unit_app = typer.Typer(help="Look up units.", no_args_is_help=True)
asset_app = typer.Typer(help="Look up test assets.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(product_app, name="product")
app.add_typer(unit_app, name="unit")
app.add_typer(asset_app, name="asset")
app.add_typer(station_app, name="station")

_options: dict[str, Any] = {}


def _version_flag(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"pywats {version('pywats')}")
        raise typer.Exit


@app.callback()
def _global(  # noqa: PLR0917 - typer maps each parameter to an option
    url: Annotated[
        str | None, typer.Option("--url", help="WATS server (overrides PYWATS_BASE_URL).")
    ] = None,
    username: Annotated[str | None, typer.Option(help="User (overrides PYWATS_USERNAME).")] = None,
    password: Annotated[
        str | None,
        typer.Option(help="Password or API token (prefer PYWATS_PASSWORD: flags show in ps)."),
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Pre-encoded Basic token (prefer PYWATS_TOKEN).")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per request.")] = None,
    env_file: Annotated[
        Path | None, typer.Option("--env-file", help="dotenv file with PYWATS_* variables.")
    ] = None,
    version: Annotated[  # noqa: ARG001 - handled by its eager callback
        bool,
        typer.Option(
            "--version", callback=_version_flag, is_eager=True, help="Print the client version."
        ),
    ] = False,
) -> None:
    _options.clear()
    _options.update(url=url, username=username, password=password, token=token, timeout=timeout)
    _options["env_file"] = env_file


def _client() -> WATS:
    from pywats._client import WATS
    from pywats._settings import WATSSettings

    settings = WATSSettings.from_env(_options.get("env_file"))
    overrides = {
        "base_url": _options.get("url"),
        "username": _options.get("username"),
        "password": _options.get("password"),
        "token": _options.get("token"),
        "timeout": _options.get("timeout"),
    }
    return WATS.from_settings(settings, **{k: v for k, v in overrides.items() if v is not None})


def _run(work: Callable[[WATS], T]) -> T:
    """Connect, run ``work`` and turn failures into a message and an exit code."""
    from pywats.errors import PyWATSError, WATSConfigurationError

    try:
        with _client() as wats:
            return work(wats)
    except WATSConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except PyWATSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _dump(record: BaseModel) -> None:
    typer.echo(record.model_dump_json(by_alias=True, exclude_none=True, indent=2))


@app.command()
def version() -> None:
    """Print the WATS server version (a connection test)."""
    typer.echo(_run(lambda wats: wats.app.version()))


@app.command()
def processes(
    inactive: Annotated[bool, typer.Option(help="Include inactive processes.")] = False,
) -> None:
    """List processes: code, kind and name, one per line."""
    rows = _run(lambda wats: wats.app.processes(include_inactive=inactive))
    for p in rows:
        kind = "repair" if p.is_repair_operation else "wip" if p.is_wip_operation else "test"
        typer.echo(f"{p.code}\t{kind}\t{p.name}")


def _load(path: Path) -> list[ReportBase]:
    from pywats._report import parse_report
    from pywats._wsxf import from_wsxf

    data = path.read_bytes()
    if data.lstrip().startswith(b"<"):
        return list(from_wsxf(data))
    return [parse_report(data)]


@report_app.command("submit")
def report_submit(
    files: Annotated[list[Path], typer.Argument(help="WSJF (.json) or WSXF (XML) files.")],
    validate: Annotated[
        bool, typer.Option(help="Check reports against WATS's rules before sending.")
    ] = True,
) -> None:
    """Submit report files; print ``file<TAB>report id`` for each report sent."""
    from tqdm import tqdm  # type: ignore[import-untyped]

    from pywats.errors import PyWATSError

    failures = 0

    def work(wats: WATS) -> None:
        nonlocal failures
        for path in tqdm(files, desc="submitting", unit="file", file=sys.stderr):
            try:
                reports = _load(path)
                for report in reports:
                    report_id = wats.report.submit(report, validate=validate)
                    typer.echo(f"{path}\t{report_id}")
            except OSError as exc:
                failures += 1
                typer.echo(f"error: {path}: cannot read: {exc.strerror or exc}", err=True)
            except PyWATSError as exc:
                failures += 1
                typer.echo(f"error: {path}: {exc}", err=True)

    _run(work)
    if failures:
        typer.echo(f"{failures} of {len(files)} files failed", err=True)
        raise typer.Exit(1)


@report_app.command("get")
def report_get(
    report_id: Annotated[str, typer.Argument(help="The report id (a UUID).")],
) -> None:
    """Print one report as WSJF."""
    report = _run(lambda wats: wats.report.get(report_id))
    typer.echo(json.dumps(report.to_dict(), indent=2))


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        msg = f"{value!r} is not an ISO-8601 date or time, e.g. 2026-01-31 or 2026-01-31T08:00Z"
        raise typer.BadParameter(msg) from None


@report_app.command("query")
def report_query(  # noqa: PLR0917 - typer maps each parameter to an option
    serial_number: Annotated[str | None, typer.Option("--sn", help="Serial number.")] = None,
    part_number: Annotated[str | None, typer.Option("--pn", help="Part number.")] = None,
    revision: Annotated[str | None, typer.Option("--rev", help="Revision.")] = None,
    result: Annotated[str | None, typer.Option(help="Result letter: P, F, E, T, D.")] = None,
    process: Annotated[int | None, typer.Option(help="Process code.")] = None,
    station: Annotated[str | None, typer.Option(help="Station name.")] = None,
    since: Annotated[str | None, typer.Option(help="Started at or after (ISO-8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Started at or before (ISO-8601).")] = None,
    odata: Annotated[
        str | None, typer.Option("--filter", help="An OData $filter, and-ed with the rest.")
    ] = None,
    repairs: Annotated[bool, typer.Option(help="Query repair (UUR) reports.")] = False,
    top: Annotated[int, typer.Option(help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List report headers, newest first: start, result, serial, part, revision, station, id."""
    start, end = _when(since), _when(until)
    headers = _run(
        lambda wats: wats.report.query_headers(
            odata,
            report_type="R" if repairs else "U",
            serial_number=serial_number,
            part_number=part_number,
            revision=revision,
            result=result,
            process_code=process,
            station_name=station,
            since=start,
            until=end,
            top=top,
            orderby="start desc",
        )
    )
    for h in headers:
        if as_json:
            typer.echo(h.model_dump_json(by_alias=True, exclude_none=True))
        else:
            when = h.start_utc.isoformat() if h.start_utc else ""
            fields = (when, h.result, h.serial_number, h.part_number, h.revision, h.station_name)
            typer.echo("\t".join(str(f or "") for f in (*fields, h.uuid)))


@product_app.command("get")
def product_get(part_number: Annotated[str, typer.Argument(help="Part number.")]) -> None:
    """Print a product with its revisions as JSON."""
    _dump(_run(lambda wats: wats.product.get(part_number)))


@unit_app.command("get")
def unit_get(
    serial_number: Annotated[str, typer.Argument(help="Serial number.")],
    part_number: Annotated[str, typer.Argument(help="Part number.")],
) -> None:
    """Print a unit as JSON."""
    _dump(_run(lambda wats: wats.production.get_unit(serial_number, part_number)))


@unit_app.command("verify")
def unit_verify(
    serial_number: Annotated[str, typer.Argument(help="Serial number.")],
    part_number: Annotated[str, typer.Argument(help="Part number.")],
) -> None:
    """Print whether the unit passed the processes it needs, as JSON."""
    _dump(_run(lambda wats: wats.production.verify(serial_number, part_number)))


@asset_app.command("get")
def asset_get(
    id_or_serial: Annotated[str, typer.Argument(help="Asset id or serial number.")],
) -> None:
    """Print an asset as JSON."""
    _dump(_run(lambda wats: wats.asset.get(id_or_serial)))


@app.command()
def gui(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="The station's TOML config (default: the service's)."),
    ] = None,
    log_file: Annotated[
        Path | None, typer.Option("--log-file", help="A service log file to follow.")
    ] = None,
    poll: Annotated[
        float, typer.Option("--poll", min=0.5, help="Dashboard refresh, seconds.")
    ] = 5.0,
) -> None:
    """Open the desktop client (needs the ``gui`` extra: ``pip install pywats[gui]``)."""
    argv = ["--poll", str(poll)]
    if config is not None:
        argv += ["--config", str(config)]
    if log_file is not None:
        argv += ["--log-file", str(log_file)]
    try:
        from pywats.gui import main as gui_main
    except ImportError as exc:
        typer.echo(
            f"error: the desktop client is not installed ({exc.msg}); "
            "install it with: pip install 'pywats[gui]'",
            err=True,
        )
        raise typer.Exit(2) from None
    code = gui_main(argv)
    if code:
        raise typer.Exit(code)


def main() -> None:
    """Entry point of the ``pywats`` console script."""
    app()

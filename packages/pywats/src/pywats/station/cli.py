"""``pywats station ...``: run the station service and operate its report queue.

Every command reads the station config (``--config PATH``, else ``$PYWATS_STATION_CONFIG``,
else the platform default). Queue commands open the queue's SQLite file directly, so they
work whether or not the service is running. Results go to stdout, diagnostics to stderr;
a configuration problem exits 2, any other failure 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from pywats.station._config import StationConfig
    from pywats.station._queue import QueuedReport, ReportQueue

__all__ = ["app"]

T = TypeVar("T")

app = typer.Typer(
    name="station",
    help="The station service: watch folders, queue reports durably, upload them to WATS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
queue_app = typer.Typer(help="Look at and act on the report queue.", no_args_is_help=True)
app.add_typer(queue_app, name="queue")

_state: dict[str, Path | None] = {"config": None}

_IDS = Annotated[list[str], typer.Argument(help="Report ids (UUIDs).")]


@app.callback()
def _global(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Station config (TOML). Default: $PYWATS_STATION_CONFIG or the platform's.",
        ),
    ] = None,
) -> None:
    _state["config"] = config


def _guard(work: Callable[[], T]) -> T:
    """Run ``work``; turn station errors into a message on stderr and an exit code."""
    from pywats.errors import PyWATSError
    from pywats.station._errors import ConfigError

    try:
        return work()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except PyWATSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _config(*, missing_ok: bool = False) -> StationConfig:
    from pywats.station._config import load_config

    return _guard(lambda: load_config(_state["config"], missing_ok=missing_ok))


@contextmanager
def _queue() -> Iterator[ReportQueue]:
    from pywats.station._queue import ReportQueue

    config = _config()
    path = config.queue_path
    if not path.exists():
        typer.echo(f"error: no queue at {path}: the station has not run yet", err=True)
        raise typer.Exit(1)
    queue = _guard(
        lambda: ReportQueue(
            path,
            capacity=config.queue.capacity,
            retention=config.queue.retention_days * 86400.0,
            max_attempts=config.queue.max_attempts,
        )
    )
    try:
        yield queue
    finally:
        queue.close()


@app.command()
def run() -> None:
    """Run the station until SIGTERM or Ctrl+C (what the systemd unit starts)."""
    from pywats.station._service import configure_logging, run_station

    config = _config()
    configure_logging(config.logging)
    _guard(lambda: run_station(config))


@app.command()
def login(
    url: Annotated[str | None, typer.Option(help="WATS server; default [server] url.")] = None,
    username: Annotated[
        str | None, typer.Option(help="User name; default [server] username.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin (scripts).")
    ] = False,
) -> None:
    """Store the WATS password in the keyring or the encrypted file (never the config)."""
    from pywats.station._credentials import CredentialStore

    config = _config(missing_ok=True)
    url = url or config.server.url
    username = username or config.server.username
    if not url or not username:
        typer.echo("error: give --url and --username, or set them in [server]", err=True)
        raise typer.Exit(2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(f"Password for {username} on {url}", hide_input=True)
    store = CredentialStore(config.credentials_dir, source=config.server.password_source)
    _guard(lambda: store.set_password(url, username, password))
    where = "the system keyring" if store.backend == "keyring" else str(store.directory)
    typer.echo(f"password for {username} on {url} stored in {where}", err=True)


@app.command()
def logout() -> None:
    """Forget the stored password of the configured server and user."""
    from pywats.station._credentials import CredentialStore

    config = _config()
    url, username = config.server.url, config.server.username
    if not url or not username:
        typer.echo("error: [server] url and username are not set", err=True)
        raise typer.Exit(2)
    store = CredentialStore(config.credentials_dir, source=config.server.password_source)
    removed = _guard(lambda: store.delete_password(url, username))
    typer.echo("password removed" if removed else "no password was stored", err=True)


@app.command("config")
def show_config() -> None:
    """Print the effective config (file plus environment overrides) as TOML."""
    import tomli_w

    config = _config()
    typer.echo(f"# {config.source}", err=True)
    typer.echo(tomli_w.dumps(config.model_dump(mode="json", exclude_none=True)), nl=False)


@app.command()
def status() -> None:
    """Print the running station's /status document (connection, counts, converters)."""
    import urllib.error
    import urllib.request

    config = _config()
    host = "127.0.0.1" if config.health.host in {"0.0.0.0", "::"} else config.health.host  # noqa: S104
    url = f"http://{host}:{config.health.port}/status"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            typer.echo(json.dumps(json.loads(response.read()), indent=2))
    except (urllib.error.URLError, OSError) as exc:
        typer.echo(f"error: the station does not answer on {url}: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def converters() -> None:
    """List the installed converters and their file patterns, and plugins that failed."""
    from pywats.station._converters import ConverterRegistry

    registry = ConverterRegistry.load()
    for converter in registry:
        typer.echo(f"{converter.name}\t{' '.join(converter.patterns)}")
    for problem in registry.errors:
        typer.echo(f"error: {problem.message}", err=True)
    if registry.errors:
        raise typer.Exit(1)


def _row(item: QueuedReport) -> str:
    fields = (
        item.report_id,
        str(item.state),
        str(item.attempts),
        item.enqueued_at.isoformat(timespec="seconds"),
        item.serial_number or "",
        item.part_number or "",
        item.last_error or "",
    )
    return "\t".join(fields)


def _record(item: QueuedReport) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        k: (str(v) if v is not None and not isinstance(v, int) else v)
        for k, v in asdict(item).items()
    }


@queue_app.command("list")
def queue_list(
    state: Annotated[
        str | None,
        typer.Option(help="pending, inflight, retry_wait, done, dead or held; default all."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many (0: no limit).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List queued reports: id, state, attempts, enqueued, serial, part, last error."""
    from pywats.station._queue import ReportState

    try:
        wanted = ReportState(state) if state else None
    except ValueError:
        choices = ", ".join(s.value for s in ReportState)
        raise typer.BadParameter(f"{state!r} is not a state; use one of {choices}") from None
    with _queue() as queue:
        counts = queue.counts()
        items = queue.list(wanted, limit=limit or None)
    for item in items:
        typer.echo(json.dumps(_record(item)) if as_json else _row(item))
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    typer.echo(f"{len(items)} shown; queue: {summary}", err=True)


@queue_app.command("show")
def queue_show(report_id: Annotated[str, typer.Argument(help="The report id.")]) -> None:
    """Print one report's queue record and every upload attempt, as JSON."""
    from dataclasses import asdict

    with _queue() as queue:
        item = queue.get(report_id)
        if item is None:
            typer.echo(f"error: no report {report_id} in the queue", err=True)
            raise typer.Exit(1)
        history = [asdict(a) for a in queue.history(report_id)]
    document = {**_record(item), "history": history}
    typer.echo(json.dumps(document, indent=2, default=str))


def _act(verb: str, action: Callable[[ReportQueue], int]) -> None:
    with _queue() as queue:
        changed = _guard(lambda: action(queue))
    typer.echo(f"{changed} report(s) {verb}")


@queue_app.command("requeue")
def queue_requeue(ids: _IDS) -> None:
    """Send dead, held or waiting reports back to pending (attempts are kept)."""
    _act("requeued", lambda q: q.requeue(ids))


@queue_app.command("retry")
def queue_retry(
    ids: Annotated[list[str] | None, typer.Argument(help="Report ids; default all.")] = None,
) -> None:
    """Retry reports waiting for their next attempt now (all of them without ids)."""
    _act("set to retry now", lambda q: q.retry_now(ids or None))


@queue_app.command("hold")
def queue_hold(ids: _IDS) -> None:
    """Hold reports: they are not uploaded until released."""
    _act("held", lambda q: q.hold(ids))


@queue_app.command("release")
def queue_release(ids: _IDS) -> None:
    """Release held reports back to pending."""
    _act("released", lambda q: q.release(ids))


@queue_app.command("purge")
def queue_purge(
    older_than_days: Annotated[
        float | None, typer.Option(help="Age in days; default the retention period.")
    ] = None,
) -> None:
    """Delete submitted (done) reports older than the retention period."""
    seconds = None if older_than_days is None else older_than_days * 86400.0
    _act("purged", lambda q: q.purge_done(seconds))


@queue_app.command("export")
def queue_export(
    ids: _IDS,
    to: Annotated[Path, typer.Option("--to", help="Folder to write into (created).")],
) -> None:
    """Write each report as <id>.wsjf plus <id>.history.json into a folder."""
    to.mkdir(parents=True, exist_ok=True)
    with _queue() as queue:
        written = _guard(lambda: queue.export(ids, to))
    for path in written:
        typer.echo(str(path))

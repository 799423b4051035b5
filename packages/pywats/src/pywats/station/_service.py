"""The station service: folder watchers, the durable queue, its uploader and a health server.

:class:`Station` wires the parts together and runs them on one asyncio loop until its stop
event is set (SIGTERM or SIGINT under :func:`run_station`). Shutdown is graceful: the watchers
stop taking files, uploads in flight finish within the grace period or their leases are
returned, and the queue is closed. Nothing is lost by a hard kill either: every file is
enqueued durably before it is moved, and the queue returns expired leases on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pywats.station._config import LoggingConfig, StationConfig
from pywats.station._errors import ConfigError
from pywats.station._health import HealthServer, StationMetrics

if TYPE_CHECKING:
    from pywats._client import AsyncWATS
    from pywats.station._credentials import CredentialStore
    from pywats.station._pipeline import FileOutcome
    from pywats.station._queue import QueueEvent, ReportQueue
    from pywats.station._uploader import Uploader, UploadResult
    from pywats.station._watcher import ConverterBinding

__all__ = ["Station", "configure_logging", "run_station"]

logger = logging.getLogger(__name__)

_RECENT = 50
_PURGE_EVERY = 3600.0


class Station:
    """The running station: converters feed the queue, the uploader drains it to WATS.

    Args:
        config: the loaded configuration.
        credentials: where the password is; default a :class:`CredentialStore` in
            ``config.credentials_dir`` using ``config.server.password_source``.
        client: an :class:`~pywats.AsyncWATS` to upload with (tests); default one built from
            the config and the credentials, without client-side retries (the queue retries).
        probe_interval: seconds between connection probes (``GET /api/App/Version``);
            default ``[server] probe_interval``.
        grace: seconds uploads in flight may take to finish on shutdown.
    """

    def __init__(
        self,
        config: StationConfig,
        *,
        credentials: CredentialStore | None = None,
        client: AsyncWATS | None = None,
        probe_interval: float | None = None,
        grace: float = 30.0,
    ) -> None:
        self.config = config
        self._credentials = credentials
        self._client = client
        self._own_client = client is None
        self.probe_interval = probe_interval or config.server.probe_interval
        self.grace = grace
        self.metrics = StationMetrics()
        self.queue: ReportQueue | None = None
        self.uploader: Uploader | None = None
        self.health: HealthServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._recent: deque[dict[str, Any]] = deque(maxlen=_RECENT)
        self._converters: dict[str, dict[str, Any]] = {}
        self._last_contact: float | None = None
        self._probe_error: str | None = None
        self._started_at = datetime.now(UTC)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down gracefully.

        Raises:
            ConfigError: no server URL or user name, no stored password, an unknown converter,
                or the health port is taken.
            StationError: the queue file cannot be opened.
        """
        from pywats.station._queue import ReportQueue

        self._loop = asyncio.get_running_loop()
        client = self._client or self._build_client()
        self._client = client
        cfg = self.config.queue
        try:
            bindings = self._bindings()
            _make_folder(self.config.queue_path.parent, "queue")
            self.queue = ReportQueue(
                self.config.queue_path,
                capacity=cfg.capacity,
                retention=cfg.retention_days * 86400.0,
                max_attempts=cfg.max_attempts,
                on_event=self._on_event,
            )
        except BaseException:
            await self._close_client()
            raise
        try:
            await self._run_parts(stop, bindings)
        finally:
            self.queue.close()
            await self._close_client()
            logger.info("station stopped")

    async def _run_parts(self, stop: asyncio.Event, bindings: list[ConverterBinding]) -> None:
        from pywats.station._uploader import Uploader
        from pywats.station._watcher import FolderWatcher

        assert self.queue is not None
        assert self._client is not None
        cfg = self.config.queue
        self.uploader = Uploader(
            self.queue,
            self._client,
            concurrency=cfg.concurrency,
            base_delay=cfg.retry_base_seconds,
            max_delay=cfg.retry_max_seconds,
            auth_delay=cfg.auth_retry_seconds,
            lease_time=cfg.lease_seconds,
            grace=self.grace,
            on_result=self._upload_result,
        )
        if self.config.health.enabled:
            self.health = HealthServer(
                self, host=self.config.health.host, port=self.config.health.port
            )
            try:
                await self.health.start()
            except OSError as exc:
                msg = (
                    f"cannot serve health on {self.config.health.host}:{self.config.health.port}: "
                    f"{exc.strerror or exc}; change [health] port or set enabled = false"
                )
                raise ConfigError(msg) from None
        self._refresh_depth()
        logger.info(
            "station started: %d converter(s), queue %s, server %s",
            len(bindings),
            self.config.queue_path,
            self.config.server.url,
        )
        uploader = self.uploader
        parts: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "uploader": lambda: uploader.run(stop),
            "probe": lambda: self._probe(stop),
            "housekeeping": lambda: self._housekeeping(stop),
        }
        if bindings:
            watcher = FolderWatcher(bindings, self.queue, on_result=self._on_result)
            parts["watcher"] = lambda: watcher.run(stop)
        try:
            await self._supervise(stop, parts)
        finally:
            if self.health is not None:
                await self.health.close()

    async def _supervise(
        self, stop: asyncio.Event, parts: dict[str, Callable[[], Coroutine[Any, Any, None]]]
    ) -> None:
        """Run the parts until ``stop``; restart one that fails, after a growing pause.

        A :class:`ConfigError` (a folder that cannot be created, ...) cannot heal by itself: it
        stops the station and is raised. Any other failure (a full disk, a lost file system) is
        logged loudly and the part is started again after 1, 2, 4 ... up to 60 seconds, so the
        station recovers when the cause goes away instead of leaving a host without uploads.
        """
        tasks: dict[str, asyncio.Task[None]] = {
            name: asyncio.create_task(start(), name=name) for name, start in parts.items()
        }
        failures = dict.fromkeys(parts, 0)
        stopper = asyncio.create_task(stop.wait(), name="stop")
        fatal: BaseException | None = None
        try:
            while not stop.is_set():
                done, _ = await asyncio.wait(
                    {stopper, *tasks.values()}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done - {stopper}:
                    name = task.get_name()
                    error = task.exception()
                    if isinstance(error, ConfigError):
                        logger.error("station part %s cannot run: %s; stopping", name, error)
                        fatal = error
                        stop.set()
                        break
                    if stop.is_set():
                        continue
                    delay = min(60.0, 2.0 ** failures[name])
                    failures[name] += 1
                    logger.error(
                        "station part %s failed (%s); restarting it in %.0f s",
                        name,
                        _short(error) if error else "it ended",
                        delay,
                        exc_info=error,
                    )
                    tasks[name] = asyncio.create_task(_after(delay, stop, parts[name]), name=name)
            logger.info("stopping: waiting up to %.0f s for uploads in flight", self.grace)
            _, pending = await asyncio.wait(tasks.values(), timeout=self.grace + 5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            if fatal is not None:
                raise fatal
        finally:
            stopper.cancel()

    def _build_client(self) -> AsyncWATS:
        from pywats._builder import Station as Identity
        from pywats._client import AsyncWATS
        from pywats.station._credentials import CredentialStore

        server = self.config.server
        if not server.url or not server.username:
            msg = "[server] url and username must be set in the station config"
            raise ConfigError(msg)
        store = self._credentials or CredentialStore(
            self.config.credentials_dir, source=server.password_source
        )
        password = store.get_password(server.url, server.username)
        if password is None:
            msg = (
                f"no password stored for {server.username} on {server.url}: run "
                "`pywats station login` (or set PYWATS_STATION_PASSWORD)"
            )
            raise ConfigError(msg)
        station = Identity(server.station_name) if server.station_name else None
        return AsyncWATS(
            server.url,
            username=server.username,
            password=password,
            timeout=server.timeout,
            station=station,
            retry=None,
        )

    def _bindings(self) -> list[ConverterBinding]:
        from pywats.station._converters import ConverterRegistry
        from pywats.station._watcher import ConverterBinding

        enabled = [c for c in self.config.converters if c.enabled]
        if not enabled:
            return []
        registry = ConverterRegistry.load()
        return [
            ConverterBinding(
                registry.get(c.name),
                c.watch,
                c.done_dir,
                c.error_dir,
                c.patterns,
                c.settings,
            )
            for c in enabled
        ]

    async def _close_client(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _probe(self, stop: asyncio.Event) -> None:
        """Ask WATS for its version now and then; a recovered connection retries at once."""
        assert self._client is not None
        while not stop.is_set():
            try:
                await asyncio.wait_for(self._client.app.version(), self.config.server.timeout)
            except Exception as exc:
                if self._probe_error is None:
                    logger.warning("WATS is not reachable: %s", _short(exc))
                self._probe_error = _short(exc)
                self.metrics.connected.set(0)
            else:
                recovered = self._probe_error is not None
                self._last_contact = time.monotonic()
                self._probe_error = None
                self.metrics.connected.set(1)
                if recovered:
                    logger.info("WATS is reachable again; retrying waiting reports now")
                    assert self.queue is not None
                    await asyncio.to_thread(self.queue.retry_now)
                    if self.uploader is not None:
                        self.uploader.nudge()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.probe_interval)

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        """Refresh the queue gauges every few seconds; purge old done reports hourly."""
        last_purge = time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5.0)
            assert self.queue is not None
            await asyncio.to_thread(self._refresh_depth)
            if time.monotonic() - last_purge >= _PURGE_EVERY:
                last_purge = time.monotonic()
                purged = await asyncio.to_thread(self.queue.purge_done)
                if purged:
                    logger.info("purged %d submitted report(s) past retention", purged)

    def _refresh_depth(self) -> dict[str, int]:
        assert self.queue is not None
        counts = {str(state): n for state, n in self.queue.counts().items()}
        for state, n in counts.items():
            self.metrics.queue_depth.labels(state=state).set(n)
        if self.uploader is not None:
            self.metrics.auth_problem.set(1 if self.uploader.auth_problem else 0)
            if self.uploader.connected is not None:
                if self.uploader.connected:
                    self._last_contact = time.monotonic()
                self.metrics.connected.set(1 if self.uploader.connected else 0)
        return counts

    def _upload_result(self, result: UploadResult) -> None:
        """The uploader's hook: every attempt's latency goes to the histogram."""
        self.metrics.upload_latency.observe(result.latency_s)

    def _on_event(self, event: QueueEvent) -> None:
        """Called by the queue, possibly from a worker thread: keep it cheap and thread-safe."""
        self.metrics.events.labels(kind=event.kind).inc()
        if event.kind != "queued":
            self._recent.append(
                {
                    "report_id": event.report_id,
                    "kind": event.kind,
                    "at": _iso(event.at),
                    "detail": event.detail,
                }
            )
        if event.kind in {"queued", "requeued"} and self._loop is not None and self.uploader:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._loop.call_soon_threadsafe(self.uploader.nudge)

    def _on_result(self, outcome: FileOutcome) -> None:
        self.metrics.files.labels(converter=outcome.converter, status=outcome.status).inc()
        entry = self._converters.setdefault(outcome.converter, {"files": {}})
        entry["files"][outcome.status] = entry["files"].get(outcome.status, 0) + 1
        entry["last"] = {
            "path": str(outcome.path),
            "status": outcome.status,
            "report_ids": list(outcome.report_ids),
            "message": outcome.message,
            "at": datetime.now(UTC).isoformat(),
        }

    def ready(self) -> tuple[bool, str]:
        """Ready when the queue is open and WATS answered within three probe intervals."""
        if self.queue is None:
            return False, "queue not open"
        if self._last_contact is None:
            return False, f"WATS not reached yet: {self._probe_error or 'probing'}"
        age = time.monotonic() - self._last_contact
        if age > 3 * self.probe_interval:
            return False, f"WATS not reached for {age:.0f} s: {self._probe_error or 'no contact'}"
        return True, "ready"

    def _connected(self) -> bool | None:
        """The uploader's view of the connection, else the probe's; ``None`` before either."""
        if self.uploader is not None and self.uploader.connected is not None:
            return self.uploader.connected
        if self._probe_error is not None:
            return False
        return True if self._last_contact is not None else None

    def metrics_text(self) -> bytes:
        """Prometheus text with fresh queue gauges."""
        if self.queue is not None:
            self._refresh_depth()
        return self.metrics.render()

    def status(self) -> Mapping[str, Any]:
        """The ``/status`` document for the desktop client (no secrets)."""
        counts = self._refresh_depth() if self.queue is not None else {}
        uploader = self.uploader
        ready, reason = self.ready()
        reachable = self._probe_error is None and self._last_contact is not None
        enabled = {c.name: c for c in self.config.converters}
        converters = [
            {
                "name": c.name,
                "enabled": c.enabled,
                "watch": str(c.watch),
                "done": str(c.done_dir),
                "error": str(c.error_dir),
                **self._converters.get(c.name, {"files": {}}),
            }
            for c in enabled.values()
        ]
        return {
            "started_at": self._started_at.isoformat(),
            "ready": ready,
            "reason": reason,
            "server": {
                "url": self.config.server.url,
                "username": self.config.server.username,
                "connected": self._connected(),
                "reachable": reachable,
                "last_error": (uploader.last_error if uploader else None) or self._probe_error,
                "auth_problem": bool(uploader and uploader.auth_problem),
            },
            "queue": {"path": str(self.config.queue_path), "counts": counts},
            "recent": list(self._recent)[::-1],
            "converters": converters,
        }


def run_station(config: StationConfig, **options: Any) -> None:
    """Run a :class:`Station` until SIGTERM or SIGINT (the ``pywats station run`` command)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # Windows' event loops take no signal handlers; there Ctrl+C ends asyncio.run instead.
        if sys.platform != "win32":
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, _stopper(stop, signum))
        await Station(config, **options).run(stop)

    asyncio.run(main())


def _stopper(stop: asyncio.Event, signum: int) -> Any:
    def handler() -> None:
        logger.info("received %s: shutting down", signal.Signals(signum).name)
        stop.set()

    return handler


class _JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(config: LoggingConfig) -> None:
    """Send log records to stderr as text or JSON lines at the configured level."""
    handler = logging.StreamHandler(sys.stderr)
    if config.format == "json":
        handler.setFormatter(_JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level)


def _make_folder(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = (
            f"cannot create the {what} folder {folder}: {exc.strerror or exc}; fix the path "
            "([queue] path) or its permissions"
        )
        raise ConfigError(msg) from None


async def _after(
    delay: float, stop: asyncio.Event, start: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """Run ``start()`` after ``delay`` seconds, unless ``stop`` is set first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)
    if not stop.is_set():
        await start()


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).isoformat()
    return str(value)

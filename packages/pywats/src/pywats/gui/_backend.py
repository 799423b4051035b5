"""The station as the desktop client sees it: config file, queue file, credentials, service.

Every method here blocks (SQLite, file system, HTTP), so the pages call them through
:class:`~pywats.gui._tasks.TaskRunner`, never directly on the GUI thread. The queue is the
station's own SQLite file, opened beside the running service (SQLite serialises the two
processes); the config is re-read before each change so edits made elsewhere are kept.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pywats.gui._status import StationStatus, fetch_status
from pywats.station._config import StationConfig, load_config, save_config
from pywats.station._credentials import CredentialStore
from pywats.station._errors import ConfigError

if TYPE_CHECKING:
    from pywats.station._queue import Attempt, QueuedReport, ReportQueue, ReportState

__all__ = ["StationBackend"]

_TAIL_BYTES = 64 * 1024


class StationBackend:
    """Blocking access to one station's files and service.

    Args:
        config_path: the station's TOML config file (it may not exist yet).
    """

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._lock = threading.Lock()
        self._queue: ReportQueue | None = None
        self._queue_path: Path | None = None

    # -- config -------------------------------------------------------------------------

    def load_config(self) -> StationConfig:
        """The config as the file says now (defaults when there is no file yet)."""
        return load_config(self.config_path, missing_ok=True, environ={})

    def save_config(self, config: StationConfig) -> Path:
        """Write ``config`` to the config file atomically; returns the path."""
        return save_config(config, self.config_path)

    # -- queue --------------------------------------------------------------------------

    def queue(self) -> ReportQueue:
        """The station's report queue, opened on first use (and again if the path changed)."""
        from pywats.station._queue import ReportQueue

        config = self.load_config()
        path = config.queue_path
        with self._lock:
            if self._queue is None or self._queue_path != path:
                if self._queue is not None:
                    self._queue.close()
                path.parent.mkdir(parents=True, exist_ok=True)
                self._queue = ReportQueue(
                    path,
                    capacity=config.queue.capacity,
                    retention=config.queue.retention_days * 86400.0,
                    max_attempts=config.queue.max_attempts,
                )
                self._queue_path = path
            return self._queue

    def counts(self) -> dict[ReportState, int]:
        """Queue depth per state."""
        return self.queue().counts()

    def list_reports(self, state: ReportState | None, limit: int = 500) -> list[QueuedReport]:
        """Queued reports, optionally of one state."""
        return self.queue().list(state, limit=limit)

    def details(self, report_id: str) -> tuple[QueuedReport | None, list[Attempt]]:
        """One report and its attempt history."""
        queue = self.queue()
        return queue.get(report_id), queue.history(report_id)

    def requeue(self, report_ids: Sequence[str]) -> int:
        """Dead, held or waiting reports back to pending; how many moved."""
        return self.queue().requeue(list(report_ids))

    def retry_now(self, report_ids: Sequence[str]) -> int:
        """Waiting reports to pending now; how many moved."""
        return self.queue().retry_now(list(report_ids))

    def hold(self, report_ids: Sequence[str]) -> int:
        """Keep reports from being uploaded; how many were held."""
        return self.queue().hold(list(report_ids))

    def release(self, report_ids: Sequence[str]) -> int:
        """Let held reports upload again; how many were released."""
        return self.queue().release(list(report_ids))

    def export(self, report_ids: Sequence[str], directory: Path) -> list[Path]:
        """Write each report and its history into ``directory``; the files written."""
        directory.mkdir(parents=True, exist_ok=True)
        return self.queue().export(list(report_ids), directory)

    # -- credentials and server ---------------------------------------------------------

    def credentials(self, config: StationConfig) -> CredentialStore:
        """The credential store the service reads for ``config``."""
        return CredentialStore(config.credentials_dir, source=config.server.password_source)

    def store_password(self, config: StationConfig, password: str) -> str:
        """Keep ``password`` for the configured server and user; returns the backend used.

        Raises:
            ConfigError: the server URL or user name is missing, or the store failed.
        """
        url, username = _identity(config)
        store = self.credentials(config)
        store.set_password(url, username, password)
        return store.backend

    def has_password(self, config: StationConfig) -> bool:
        """Whether a password is stored for the configured server and user."""
        if not config.server.url or not config.server.username:
            return False
        store = self.credentials(config)
        return store.get_password(config.server.url, config.server.username) is not None

    def test_connection(self, config: StationConfig, password: str | None) -> str:
        """Ask the WATS server for its version with these settings; returns the version.

        Args:
            config: supplies the URL, user and timeout.
            password: the password to try; ``None`` uses the stored one.

        Raises:
            ConfigError: no URL, user or password.
            pywats.errors.PyWATSError: the server refused or could not be reached.
        """
        from pywats import WATS

        url, username = _identity(config)
        secret = password
        if not secret:
            stored = self.credentials(config).get_password(url, username)
            if stored is None:
                msg = "no password stored for this server and user: enter it in Settings"
                raise ConfigError(msg)
            secret = stored.get_secret_value()
        timeout = min(config.server.timeout, 15.0)
        with WATS(url, username=username, password=secret, timeout=timeout, retry=None) as wats:
            return wats.app.version()

    # -- service ------------------------------------------------------------------------

    def status(self) -> StationStatus:
        """The running service's ``/status`` (``reachable=False`` when it does not answer)."""
        health = self.load_config().health
        if not health.enabled:
            return StationStatus(
                reachable=False, error="the health server is disabled in [health] enabled"
            )
        host = "127.0.0.1" if health.host in ("0.0.0.0", "") else health.host  # noqa: S104
        return fetch_status(f"http://{_bracket(host)}:{health.port}")

    def close(self) -> None:
        """Close the queue if it was opened."""
        with self._lock:
            if self._queue is not None:
                self._queue.close()
                self._queue = None


def tail_file(path: Path, max_bytes: int = _TAIL_BYTES) -> str:
    """The last ``max_bytes`` of a text file, starting at a whole line ("" if missing)."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, 2)
            start = max(0, size - max_bytes)
            file.seek(start)
            data = file.read()
    except FileNotFoundError:
        return ""
    if start > 0:
        data = data.partition(b"\n")[2]
    return data.decode("utf-8", errors="replace")


def _identity(config: StationConfig) -> tuple[str, str]:
    url, username = config.server.url, config.server.username
    if not url or not username:
        msg = "set the server URL and the user name in Settings first"
        raise ConfigError(msg)
    return url, username


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host

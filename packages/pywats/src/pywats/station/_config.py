"""The station's configuration: a TOML file, then ``PYWATS_STATION_<SECTION>__<KEY>`` overrides.

The file is read with :mod:`tomllib` and checked by pydantic models, so a wrong value is
reported with its key and the file it came from. Relative paths are taken from the config
file's folder. The server password is never part of the file: it lives in the system keyring
or an encrypted file (:mod:`pywats.station._credentials`), put there by ``pywats station login``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pywats.station._errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "ConverterConfig",
    "HealthConfig",
    "LoggingConfig",
    "QueueConfig",
    "ServerConfig",
    "StationConfig",
    "default_config_path",
    "default_data_dir",
    "load_config",
    "save_config",
]

ENV_PREFIX = "PYWATS_STATION_"
"""Prefix of the environment overrides, e.g. ``PYWATS_STATION_SERVER__URL``."""
_CONFIG_ENV = "PYWATS_STATION_CONFIG"
_SECRET_KEYS = frozenset({"password", "token", "secret", "api_token"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Section):
    """``[server]``: where WATS is and who the station is.

    Attributes:
        url: the WATS server, e.g. ``https://acme.wats.com``.
        username: the user the station submits as.
        password_source: where the password is kept: ``"keyring"`` (the system keyring, or the
            encrypted file when no keyring works) or ``"encrypted"`` (always the file).
        timeout: seconds to wait for WATS on each request.
        station_name: ``machineName`` stamped on reports the converters build; default the host.
        probe_interval: seconds between connection checks (``GET /api/App/Version``); a check
            that succeeds after a failure retries the waiting reports at once.
    """

    url: str | None = None
    username: str | None = None
    password_source: Literal["keyring", "encrypted"] = "keyring"  # noqa: S105 - a place
    timeout: float = Field(default=30.0, gt=0)
    station_name: str | None = None
    probe_interval: float = Field(default=30.0, gt=0)


class QueueConfig(_Section):
    """``[queue]``: the durable report queue and its upload workers.

    Attributes:
        path: the SQLite file; default ``queue.sqlite`` in the station's data folder.
        capacity: most reports held (not counting done ones); a full queue refuses new files.
        retention_days: how long submitted reports are kept before they are purged.
        max_attempts: attempts before a report that keeps failing goes to dead.
        concurrency: uploads at the same time.
        lease_seconds: how long an upload may hold a report before another worker (or the
            next start, after a crash) may take it again.
        retry_base_seconds: first wait after a transient failure; it doubles per attempt.
        retry_max_seconds: longest wait between attempts (``Retry-After`` may ask for more).
        auth_retry_seconds: wait after WATS refused the credentials (401/403).
    """

    path: Path | None = None
    capacity: int = Field(default=10_000, ge=1)
    retention_days: float = Field(default=7.0, ge=0)
    max_attempts: int = Field(default=20, ge=1)
    concurrency: int = Field(default=8, ge=1, le=256)
    lease_seconds: float = Field(default=120.0, gt=0)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=600.0, gt=0)
    auth_retry_seconds: float = Field(default=900.0, gt=0)


class HealthConfig(_Section):
    """``[health]``: the HTTP health, metrics and status server.

    Attributes:
        enabled: serve it at all.
        host: interface to bind; keep the default loopback unless a monitor needs more.
        port: port to bind (0 picks a free one, written to the log).
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8089, ge=0, le=65535)


class ConverterConfig(_Section):
    """``[[converters]]``: one watched folder and the converter that reads it.

    Attributes:
        name: the converter's registered name (``pywats station converters`` lists them).
        enabled: watch the folder.
        watch: the folder new result files arrive in.
        done: where converted files go; default ``<watch>.done`` beside the watch folder.
        error: where files that fail go, each with ``<file>.error.txt``; default
            ``<watch>.error`` beside the watch folder.
        patterns: glob patterns of files to take; default the converter's own.
        settings: converter-specific settings.
    """

    name: str
    enabled: bool = True
    watch: Path
    done: Path | None = None
    error: Path | None = None
    patterns: tuple[str, ...] | None = None
    settings: dict[str, Any] = Field(default_factory=dict)

    @property
    def done_dir(self) -> Path:
        """The done folder, defaulted."""
        return self.done or self.watch.with_name(f"{self.watch.name}.done")

    @property
    def error_dir(self) -> Path:
        """The error folder, defaulted."""
        return self.error or self.watch.with_name(f"{self.watch.name}.error")


class LoggingConfig(_Section):
    """``[logging]``: what the service logs and how.

    Attributes:
        level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``.
        format: ``"text"`` for people, ``"json"`` for one JSON object per line (journald,
            log shippers).
    """

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class StationConfig(_Section):
    """The whole station configuration (see the station guide for an example file).

    Attributes:
        server: ``[server]``.
        queue: ``[queue]``.
        health: ``[health]``.
        converters: ``[[converters]]``, one per watched folder.
        logging: ``[logging]``.
        source: the file it was read from, if any (not written back).
    """

    server: ServerConfig = Field(default_factory=ServerConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    converters: tuple[ConverterConfig, ...] = ()
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    source: Path | None = Field(default=None, exclude=True)

    @property
    def data_dir(self) -> Path:
        """The folder of the queue and, by default, the encrypted credentials."""
        if self.queue.path is not None:
            return self.queue.path.parent
        return default_data_dir()

    @property
    def queue_path(self) -> Path:
        """The queue's SQLite file, defaulted."""
        return self.queue.path or default_data_dir() / "queue.sqlite"

    @property
    def credentials_dir(self) -> Path:
        """Where the encrypted credential file lives: beside the config file, else the data."""
        return self.source.parent if self.source is not None else self.data_dir


def default_config_path() -> Path:
    r"""``$PYWATS_STATION_CONFIG``, else ``station.toml`` in the platform's config folder.

    Linux: ``~/.config/pywats/station.toml``; macOS: ``~/Library/Application Support/pywats``;
    Windows: ``%LOCALAPPDATA%\\pywats``.
    """
    explicit = os.environ.get(_CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    from platformdirs import user_config_path

    return user_config_path("pywats", appauthor=False) / "station.toml"


def default_data_dir() -> Path:
    """The platform's data folder for the station (queue, logs), e.g. ``~/.local/share/pywats``."""
    from platformdirs import user_data_path

    return user_data_path("pywats", appauthor=False) / "station"


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    missing_ok: bool = False,
) -> StationConfig:
    """Read the config file, apply the environment overrides and check the result.

    Args:
        path: the TOML file; default :func:`default_config_path`.
        environ: the environment to read overrides from (default ``os.environ``).
        missing_ok: a missing file gives the defaults instead of an error.

    Raises:
        ConfigError: the file is missing or unreadable, is not TOML, holds a password, or a
            value is wrong; the message names the key and the file.
    """
    path = (path or default_config_path()).expanduser()
    raw: dict[str, Any] = {}
    try:
        with path.open("rb") as file:
            raw = tomllib.load(file)
    except FileNotFoundError:
        if not missing_ok:
            msg = (
                f"no station config at {path}: create it (see the station guide) or pass "
                "--config PATH"
            )
            raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path} is not valid TOML: {exc}"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"cannot read the station config {path}: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    _refuse_secrets(raw, path)
    env = os.environ if environ is None else environ
    _apply_env(raw, env)
    _refuse_secrets(raw, path)
    base = path.parent
    try:
        config = StationConfig.model_validate({**raw, "source": path})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    return _resolve_paths(config, base)


def save_config(config: StationConfig, path: Path | None = None) -> Path:
    """Write ``config`` as TOML, atomically (readers see the old or the new file).

    Paths are written as they are held (absolute after :func:`load_config`). Returns the path.
    """
    import tomli_w

    from corekit.files import atomic_write

    path = (path or config.source or default_config_path()).expanduser()
    data = config.model_dump(mode="json", exclude_none=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, tomli_w.dumps(data))
    return path


def _refuse_secrets(raw: Mapping[str, Any], path: Path) -> None:
    server = raw.get("server")
    if isinstance(server, Mapping):
        found = sorted(_SECRET_KEYS.intersection(server))
        if found:
            msg = (
                f"{path}: [server] {found[0]} must not be in the config file: remove it and run "
                "`pywats station login` to keep it in the keyring or the encrypted store"
            )
            raise ConfigError(msg)


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Fold ``PYWATS_STATION_<SECTION>__<KEY>=value`` into the raw TOML data."""
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if section == "converters" or not key:
            continue
        table = raw.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = environ[name]


def _describe(exc: ValidationError, path: Path) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        problems.append(f"{where}: {error['msg']}")
    return f"{path}: " + "; ".join(problems)


def _resolve_paths(config: StationConfig, base: Path) -> StationConfig:
    def resolve(value: Path | None) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        return value if value.is_absolute() else base / value

    queue = config.queue.model_copy(update={"path": resolve(config.queue.path)})
    converters = tuple(
        c.model_copy(
            update={
                "watch": resolve(c.watch),
                "done": resolve(c.done),
                "error": resolve(c.error),
            }
        )
        for c in config.converters
    )
    return config.model_copy(update={"queue": queue, "converters": converters})

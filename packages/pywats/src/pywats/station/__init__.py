"""pywats.station: result files to WATS reports, through a durable queue, none ever lost.

The pieces, usable on their own or together as the ``pywats station run`` service:

* :class:`ReportQueue`: the durable SQLite report queue (states, attempts, dead letters);
* :class:`Uploader`: drains the queue to WATS with backoff and outcome classification;
* :class:`Converter`, :class:`ConverterRegistry`, :func:`process_file`, :class:`FolderWatcher`:
  turn result files into reports (plugins: entry point group ``pywats.converters``);
* :class:`StationConfig`, :func:`load_config`, :class:`CredentialStore`: configuration and the
  password, never in plain text;
* :class:`Station`: all of it plus a health server, with graceful shutdown.

Needs the ``station`` extra (``pip install pywats[station]``). Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corekit.lazy import lazy_exports as _lazy_exports

if TYPE_CHECKING:
    from pywats.station._builtin_csv import CSVConverter
    from pywats.station._builtin_wsjf import WSJFConverter
    from pywats.station._builtin_wsxf import WSXFConverter
    from pywats.station._config import (
        ConverterConfig,
        StationConfig,
        default_config_path,
        load_config,
        save_config,
    )
    from pywats.station._converters import (
        Converter,
        ConverterRegistry,
        Validation,
        stable_report_id,
    )
    from pywats.station._credentials import CredentialStore
    from pywats.station._errors import ConfigError, ConversionError, QueueFullError, StationError
    from pywats.station._health import HealthServer
    from pywats.station._pipeline import FileOutcome, ReportSink, process_file
    from pywats.station._queue import Attempt, QueuedReport, QueueEvent, ReportQueue, ReportState
    from pywats.station._service import Station
    from pywats.station._uploader import Uploader, UploadResult
    from pywats.station._watcher import ConverterBinding, FolderWatcher

_LAZY = {
    "pywats.station._config": (
        "ConverterConfig",
        "StationConfig",
        "default_config_path",
        "load_config",
        "save_config",
    ),
    "pywats.station._builtin_csv": ("CSVConverter",),
    "pywats.station._builtin_wsjf": ("WSJFConverter",),
    "pywats.station._builtin_wsxf": ("WSXFConverter",),
    "pywats.station._converters": (
        "Converter",
        "ConverterRegistry",
        "Validation",
        "stable_report_id",
    ),
    "pywats.station._credentials": ("CredentialStore",),
    "pywats.station._errors": ("ConfigError", "ConversionError", "QueueFullError", "StationError"),
    "pywats.station._health": ("HealthServer",),
    "pywats.station._pipeline": ("FileOutcome", "ReportSink", "process_file"),
    "pywats.station._queue": (
        "Attempt",
        "QueueEvent",
        "QueuedReport",
        "ReportQueue",
        "ReportState",
    ),
    "pywats.station._service": ("Station",),
    "pywats.station._uploader": ("UploadResult", "Uploader"),
    "pywats.station._watcher": ("ConverterBinding", "FolderWatcher"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "Attempt",
    "CSVConverter",
    "ConfigError",
    "ConversionError",
    "Converter",
    "ConverterBinding",
    "ConverterConfig",
    "ConverterRegistry",
    "CredentialStore",
    "FileOutcome",
    "FolderWatcher",
    "HealthServer",
    "QueueEvent",
    "QueueFullError",
    "QueuedReport",
    "ReportQueue",
    "ReportSink",
    "ReportState",
    "Station",
    "StationConfig",
    "StationError",
    "UploadResult",
    "Uploader",
    "Validation",
    "WSJFConverter",
    "WSXFConverter",
    "default_config_path",
    "load_config",
    "process_file",
    "save_config",
    "stable_report_id",
]


__getattr__, __dir__ = _lazy_exports(__name__, _WHERE, __all__)

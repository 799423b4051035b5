"""One file through the station: convert, enqueue durably, then move the source away.

The order is what keeps reports safe: the source file leaves the watch folder only after
every report made from it is in the queue (``enqueue`` for one report, ``enqueue_many`` for
several: each returns after one fsync'd commit). A crash between the two leaves the file in
place; converting it again yields the same report ids (see
:func:`~pywats.station.stable_report_id`), which the queue holds once.

* conversion fails (unreadable file, wrong format, invalid report, low confidence): the
  file moves to the error folder and ``<file>.error.txt`` beside it says why;
* the queue refuses (full, disk error): the file stays where it is, the outcome is
  ``"refused"`` and the error is logged; the watcher tries it again later.

The move is :func:`corekit.files.durable_move` (rename, then fsync of both directories; a
durable copy first when the folders are on different file systems).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from corekit.files import atomic_write, durable_move
from pywats._report import ReportBase
from pywats._validation import validate_report
from pywats.errors import ReportValidationError
from pywats.station._converters import WARN_BELOW, Converter
from pywats.station._errors import ConversionError, QueueFullError, StationError

__all__ = ["ERROR_SUFFIX", "FileOutcome", "ReportSink", "move_into", "process_file"]

log = logging.getLogger(__name__)

ERROR_SUFFIX = ".error.txt"
"""Suffix of the reason file written beside a file moved to the error folder."""

_MAX_SUFFIX = 10_000

OutcomeStatus = Literal["done", "error", "refused"]


class ReportSink(Protocol):
    """What the pipeline needs of the queue: ``ReportQueue.enqueue`` and ``enqueue_many``."""

    def enqueue(self, report: ReportBase | bytes, *, source: str | None = None) -> object:
        """Store ``report`` durably (raises ``QueueFullError``/``StationError`` if it cannot)."""
        ...

    def enqueue_many(self, reports: list[ReportBase], *, source: str | None = None) -> object:
        """Store all ``reports`` durably in one commit, or none (raises like ``enqueue``)."""
        ...


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What happened to one source file.

    Attributes:
        path: the source file as found in the watch folder.
        converter: the converter's name.
        status: ``"done"`` (queued, moved to done), ``"error"`` (moved to error with a
            reason file) or ``"refused"`` (the queue refused; the file stayed).
        report_ids: the ids of the reports queued from it (empty unless ``"done"``).
        message: a one-line summary or the reason.
        moved_to: where the file went, or ``None`` if it stayed.
    """

    path: Path
    converter: str
    status: OutcomeStatus
    report_ids: tuple[str, ...] = ()
    message: str = ""
    moved_to: Path | None = None


def _free_name(directory: Path, name: str) -> Path:
    """``directory/name``, or ``name`` with ``.1``, ``.2``, ... before its suffix if taken."""
    target = directory / name
    if not target.exists() and not (directory / (name + ERROR_SUFFIX)).exists():
        return target
    stem, dot, suffix = name.rpartition(".")
    if not stem:  # no suffix, or a dot file
        stem, dot, suffix = name, "", ""
    for n in range(1, _MAX_SUFFIX):
        candidate = f"{stem}.{n}{dot}{suffix}"
        if (
            not (directory / candidate).exists()
            and not (directory / (candidate + ERROR_SUFFIX)).exists()
        ):
            return directory / candidate
    return directory / f"{stem}.{uuid.uuid4().hex}{dot}{suffix}"


def move_into(source: Path, directory: Path) -> Path:
    """Move ``source`` into ``directory`` durably; return where it went.

    A name already taken gets a numbered suffix (``log.csv`` -> ``log.1.csv``); the move
    itself is :func:`corekit.files.durable_move`.

    Raises:
        OSError: the move failed; the source is still where it was.
    """
    directory.mkdir(parents=True, exist_ok=True)
    return durable_move(source, _free_name(directory, source.name))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConversionError):
        return exc.reason
    if isinstance(exc, ReportValidationError):
        return "invalid report: " + "; ".join(str(i) for i in exc.issues)
    return f"the converter failed: {type(exc).__name__}: {exc}"


def _checked(converter: Converter, path: Path, settings: Mapping[str, Any]) -> list[ReportBase]:
    """Validate, convert and check the reports; raise ConversionError with the reason."""
    validation = converter.validate(path)
    if validation.rejected:
        msg = (
            f"the {converter.name} converter does not recognise this file "
            f"(confidence {validation.confidence:.2f} < 0.20): {validation.message}"
        )
        raise ConversionError(msg)
    if validation.confidence < WARN_BELOW:
        log.warning(
            "%s: converting with low confidence %.2f (%s): %s",
            path.name,
            validation.confidence,
            converter.name,
            validation.message,
        )
    # A plugin's result is checked at run time: the protocol's types are only a promise.
    reports: object = converter.convert(path, settings)
    if not isinstance(reports, list) or not reports:
        raise ConversionError(f"the {converter.name} converter returned no report")
    for index, report in enumerate(reports):
        if not isinstance(report, ReportBase):
            msg = f"the {converter.name} converter returned {type(report).__name__}, not a report"
            raise ConversionError(msg)
        if issues := validate_report(report):
            prefix = f"report {index}: " if len(reports) > 1 else ""
            raise ConversionError(prefix + _reason(ReportValidationError(issues)))
    return reports


def process_file(
    path: Path,
    converter: Converter,
    queue: ReportSink,
    *,
    done_dir: Path,
    error_dir: Path,
    settings: Mapping[str, Any] | None = None,
) -> FileOutcome:
    """Convert ``path``, enqueue every report, then move the file to ``done_dir``.

    Never raises for a bad file or a refusing queue: the outcome says what happened.
    """
    try:
        reports = _checked(converter, path, settings or {})
    except Exception as exc:  # a plugin's bug is a conversion failure, not a crash
        return _to_error(path, converter.name, error_dir, _reason(exc))
    try:
        if len(reports) == 1:
            queue.enqueue(reports[0], source=str(path))
        else:  # one commit (one fsync) for the file's reports, all or none
            queue.enqueue_many(reports, source=str(path))
    except (QueueFullError, StationError, OSError) as exc:
        log.error("%s: NOT queued, the file stays in %s: %s", path.name, path.parent, exc)
        return FileOutcome(path, converter.name, "refused", (), f"queue refused: {exc}")
    ids = [str(report.id) for report in reports]
    try:
        moved = move_into(path, done_dir)
    except OSError as exc:
        # The reports are queued; converting the file again gives the same ids (no duplicate).
        log.error("%s: queued but not moved to %s: %s", path.name, done_dir, exc)
        message = f"queued {len(ids)} report(s); moving to done failed: {exc}"
        return FileOutcome(path, converter.name, "done", tuple(ids), message)
    log.info("%s: queued %d report(s) with %s", path.name, len(ids), converter.name)
    message = f"queued {len(ids)} report(s)"
    return FileOutcome(path, converter.name, "done", tuple(ids), message, moved)


def _to_error(path: Path, converter: str, error_dir: Path, reason: str) -> FileOutcome:
    log.warning("%s: not converted (%s): %s", path.name, converter, reason)
    try:
        moved = move_into(path, error_dir)
        atomic_write(
            moved.with_name(moved.name + ERROR_SUFFIX), _reason_text(path, converter, reason)
        )
    except OSError as exc:
        log.error("%s: could not move it to the error folder %s: %s", path.name, error_dir, exc)
        return FileOutcome(path, converter, "error", (), f"{reason} (not moved: {exc})")
    return FileOutcome(path, converter, "error", (), reason, moved)


def _reason_text(path: Path, converter: str, reason: str) -> str:
    return f"file: {path.name}\nconverter: {converter}\nreason: {reason}\n"

"""The station's durable report queue: one SQLite file on :class:`corekit.queue.SQLiteQueue`.

Each report is stored as the WSJF bytes that will be POSTed, keyed by its report id, so an
enqueue of a report that is already queued stores nothing new and a resubmission after a
crash overwrites the same report on the server. The report states map onto corekit's:

========== ===========================================================
state      corekit item
========== ===========================================================
pending    pending, due now
retry_wait pending, ``not_before`` still ahead (a back-off)
inflight   leased by the uploader
done       done (kept for ``retention`` seconds, then purged)
dead       dead (never retried automatically; requeue or export it)
held       held by an operator
========== ===========================================================

Attempts only grow. Every upload attempt is recorded in the item's history with the HTTP
status and latency; the operator actions (requeue, hold, release) are recorded there too.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import orjson

from corekit.clock import Clock, system_clock
from corekit.errors import QueueError
from corekit.errors import QueueFullError as CoreQueueFullError
from corekit.files import atomic_write
from corekit.queue import HistoryEntry, QueueItem, QueueItemStatus, SQLiteQueue
from pywats._report import ReportBase
from pywats.station._errors import ConversionError, QueueFullError, StationError

logger = logging.getLogger(__name__)

__all__ = ["Attempt", "Claim", "QueueEvent", "QueuedReport", "ReportQueue", "ReportState"]

_TABLE = "reports"
_T = TypeVar("_T")
_STATUS_PREFIX = re.compile(r"HTTP (\d{3})\b")


class ReportState(StrEnum):
    """Where a queued report is (see the module docstring for the mapping)."""

    PENDING = "pending"
    INFLIGHT = "inflight"
    RETRY_WAIT = "retry_wait"
    DONE = "done"
    DEAD = "dead"
    HELD = "held"


@dataclass(frozen=True, slots=True)
class QueuedReport:
    """A snapshot of one queued report (without its payload).

    Attributes:
        report_id: the report's id (the queue key), as a lower-case UUID string.
        state: where it is.
        attempts: upload attempts so far (they only grow).
        enqueued_at: when it was enqueued (UTC).
        next_attempt_at: when it is next tried (pending or retry_wait), else ``None``.
        last_error: the error of the last failed attempt, or ``None``.
        last_status: the HTTP status of the last failed attempt, if the server answered.
        source: the file it was converted from, if given.
        part_number: the report's part number.
        serial_number: the report's serial number.
        kind: ``"T"`` (test, UUT) or ``"R"`` (repair, UUR).
    """

    report_id: str
    state: ReportState
    attempts: int
    enqueued_at: datetime
    next_attempt_at: datetime | None
    last_error: str | None
    last_status: int | None
    source: str | None
    part_number: str | None
    serial_number: str | None
    kind: str | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One entry of a report's history.

    Attributes:
        at: when (UTC).
        status_code: the HTTP status the server answered, if it did.
        error: what went wrong, or ``None``.
        outcome: the report's state after it (``done``, ``retry_wait``, ``dead``), or
            ``expired`` (the uploader stopped or crashed mid-upload; pending again),
            ``requeued``, ``held`` or ``released`` for an operator's action.
        latency_s: seconds the upload took, if it was sent.
    """

    at: datetime
    status_code: int | None
    error: str | None
    outcome: str
    latency_s: float | None


@dataclass(frozen=True, slots=True)
class QueueEvent:
    """Something that happened to a report, for the service's metrics and the GUI.

    Attributes:
        kind: ``queued``, ``submitted``, ``retry_scheduled``, ``dead``, ``held`` or
            ``requeued``.
        report_id: the report's id.
        at: when (UTC).
        detail: the error and next attempt time, the dead reason, or ``None``.
    """

    kind: str
    report_id: str
    at: datetime
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A report leased for upload (see :meth:`ReportQueue.claim`).

    Attributes:
        report_id: the report's id.
        attempts: attempts including this one.
        item: the corekit item; it carries the lease.
    """

    report_id: str
    attempts: int
    item: QueueItem

    def payload(self) -> bytes:
        """The WSJF bytes exactly as enqueued.

        Raises:
            ConversionError: the stored payload is corrupt (reason starts with ``parse``).
        """
        text = self.item.payload_json
        try:
            # orjson reads the stored JSON string ~3x faster than the queue's json decoder.
            value = self.item.payload if text is None else orjson.loads(text)
        except ValueError as exc:
            raise ConversionError(f"parse: the stored payload is not JSON ({exc})") from None
        if not isinstance(value, str):
            raise ConversionError("parse: the stored payload is not WSJF text")
        return value.encode()


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _report_id(value: object) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ConversionError(f"parse: the report id {value!r} is not a UUID") from None


def _describe(data: bytes) -> tuple[str, dict[str, Any]]:
    """The report id and the listing fields of WSJF bytes."""
    try:
        report = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConversionError(f"parse: the WSJF is not JSON ({exc})") from None
    if not isinstance(report, dict) or "id" not in report:
        raise ConversionError("parse: the WSJF is not a report object with an 'id'")
    meta = {
        "pn": report.get("pn"),
        "sn": report.get("sn"),
        "kind": "R" if report.get("uur") or report.get("type") == "R" else "T",
    }
    return _report_id(report["id"]), meta


def _status_of(error: str | None) -> int | None:
    match = _STATUS_PREFIX.match(error or "")
    return int(match.group(1)) if match else None


_OUTCOMES = {"requeue": "requeued", "hold": "held", "release": "released"}


def _attempt(entry: HistoryEntry) -> Attempt:
    detail = entry.detail or {}
    if entry.action in _OUTCOMES:
        outcome = _OUTCOMES[entry.action]
    elif entry.status is QueueItemStatus.DONE:
        outcome = ReportState.DONE.value
    elif entry.status is QueueItemStatus.DEAD:
        outcome = ReportState.DEAD.value
    elif entry.action == "expired" or detail.get("returned"):
        outcome = "expired"
    else:
        outcome = ReportState.RETRY_WAIT.value
    status = detail.get("status")
    latency = detail.get("latency_s")
    return Attempt(
        at=_utc(entry.at),
        status_code=status if isinstance(status, int) else _status_of(entry.error),
        error=entry.error,
        outcome=outcome,
        latency_s=float(latency) if isinstance(latency, int | float) else None,
    )


class ReportQueue:
    """The durable, bounded, de-duplicating queue of reports waiting for upload.

    Thread-safe; several processes (the service, the CLI, the desktop client) may open the
    same file.

    Args:
        path: the SQLite file; its directory must exist.
        capacity: most reports not done (pending, retry_wait, inflight, held and dead);
            a full queue refuses new reports with :class:`QueueFullError`.
        retention: seconds done reports are kept before :meth:`purge_done` removes them.
        max_attempts: upload attempts before a report goes dead.
        clock: source of time (a fake one in tests).
        on_event: called with every :class:`QueueEvent`, possibly from a worker thread;
            keep it cheap. Its exceptions are logged.

    Raises:
        StationError: the file cannot be opened.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        capacity: int = 10_000,
        retention: float = 7 * 86400.0,
        max_attempts: int = 20,
        clock: Clock | None = None,
        on_event: Callable[[QueueEvent], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.retention = float(retention)
        self.clock: Clock = clock or system_clock
        self._on_event = on_event
        self._lock = threading.RLock()
        try:
            self._queue = SQLiteQueue(
                self.path,
                clock=self.clock,
                max_attempts=max_attempts,
                capacity=capacity,
                name=_TABLE,
                synchronous="FULL",  # an enqueue is on the disk when it returns
                on_dead=self._dead,
                capacity_includes_dead=True,
            )
        except QueueError as exc:
            msg = f"cannot open the report queue {str(self.path)!r}: {exc}"
            raise StationError(msg) from exc
        self.capacity = capacity
        self.max_attempts = max_attempts

    def __repr__(self) -> str:
        return f"ReportQueue({str(self.path)!r})"

    # --- events ---------------------------------------------------------------------------

    def _emit(self, kind: str, report_id: str, detail: str | None = None) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(QueueEvent(kind, report_id, _utc(self.clock.time()), detail))
        except Exception:
            logger.exception("report queue: the on_event callback failed for %s", kind)

    def _dead(self, item: QueueItem) -> None:
        report_id = item.key or str(item.id)
        logger.error(
            "report %s is dead after %d attempts: %s", report_id, item.attempts, item.last_error
        )
        self._emit("dead", report_id, item.last_error)

    # --- enqueue --------------------------------------------------------------------------

    def _prepare(
        self, report: ReportBase | bytes, source: str | None
    ) -> tuple[str, str, dict[str, Any]]:
        """The report id, the WSJF text to store and the listing fields of one report."""
        if isinstance(report, ReportBase):
            data = report.to_wsjf()
            report_id = str(report.id)
            meta: dict[str, Any] = {
                "pn": report.part_number,
                "sn": report.serial_number,
                "kind": "R" if getattr(report, "type", "T") == "R" else "T",
            }
        else:
            data = bytes(report)
            report_id, meta = _describe(data)
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            raise ConversionError(f"parse: the WSJF is not UTF-8 ({exc})") from None
        meta["source"] = source
        return report_id, text, meta

    def _full(self, report_ids: builtins.list[str]) -> QueueFullError:
        if len(report_ids) == 1:
            which = f"report {report_ids[0]} was"
        else:
            which = f"none of the {len(report_ids)} reports {', '.join(report_ids)} was"
        msg = (
            f"the report queue {str(self.path)!r} is full: it holds {self.capacity} "
            f"reports not yet delivered, so {which} stored. Check the "
            "connection to WATS (`pywats station status`), requeue, export or purge dead "
            "reports (`pywats station queue list --state dead`), or raise [queue] capacity."
        )
        return QueueFullError(msg)

    def enqueue(self, report: ReportBase | bytes, *, source: str | None = None) -> QueuedReport:
        """Store a report durably (on the disk when this returns) for upload.

        A report whose id is already queued (in any state, until its done entry is purged)
        is not stored again: the existing entry is returned.

        Check reports before enqueueing them (the converter pipeline does): the uploader
        sends the stored bytes as they are, and a report WATS refuses goes dead.

        Args:
            report: a report model, or its WSJF bytes (stored exactly as given).
            source: the file it came from, shown in listings.

        Returns:
            The queued report.

        Raises:
            ConversionError: the bytes are not a WSJF report with a UUID ``id``.
            QueueFullError: the queue holds ``capacity`` reports not done; nothing stored.
            StationError: the queue file could not be written (e.g. the disk is full).
        """
        report_id, text, meta = self._prepare(report, source)
        with self._lock:
            try:
                found = self._queue.get_by_key(report_id)
                if found is not None:
                    return self._report(found)
                item = self._queue.put(text, key=report_id, meta=meta)
            except CoreQueueFullError as exc:
                raise self._full([report_id]) from exc
            except QueueError as exc:
                msg = (
                    f"report {report_id} could not be stored in {str(self.path)!r}: {exc}. "
                    "Check free disk space and permissions."
                )
                raise StationError(msg) from exc
        self._emit("queued", report_id, source)
        return self._report(item)

    def enqueue_many(
        self, reports: Iterable[ReportBase | bytes], *, source: str | None = None
    ) -> builtins.list[QueuedReport]:
        """Store several reports (e.g. those of one file) in one durable commit.

        All or nothing: when this returns every report is on the disk; when it raises,
        none was stored. Each report behaves as in :meth:`enqueue` (an id already queued
        stores nothing new). One commit means one fsync, so a file of many reports is
        queued much faster than by one :meth:`enqueue` per report.

        Args:
            reports: report models or their WSJF bytes.
            source: the file they came from, shown in listings.

        Returns:
            The queued reports, in the order given.

        Raises:
            ConversionError: some bytes are not a WSJF report with a UUID ``id``.
            QueueFullError: the new reports do not all fit; nothing stored.
            StationError: the queue file could not be written (e.g. the disk is full).
        """
        prepared = [self._prepare(report, source) for report in reports]
        if not prepared:
            return []
        ids = [report_id for report_id, _, _ in prepared]
        with self._lock:
            try:
                known = {
                    report_id for report_id in ids if self._queue.get_by_key(report_id) is not None
                }
                items = self._queue.put_many(
                    [text for _, text, _ in prepared],
                    keys=ids,
                    metas=[meta for _, _, meta in prepared],
                )
            except CoreQueueFullError as exc:
                raise self._full(ids) from exc
            except QueueError as exc:
                msg = (
                    f"{len(ids)} reports ({', '.join(ids)}) could not be stored in "
                    f"{str(self.path)!r}: {exc}. Check free disk space and permissions."
                )
                raise StationError(msg) from exc
        emitted: set[str] = set()
        for report_id in ids:
            if report_id not in known and report_id not in emitted:
                emitted.add(report_id)
                self._emit("queued", report_id, source)
        now = self.clock.time()
        return [self._report(item, now) for item in items]

    # --- reading --------------------------------------------------------------------------

    def _state(self, item: QueueItem, now: float) -> ReportState:
        status = item.status
        if status is QueueItemStatus.PENDING:
            return ReportState.RETRY_WAIT if item.not_before > now else ReportState.PENDING
        return {
            QueueItemStatus.LEASED: ReportState.INFLIGHT,
            QueueItemStatus.DONE: ReportState.DONE,
            QueueItemStatus.DEAD: ReportState.DEAD,
            QueueItemStatus.HELD: ReportState.HELD,
        }[status]

    def _report(self, item: QueueItem, now: float | None = None) -> QueuedReport:
        state = self._state(item, self.clock.time() if now is None else now)
        meta = item.meta or {}
        waiting = state in (ReportState.PENDING, ReportState.RETRY_WAIT)
        return QueuedReport(
            report_id=item.key or str(item.id),
            state=state,
            attempts=item.attempts,
            enqueued_at=_utc(item.created_at),
            next_attempt_at=_utc(item.not_before) if waiting else None,
            last_error=item.last_error,
            last_status=_status_of(item.last_error),
            source=meta.get("source"),
            part_number=meta.get("pn"),
            serial_number=meta.get("sn"),
            kind=meta.get("kind"),
        )

    def _call(self, what: str, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except QueueError as exc:
            msg = f"report queue {str(self.path)!r}: cannot {what}: {exc}"
            raise StationError(msg) from exc

    def counts(self) -> dict[ReportState, int]:
        """How many reports are in each state (every state present, zeros included)."""
        with self._lock:
            counts = self._call("count", self._queue.counts)
            waiting = self._call("count", self._queue.waiting_count)
        pending = counts[QueueItemStatus.PENDING]
        waiting = min(waiting, pending)
        return {
            ReportState.PENDING: pending - waiting,
            ReportState.INFLIGHT: counts[QueueItemStatus.LEASED],
            ReportState.RETRY_WAIT: waiting,
            ReportState.DONE: counts[QueueItemStatus.DONE],
            ReportState.DEAD: counts[QueueItemStatus.DEAD],
            ReportState.HELD: counts[QueueItemStatus.HELD],
        }

    def list(
        self, state: ReportState | None = None, *, limit: int | None = 100
    ) -> list[QueuedReport]:
        """Reports, oldest first, optionally of one state (payloads are not read).

        Args:
            state: only reports in this state; ``None`` for all.
            limit: most reports returned; ``None`` for all.
        """
        status: QueueItemStatus | None
        waiting: bool | None = None
        if state is None:
            status = None
        elif state in (ReportState.PENDING, ReportState.RETRY_WAIT):
            status, waiting = QueueItemStatus.PENDING, state is ReportState.RETRY_WAIT
        elif state is ReportState.INFLIGHT:
            status = QueueItemStatus.LEASED
        else:
            status = QueueItemStatus(state.value)
        with self._lock:
            items = self._call(
                "list",
                lambda: self._queue.items(status, limit=limit, waiting=waiting, payloads=False),
            )
        now = self.clock.time()
        return [self._report(item, now) for item in items]

    def _item(self, report_id: str) -> QueueItem | None:
        key = str(report_id)
        with self._lock:
            found: QueueItem | None = self._call("read", lambda: self._queue.get_by_key(key))
        return found

    def get(self, report_id: str) -> QueuedReport | None:
        """The report with this id, or ``None`` if it is not in the queue."""
        item = self._item(report_id)
        return None if item is None else self._report(item)

    def payload(self, report_id: str) -> bytes:
        """The report's WSJF bytes exactly as enqueued.

        Raises:
            StationError: the report is not in the queue.
            ConversionError: its stored payload is corrupt.
        """
        item = self._item(report_id)
        if item is None:
            msg = f"report {report_id} is not in the queue {str(self.path)!r}"
            raise StationError(msg)
        return Claim(item.key or str(item.id), item.attempts, item).payload()

    def history(self, report_id: str) -> builtins.list[Attempt]:
        """Every upload attempt and operator action of the report, oldest first."""
        item = self._item(report_id)
        if item is None:
            return []
        with self._lock:
            entries = self._call("read the history", lambda: self._queue.history(item.id))
        return [_attempt(entry) for entry in entries]

    # --- operator actions -----------------------------------------------------------------

    def _act(
        self,
        report_ids: Iterable[str],
        action: Callable[[QueueItem], int],
        event: str,
        detail: str,
    ) -> int:
        """Apply ``action`` (a corekit change, 1 if it applied) to each known report."""
        count = 0
        for report_id in report_ids:
            item = self._item(report_id)
            if item is None:
                continue
            with self._lock:
                applied = self._call(detail, lambda: action(item)) == 1  # noqa: B023
            if applied:
                count += 1
                self._emit(event, item.key or str(item.id), detail)
        return count

    def _requeue_one(self, item: QueueItem) -> int:
        state = self._state(item, self.clock.time())
        if state is ReportState.DEAD:
            return self._queue.requeue(item.id)
        if state is ReportState.HELD:
            return self._queue.release(item.id)
        if state is ReportState.RETRY_WAIT:
            return self._queue.retry_now(item.id)
        return 0

    def requeue(self, report_ids: Iterable[str]) -> int:
        """Make dead, held or retry_wait reports pending now; attempts are kept.

        Returns:
            How many reports were requeued (others are skipped).
        """
        return self._act(report_ids, self._requeue_one, "requeued", "requeue")

    def retry_now(self, report_ids: Iterable[str] | None = None) -> int:
        """Cut the back-off of retry_wait reports short (``None``: all of them)."""
        if report_ids is None:
            with self._lock:
                waiting = self._call(
                    "list",
                    lambda: self._queue.items(
                        QueueItemStatus.PENDING, limit=None, waiting=True, payloads=False
                    ),
                )
            report_ids = [item.key or str(item.id) for item in waiting]
        return self._act(
            report_ids, lambda item: self._queue.retry_now(item.id), "requeued", "retry now"
        )

    def hold(self, report_ids: Iterable[str]) -> int:
        """Pause pending or retry_wait reports: held reports are not uploaded."""
        return self._act(report_ids, lambda item: self._queue.hold(item.id), "held", "hold")

    def release(self, report_ids: Iterable[str]) -> int:
        """Make held reports pending again."""
        return self._act(
            report_ids, lambda item: self._queue.release(item.id), "requeued", "release"
        )

    def export(self, report_ids: Iterable[str], directory: Path) -> builtins.list[Path]:
        """Write ``<id>.wsjf`` (the exact payload) and ``<id>.history.json`` per report.

        Returns:
            The files written.

        Raises:
            StationError: a report is not in the queue (nothing is written), or a file
                cannot be written.
        """
        directory = Path(directory)
        wanted = [str(report_id) for report_id in report_ids]
        found = {report_id: self._item(report_id) for report_id in wanted}
        missing = [report_id for report_id, item in found.items() if item is None]
        if missing:
            msg = f"not in the queue {str(self.path)!r}: {', '.join(missing)}; nothing exported"
            raise StationError(msg)
        written: builtins.list[Path] = []
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for report_id, item in found.items():
                assert item is not None  # missing ones raised above
                data = Claim(report_id, item.attempts, item).payload()
                record = {
                    "report": asdict(self._report(item)),
                    "attempts": [asdict(a) for a in self.history(report_id)],
                }
                wsjf = directory / f"{report_id}.wsjf"
                history = directory / f"{report_id}.history.json"
                atomic_write(wsjf, data)
                atomic_write(history, json.dumps(record, indent=2, default=str) + "\n")
                written += [wsjf, history]
        except OSError as exc:
            msg = f"cannot export to {str(directory)!r}: {exc}"
            raise StationError(msg) from exc
        return written

    def purge_done(self, older_than: float | None = None) -> int:
        """Delete done reports delivered at least ``older_than`` seconds ago.

        Args:
            older_than: seconds; default the queue's ``retention``.

        Returns:
            How many were deleted (their ids may be enqueued again afterwards).
        """
        seconds = self.retention if older_than is None else older_than
        with self._lock:
            count: int = self._call("purge", lambda: self._queue.purge_done(seconds))
        if count:
            logger.info("report queue: purged %d done reports", count)
        return count

    # --- the uploader's side --------------------------------------------------------------

    def next_ready_at(self) -> float | None:
        """Epoch seconds when a report is (or was) next ready to upload, or ``None``."""
        with self._lock:
            ready: float | None = self._call("read", self._queue.next_ready_at)
        return ready

    def claim(self, n: int, *, lease_time: float) -> builtins.list[Claim]:
        """Lease up to ``n`` ready reports for upload (their attempts grow by one)."""
        with self._lock:
            items = self._call("lease", lambda: self._queue.lease(n, lease_time=lease_time))
        return [Claim(item.key or str(item.id), item.attempts, item) for item in items]

    def complete(
        self, claim: Claim, *, status_code: int | None = None, latency_s: float | None = None
    ) -> None:
        """Mark an uploaded report done."""
        detail = {"status": status_code, "latency_s": latency_s}
        with self._lock:
            self._call("ack", lambda: self._queue.ack(claim.item, detail=detail))
        self._emit("submitted", claim.report_id)

    def complete_many(
        self,
        claims: Sequence[Claim],
        *,
        status_code: int | None = None,
        latencies: Sequence[float | None] | None = None,
    ) -> builtins.list[Claim]:
        """Mark several uploaded reports done in one durable commit.

        A claim whose lease changed meanwhile (it expired and another attempt took the
        report) is left to that attempt: it is returned, not raised, and the others are
        still marked done. The report was delivered either way; the other attempt only
        sends the same id again, which WATS overwrites.

        Args:
            claims: the claims of reports the server accepted.
            status_code: the HTTP status the server answered.
            latencies: seconds each upload took, one per claim.

        Returns:
            The claims that were not marked done (their lease changed).
        """
        lost, _ = self.complete_and_claim(
            claims, 0, lease_time=1.0, status_code=status_code, latencies=latencies
        )
        return lost

    def complete_and_claim(
        self,
        claims: Sequence[Claim],
        n: int,
        *,
        lease_time: float,
        status_code: int | None = None,
        latencies: Sequence[float | None] | None = None,
    ) -> tuple[builtins.list[Claim], builtins.list[Claim]]:
        """Mark uploaded reports done and lease up to ``n`` more, in one durable commit.

        The uploader's bookkeeping step: one fsync records the reports delivered since the
        last step and takes the next ones. The completions behave as in
        :meth:`complete_many`, the lease as in :meth:`claim`; all or nothing.

        Args:
            claims: the claims of reports the server accepted (may be empty).
            n: most reports to lease (``0``: only complete).
            lease_time: seconds the new leases last.
            status_code: the HTTP status the server answered.
            latencies: seconds each upload took, one per claim.

        Returns:
            The claims not marked done (their lease changed), and the new claims.

        Raises:
            StationError: the queue file could not be written (nothing was recorded), or
                ``latencies`` does not match ``claims``.
        """
        given = [None] * len(claims) if latencies is None else builtins.list(latencies)
        if len(given) != len(claims):
            msg = f"give one latency per claim: {len(claims)} claims, {len(given)} latencies"
            raise StationError(msg)
        details = [{"status": status_code, "latency_s": latency} for latency in given]
        items = [claim.item for claim in claims]
        with self._lock:
            refused, leased = self._call(
                "ack" if not n else "ack and lease",
                lambda: self._queue.ack_many_and_lease(
                    items, n, lease_time=lease_time, details=details
                ),
            )
        lost = {item.id for item in refused}
        for claim in claims:
            if claim.item.id not in lost:
                self._emit("submitted", claim.report_id)
        return (
            [claim for claim in claims if claim.item.id in lost],
            [Claim(item.key or str(item.id), item.attempts, item) for item in leased],
        )

    def retry_later(
        self,
        claim: Claim,
        *,
        delay: float,
        error: str,
        status_code: int | None = None,
        latency_s: float | None = None,
        counted: bool = True,
    ) -> None:
        """Put a report back to retry_wait for ``delay`` seconds (or dead, out of attempts).

        Args:
            claim: the claim.
            delay: seconds before the next attempt.
            error: what went wrong (stored; prefixed ``HTTP <status>:`` when answered).
            status_code: the HTTP status, if the server answered.
            latency_s: seconds the attempt took.
            counted: ``False`` when the report is not at fault (e.g. credentials): the
                attempt does not bring it closer to dead.
        """
        text = f"HTTP {status_code}: {error}" if status_code is not None else error
        detail = {"status": status_code, "latency_s": latency_s}
        with self._lock:
            self._call(
                "nack",
                lambda: self._queue.nack(
                    claim.item, error=text, delay=delay, count=counted, detail=detail
                ),
            )
            item = self._queue.get(claim.item.id)
        if item is not None and item.status is QueueItemStatus.PENDING:
            when = _utc(item.not_before).isoformat(timespec="seconds")
            self._emit("retry_scheduled", claim.report_id, f"{text}; next attempt at {when}")

    def fail(
        self,
        claim: Claim,
        *,
        reason: str,
        status_code: int | None = None,
        latency_s: float | None = None,
    ) -> None:
        """Move a report the server refused (or that cannot be parsed) to dead."""
        text = f"HTTP {status_code}: {reason}" if status_code is not None else reason
        detail = {"status": status_code, "latency_s": latency_s}
        with self._lock:
            self._call(
                "nack",
                lambda: self._queue.nack(claim.item, error=text, dead=True, detail=detail),
            )

    def give_back(self, claim: Claim, *, reason: str) -> None:
        """Return an unfinished claim (e.g. at shutdown) to pending now, not counted."""
        with self._lock:
            self._call(
                "return a lease",
                lambda: self._queue.nack(
                    claim.item, error=reason, delay=0.0, count=False, detail={"returned": True}
                ),
            )

    # --- life cycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the file; closing twice is harmless."""
        with self._lock:
            self._queue.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

"""Reliability with real processes: the station and the emulator, each in its own process.

* SIGKILL during uploads, ten times: every report reaches WATS once (by id), none is lost.
* The emulator down for a while: the backlog waits and drains when it is back.
* A report the server rejects: dead, with the server's message.
* A full disk when enqueueing (``RLIMIT_FSIZE`` in the station process, so the kernel answers
  ``EFBIG`` like a full file system would): the source file stays, the error is clear, and
  nothing is lost once there is room again.
* A corrupt input file: the error folder, with a reason file.
"""

from __future__ import annotations

import random
import resource
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.timeout(120)

REPORTS = 60
CYCLES = 10


def done_count(station: Any) -> int:
    return station.counts().get("done", 0)


def files_in(folder: Path, pattern: str = "*.json") -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.exists() else []


def test_sigkill_during_uploads_loses_and_duplicates_nothing(
    emulator_process: Any,
    station_factory: Any,
    wait_for: Callable[..., Any],
    report_file: Callable[..., Any],
) -> None:
    station: Any = station_factory(emulator_process.url, lease=1.0)
    ids = {report_file(station.watch, i)[0] for i in range(REPORTS)}
    # Slow uploads down so that every kill lands while some are in flight.
    emulator_process.fault(kind="latency", path="/api/Report/WSJF", seconds=0.15, count=10_000)
    rng = random.Random(6)
    for _ in range(CYCLES):
        station.start().wait_live()
        # The watcher waits 1 s for files to settle; kill somewhere in the uploads after it.
        wait_for(lambda: emulator_process.submissions() > 0 or None, 30, "a first upload")
        before = emulator_process.submissions()
        wait_for(
            lambda b=before: emulator_process.submissions() >= b + rng.randint(1, 4), 30,
            "uploads in this cycle",
            interval=0.02,
        )  # fmt: skip
        station.kill()
    station.start().wait_live()
    wait_for(lambda: done_count(station) == REPORTS or None, 60, f"{REPORTS} reports done")
    assert station.terminate() == 0

    headers = emulator_process.headers()
    stored = {h["uuid"] for h in headers}
    assert stored == ids  # every report arrived, nothing else did
    assert emulator_process.stats()["reports"] == REPORTS
    submissions = emulator_process.submissions()
    # At-least-once delivery made exactly-once in effect by the id: an upload cut by a kill
    # is sent again after the restart. If the server had stored the cut one, it overwrites it
    # (receiveCount 2, still one report); if the kill came before the server handled it (here
    # during the injected latency), the POST is in the request log but stored nothing.
    # A kill re-sends at most the unconfirmed reports: the 8 uploads in flight plus the ones
    # delivered but not yet committed (the uploader keeps both together under 4 x 8).
    repeats = sum(h["receiveCount"] - 1 for h in headers)
    assert REPORTS + repeats <= submissions <= REPORTS + CYCLES * 32
    assert repeats <= CYCLES * 32
    assert files_in(station.watch) == []
    assert len(files_in(station.done)) == REPORTS
    assert files_in(station.error, "*") == []
    # The kills did cut uploads: their leases expired and the reports were sent again.
    from pywats.station import ReportQueue

    with ReportQueue(station.root / "queue.sqlite") as queue:
        cut = {i for i in ids if any(a.outcome == "expired" for a in queue.history(i))}
        assert all(queue.get(i).state == "done" for i in ids)  # type: ignore[union-attr]
    assert len(cut) >= CYCLES // 2, f"only {len(cut)} uploads were cut by {CYCLES} kills"
    print(f"kills cut {len(cut)} uploads; {submissions} POSTs, {repeats} stored twice")
    records = station.log_records()
    assert any(r["message"].startswith("station started") for r in records)
    assert any("shutting down" in r["message"] for r in records)


def test_outage_backlog_drains_and_bad_input_is_sorted_out(
    emulator_process: Any,
    station_factory: Any,
    wait_for: Callable[..., Any],
    report_file: Callable[..., Any],
) -> None:
    station: Any = station_factory(emulator_process.url)
    station.start().wait_live()
    wait_for(lambda: station.status()["ready"], 20, "the station to be ready")

    emulator_process.stop()
    wait_for(lambda: not station.status()["ready"], 20, "the station to notice the outage")
    ids = {report_file(station.watch, i)[0] for i in range(20)}
    (station.watch / "corrupt.json").write_text('{"id": "not json')
    wait_for(lambda: len(files_in(station.done)) == 20, 30, "20 files queued")
    counts = station.counts()
    assert counts["done"] == 0
    assert counts["pending"] + counts["retry_wait"] + counts["inflight"] == 20
    assert station.status()["server"]["last_error"]

    reason = wait_for(
        lambda: (
            (station.error / "corrupt.json.error.txt").exists()
            and (station.error / "corrupt.json.error.txt").read_text()
        ),
        20,
        "the reason file",
    )
    assert "corrupt.json" in reason
    assert "reason:" in reason
    assert (station.error / "corrupt.json").exists()

    emulator_process.start()  # same port, empty store
    wait_for(lambda: done_count(station) == 20 or None, 30, "the backlog to drain")
    assert {h["uuid"] for h in emulator_process.headers()} == ids
    assert station.status()["ready"]

    # The server rejects a report: it goes to dead with the server's message.
    message = "Part number PN-CRASH is blocked by the quality team"
    emulator_process.fault(
        kind="status", path="/api/Report/WSJF", status=400, body={"Message": message}, count=1
    )
    rejected, _ = report_file(station.watch, 999)
    wait_for(lambda: station.counts().get("dead") == 1 or None, 30, "the report to be dead")
    listing = station.cli("queue", "list", "--state", "dead").stdout
    assert rejected in listing
    assert message in listing
    shown = station.cli("queue", "show", rejected).stdout
    assert message in shown
    assert rejected not in {h["uuid"] for h in emulator_process.headers()}
    recent = station.status()["recent"]
    assert any(e["kind"] == "dead" and e["report_id"] == rejected for e in recent)

    # An operator requeues it once the cause is fixed; it is submitted.
    assert "1 report(s) requeued" in station.cli("queue", "requeue", rejected).stdout
    wait_for(lambda: done_count(station) == 21 or None, 30, "the requeued report")
    assert rejected in {h["uuid"] for h in emulator_process.headers()}
    assert station.terminate() == 0


def _limit_file_size(limit: int) -> Any:
    def apply() -> None:
        # Ignored, SIGXFSZ would kill the process; ignored, write() fails with EFBIG instead.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_full_disk_leaves_the_source_and_says_so(
    emulator_process: Any,
    station_factory: Any,
    wait_for: Callable[..., Any],
    report_file: Callable[..., Any],
) -> None:
    station: Any = station_factory(emulator_process.url)
    # The emulator is away, so reports stay in the queue file and it keeps growing.
    emulator_process.stop()
    ids = [report_file(station.watch, i, padding=60_000)[0] for i in range(12)]
    station.start(preexec=_limit_file_size(400_000)).wait_live()

    def refusals() -> list[str]:
        return [
            r["message"]
            for r in station.log_records()
            if r["level"] == "ERROR" and "NOT queued, the file stays" in r["message"]
        ]

    message = wait_for(refusals, 30, "the queue to refuse a file")[0]
    print("full disk:", message)
    assert "Check free disk space" in message
    waiting = files_in(station.watch)
    assert waiting, "some files must stay in the watch folder"
    refused = {m.split(":", 1)[0] for m in refusals()}
    assert refused <= {w.name for w in waiting}  # every refused file is still where it was
    assert len(files_in(station.done)) + len(waiting) == 12
    assert files_in(station.error, "*") == []
    station.kill()

    # Room again: the files still waiting are queued, and everything is delivered.
    emulator_process.start()
    station.start().wait_live()
    wait_for(lambda: done_count(station) == 12 or None, 60, "all 12 reports delivered")
    assert {h["uuid"] for h in emulator_process.headers()} == set(ids)
    assert files_in(station.watch) == []
    assert station.terminate() == 0

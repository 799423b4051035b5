"""FolderWatcher with real folders, real files written while it runs and the real ReportQueue.

The watcher reacts to file-system events, so these tests poll for its results with a timeout
(no fake clock can stand in for the operating system's notifications).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pywats._report import ReportBase
from pywats.station._builtin_csv import CSVConverter
from pywats.station._builtin_wsjf import WSJFConverter
from pywats.station._errors import ConfigError, QueueFullError, StationError
from pywats.station._pipeline import FileOutcome
from pywats.station._queue import ReportQueue
from pywats.station._watcher import ConverterBinding, FolderWatcher, is_ignored

pytestmark = pytest.mark.anyio

CSV = (
    "WATS-CSV,1\nPartNumber,PN-1\nSerialNumber,{sn}\nRevision,A\nProcessCode,10\n"
    "Station,ST-1\nStartTime,2026-11-21T08:30:00Z\nStep,Value,Unit,Low,High\n"
)
ROW = "V{i},5.0,V,4.5,5.5\n"
TIMEOUT = 20.0


def csv_text(sn: str, rows: int = 3) -> str:
    return CSV.format(sn=sn) + "".join(ROW.format(i=i) for i in range(rows))


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Folders:
    watch: Path
    done: Path
    error: Path

    def binding(self, converter: Any, **kwargs: Any) -> ConverterBinding:
        return ConverterBinding(converter, self.watch, self.done, self.error, **kwargs)


@dataclass
class Running:
    watcher: FolderWatcher
    stop: asyncio.Event
    task: asyncio.Task[None]
    outcomes: list[FileOutcome] = field(default_factory=list)


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    return Folders(tmp_path / "in", tmp_path / "in" / "done", tmp_path / "in" / "error")


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[ReportQueue]:
    with ReportQueue(tmp_path / "queue.db") as q:
        yield q


@pytest.fixture
async def start() -> AsyncIterator[Callable[..., Any]]:
    """``await start(bindings, queue, **options)``: a running watcher, stopped at the end."""
    runs: list[Running] = []

    async def starter(bindings: list[ConverterBinding], sink: Any, **options: Any) -> Running:
        outcomes: list[FileOutcome] = []
        options.setdefault("settle", 0.2)
        options.setdefault("poll_interval", 0.05)
        options.setdefault("debounce_ms", 50)
        watcher = FolderWatcher(bindings, sink, on_result=outcomes.append, **options)
        stop = asyncio.Event()
        running = Running(watcher, stop, asyncio.create_task(watcher.run(stop)), outcomes)
        runs.append(running)
        await asyncio.sleep(0.3)  # let awatch register its watches
        return running

    yield starter
    for running in runs:
        running.stop.set()
        await asyncio.wait_for(running.task, TIMEOUT)


async def test_startup_scan_converts_files_already_there(
    folders: Folders, queue: ReportQueue, start: Any
) -> None:
    folders.watch.mkdir(parents=True)
    for i in range(3):
        (folders.watch / f"log{i}.csv").write_text(csv_text(f"SN-{i}"), encoding="utf-8")
    running = await start([folders.binding(CSVConverter())], queue)
    await until(lambda: len(running.outcomes) == 3, "three outcomes")
    assert [o.status for o in running.outcomes] == ["done"] * 3
    assert sorted(p.name for p in folders.done.iterdir()) == ["log0.csv", "log1.csv", "log2.csv"]
    assert sum(queue.counts().values()) == 3
    assert running.watcher.processed == 3


async def test_file_written_slowly_is_converted_once_when_complete(
    folders: Folders, queue: ReportQueue, start: Any
) -> None:
    running = await start([folders.binding(CSVConverter())], queue, settle=1.0)
    path = folders.watch / "slow.csv"
    with path.open("w", encoding="utf-8") as file:
        file.write(CSV.format(sn="SN-SLOW"))
        for i in range(10):  # rows trickle in faster than the settle time
            file.write(ROW.format(i=i))
            file.flush()
            await asyncio.sleep(0.05)
    await until(lambda: len(running.outcomes) >= 1, "an outcome")
    await asyncio.sleep(0.5)  # room for a wrong second conversion
    [outcome] = running.outcomes
    assert outcome.status == "done", outcome.message
    [report_id] = outcome.report_ids
    steps = json.loads(queue.payload(report_id))["root"]["steps"]
    assert [s["name"] for s in steps] == [f"V{i}" for i in range(10)]
    assert not path.exists()


async def test_ignores_temp_hidden_reason_and_foreign_files(
    folders: Folders, queue: ReportQueue, start: Any
) -> None:
    running = await start([folders.binding(CSVConverter())], queue)
    ignored = ["log.csv.tmp", ".log.csv", "log.csv.part", "x.csv.error.txt", "notes.txt"]
    for name in ignored:
        (folders.watch / name).write_text(csv_text("SN-X"), encoding="utf-8")
    (folders.watch / "sub").mkdir()
    (folders.watch / "sub" / "deep.csv").write_text(csv_text("SN-D"), encoding="utf-8")
    (folders.watch / "real.csv").write_text(csv_text("SN-R"), encoding="utf-8")
    await until(lambda: len(running.outcomes) == 1, "the real file")
    await asyncio.sleep(0.4)
    assert [o.path.name for o in running.outcomes] == ["real.csv"]
    for name in ignored:
        assert (folders.watch / name).exists()
    assert (folders.watch / "sub" / "deep.csv").exists()


async def test_corrupt_file_goes_to_error_while_running(
    folders: Folders, queue: ReportQueue, start: Any
) -> None:
    running = await start([folders.binding(CSVConverter())], queue)
    (folders.watch / "bad.csv").write_text("WATS-CSV,1\nPartNumber\n", encoding="utf-8")
    await until(lambda: len(running.outcomes) == 1, "an outcome")
    assert running.outcomes[0].status == "error"
    assert (folders.error / "bad.csv").exists()
    assert "no step table" in (folders.error / "bad.csv.error.txt").read_text(encoding="utf-8")
    assert sum(queue.counts().values()) == 0


async def test_bindings_share_a_folder_by_pattern(
    folders: Folders, queue: ReportQueue, start: Any, tmp_path: Path
) -> None:
    bindings = [
        folders.binding(WSJFConverter()),
        ConverterBinding(
            CSVConverter(),
            folders.watch,
            tmp_path / "csv-done",
            folders.error,
            patterns=("*.log",),
            settings={"delimiter": ";"},
        ),
    ]
    running = await start(bindings, queue)
    (folders.watch / "a.log").write_text(csv_text("SN-L").replace(",", ";"), encoding="utf-8")
    (folders.watch / "b.csv").write_text(csv_text("SN-C"), encoding="utf-8")  # no binding
    await until(lambda: len(running.outcomes) == 1, "an outcome")
    assert running.outcomes[0].converter == "csv"
    assert running.outcomes[0].status == "done"
    assert (tmp_path / "csv-done" / "a.log").exists()
    assert (folders.watch / "b.csv").exists()
    assert [b.converter.name for b in running.watcher.bindings] == ["wsjf", "csv"]


class FullThenRoomy:
    """The real queue behind a gate that refuses the first ``refusals`` enqueues as full."""

    def __init__(self, queue: ReportQueue, refusals: int) -> None:
        self.queue = queue
        self.refusals = refusals

    def enqueue(self, report: ReportBase | bytes, *, source: str | None = None) -> object:
        if self.refusals > 0:
            self.refusals -= 1
            msg = "the queue holds 1 report (capacity 1)"
            raise QueueFullError(msg)
        return self.queue.enqueue(report, source=source)

    def enqueue_many(self, reports: list[ReportBase], *, source: str | None = None) -> object:
        if self.refusals > 0:
            self.refusals -= 1
            msg = "the queue holds 1 report (capacity 1)"
            raise QueueFullError(msg)
        return self.queue.enqueue_many(reports, source=source)


async def test_refused_file_stays_and_is_retried(
    folders: Folders, queue: ReportQueue, start: Any
) -> None:
    gate = FullThenRoomy(queue, refusals=2)
    running = await start([folders.binding(CSVConverter())], gate, retry_refused=0.2)
    path = folders.watch / "r.csv"
    path.write_text(csv_text("SN-R"), encoding="utf-8")
    await until(lambda: len(running.outcomes) == 1, "the first refusal")
    assert running.outcomes[0].status == "refused"
    assert path.exists()
    await until(lambda: len(running.outcomes) == 3, "the retries")
    assert [o.status for o in running.outcomes] == ["refused", "refused", "done"]
    assert not path.exists()
    assert sum(queue.counts().values()) == 1


async def test_callback_errors_are_logged_and_watching_goes_on(
    folders: Folders, queue: ReportQueue, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def flaky(outcome: FileOutcome) -> None:
        seen.append(outcome.path.name)
        if len(seen) == 1:
            msg = "dashboard offline"
            raise RuntimeError(msg)

    folders.watch.mkdir(parents=True)
    (folders.watch / "a.csv").write_text(csv_text("SN-A"), encoding="utf-8")
    watcher = FolderWatcher(
        [folders.binding(CSVConverter())], queue, on_result=flaky, settle=0.1, poll_interval=0.05
    )
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="pywats.station._watcher"):
        task = asyncio.create_task(watcher.run(stop))
        await until(lambda: len(seen) == 1, "the first file")
        (folders.watch / "b.csv").write_text(csv_text("SN-B"), encoding="utf-8")
        await until(lambda: len(seen) == 2, "the second file")
        stop.set()
        await asyncio.wait_for(task, TIMEOUT)
    assert "the on_result callback failed for a.csv" in caplog.text
    assert sum(queue.counts().values()) == 2


async def test_unusable_folder_is_a_config_error(tmp_path: Path, queue: ReportQueue) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    binding = ConverterBinding(CSVConverter(), blocker / "in", tmp_path / "d", tmp_path / "e")
    with pytest.raises(ConfigError, match="cannot create the watch folder"):
        await FolderWatcher([binding], queue).run(asyncio.Event())


async def test_scan_skips_vanished_and_unlistable_folders(
    folders: Folders, queue: ReportQueue, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = FolderWatcher([folders.binding(CSVConverter())], queue, settle=0.0)
    with caplog.at_level(logging.ERROR, logger="pywats.station._watcher"):
        assert watcher.scan() == 0
    assert "cannot list the watch folder" in caplog.text
    folders.watch.mkdir(parents=True)
    path = folders.watch / "gone.csv"
    path.write_text(csv_text("SN-G"), encoding="utf-8")
    assert watcher.scan() == 1
    path.unlink()
    (folders.watch / "folder.csv").mkdir()
    assert watcher.scan() == 2
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    await until(lambda: watcher.waiting == 0, "the vanished file to be dropped")
    stop.set()
    await asyncio.wait_for(task, TIMEOUT)
    assert watcher.processed == 0


def test_is_ignored() -> None:
    for name in (".x.csv", "a.tmp", "a.TMP", "a~", "~$book.xlsx", "a.csv.error.txt", "a.swp"):
        assert is_ignored(name), name
    for name in ("a.csv", "report.json", "error.txt.csv"):
        assert not is_ignored(name), name


async def test_runs_without_a_callback(folders: Folders, queue: ReportQueue) -> None:
    folders.watch.mkdir(parents=True)
    (folders.watch / "a.csv").write_text(csv_text("SN-A"), encoding="utf-8")
    watcher = FolderWatcher([folders.binding(CSVConverter())], queue, settle=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    await until(lambda: watcher.processed == 1, "the file")
    stop.set()
    await asyncio.wait_for(task, TIMEOUT)
    assert (folders.done / "a.csv").exists()


async def test_failing_notifications_stop_the_watcher_with_the_error(
    folders: Folders, queue: ReportQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> AsyncIterator[set[Any]]:
        for _ in ():
            yield set()
        msg = "inotify watch limit reached"
        raise OSError(msg)

    monkeypatch.setattr("pywats.station._watcher.awatch", broken)
    watcher = FolderWatcher([folders.binding(CSVConverter())], queue)
    with pytest.raises(OSError, match="inotify watch limit"):
        await asyncio.wait_for(watcher.run(asyncio.Event()), TIMEOUT)


async def test_notifications_ending_early_is_an_error(
    folders: Folders, queue: ReportQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def ended(*args: object, **kwargs: object) -> AsyncIterator[set[Any]]:
        for _ in ():
            yield set()

    monkeypatch.setattr("pywats.station._watcher.awatch", ended)
    watcher = FolderWatcher([folders.binding(CSVConverter())], queue)
    with pytest.raises(StationError, match="ended unexpectedly"):
        await asyncio.wait_for(watcher.run(asyncio.Event()), TIMEOUT)


@pytest.mark.parametrize("role", ["done", "error"])
async def test_done_or_error_folder_equal_to_watch_is_refused(
    tmp_path: Path, queue: ReportQueue, role: str
) -> None:
    watch = tmp_path / "in"
    other = tmp_path / "other"
    done, error = (watch, other) if role == "done" else (other, watch)
    binding = ConverterBinding(CSVConverter(), watch, done, error)
    with pytest.raises(ConfigError, match="must differ from the watch folder"):
        await FolderWatcher([binding], queue).run(asyncio.Event())


async def test_stop_leaves_the_remaining_files_for_the_next_start(
    folders: Folders, queue: ReportQueue
) -> None:
    folders.watch.mkdir(parents=True)
    for i in range(5):
        (folders.watch / f"f{i}.csv").write_text(csv_text(f"SN-{i}"), encoding="utf-8")
    stop = asyncio.Event()

    def stop_after_first(outcome: FileOutcome) -> None:
        stop.set()

    watcher = FolderWatcher(
        [folders.binding(CSVConverter())], queue, on_result=stop_after_first, settle=0.1
    )
    await asyncio.wait_for(watcher.run(stop), TIMEOUT)
    assert watcher.processed == 1
    assert len(list(folders.watch.glob("*.csv"))) == 4


async def test_without_bindings_it_waits_for_stop(queue: ReportQueue) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(FolderWatcher([], queue).run(stop))
    await asyncio.sleep(0.05)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, TIMEOUT)

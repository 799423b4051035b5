"""process_file on real files and the real ReportQueue (one SQLite file per test)."""

from __future__ import annotations

import errno
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pywats import Station, UUTBuilder, UUTReport
from pywats._report import ReportBase
from pywats.station._builtin_csv import CSVConverter
from pywats.station._builtin_wsjf import WSJFConverter
from pywats.station._converters import Validation
from pywats.station._errors import QueueFullError, StationError
from pywats.station._pipeline import ERROR_SUFFIX, FileOutcome, move_into, process_file
from pywats.station._queue import ReportQueue, ReportState

CSV = (
    "WATS-CSV,1\nPartNumber,PN-1\nSerialNumber,{sn}\nRevision,A\nProcessCode,10\n"
    "Station,ST-1\nStartTime,2026-11-21T08:30:00Z\nStep,Value,Unit,Low,High\nV,5.0,V,4.5,5.5\n"
)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[ReportQueue]:
    with ReportQueue(tmp_path / "queue.db") as q:
        yield q


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    watch, done, error = tmp_path / "in", tmp_path / "done", tmp_path / "error"
    watch.mkdir()
    return watch, done, error


def csv_file(folder: Path, name: str = "log.csv", sn: str = "SN-1") -> Path:
    path = folder / name
    path.write_text(CSV.format(sn=sn), encoding="utf-8")
    return path


def run(path: Path, converter: Any, queue: Any, folders: tuple[Path, Path, Path]) -> FileOutcome:
    _, done, error = folders
    return process_file(path, converter, queue, done_dir=done, error_dir=error, settings={})


def total(queue: ReportQueue) -> int:
    return sum(queue.counts().values())


def test_converted_file_is_queued_then_moved_to_done(
    queue: ReportQueue, folders: tuple[Path, Path, Path]
) -> None:
    watch, done, _ = folders
    path = csv_file(watch)
    outcome = run(path, CSVConverter(), queue, folders)
    assert outcome.status == "done"
    assert outcome.converter == "csv"
    assert outcome.moved_to == done / "log.csv"
    assert not path.exists()
    assert (done / "log.csv").read_text(encoding="utf-8") == CSV.format(sn="SN-1")
    [report_id] = outcome.report_ids
    item = queue.get(report_id)
    assert item is not None
    assert item.state == ReportState.PENDING
    assert item.source == str(path)
    assert json.loads(queue.payload(report_id))["sn"] == "SN-1"


def test_reconverting_the_same_file_does_not_duplicate(
    queue: ReportQueue, folders: tuple[Path, Path, Path]
) -> None:
    watch, done, _ = folders
    first = run(csv_file(watch), CSVConverter(), queue, folders)
    # A crash after the enqueue but before the move leaves the file in place: same bytes again.
    second = run(csv_file(watch), CSVConverter(), queue, folders)
    assert first.report_ids == second.report_ids
    assert total(queue) == 1
    assert sorted(p.name for p in done.iterdir()) == ["log.1.csv", "log.csv"]


def test_name_collisions_get_numbered(tmp_path: Path) -> None:
    target = tmp_path / "out"
    names = []
    for name in ("a.csv", "a.csv", "a.csv", "README", ".hidden"):
        source = tmp_path / name
        source.write_text(name)
        names.append(move_into(source, target).name)
    assert names == ["a.csv", "a.1.csv", "a.2.csv", "README", ".hidden"]
    (tmp_path / "README").write_text("again")
    assert move_into(tmp_path / "README", target).name == "README.1"


def test_name_collisions_fall_back_to_a_random_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pywats.station._pipeline._MAX_SUFFIX", 2)
    target = tmp_path / "out"
    for _ in range(3):
        (tmp_path / "x.csv").write_text("x")
        moved = move_into(tmp_path / "x.csv", target)
    assert moved.suffix == ".csv"
    assert len(moved.name) > len("x.1.csv")
    assert len(list(target.iterdir())) == 3


def test_move_across_file_systems(tmp_path: Path) -> None:
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.fail("this test needs /dev/shm on a file system other than the temp folder")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        source = Path(shm) / "r.csv"
        source.write_bytes(b"data")
        os.utime(source, (1_000_000, 1_000_000))
        moved = move_into(source, tmp_path / "done")
        assert not source.exists()
        assert moved.read_bytes() == b"data"
        assert moved.stat().st_mtime == 1_000_000
        assert [p.name for p in moved.parent.iterdir()] == ["r.csv"]


def test_failed_move_leaves_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "r.csv"
    source.write_text("x")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        move_into(source, blocker)
    assert source.exists()

    def denied(src: object, dst: object) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("corekit._atomic.os.replace", denied)
    with pytest.raises(OSError, match="Permission denied"):
        move_into(source, tmp_path / "done")
    assert source.exists()

    def cross_device(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "cross-device link")

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("corekit._atomic.os.replace", cross_device)
    monkeypatch.setattr("corekit._atomic.shutil.copyfileobj", no_space)
    with pytest.raises(OSError, match="No space"):
        move_into(source, tmp_path / "done")
    assert source.exists()
    assert list((tmp_path / "done").iterdir()) == []


def test_corrupt_file_goes_to_error_with_a_reason(
    queue: ReportQueue, folders: tuple[Path, Path, Path]
) -> None:
    watch, _, error = folders
    path = watch / "bad.csv"
    path.write_text("WATS-CSV,1\nPartNumber,PN\nColour,red\n", encoding="utf-8")
    outcome = run(path, CSVConverter(), queue, folders)
    assert outcome.status == "error"
    assert outcome.report_ids == ()
    assert "line 3: unknown header key 'Colour'" in outcome.message
    assert outcome.moved_to == error / "bad.csv"
    assert not path.exists()
    reason = (error / ("bad.csv" + ERROR_SUFFIX)).read_text(encoding="utf-8")
    assert "converter: csv" in reason
    assert "unknown header key 'Colour'" in reason
    assert total(queue) == 0


def test_error_reason_files_follow_collisions(
    queue: ReportQueue, folders: tuple[Path, Path, Path]
) -> None:
    watch, _, error = folders
    for _ in range(2):
        (watch / "bad.json").write_text("{nope", encoding="utf-8")
        run(watch / "bad.json", WSJFConverter(), queue, folders)
    assert sorted(p.name for p in error.iterdir()) == [
        "bad.1.json",
        "bad.1.json.error.txt",
        "bad.json",
        "bad.json.error.txt",
    ]


def test_invalid_wsjf_reason_has_the_field_path(
    queue: ReportQueue, folders: tuple[Path, Path, Path]
) -> None:
    watch, _, error = folders
    report = (
        UUTBuilder(part_number="P", serial_number="S", revision="A", process_code=10)
        .numeric("V", 1.0)
        .build()
        .to_dict()
    )
    report["processCode"] = "ten"
    path = watch / "r.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    outcome = run(path, WSJFConverter(), queue, folders)
    assert outcome.status == "error"
    assert outcome.message.startswith("invalid report: processCode:")
    assert "processCode" in (error / "r.json.error.txt").read_text(encoding="utf-8")


class Scripted:
    """A plugin converter whose validation and result the test chooses."""

    name = "scripted"
    patterns: tuple[str, ...] = ("*",)

    def __init__(self, confidence: float, result: Any) -> None:
        self.confidence = confidence
        self.result = result

    def validate(self, path: Path) -> Validation:
        return Validation(self.confidence, "scripted")

    def convert(self, path: Path, settings: Mapping[str, Any]) -> list[ReportBase]:
        if isinstance(self.result, Exception):
            raise self.result
        result: list[ReportBase] = self.result
        return result


def report(serial: str = "SN") -> UUTReport:
    return (
        UUTBuilder(
            part_number="P",
            serial_number=serial,
            revision="A",
            process_code=10,
            station=Station("ST"),
            start=datetime(2026, 1, 1, tzinfo=UTC),
        )
        .numeric("V", 1.0)
        .build()
    )


def blank_serial() -> UUTReport:
    bad = report()
    bad.serial_number = ""
    return bad


@pytest.mark.parametrize(
    ("converter", "message"),
    [
        (Scripted(0.1, []), "does not recognise this file (confidence 0.10 < 0.20): scripted"),
        (Scripted(1.0, RuntimeError("boom")), "the converter failed: RuntimeError: boom"),
        (Scripted(1.0, []), "the scripted converter returned no report"),
        (Scripted(1.0, ["text"]), "returned str, not a report"),
        (Scripted(1.0, [report(), blank_serial()]), "report 1: invalid report: sn: must not"),
    ],
)
def test_plugin_failures_go_to_error(
    queue: ReportQueue, folders: tuple[Path, Path, Path], converter: Scripted, message: str
) -> None:
    watch, _, error = folders
    path = watch / "f.dat"
    path.write_text("x")
    outcome = run(path, converter, queue, folders)
    assert outcome.status == "error"
    assert message in outcome.message
    assert (error / "f.dat.error.txt").exists()
    assert total(queue) == 0


def test_doubtful_file_is_converted_with_a_warning(
    queue: ReportQueue, folders: tuple[Path, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    watch, _, _ = folders
    path = watch / "f.dat"
    path.write_text("x")
    with caplog.at_level(logging.WARNING, logger="pywats.station._pipeline"):
        outcome = run(path, Scripted(0.3, [report()]), queue, folders)
    assert outcome.status == "done"
    assert "low confidence 0.30" in caplog.text
    assert total(queue) == 1


def test_full_queue_refuses_and_the_file_stays(
    tmp_path: Path, folders: tuple[Path, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    watch, done, error = folders
    with ReportQueue(tmp_path / "small.db", capacity=1) as small:
        first = run(csv_file(watch, "a.csv", "SN-A"), CSVConverter(), small, folders)
        assert first.status == "done"
        path = csv_file(watch, "b.csv", "SN-B")
        with caplog.at_level(logging.ERROR, logger="pywats.station._pipeline"):
            outcome = run(path, CSVConverter(), small, folders)
        assert outcome.status == "refused"
        assert outcome.moved_to is None
        assert outcome.report_ids == ()
        assert outcome.message.startswith("queue refused:")
        assert path.read_text(encoding="utf-8") == CSV.format(sn="SN-B")
        assert "NOT queued" in caplog.text
        assert not error.exists()
        assert [p.name for p in done.iterdir()] == ["a.csv"]
        assert total(small) == 1


class Refusing:
    """A queue whose disk fails: what ReportQueue.enqueue raises then."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def enqueue(self, report: ReportBase | bytes, *, source: str | None = None) -> object:
        raise self.exc

    def enqueue_many(self, reports: list[ReportBase], *, source: str | None = None) -> object:
        raise self.exc


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        StationError("the queue file cannot be written: disk I/O error"),
        QueueFullError("the queue holds 10 reports"),
    ],
)
def test_disk_errors_on_enqueue_refuse(folders: tuple[Path, Path, Path], exc: Exception) -> None:
    watch, _, _ = folders
    path = csv_file(watch)
    outcome = run(path, CSVConverter(), Refusing(exc), folders)
    assert outcome.status == "refused"
    assert str(exc) in outcome.message
    assert path.exists()


def test_queued_but_not_moved_is_still_done(
    queue: ReportQueue, tmp_path: Path, folders: tuple[Path, Path, Path]
) -> None:
    watch, _, error = folders
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the done folder should be")
    path = csv_file(watch)
    outcome = process_file(path, CSVConverter(), queue, done_dir=blocker, error_dir=error)
    assert outcome.status == "done"
    assert outcome.moved_to is None
    assert "moving to done failed" in outcome.message
    assert path.exists()
    assert total(queue) == 1


def test_error_folder_unusable(queue: ReportQueue, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    path = tmp_path / "bad.json"
    path.write_text("{")
    outcome = process_file(path, WSJFConverter(), queue, done_dir=tmp_path, error_dir=blocker)
    assert outcome.status == "error"
    assert outcome.moved_to is None
    assert "not moved" in outcome.message
    assert path.exists()


def wsjf_array(folder: Path, name: str, count: int) -> Path:
    reports = [
        UUTBuilder(part_number="P", serial_number=f"S{i}", revision="A", process_code=10)
        .numeric("V", 1.0)
        .build()
        .to_dict()
        for i in range(count)
    ]
    path = folder / name
    path.write_text(json.dumps(reports, default=str), encoding="utf-8")
    return path


def test_a_files_reports_are_queued_together_or_not_at_all(
    tmp_path: Path, folders: tuple[Path, Path, Path]
) -> None:
    watch, done, _ = folders
    with ReportQueue(tmp_path / "small.db", capacity=4) as small:
        outcome = run(wsjf_array(watch, "three.json", 3), WSJFConverter(), small, folders)
        assert outcome.status == "done"
        assert len(outcome.report_ids) == 3
        assert {r.source for r in small.list()} == {str(watch / "three.json")}
        path = wsjf_array(watch, "two.json", 2)  # one would fit, two do not: none is stored
        refused = run(path, WSJFConverter(), small, folders)
        assert refused.status == "refused"
        assert "none of the 2 reports" in refused.message
        assert path.exists()
        assert total(small) == 3
        assert [p.name for p in done.iterdir()] == ["three.json"]
        many = wsjf_array(watch, "many.json", 4)
        failing = run(many, WSJFConverter(), Refusing(OSError("disk gone")), folders)
        assert (failing.status, failing.message) == ("refused", "queue refused: disk gone")
        assert many.exists()

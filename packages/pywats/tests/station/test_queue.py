"""pywats.station.ReportQueue: durable, de-duplicating, bounded; every state and action."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from corekit.testing import FakeClock
from pywats._report import UUTReport, parse_report
from pywats.station._errors import ConversionError, QueueFullError, StationError
from pywats.station._queue import QueueEvent, ReportQueue, ReportState

P = ReportState


def report(sn: str = "SN-1", **extra: Any) -> UUTReport:
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": "T",
        "pn": "PN-1",
        "sn": sn,
        "rev": "A",
        "processCode": 10,
        "result": "P",
        "machineName": "ST1",
        "location": "Lab",
        "purpose": "Dev",
        **extra,
    }
    parsed = parse_report(data)
    assert isinstance(parsed, UUTReport)
    return parsed


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> list[QueueEvent]:
    return []


@pytest.fixture
def queue(tmp_path: Path, clock: FakeClock, events: list[QueueEvent]) -> Any:
    with ReportQueue(tmp_path / "queue.db", clock=clock, on_event=events.append) as q:
        yield q


def zero_counts(**given: int) -> dict[ReportState, int]:
    counts = dict.fromkeys(ReportState, 0)
    counts.update({ReportState(k): v for k, v in given.items()})
    return counts


def test_enqueue_stores_the_exact_bytes_and_lists_without_payload(
    queue: ReportQueue, events: list[QueueEvent]
) -> None:
    r = report(sn="SN-9")
    # Whitespace and key order as given: bytes are stored exactly, never re-serialised.
    data = b'{"sn": "SN-9",  "id": "' + str(r.id).encode() + b'", "pn": "PN-1", "type": "R"}'
    queued = queue.enqueue(data, source="/in/a.json")
    assert queued.report_id == str(r.id)
    assert queued.state is P.PENDING
    assert queued.attempts == 0
    assert (queued.part_number, queued.serial_number, queued.kind) == ("PN-1", "SN-9", "R")
    assert queued.source == "/in/a.json"
    assert queued.enqueued_at.tzinfo is not None
    assert queue.payload(str(r.id)) == data
    assert queue.counts() == zero_counts(pending=1)
    (listed,) = queue.list()
    assert listed == queued
    assert [(e.kind, e.report_id, e.detail) for e in events] == [
        ("queued", str(r.id), "/in/a.json")
    ]


def test_enqueue_of_a_model_uses_its_wsjf(queue: ReportQueue) -> None:
    r = report()
    queued = queue.enqueue(r)
    assert queued.kind == "T"
    assert queue.payload(str(r.id)) == r.to_wsjf()


def test_duplicate_enqueue_is_deduplicated(
    queue: ReportQueue, events: list[QueueEvent], clock: FakeClock
) -> None:
    r = report()
    first = queue.enqueue(r)
    clock.advance(5)
    second = queue.enqueue(r.to_wsjf())
    assert second == first
    assert queue.counts()[P.PENDING] == 1
    assert [e.kind for e in events] == ["queued"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "with an 'id'"),
        (b'{"id": "nope"}', "not a UUID"),
        (b'{"id": "' + str(uuid.uuid4()).encode() + b'", "sn": "\xff"}', "not JSON"),
    ],
)
def test_enqueue_refuses_bytes_that_are_not_wsjf(
    queue: ReportQueue, data: bytes, reason: str
) -> None:
    with pytest.raises(ConversionError, match=reason) as info:
        queue.enqueue(data)
    assert info.value.reason.startswith("parse")
    assert queue.counts() == zero_counts()


def test_capacity_counts_everything_not_done_and_refuses_loudly(
    tmp_path: Path, clock: FakeClock
) -> None:
    with ReportQueue(tmp_path / "q.db", capacity=2, clock=clock) as q:
        a, b = report(), report()
        q.enqueue(a)
        q.enqueue(b)
        (claim,) = q.claim(1, lease_time=60)
        q.fail(claim, reason="refused")  # dead still counts
        with pytest.raises(QueueFullError, match=r"is full: it holds 2 reports.*capacity"):
            q.enqueue(report())
        assert q.enqueue(b).report_id == str(b.id)  # a known id is no new report
        (claim,) = q.claim(1, lease_time=60)
        q.complete(claim)
        q.enqueue(report())  # done does not count
        assert sum(q.counts().values()) == 3


def test_disk_failure_is_a_station_error(tmp_path: Path, clock: FakeClock) -> None:
    q = ReportQueue(tmp_path / "q.db", clock=clock)
    q._queue._conn.execute("PRAGMA query_only = ON")  # every write fails, as on a bad disk
    try:
        with pytest.raises(StationError, match=r"could not be stored.*disk space") as info:
            q.enqueue(report())
        assert info.value.__cause__ is not None
    finally:
        q.close()


def test_opening_a_file_that_is_not_a_queue_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StationError, match="cannot open the report queue"):
        ReportQueue(path)


def test_states_through_the_uploader_side(
    queue: ReportQueue, clock: FakeClock, events: list[QueueEvent]
) -> None:
    r = report()
    rid = str(r.id)
    queue.enqueue(r)
    (claim,) = queue.claim(5, lease_time=60)
    assert claim.attempts == 1
    assert claim.payload() == r.to_wsjf()
    assert queue.get(rid).state is P.INFLIGHT
    assert queue.counts() == zero_counts(inflight=1)
    queue.retry_later(claim, delay=30, error="Service Unavailable", status_code=503, latency_s=0.5)
    got = queue.get(rid)
    assert got.state is P.RETRY_WAIT
    assert got.last_status == 503
    assert got.last_error == "HTTP 503: Service Unavailable"
    assert got.next_attempt_at is not None
    assert queue.list(P.RETRY_WAIT)[0].report_id == rid
    assert queue.list(P.PENDING) == []
    assert queue.claim(5, lease_time=60) == []
    clock.advance(31)
    assert queue.get(rid).state is P.PENDING
    (claim,) = queue.claim(5, lease_time=60)
    assert claim.attempts == 2
    queue.complete(claim, status_code=200, latency_s=0.25)
    assert queue.get(rid).state is P.DONE
    assert queue.list(P.DONE)[0].next_attempt_at is None
    history = queue.history(rid)
    assert [(a.outcome, a.status_code, a.latency_s) for a in history] == [
        ("retry_wait", 503, 0.5),
        ("done", 200, 0.25),
    ]
    kinds = [e.kind for e in events]
    assert kinds == ["queued", "retry_scheduled", "submitted"]
    assert "next attempt at" in (events[1].detail or "")


def test_dead_requeue_and_attempts_only_grow(queue: ReportQueue, events: list[QueueEvent]) -> None:
    r = report()
    rid = str(r.id)
    queue.enqueue(r)
    (claim,) = queue.claim(1, lease_time=60)
    queue.fail(claim, reason="The report is invalid.", status_code=400)
    dead = queue.get(rid)
    assert dead.state is P.DEAD
    assert dead.last_error == "HTTP 400: The report is invalid."
    assert events[-1].kind == "dead"
    assert events[-1].detail == "HTTP 400: The report is invalid."
    assert queue.requeue([rid, str(uuid.uuid4())]) == 1
    assert queue.get(rid).state is P.PENDING
    assert queue.get(rid).attempts == 1  # kept
    assert events[-1].kind == "requeued"
    (claim,) = queue.claim(1, lease_time=60)
    assert claim.attempts == 2
    assert queue.requeue([rid]) == 0  # inflight: not requeued
    assert [a.outcome for a in queue.history(rid)] == ["dead", "requeued"]


def test_max_attempts_sends_to_dead(tmp_path: Path, clock: FakeClock) -> None:
    events: list[QueueEvent] = []
    with ReportQueue(tmp_path / "q.db", max_attempts=2, clock=clock, on_event=events.append) as q:
        rid = q.enqueue(report()).report_id
        for _ in range(2):
            (claim,) = q.claim(1, lease_time=60)
            q.retry_later(claim, delay=0, error="timeout")
        assert q.get(rid).state is P.DEAD
        assert [e.kind for e in events][-1] == "dead"


def test_auth_waits_do_not_count(tmp_path: Path, clock: FakeClock) -> None:
    with ReportQueue(tmp_path / "q.db", max_attempts=2, clock=clock) as q:
        rid = q.enqueue(report()).report_id
        for _ in range(4):
            (claim,) = q.claim(1, lease_time=60)
            q.retry_later(claim, delay=0, error="Unauthorized", status_code=401, counted=False)
        got = q.get(rid)
        assert got.state is P.PENDING
        assert got.attempts == 4


def test_hold_release_and_retry_now(
    queue: ReportQueue, clock: FakeClock, events: list[QueueEvent]
) -> None:
    a, b = report(), report()
    ida, idb = str(a.id), str(b.id)
    queue.enqueue(a)
    queue.enqueue(b)
    assert queue.hold([ida]) == 1
    assert queue.get(ida).state is P.HELD
    (claim,) = queue.claim(5, lease_time=60)
    assert claim.report_id == idb  # held is never uploaded
    queue.retry_later(claim, delay=100, error="down")
    assert queue.counts() == zero_counts(held=1, retry_wait=1)
    assert queue.hold([idb]) == 1  # a retry_wait report can be held too
    assert queue.release([idb]) == 1
    assert queue.get(idb).state is P.PENDING
    assert queue.requeue([ida]) == 1  # held -> pending
    assert queue.hold([ida]) == 1
    assert queue.release([ida, "unknown"]) == 1
    assert queue.release([ida]) == 0
    kinds = [e.kind for e in events if e.kind in {"held", "requeued"}]
    assert kinds == ["held", "held", "requeued", "requeued", "held", "requeued"]
    for claim in queue.claim(5, lease_time=60):
        queue.retry_later(claim, delay=100, error="down")
    assert queue.counts()[P.RETRY_WAIT] == 2
    assert queue.retry_now([ida]) == 1
    assert queue.retry_now() == 1
    assert queue.retry_now() == 0
    assert queue.counts()[P.PENDING] == 2
    c = report()
    queue.enqueue(c)
    (claim,) = [x for x in queue.claim(5, lease_time=60) if x.report_id == str(c.id)] or [None]
    assert claim is not None
    queue.retry_later(claim, delay=100, error="down")
    assert queue.requeue([str(c.id)]) == 1  # retry_wait -> pending now
    assert queue.get(str(c.id)).state is P.PENDING


def test_restart_returns_expired_leases_to_pending(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "q.db"
    q = ReportQueue(path, clock=clock)
    rid = q.enqueue(report()).report_id
    (claim,) = q.claim(1, lease_time=60)
    q.close()  # as if the station died mid-upload
    clock.advance(61)
    with ReportQueue(path, clock=clock) as q:
        got = q.get(rid)
        assert got.state is P.PENDING
        assert got.attempts == 1  # the ambiguous attempt counts
        assert [a.outcome for a in q.history(rid)] == ["expired"]
        (claim,) = q.claim(1, lease_time=60)
        assert claim.attempts == 2


def test_give_back_returns_the_claim_uncounted(queue: ReportQueue) -> None:
    rid = queue.enqueue(report()).report_id
    (claim,) = queue.claim(1, lease_time=60)
    queue.give_back(claim, reason="stopping")
    got = queue.get(rid)
    assert got.state is P.PENDING
    assert [a.outcome for a in queue.history(rid)] == ["expired"]


def test_export_writes_exact_payload_and_history(queue: ReportQueue, tmp_path: Path) -> None:
    data = report().to_wsjf().replace(b'"pn"', b'  "pn"')
    rid = queue.enqueue(data).report_id
    (claim,) = queue.claim(1, lease_time=60)
    queue.fail(claim, reason="bad", status_code=422)
    out = tmp_path / "export"
    paths = queue.export([rid], out)
    assert paths == [out / f"{rid}.wsjf", out / f"{rid}.history.json"]
    assert paths[0].read_bytes() == data
    record = json.loads(paths[1].read_text())
    assert record["report"]["state"] == "dead"
    assert record["attempts"][0]["status_code"] == 422
    assert record["attempts"][0]["outcome"] == "dead"
    with pytest.raises(StationError, match=r"not in the queue.*nothing exported"):
        queue.export([rid, "missing"], tmp_path / "other")
    assert not (tmp_path / "other").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StationError, match="cannot export"):
        queue.export([rid], blocker)


def test_retention_purge_with_a_fake_clock(tmp_path: Path, clock: FakeClock) -> None:
    with ReportQueue(tmp_path / "q.db", retention=3600, clock=clock) as q:
        old, new, last = report(), report(), report()
        for r in (old, new, last):
            q.enqueue(r)
        (claim,) = q.claim(1, lease_time=60)
        q.complete(claim)
        clock.advance(1800)
        (claim,) = q.claim(1, lease_time=60)
        q.complete(claim)
        assert q.purge_done() == 0
        clock.advance(1801)
        assert q.purge_done() == 1  # only the first is past the retention
        assert q.get(str(old.id)) is None
        assert q.history(str(old.id)) == []
        assert q.get(str(new.id)).state is P.DONE
        assert q.purge_done(older_than=0) == 1
        assert q.enqueue(old).state is P.PENDING  # its id is free again


def test_corrupt_stored_payload_is_a_parse_error(queue: ReportQueue) -> None:
    rid = queue.enqueue(report()).report_id
    queue._queue._conn.execute("UPDATE reports SET payload = '{broken'")
    with pytest.raises(ConversionError, match=r"^parse"):
        queue.payload(rid)
    queue._queue._conn.execute("UPDATE reports SET payload = '42'")
    (claim,) = queue.claim(1, lease_time=60)
    with pytest.raises(ConversionError, match="not WSJF text"):
        claim.payload()


def test_reading_unknown_reports(queue: ReportQueue) -> None:
    assert queue.get("missing") is None
    assert queue.history("missing") == []
    with pytest.raises(StationError, match="not in the queue"):
        queue.payload("missing")
    assert repr(queue).startswith("ReportQueue(")
    assert queue.next_ready_at() is None


def test_event_callback_errors_are_logged(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: QueueEvent) -> None:
        raise RuntimeError("boom")

    with ReportQueue(tmp_path / "q.db", clock=clock, on_event=broken) as q:
        q.enqueue(report())
    assert "on_event callback failed" in caplog.text


def test_list_limit_and_closed_queue(queue: ReportQueue, tmp_path: Path) -> None:
    for _ in range(3):
        queue.enqueue(report())
    assert len(queue.list(limit=2)) == 2
    assert len(queue.list(P.INFLIGHT)) == 0
    queue.close()
    queue.close()
    with pytest.raises(Exception, match="closed"):
        queue.counts()


def test_file_is_fsynced_wal(tmp_path: Path) -> None:
    with ReportQueue(tmp_path / "q.db") as q:
        conn = q._queue._conn
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn = sqlite3.connect(tmp_path / "q.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_enqueue_many_stores_a_files_reports_in_one_commit(
    queue: ReportQueue, events: list[QueueEvent]
) -> None:
    k = report("K")
    known = queue.enqueue(k, source="old.csv")
    a, b = report("A"), report("B")
    raw = b.to_wsjf().replace(b'"sn"', b' "sn"')
    got = queue.enqueue_many([a, raw, a, k], source="f.csv")
    assert [r.serial_number for r in got] == ["A", "B", "A", "K"]
    assert got[0].report_id == got[2].report_id == str(a.id)
    assert queue.payload(str(b.id)) == raw  # bytes stored exactly as given
    assert queue.get(str(a.id)).source == "f.csv"  # type: ignore[union-attr]
    assert got[3].source == "old.csv"  # the known report is left as it was
    assert queue.counts()[P.PENDING] == 3
    queued = [e.report_id for e in events if e.kind == "queued"]
    assert queued == [known.report_id, str(a.id), str(b.id)]  # one event per new report
    assert queue.enqueue_many([]) == []


def test_enqueue_many_is_all_or_nothing(tmp_path: Path, clock: FakeClock) -> None:
    with ReportQueue(tmp_path / "q.db", capacity=3, clock=clock) as q:
        q.enqueue(report("X"))
        batch = [report("A"), report("B"), report("C")]
        with pytest.raises(QueueFullError, match=r"none of the 3 reports .* was stored"):
            q.enqueue_many(batch)
        assert q.counts()[P.PENDING] == 1
        with pytest.raises(ConversionError, match="parse"):
            q.enqueue_many([report("D"), b"not json"])
        assert q.counts()[P.PENDING] == 1
        assert len(q.enqueue_many(batch[:2])) == 2
        q._queue._conn.execute("PRAGMA query_only = ON")  # every write fails, as on a bad disk
        with pytest.raises(StationError, match=r"2 reports .* could not be stored.*disk space"):
            q.enqueue_many([report("E"), report("F")])


def test_complete_many_marks_done_in_one_commit_and_returns_lost_leases(
    queue: ReportQueue, clock: FakeClock, events: list[QueueEvent]
) -> None:
    ids = [queue.enqueue(report(f"S{i}")).report_id for i in range(3)]
    first = queue.claim(3, lease_time=10)
    assert queue.complete_many(first[:1], status_code=200, latencies=[0.25]) == []
    clock.advance(11)  # the other two leases expire and are taken again
    again = queue.claim(3, lease_time=10)
    assert {c.report_id for c in again} == set(ids[1:])
    assert queue.complete_many(first[1:]) == first[1:]  # stale: left to the new claims
    assert queue.counts()[P.INFLIGHT] == 2
    assert queue.complete_many(again) == []
    assert queue.counts()[P.DONE] == 3
    assert [e.report_id for e in events if e.kind == "submitted"] == [ids[0], *ids[1:]]
    (attempt,) = queue.history(ids[0])
    assert (attempt.outcome, attempt.status_code, attempt.latency_s) == ("done", 200, 0.25)
    with pytest.raises(StationError, match="one latency per claim"):
        queue.complete_many(again, latencies=[0.1])


def test_complete_and_claim_records_successes_and_leases_in_one_step(
    queue: ReportQueue, clock: FakeClock, events: list[QueueEvent]
) -> None:
    ids = [queue.enqueue(report(f"T{i}")).report_id for i in range(4)]
    first = queue.claim(2, lease_time=10)
    lost, nxt = queue.complete_and_claim(
        first, 3, lease_time=30, status_code=200, latencies=[0.1, 0.2]
    )
    assert lost == []
    assert [c.report_id for c in nxt] == ids[2:]  # only two were left to lease
    assert all(c.attempts == 1 for c in nxt)
    assert nxt[0].item.lease_expires_at == clock.time() + 30
    assert [queue.get(i).state for i in ids] == [P.DONE, P.DONE, P.INFLIGHT, P.INFLIGHT]
    assert [e.report_id for e in events if e.kind == "submitted"] == ids[:2]
    assert [a.latency_s for a in queue.history(ids[1])] == [0.2]
    # Stale claims are returned, not raised, and the lease is still taken.
    clock.advance(31)  # both leases expire; one report is taken again, one is pending
    (again,) = queue.claim(1, lease_time=30)
    lost, more = queue.complete_and_claim(nxt, 5, lease_time=30)
    assert lost == nxt
    assert [c.report_id for c in more] == [
        c.report_id for c in nxt if c.report_id != again.report_id
    ]
    assert queue.get(again.report_id).state is P.INFLIGHT  # left to the new claim
    with pytest.raises(StationError, match="one latency per claim"):
        queue.complete_and_claim(more, 1, lease_time=30, latencies=[])
    queue._queue._conn.execute("PRAGMA query_only = ON")  # every write fails
    with pytest.raises(StationError, match="cannot ack and lease"):
        queue.complete_and_claim(more, 1, lease_time=30)

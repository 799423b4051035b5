"""pywats.station.Uploader against the WATS emulator over a socket, with injected faults."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from corekit.errors import CircuitOpenError, HTTPStatusError, TransportError
from corekit.testing import FakeClock, FaultInjector
from pywats import AsyncWATS
from pywats._report import UUTReport, parse_report
from pywats.emulator import emulator_state
from pywats.errors import ReportValidationError, ValidationIssue
from pywats.station._errors import ConversionError, StationError
from pywats.station._queue import QueueEvent, ReportQueue, ReportState
from pywats.station._uploader import Uploader, UploadResult, classify

pytestmark = pytest.mark.anyio

PATH = "/api/Report/WSJF"
P = ReportState


def report(sn: str = "SN-1") -> UUTReport:
    parsed = parse_report(
        {
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
        }
    )
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
    with ReportQueue(
        tmp_path / "queue.db", clock=clock, max_attempts=3, on_event=events.append
    ) as q:
        yield q


@pytest.fixture
def client(client_factory: Callable[..., Any]) -> AsyncWATS:
    made: AsyncWATS = client_factory("async", retry=None)  # the queue retries, not the client
    return made


def stored(emulator: FaultInjector) -> set[str]:
    return set(emulator_state(emulator).reports)


async def test_drain_submits_the_stored_bytes(
    queue: ReportQueue, client: AsyncWATS, emulator: FaultInjector, events: list[QueueEvent]
) -> None:
    reports = [report(f"SN-{i}") for i in range(5)]
    # Extra whitespace: what is sent is the stored bytes, not a re-serialisation.
    first = reports[0].to_wsjf().replace(b'"pn"', b' "pn"')
    queue.enqueue(first)
    for r in reports[1:]:
        queue.enqueue(r)
    uploader = Uploader(queue, client, concurrency=2)
    assert uploader.connected is None
    assert await uploader.drain() == 5
    assert stored(emulator) == {str(r.id) for r in reports}
    assert queue.counts()[P.DONE] == 5
    bodies = [call.body for call in emulator.calls("POST", PATH)]
    assert first in bodies
    assert uploader.connected is True
    assert uploader.submitted == 5
    (attempt,) = queue.history(str(reports[0].id))
    assert attempt.outcome == "done"
    assert attempt.status_code == 200
    assert attempt.latency_s is not None
    assert [e.kind for e in events].count("submitted") == 5
    assert await uploader.drain() == 0


async def test_server_error_backs_off_then_delivers(
    queue: ReportQueue, client: AsyncWATS, emulator: FaultInjector, clock: FakeClock
) -> None:
    rid = queue.enqueue(report()).report_id
    emulator.fail(PATH, 503, method="POST")
    uploader = Uploader(queue, client, base_delay=2.0, max_delay=600.0)
    assert await uploader.drain() == 0
    got = queue.get(rid)
    assert got.state is P.RETRY_WAIT
    assert got.last_status == 503
    wait = got.next_attempt_at.timestamp() - clock.time()
    assert 2.0 <= wait <= 4.0  # base delay plus jitter up to base delay
    assert await uploader.drain() == 0  # not due yet
    clock.advance(4.1)
    assert await uploader.drain() == 1
    assert rid in stored(emulator)
    assert [a.outcome for a in queue.history(rid)] == ["retry_wait", "done"]
    assert queue.get(rid).attempts == 2


async def test_backoff_grows_and_is_capped(queue: ReportQueue, client: AsyncWATS) -> None:
    uploader = Uploader(queue, client, base_delay=2.0, max_delay=10.0)
    assert 2.0 <= uploader.backoff(1) <= 4.0
    assert 8.0 <= uploader.backoff(3) <= 10.0
    assert uploader.backoff(30) == 10.0


async def test_retry_after_is_honoured(
    queue: ReportQueue, client: AsyncWATS, emulator: FaultInjector, clock: FakeClock
) -> None:
    rid = queue.enqueue(report()).report_id
    emulator.rate_limit(PATH, retry_after=45, method="POST")
    uploader = Uploader(queue, client, base_delay=1.0)
    await uploader.drain()
    got = queue.get(rid)
    assert got.state is P.RETRY_WAIT
    assert got.last_status == 429
    assert got.next_attempt_at.timestamp() == pytest.approx(clock.time() + 45)


async def test_auth_failure_raises_the_alarm_and_never_kills(
    queue: ReportQueue,
    client: AsyncWATS,
    emulator: FaultInjector,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rid = queue.enqueue(report()).report_id
    emulator.fail(PATH, 401, method="POST", count=5)
    uploader = Uploader(queue, client, auth_delay=900.0)
    with caplog.at_level(logging.ERROR):
        for _ in range(5):  # more than max_attempts (3)
            await uploader.drain()
            got = queue.get(rid)
            assert got.state is P.RETRY_WAIT
            assert got.next_attempt_at.timestamp() == pytest.approx(clock.time() + 900)
            clock.advance(901)
    assert uploader.auth_problem is True
    assert "AUTH PROBLEM" in caplog.text
    assert queue.get(rid).attempts == 5
    assert await uploader.drain() == 1  # credentials fixed: delivered
    assert uploader.auth_problem is False
    assert rid in stored(emulator)


async def test_forbidden_is_an_auth_problem_too(
    queue: ReportQueue, client: AsyncWATS, emulator: FaultInjector
) -> None:
    rid = queue.enqueue(report()).report_id
    emulator.fail(PATH, 403, method="POST")
    uploader = Uploader(queue, client)
    await uploader.drain()
    assert uploader.auth_problem is True
    assert queue.get(rid).state is P.RETRY_WAIT


@pytest.mark.parametrize("status", [400, 413, 422])
async def test_refused_report_goes_dead_with_the_servers_message(
    queue: ReportQueue,
    client: AsyncWATS,
    emulator: FaultInjector,
    events: list[QueueEvent],
    status: int,
) -> None:
    rid = queue.enqueue(report()).report_id
    emulator.fail(PATH, status, method="POST", body={"Message": "Unknown process code 10"})
    uploader = Uploader(queue, client)
    assert await uploader.drain() == 0
    got = queue.get(rid)
    assert got.state is P.DEAD
    assert got.last_status == status
    assert "Unknown process code 10" in (got.last_error or "")
    assert events[-1].kind == "dead"
    assert uploader.last_error is not None
    assert await uploader.drain() == 0  # never retried automatically


async def test_real_server_refusal_is_dead(
    queue: ReportQueue, client: AsyncWATS, emulator: FaultInjector
) -> None:
    # Stored as given (the converter checks before enqueueing); the server's 400 is kept.
    data = report().to_wsjf().replace(b'"processCode":10', b'"processCode":10,"type":"X"', 1)
    data = data.replace(b',"type":"T"', b"", 1)
    rid = queue.enqueue(data).report_id
    uploader = Uploader(queue, client)
    await uploader.drain()
    got = queue.get(rid)
    assert got.state is P.DEAD
    assert got.last_status == 400
    assert "expected 'T' (UUT) or 'R' (UUR), got 'X'" in got.last_error
    assert len(emulator.calls("POST", PATH)) == 1


@pytest.mark.parametrize(
    ("stored_json", "reason"), [('"{not json"', "not JSON"), ('"[1]"', "not a report object")]
)
async def test_corrupt_payload_goes_dead_with_parse(
    queue: ReportQueue,
    client: AsyncWATS,
    emulator: FaultInjector,
    stored_json: str,
    reason: str,
) -> None:
    rid = queue.enqueue(report()).report_id
    queue._queue._conn.execute("UPDATE reports SET payload = ?", (stored_json,))
    uploader = Uploader(queue, client)
    assert await uploader.drain() == 0
    got = queue.get(rid)
    assert got.state is P.DEAD
    assert got.last_error.startswith("parse")
    assert reason in got.last_error
    assert emulator.calls("POST", PATH) == []


async def test_network_error_then_recovery_retries_waiting_reports(
    queue: ReportQueue, client: AsyncWATS, emulator: FaultInjector, clock: FakeClock
) -> None:
    a = queue.enqueue(report("A")).report_id
    emulator.drop(PATH, method="POST")
    uploader = Uploader(queue, client, concurrency=1, base_delay=60.0)
    assert await uploader.drain() == 0
    assert uploader.connected is False
    assert queue.get(a).state is P.RETRY_WAIT
    assert queue.get(a).last_status is None
    b = queue.enqueue(report("B")).report_id
    # b goes; its success shows WATS is back and wakes a (due in 60 s) at once.
    assert await uploader.drain() == 2
    assert uploader.connected is True
    assert queue.get(a).state is P.DONE
    assert {a, b} <= stored(emulator)


async def test_attempts_exhausted_go_dead(
    queue: ReportQueue, client: AsyncWATS, emulator: FaultInjector, clock: FakeClock
) -> None:
    rid = queue.enqueue(report()).report_id
    emulator.fail(PATH, 500, method="POST", count=None)
    uploader = Uploader(queue, client, base_delay=1.0, max_delay=1.0)
    for _ in range(3):
        await uploader.drain()
        clock.advance(5)
    got = queue.get(rid)
    assert got.state is P.DEAD
    assert got.attempts == 3


async def test_run_drains_on_nudge_and_stops(
    tmp_path: Path, client: AsyncWATS, emulator: FaultInjector
) -> None:
    with ReportQueue(tmp_path / "q.db") as q:
        uploader = Uploader(q, client, idle_poll=30.0)
        stop = asyncio.Event()
        task = asyncio.create_task(uploader.run(stop))
        await asyncio.sleep(0.05)
        rid = q.enqueue(report()).report_id
        uploader.nudge()
        for _ in range(200):
            if q.get(rid).state is P.DONE:
                break
            await asyncio.sleep(0.02)
        assert q.get(rid).state is P.DONE
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_run_waits_for_a_due_report(
    tmp_path: Path, client: AsyncWATS, emulator: FaultInjector
) -> None:
    with ReportQueue(tmp_path / "q.db") as q:
        rid = q.enqueue(report()).report_id
        emulator.fail(PATH, 503, method="POST", headers={"Retry-After": "1"})
        uploader = Uploader(q, client, idle_poll=30.0)
        stop = asyncio.Event()
        task = asyncio.create_task(uploader.run(stop))
        for _ in range(150):  # due after 1 s: the loop wakes for it without a nudge
            if q.get(rid).state is P.DONE:
                break
            await asyncio.sleep(0.02)
        assert q.get(rid).state is P.DONE
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_stop_returns_the_leases_of_unfinished_uploads(
    tmp_path: Path, client_factory: Callable[..., Any], emulator: FaultInjector
) -> None:
    client = client_factory("async", retry=None, clock=None)
    with ReportQueue(tmp_path / "q.db") as q:
        rid = q.enqueue(report()).report_id
        emulator.delay(PATH, 10.0, method="POST")
        uploader = Uploader(q, client, grace=0.2)
        stop = asyncio.Event()
        task = asyncio.create_task(uploader.run(stop))
        for _ in range(200):
            if q.get(rid).state is P.INFLIGHT:
                break
            await asyncio.sleep(0.02)
        assert q.get(rid).state is P.INFLIGHT
        stop.set()
        await asyncio.wait_for(task, 5)
        got = q.get(rid)
        assert got.state is P.PENDING
        assert got.attempts == 1
        assert [a.outcome for a in q.history(rid)] == ["expired"]


def test_classification() -> None:
    def status(code: int, retry_after: float | None = None) -> HTTPStatusError:
        return HTTPStatusError("x", status_code=code, retry_after=retry_after)

    assert classify(status(413)).kind == "dead"
    assert classify(status(408)).kind == "retry"
    assert classify(status(404)).kind == "retry"
    assert classify(status(429, 3.0)).retry_after == 3.0
    assert classify(status(401)).kind == "auth"
    assert classify(TransportError("reset")).kind == "retry"
    assert classify(CircuitOpenError("open", key="k", retry_at=0.0)).kind == "retry"
    assert classify(RuntimeError("odd")).message == "RuntimeError: odd"
    assert classify(ConversionError("parse: bad")).message == "parse: bad"
    invalid = classify(ReportValidationError([ValidationIssue(path="sn", message="too long")]))
    assert invalid.kind == "dead"
    assert invalid.message.startswith("parse: ")
    assert "too long" in invalid.message


async def test_concurrency_must_be_positive(queue: ReportQueue, client: AsyncWATS) -> None:
    with pytest.raises(StationError, match="concurrency must be at least 1"):
        Uploader(queue, client, concurrency=0)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_submit_wsjf_sends_bytes_as_given(
    kind: str, client_factory: Callable[..., Any], emulator: FaultInjector, resolve: Any
) -> None:
    wats = client_factory(kind, retry=None)
    r = report()
    data = r.to_wsjf().replace(b'"sn"', b'  "sn"')
    assert await resolve(wats.report.submit_wsjf(data)) == r.id
    assert emulator.calls("POST", PATH)[-1].body == data
    emulator.fail(PATH, 200, method="POST", body={})  # a server that answers no id
    assert await resolve(wats.report.submit_wsjf(data.decode())) == r.id


async def test_stop_lets_the_running_upload_finish_and_starts_no_more(
    tmp_path: Path, client_factory: Callable[..., Any], emulator: FaultInjector
) -> None:
    client = client_factory("async", retry=None, clock=None)
    with ReportQueue(tmp_path / "q.db") as q:
        ids = [q.enqueue(report(f"S{i}")).report_id for i in range(3)]
        emulator.delay(PATH, 0.3, method="POST", count=None)
        uploader = Uploader(q, client, concurrency=1, grace=10.0)
        stop = asyncio.Event()
        task = asyncio.create_task(uploader.run(stop))
        for _ in range(200):
            if q.counts()[P.INFLIGHT]:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)
        states = sorted(str(q.get(i).state) for i in ids)
        assert states == ["done", "pending", "pending"]


async def test_run_survives_a_failing_queue(
    tmp_path: Path, client: AsyncWATS, emulator: FaultInjector, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ReportQueue(tmp_path / "q.db") as q:
        rid = q.enqueue(report()).report_id
        real_claim = q.claim
        calls: list[int] = []

        def flaky(n: int, *, lease_time: float) -> Any:
            calls.append(n)
            if len(calls) == 1:
                raise StationError("disk I/O error")
            return real_claim(n, lease_time=lease_time)

        monkeypatch.setattr(q, "claim", flaky)
        uploader = Uploader(q, client, idle_poll=0.05)
        stop = asyncio.Event()
        task = asyncio.create_task(uploader.run(stop))
        for _ in range(200):
            if q.get(rid).state is P.DONE:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)
        assert q.get(rid).state is P.DONE
        assert uploader.last_error == "disk I/O error"


async def test_the_window_refills_as_each_upload_finishes(
    queue: ReportQueue, client: AsyncWATS, emulator: FaultInjector
) -> None:
    for i in range(7):
        queue.enqueue(report(f"W{i}"))
    emulator.delay(PATH, 0.6, method="POST")  # the first upload to arrive is slow
    results: list[UploadResult] = []
    uploader = Uploader(queue, client, concurrency=2, on_result=results.append)
    assert await uploader.drain() == 7
    assert [r.outcome for r in results] == ["done"] * 7
    assert all(r.status_code == 200 and r.attempts == 1 for r in results)
    # Lock-step batches would wait for the slow one before starting the third upload;
    # the window keeps the other slot busy, so the six fast ones all finish first.
    assert results[-1].latency_s >= 0.6
    assert max(r.latency_s for r in results[:-1]) < 0.6
    assert queue.counts()[P.DONE] == 7
    assert uploader.submitted == 7


async def test_on_result_sees_failures_and_its_errors_are_logged(
    queue: ReportQueue,
    client: AsyncWATS,
    emulator: FaultInjector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rid = queue.enqueue(report()).report_id
    emulator.fail(PATH, 422, method="POST", body={"Message": "bad sn"})
    results: list[UploadResult] = []

    def hook(result: UploadResult) -> None:
        results.append(result)
        raise RuntimeError("hook broke")

    uploader = Uploader(queue, client, on_result=hook)
    assert await uploader.drain() == 0
    (result,) = results
    assert (result.report_id, result.outcome, result.status_code) == (rid, "dead", 422)
    assert "bad sn" in result.message
    assert result.latency_s > 0
    assert "on_result hook failed" in caplog.text
    assert queue.get(rid).state is P.DEAD


async def test_a_success_after_the_lease_was_taken_over_is_left_to_the_new_attempt(
    queue: ReportQueue,
    client: AsyncWATS,
    emulator: FaultInjector,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rid = queue.enqueue(report()).report_id
    emulator.delay(PATH, 1.0, method="POST")
    uploader = Uploader(queue, client, lease_time=1.0)
    task = asyncio.create_task(uploader.drain())
    for _ in range(200):
        if queue.get(rid).state is P.INFLIGHT:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # the POST is on its way, held by the delay
    clock.advance(2.0)  # the lease expires; another attempt takes the report
    (other,) = queue.claim(1, lease_time=60)
    assert await asyncio.wait_for(task, 5) == 0
    assert "its lease had expired" in caplog.text
    assert queue.get(rid).state is P.INFLIGHT  # the new attempt owns it
    queue.complete(other)
    assert queue.get(rid).state is P.DONE
    assert stored(emulator) == {rid}


async def test_a_failed_commit_of_successes_is_logged_and_resent_later(
    queue: ReportQueue,
    client: AsyncWATS,
    emulator: FaultInjector,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rid = queue.enqueue(report()).report_id

    real = queue.complete_and_claim

    def broken(claims: list[Any], n: int, **kwargs: Any) -> Any:
        if claims:  # recording the success fails; leasing alone still works
            raise StationError("disk I/O error")
        return real(claims, n, **kwargs)

    monkeypatch.setattr(queue, "complete_and_claim", broken)
    uploader = Uploader(queue, client, lease_time=5.0)
    assert await uploader.drain() == 0
    assert "could not record 1 delivered reports" in caplog.text
    assert queue.get(rid).state is P.INFLIGHT
    monkeypatch.undo()
    clock.advance(6.0)  # the lease expires: the report is sent again under the same id
    assert await uploader.drain() == 1
    assert queue.get(rid).state is P.DONE
    assert queue.get(rid).attempts == 2
    assert stored(emulator) == {rid}


async def test_reports_leased_ahead_too_long_are_given_back_not_sent_late(
    queue: ReportQueue, client: AsyncWATS, emulator: FaultInjector, clock: FakeClock
) -> None:
    ids = [queue.enqueue(report(f"L{i}")).report_id for i in range(2)]
    emulator.delay(PATH, 1.0, method="POST")  # the first upload is slow...
    uploader = Uploader(queue, client, concurrency=1, lease_time=10.0)
    task = asyncio.create_task(uploader.drain())
    for _ in range(200):
        if queue.counts()[P.INFLIGHT] == 2:  # one running, one leased ahead
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # the first upload has started (its POST takes 1 s)
    clock.advance(6.0)  # ...and meanwhile the lease of the waiting one is half gone
    assert await asyncio.wait_for(task, 10) == 2
    assert len(emulator.calls("POST", PATH)) == 2  # each sent once
    assert [a.outcome for a in queue.history(ids[0])] == ["done"]
    assert [a.outcome for a in queue.history(ids[1])] == ["expired", "done"]
    assert all(queue.get(i).state is P.DONE for i in ids)


async def test_unconfirmed_uploads_are_bounded(queue: ReportQueue, client: AsyncWATS) -> None:
    uploader = Uploader(queue, client, concurrency=2)
    assert uploader._room(1)
    assert not uploader._room(2)  # concurrency
    uploader._committing = 4
    uploader._acks = [(None, 0.0)] * 2  # type: ignore[list-item]
    assert uploader._room(1)  # 1 running + 6 delivered, not committed: 7 < 4 x 2
    uploader._acks.append((None, 0.0))  # type: ignore[arg-type]
    assert not uploader._room(1)  # 8 unconfirmed: a crash would re-send no more

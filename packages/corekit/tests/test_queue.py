"""corekit.queue: the same scenarios on memory and SQLite, through the sync and async faces."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import corekit.queue
from corekit.errors import (
    ConfigurationError,
    LeaseError,
    QueueClosedError,
    QueueError,
    QueueFullError,
)
from corekit.queue import (
    AsyncMemoryQueue,
    AsyncSQLiteQueue,
    MemoryQueue,
    QueueBase,
    QueueItem,
    QueueItemStatus,
    SQLiteQueue,
)
from corekit.testing import FakeClock

pytestmark = pytest.mark.anyio

PENDING = QueueItemStatus.PENDING
LEASED = QueueItemStatus.LEASED
DONE = QueueItemStatus.DONE
DEAD = QueueItemStatus.DEAD
HELD = QueueItemStatus.HELD


class SyncFace:
    """Drives a sync queue through awaitable methods, so one scenario covers both faces."""

    def __init__(self, queue: QueueBase) -> None:
        self.sync = queue

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call

    async def size(self) -> int:
        return len(self.sync)

    async def aclose(self) -> None:
        self.sync.close()


class Harness:
    """Builds queues of one kind (memory / sqlite) behind one face (sync / async)."""

    def __init__(self, kind: str, face: str, clock: FakeClock, tmp_path: Path) -> None:
        self.kind = kind
        self.face = face
        self.clock = clock
        self.path = tmp_path / "queue.db"
        self._opened: list[QueueBase] = []
        self.q = self.make()

    def make(self, **kwargs: Any) -> Any:
        kwargs.setdefault("clock", self.clock)
        if self.kind == "sqlite":
            kwargs.setdefault("name", f"q{len(self._opened)}")
            if self.face == "async":
                queue: Any = AsyncSQLiteQueue(self.path, **kwargs)
            else:
                queue = SyncFace(SQLiteQueue(self.path, **kwargs))
        elif self.face == "async":
            queue = AsyncMemoryQueue(**kwargs)
        else:
            queue = SyncFace(MemoryQueue(**kwargs))
        self._opened.append(queue.sync)
        return queue

    def close_all(self) -> None:
        for queue in self._opened:
            queue.close()


@pytest.fixture(params=["memory-sync", "memory-async", "sqlite-sync", "sqlite-async"])
def h(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> Iterator[Harness]:
    kind, face = request.param.split("-")
    harness = Harness(kind, face, clock, tmp_path)
    yield harness
    harness.close_all()


def test_public_names() -> None:
    public = sorted(n for n in vars(corekit.queue) if not n.startswith("_"))
    assert corekit.queue.__all__ == sorted(corekit.queue.__all__)
    assert set(corekit.queue.__all__) == set(public) - {"annotations"}


async def test_put_lease_ack(h: Harness) -> None:
    now = h.clock.time()
    put = await h.q.put({"report": 1, "tags": ("a", "b")})
    assert put.status is PENDING
    assert put.payload == {"report": 1, "tags": ["a", "b"]}
    assert (put.attempts, put.max_attempts, put.priority, put.key) == (0, 5, 0, None)
    assert put.not_before == put.created_at == put.updated_at == now
    assert put.lease_token is None
    assert put.lease_expires_at is None
    assert await h.q.size() == 1

    h.clock.advance(1.0)
    (leased,) = await h.q.lease()
    assert leased.id == put.id
    assert leased.status is LEASED
    assert leased.attempts == 1
    assert leased.lease_token
    assert leased.lease_expires_at == now + 1.0 + 60.0
    assert leased.payload == put.payload
    assert await h.q.lease() == []

    await h.q.ack(leased)
    done = await h.q.get(put.id)
    assert done is not None
    assert done.status is DONE
    assert done.lease_expires_at is None
    assert done.lease_token == leased.lease_token  # the lease that finished it
    assert await h.q.size() == 0
    assert await h.q.counts() == {PENDING: 0, LEASED: 0, DONE: 1, DEAD: 0, HELD: 0}
    assert await h.q.get(put.id + 100) is None


async def test_payload_is_a_copy(h: Harness) -> None:
    payload: dict[str, Any] = {"values": [1, 2]}
    await h.q.put(payload)
    payload["values"].append(3)
    (item,) = await h.q.lease()
    assert item.payload == {"values": [1, 2]}
    assert item.payload is item.payload  # decoded once per snapshot
    assert item.payload_json == '{"values":[1,2]}'


async def test_priority_then_due_time_then_age(h: Harness) -> None:
    low = await h.q.put("low", priority=-1)
    first = await h.q.put("first")
    high = await h.q.put("high", priority=5)
    second = await h.q.put("second")
    late = await h.q.put("late", priority=9, delay=30.0)
    leased = await h.q.lease(10)
    assert [i.id for i in leased] == [high.id, first.id, second.id, low.id]
    assert late.id not in {i.id for i in leased}
    assert len({i.lease_token for i in leased}) == 1  # one grant


async def test_lease_n_takes_at_most_n(h: Harness) -> None:
    for i in range(5):
        await h.q.put(i)
    assert [i.payload for i in await h.q.lease(2)] == [0, 1]
    assert [i.payload for i in await h.q.lease(2)] == [2, 3]
    assert [i.payload for i in await h.q.lease(2)] == [4]


async def test_not_before_delay(h: Harness) -> None:
    item = await h.q.put("later", delay=10.0)
    assert item.not_before == h.clock.time() + 10.0
    assert await h.q.next_ready_at() == item.not_before
    h.clock.advance(9.5)
    assert await h.q.lease() == []
    h.clock.advance(0.5)
    (leased,) = await h.q.lease()
    assert leased.id == item.id


async def test_same_key_twice_is_a_no_op(h: Harness) -> None:
    first = await h.q.put({"v": 1}, key="report-1", priority=3)
    again = await h.q.put({"v": 2}, key="report-1", priority=7)
    assert again == first
    assert again.payload == {"v": 1}
    assert await h.q.size() == 1
    (leased,) = await h.q.lease()
    await h.q.ack(leased)
    # Still a no-op while the done row is kept: an uploaded report is not uploaded twice.
    assert (await h.q.put({"v": 3}, key="report-1")).status is DONE
    assert await h.q.lease() == []


async def test_purge_done_frees_keys_and_keeps_the_newest(h: Harness) -> None:
    a = await h.q.put("a", key="a")
    b = await h.q.put("b", key="b")
    for item in await h.q.lease(2):
        await h.q.ack(item)
    h.clock.advance(100.0)
    assert await h.q.purge_done(older_than=200.0) == 0
    assert await h.q.purge_done(older_than=50.0) == 1  # b is the newest: kept
    assert await h.q.get(a.id) is None
    assert await h.q.get(b.id) is not None
    again = await h.q.put("a2", key="a")
    assert again.id > b.id
    assert again.status is PENDING


async def test_attempts_only_grow(h: Harness) -> None:
    q = h.make(max_attempts=3)
    item = await q.put("x")
    (a,) = await q.lease(lease_time=5.0)
    assert a.attempts == 1
    await q.nack(a, delay=0.0)
    (b,) = await q.lease(lease_time=5.0)
    assert b.attempts == 2
    h.clock.advance(5.0)  # lease expires: recovered, leased again
    (c,) = await q.lease(lease_time=5.0)
    assert c.attempts == 3
    await q.nack(c)
    dead = await q.get(item.id)
    assert dead.status is DEAD
    assert dead.attempts == 3
    assert await q.requeue(item.id) == 1
    requeued = await q.get(item.id)
    assert requeued.attempts == 3
    (d,) = await q.lease()
    assert d.attempts == 4


async def test_nack_backs_off(h: Harness) -> None:
    q = h.make(max_attempts=10)
    item = await q.put("x")
    expected = [1.0, 2.0, 4.0, 8.0]
    for wait in expected:
        (leased,) = await q.lease()
        now = h.clock.time()
        await q.nack(leased, error="boom")
        stored = await q.get(item.id)
        assert stored.status is PENDING
        assert stored.not_before == now + wait
        assert stored.lease_token is None
        assert stored.lease_expires_at is None
        assert stored.last_error == "boom"
        assert await q.lease() == []
        h.clock.advance(wait)


async def test_default_backoff_is_capped_at_five_minutes(h: Harness) -> None:
    q = h.make(max_attempts=100)
    item = await q.put("x")
    for _ in range(12):
        (leased,) = await q.lease()
        await q.nack(leased)
        h.clock.advance((await q.get(item.id)).not_before - h.clock.time())
    stored = await q.get(item.id)
    assert stored.attempts == 12
    (leased,) = await q.lease()
    now = h.clock.time()
    await q.nack(leased)
    assert (await q.get(item.id)).not_before == now + 300.0


async def test_nack_with_explicit_delay_and_custom_backoff(h: Harness) -> None:
    q = h.make(backoff=lambda attempts: 10.0 * attempts)
    item = await q.put("x")
    (leased,) = await q.lease()
    now = h.clock.time()
    await q.nack(leased)
    assert (await q.get(item.id)).not_before == now + 10.0
    h.clock.advance(10.0)
    (leased,) = await q.lease()
    await q.nack(leased, delay=0.5, error=None)
    stored = await q.get(item.id)
    assert stored.not_before == h.clock.time() + 0.5
    assert stored.last_error is None


async def test_bad_backoff_value_is_refused(h: Harness) -> None:
    q = h.make(backoff=lambda attempts: -1.0)
    await q.put("x")
    (leased,) = await q.lease()
    with pytest.raises(ConfigurationError, match="backoff"):
        await q.nack(leased)
    assert (await q.get(leased.id)).status is LEASED  # nothing changed


async def test_last_error_is_truncated(h: Harness) -> None:
    await h.q.put("x")
    (leased,) = await h.q.lease()
    await h.q.nack(leased, error="e" * 10_000)
    stored = await h.q.get(leased.id)
    assert len(stored.last_error) == 2048
    assert stored.last_error.endswith("...[truncated]")


async def test_nack_keeps_the_previous_error_when_none_is_given(h: Harness) -> None:
    await h.q.put("x")
    (leased,) = await h.q.lease()
    await h.q.nack(leased, error=RuntimeError("first"), delay=0.0)
    (leased,) = await h.q.lease()
    await h.q.nack(leased, delay=0.0)
    assert (await h.q.get(leased.id)).last_error == "first"


async def test_dead_letter_after_max_attempts(h: Harness) -> None:
    q = h.make(max_attempts=2)
    item = await q.put("poison")
    (a,) = await q.lease()
    await q.nack(a, error="first", delay=0.0)
    (b,) = await q.lease()
    await q.nack(b, error="second", delay=0.0)
    dead = await q.get(item.id)
    assert dead.status is DEAD
    assert dead.last_error == "second"
    assert await q.lease() == []
    assert [i.id for i in await q.dead_letters()] == [item.id]
    assert await q.size() == 0
    assert (await q.counts())[DEAD] == 1


async def test_per_item_max_attempts(h: Harness) -> None:
    item = await h.q.put("once", max_attempts=1)
    (leased,) = await h.q.lease()
    await h.q.nack(leased, delay=0.0)
    assert (await h.q.get(item.id)).status is DEAD


async def test_nack_dead_now(h: Harness) -> None:
    item = await h.q.put("bad request")
    (leased,) = await h.q.lease()
    await h.q.nack(leased, error="422", dead=True)
    stored = await h.q.get(item.id)
    assert stored.status is DEAD
    assert stored.attempts == 1


async def test_requeue(h: Harness) -> None:
    q = h.make(max_attempts=1)
    a = await q.put("a")
    b = await q.put("b")
    pending = await q.put("c", delay=100.0)
    for leased in await q.lease(2):
        await q.nack(leased)
    h.clock.advance(7.0)
    assert await q.requeue([a, b.id, pending.id, 999]) == 2  # only dead ones count
    for item_id in (a.id, b.id):
        stored = await q.get(item_id)
        assert stored.status is PENDING
        assert stored.attempts == 1
        assert stored.max_attempts == 2  # attempts + the queue's max_attempts
        assert stored.not_before == h.clock.time()
    assert [i.id for i in await q.lease(5)] == [a.id, b.id]


async def test_requeue_extra_attempts(h: Harness) -> None:
    q = h.make(max_attempts=1)
    item = await q.put("a")
    (leased,) = await q.lease()
    await q.nack(leased, dead=True)
    assert await q.requeue(item.id, extra_attempts=3) == 1
    assert (await q.get(item.id)).max_attempts == 4
    assert await q.requeue(item.id) == 0  # not dead any more


async def test_expired_lease_is_recovered(h: Harness) -> None:
    item = await h.q.put("x")
    (first,) = await h.q.lease(lease_time=30.0)
    h.clock.advance(29.0)
    assert await h.q.lease() == []
    assert await h.q.recover_expired() == 0
    h.clock.advance(1.0)
    assert await h.q.next_ready_at() == first.lease_expires_at
    assert await h.q.recover_expired() == 1
    stored = await h.q.get(item.id)
    assert stored.status is PENDING
    assert stored.lease_token is None
    (second,) = await h.q.lease()
    assert second.lease_token != first.lease_token
    with pytest.raises(LeaseError, match="leased again"):
        await h.q.ack(first)
    with pytest.raises(LeaseError):
        await h.q.nack(first)
    with pytest.raises(LeaseError):
        await h.q.extend(first)
    await h.q.ack(second)


async def test_lease_recovers_expired_leases_first(h: Harness) -> None:
    old = await h.q.put("old")
    (leased,) = await h.q.lease(lease_time=5.0)
    newer = await h.q.put("newer")
    h.clock.advance(5.0)
    # The recovered item was due first, so it goes first.
    assert [i.id for i in await h.q.lease(2)] == [old.id, newer.id]
    assert leased.id == old.id


async def test_late_ack_of_an_expired_but_untouched_lease_succeeds(h: Harness) -> None:
    await h.q.put("x")
    (leased,) = await h.q.lease(lease_time=5.0)
    h.clock.advance(60.0)
    await h.q.ack(leased)  # nobody recovered or re-leased it: the work is not redone
    assert (await h.q.get(leased.id)).status is DONE


async def test_stale_and_forged_tokens_and_double_ack(h: Harness) -> None:
    await h.q.put("x")
    (leased,) = await h.q.lease()
    forged = dataclasses.replace(leased, lease_token="f" * 32)
    with pytest.raises(LeaseError):
        await h.q.ack(forged)
    with pytest.raises(LeaseError):
        await h.q.ack(dataclasses.replace(leased, lease_token=None))
    await h.q.ack(leased)
    with pytest.raises(LeaseError, match="already acknowledged"):
        await h.q.ack(leased)
    with pytest.raises(LeaseError, match="already acknowledged"):
        await h.q.nack(leased)
    ghost = dataclasses.replace(leased, id=leased.id + 1000)
    with pytest.raises(LeaseError, match="not in the queue"):
        await h.q.ack(ghost)
    assert (await h.q.get(leased.id)).status is DONE


async def test_nacked_item_cannot_be_acked(h: Harness) -> None:
    await h.q.put("x")
    (leased,) = await h.q.lease()
    await h.q.nack(leased)
    with pytest.raises(LeaseError, match="pending"):
        await h.q.ack(leased)
    with pytest.raises(LeaseError):
        await h.q.ack(await h.q.get(leased.id))  # a pending snapshot holds no lease


async def test_extend(h: Harness) -> None:
    await h.q.put("x")
    (leased,) = await h.q.lease(lease_time=10.0)
    h.clock.advance(8.0)
    renewed = await h.q.extend(leased, 10.0)
    assert renewed.lease_expires_at == h.clock.time() + 10.0
    assert renewed.lease_token == leased.lease_token
    h.clock.advance(8.0)  # past the first expiry, within the renewed one
    assert await h.q.lease() == []
    assert await h.q.recover_expired() == 0
    await h.q.ack(renewed)
    assert (await h.q.counts())[DONE] == 1


async def test_capacity_refusal_stores_nothing(h: Harness) -> None:
    q = h.make(capacity=2)
    await q.put("a", key="a")
    await q.put("b")
    before = await q.counts()
    with pytest.raises(QueueFullError, match=r"capacity is 2") as info:
        await q.put("c", key="c")
    assert "2 items are pending, leased or held" in str(info.value)
    assert await q.counts() == before
    assert (await q.put("again", key="a")).payload == "a"  # a known key is still a no-op
    (leased,) = await q.lease()  # leased items still count
    with pytest.raises(QueueFullError):
        await q.put("c")
    await q.ack(leased)
    assert (await q.put("c", key="c")).status is PENDING  # done ones do not
    assert await q.size() == 2


async def test_dead_items_do_not_count_against_capacity(h: Harness) -> None:
    q = h.make(capacity=1)
    await q.put("a")
    (leased,) = await q.lease()
    await q.nack(leased, dead=True)
    await q.put("b")
    assert await q.size() == 1


@pytest.mark.parametrize(
    ("payload", "named"),
    [({1, 2}, "set"), ({"when": object()}, "object"), (b"bytes", "bytes")],
)
async def test_payload_must_be_json(h: Harness, payload: object, named: str) -> None:
    with pytest.raises(ConfigurationError, match=f"'{named}'"):
        await h.q.put(payload)
    assert await h.q.counts() == {PENDING: 0, LEASED: 0, DONE: 0, DEAD: 0, HELD: 0}


@pytest.mark.parametrize("payload", [math.nan, {"x": math.inf}, {(1, 2): "tuple key"}])
async def test_payload_must_be_strict_json(h: Harness, payload: object) -> None:
    with pytest.raises(ConfigurationError, match="not a JSON value"):
        await h.q.put(payload)
    assert await h.q.size() == 0


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "named"),
    [
        ("put", ("x",), {"priority": True}, "priority"),
        ("put", ("x",), {"priority": 1.5}, "priority"),
        ("put", ("x",), {"delay": -1}, "delay"),
        ("put", ("x",), {"delay": math.inf}, "delay"),
        ("put", ("x",), {"key": ""}, "key"),
        ("put", ("x",), {"key": 7}, "key"),
        ("put", ("x",), {"max_attempts": 0}, "max_attempts"),
        # Beyond what SQLite's 64-bit integers hold (it used to fail with OverflowError).
        ("put", ("x",), {"priority": 2**63}, "priority"),
        ("put", ("x",), {"priority": -(2**63) - 1}, "priority"),
        ("put", ("x",), {"max_attempts": 2**63}, "max_attempts"),
        ("lease", (2**63,), {}, "n"),
        ("items", (), {"limit": 2**64}, "limit"),
        ("requeue", (1,), {"extra_attempts": 2**63}, "extra_attempts"),
        # A file name that is not UTF-8, decoded by os.fsdecode (used to be UnicodeEncodeError).
        ("put", ("x",), {"key": "report-\udce4.xml"}, "key"),
        ("lease", (0,), {}, "n"),
        ("lease", (1,), {"lease_time": 0}, "lease_time"),
        ("lease_wait", (1,), {"poll_interval": 0}, "poll_interval"),
        ("lease_wait", (1,), {"timeout": -1}, "timeout"),
        ("ack", ("not an item",), {}, "item"),
        ("nack", (None,), {}, "item"),
        ("requeue", ("seven",), {}, "item_ids"),
        ("requeue", ([1, "2"],), {}, "item_ids"),
        ("requeue", (1,), {"extra_attempts": 0}, "extra_attempts"),
        ("purge_done", (-1,), {}, "older_than"),
        ("get", ("1",), {}, "item_id"),
        ("items", ("busy",), {}, "status"),
        ("items", (), {"limit": -1}, "limit"),
    ],
)
async def test_bad_arguments(
    h: Harness, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        await getattr(h.q, method)(*args, **kwargs)
    assert await h.q.size() == 0


async def test_largest_accepted_ints_work(h: Harness) -> None:
    big = 2**62
    low = await h.q.put("low", priority=-big, max_attempts=big)
    high = await h.q.put("high", priority=big)
    assert [i.id for i in await h.q.lease(big)] == [high.id, low.id]
    assert len(await h.q.items(limit=big)) == 2
    assert (await h.q.get(low.id)).max_attempts == big  # type: ignore[union-attr]
    assert await h.q.get(2**63) is None
    assert await h.q.get(-(2**70)) is None
    assert await h.q.requeue([2**63, low]) == 0  # not dead: skipped, like an unknown id


async def test_error_text_that_utf8_cannot_encode_is_stored_escaped(h: Harness) -> None:
    await h.q.put("x")
    (leased,) = await h.q.lease()
    name = os.fsdecode(b"/data/r\xe4port.xml")  # not UTF-8: decodes to a lone surrogate
    await h.q.nack(leased, error=f"cannot parse {name}")
    stored = await h.q.get(leased.id)
    assert stored.status is PENDING
    assert stored.last_error == "cannot parse /data/r\\udce4port.xml"


async def test_lease_expiring_on_the_last_attempt_dead_letters(h: Harness) -> None:
    # A report whose processing kills the consumer must not be leased after every restart.
    q = h.make(max_attempts=2, lease_time=5.0)
    poison = await q.put("poison", priority=1)
    other = await q.put("other")
    await q.lease()  # attempt 1: the consumer dies
    h.clock.advance(5.0)
    (again,) = await q.lease()  # attempt 1 was not the last: recovered and leased again
    assert (again.id, again.attempts) == (poison.id, 2)
    h.clock.advance(5.0)  # attempt 2, the last, dies too
    (leased,) = await q.lease()
    assert leased.id == other.id
    dead = await q.get(poison.id)
    assert dead.status is DEAD
    assert dead.attempts == 2
    assert dead.lease_token is None
    assert dead.lease_expires_at is None
    assert "lease expired on its last attempt" in dead.last_error
    assert [i.id for i in await q.dead_letters()] == [poison.id]
    with pytest.raises(LeaseError, match="dead"):
        await q.ack(again)
    # recover_expired() applies the same rule and counts it.
    await q.ack(leased)
    third = await q.put("third", max_attempts=1)
    assert [i.id for i in await q.lease(lease_time=1.0)] == [third.id]
    h.clock.advance(1.0)
    assert await q.recover_expired() == 1
    assert (await q.get(third.id)).status is DEAD
    assert await q.requeue(poison.id) == 1  # an operator gives it a fresh budget
    assert (await q.get(poison.id)).status is PENDING


async def test_ack_and_lease_dead_letters_an_expired_last_attempt(h: Harness) -> None:
    q = h.make(max_attempts=1)
    first = await q.put("first")
    crashed = await q.put("crashed")
    (a,) = await q.lease(lease_time=10.0)
    (b,) = await q.lease(lease_time=1.0)
    assert (a.id, b.id) == (first.id, crashed.id)
    h.clock.advance(2.0)
    assert await q.ack_and_lease(a) == []
    assert (await q.get(crashed.id)).status is DEAD


def test_expired_last_attempt_is_dead_lettered_on_open(db: Path, clock: FakeClock) -> None:
    with open_queue(db, clock, max_attempts=1) as q:
        item = q.put("x")
        q.lease(lease_time=10.0)
    clock.advance(10.0)
    with open_queue(db, clock) as q:
        assert q.counts() == {PENDING: 0, LEASED: 0, DONE: 0, DEAD: 1, HELD: 0}
        assert q.get(item.id).status is DEAD  # type: ignore[union-attr]


def test_too_old_sqlite_is_refused_with_a_clear_error(
    db: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(QueueError, match=r"SQLite >= 3\.35.*3\.34\.1"):
        open_queue(db, clock)
    assert not db.exists()


async def test_bad_item_arguments_on_a_leased_item(h: Harness) -> None:
    await h.q.put("x")
    (leased,) = await h.q.lease()
    with pytest.raises(ConfigurationError, match="delay"):
        await h.q.nack(leased, delay=-2)
    with pytest.raises(ConfigurationError, match="lease_time"):
        await h.q.extend(leased, 0)
    assert (await h.q.get(leased.id)).status is LEASED


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"lease_time": -5}, "lease_time"),
        ({"capacity": 0}, "capacity"),
        ({"backoff": 3}, "backoff"),
    ],
)
async def test_bad_constructor_arguments(h: Harness, kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        h.make(**kwargs)


async def test_closed_queue_refuses_every_call(h: Harness) -> None:
    await h.q.put("x")
    (leased,) = await h.q.lease()
    await h.q.aclose()
    await h.q.aclose()  # twice is fine
    assert h.q.closed
    calls: list[tuple[str, tuple[Any, ...]]] = [
        ("put", ("y",)),
        ("lease", ()),
        ("lease_wait", ()),
        ("ack", (leased,)),
        ("nack", (leased,)),
        ("extend", (leased,)),
        ("requeue", (1,)),
        ("recover_expired", ()),
        ("purge_done", ()),
        ("get", (1,)),
        ("counts", ()),
        ("items", ()),
        ("dead_letters", ()),
        ("next_ready_at", ()),
        ("size", ()),
    ]
    for method, args in calls:
        with pytest.raises(QueueClosedError, match="closed"):
            await getattr(h.q, method)(*args)


async def test_context_managers_close(h: Harness) -> None:
    q = h.make()
    if h.face == "async":
        async with q as entered:
            assert entered is q
            await q.put("x")
    else:
        with q.sync as entered:
            assert entered is q.sync
    assert q.closed
    with pytest.raises(QueueClosedError):
        await q.put("y")


async def test_items_and_views(h: Harness) -> None:
    q = h.make(max_attempts=1)
    ids = [(await q.put(i)).id for i in range(4)]
    (a, b) = await q.lease(2)
    await q.ack(a)
    await q.nack(b)
    assert [i.id for i in await q.items()] == ids
    assert [i.id for i in await q.items(limit=2)] == ids[:2]
    assert [i.id for i in await q.items(limit=None)] == ids
    assert [i.id for i in await q.items("pending")] == ids[2:]
    assert [i.id for i in await q.items(DONE)] == [a.id]
    assert [i.id for i in await q.dead_letters(limit=5)] == [b.id]
    assert await q.items(LEASED) == []
    assert await q.counts() == {PENDING: 2, LEASED: 0, DONE: 1, DEAD: 1, HELD: 0}
    assert await q.size() == 2


async def test_next_ready_at(h: Harness) -> None:
    assert await h.q.next_ready_at() is None
    later = await h.q.put("later", delay=50.0)
    assert await h.q.next_ready_at() == later.not_before
    await h.q.put("now")
    (leased,) = await h.q.lease(lease_time=20.0)
    assert await h.q.next_ready_at() == leased.lease_expires_at
    await h.q.ack(leased)
    assert await h.q.next_ready_at() == later.not_before


async def test_lease_wait_sleeps_until_due(h: Harness) -> None:
    item = await h.q.put("x", delay=0.3)
    start = h.clock.time()
    (leased,) = await h.q.lease_wait(poll_interval=0.5)
    assert leased.id == item.id
    assert h.clock.time() == pytest.approx(start + 0.3)
    assert h.clock.sleeps == [pytest.approx(0.3)]


async def test_lease_wait_polls_at_most_poll_interval(h: Harness) -> None:
    await h.q.put("x", delay=2.0)
    (leased,) = await h.q.lease_wait(poll_interval=0.5)
    assert leased.payload == "x"
    assert sum(h.clock.sleeps) == pytest.approx(2.0)
    assert max(h.clock.sleeps) <= 0.5


async def test_lease_wait_times_out_empty(h: Harness) -> None:
    start = h.clock.monotonic()
    assert await h.q.lease_wait(poll_interval=0.4, timeout=1.0) == []
    assert h.clock.monotonic() - start == pytest.approx(1.0)
    assert h.clock.sleeps == [pytest.approx(0.4), pytest.approx(0.4), pytest.approx(0.2)]
    assert await h.q.lease_wait(timeout=0) == []


async def test_lease_wait_waits_for_an_expiring_lease(h: Harness) -> None:
    await h.q.put("x")
    (first,) = await h.q.lease(lease_time=1.5)
    (second,) = await h.q.lease_wait(poll_interval=10.0)
    assert second.id == first.id
    assert second.attempts == 2
    assert h.clock.sleeps == [pytest.approx(1.5)]


def test_queue_item_repr_hides_the_payload() -> None:
    item = QueueItem(1, '{"secret":"x"}', None, 0, PENDING, 0, 5, 1.0, 1.0, 1.0, None, None, None)
    assert "secret" not in repr(item)
    assert item.payload == {"secret": "x"}


def test_status_values() -> None:
    assert [s.value for s in QueueItemStatus] == ["pending", "leased", "done", "dead", "held"]
    assert QueueItemStatus("dead") is DEAD
    assert f"{LEASED}" == "leased"


# --- SQLite only ----------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


def open_queue(db: Path, clock: FakeClock, **kwargs: Any) -> SQLiteQueue:
    return SQLiteQueue(db, clock=clock, **kwargs)


def test_reopen_keeps_items_statuses_and_attempts(db: Path, clock: FakeClock) -> None:
    with open_queue(db, clock, max_attempts=2) as q:
        done = q.put({"n": 1}, key="done")
        dead = q.put({"n": 2}, key="dead")
        waiting = q.put({"n": 3}, key="waiting", priority=4, delay=100.0)
        (a,) = q.lease()
        q.ack(a)
        (b,) = q.lease()
        q.nack(b, error="x", delay=0.0)
        (b,) = q.lease()
        q.nack(b, error="y")
        before = {i.id: i for i in q.items(limit=None)}
    assert (a.id, b.id) == (done.id, dead.id)
    with open_queue(db, clock) as q:
        after = {i.id: i for i in q.items(limit=None)}
        assert after == before
        assert after[dead.id].attempts == 2
        assert after[dead.id].last_error == "y"
        assert after[waiting.id].priority == 4
        assert after[waiting.id].payload == {"n": 3}
        assert q.put({"n": 9}, key="done").id == done.id
        assert q.integrity_check() == ["ok"]


def test_expired_leases_recover_on_open(db: Path, clock: FakeClock) -> None:
    with open_queue(db, clock) as q:
        item = q.put("x")
        (leased,) = q.lease(lease_time=10.0)
        q.put("y")
        q.lease(lease_time=100.0)
    clock.advance(10.0)
    with open_queue(db, clock) as q:
        assert q.counts()[PENDING] == 1
        assert q.counts()[LEASED] == 1
        stored = q.get(item.id)
        assert stored is not None
        assert stored.status is PENDING
        assert stored.attempts == 1
        with pytest.raises(LeaseError):
            q.ack(leased)


def test_two_objects_on_one_file_never_lease_the_same_item(db: Path) -> None:
    import threading

    total = 300
    with SQLiteQueue(db) as producer:
        for i in range(total):
            producer.put(i)
    seen: list[list[int]] = [[], [], []]
    errors: list[BaseException] = []

    def consume(slot: int) -> None:
        try:
            with SQLiteQueue(db, busy_timeout=30.0) as q:
                while items := q.lease(3):
                    for item in items:
                        seen[slot].append(item.id)
                        q.ack(item)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    every = [i for ids in seen for i in ids]
    assert len(every) == total
    assert len(set(every)) == total
    with SQLiteQueue(db) as q:
        assert q.counts()[DONE] == total


def test_two_connections_see_each_others_changes(db: Path, clock: FakeClock) -> None:
    with open_queue(db, clock) as a, open_queue(db, clock) as b:
        item = a.put("x", key="k")
        assert b.put("other", key="k") == item
        (leased,) = b.lease()
        assert a.lease() == []
        with pytest.raises(LeaseError):
            a.ack(dataclasses.replace(leased, lease_token="nope"))
        a.ack(leased)  # the token, not the connection, holds the lease
        assert b.get(item.id).status is DONE  # type: ignore[union-attr]


def test_named_queues_share_a_file(db: Path, clock: FakeClock) -> None:
    with open_queue(db, clock, name="uploads") as a, open_queue(db, clock, name="mails") as b:
        a.put("upload")
        assert b.lease() == []
        assert len(a) == 1
        assert len(b) == 0


def test_schema_version_is_recorded_and_checked(db: Path, clock: FakeClock) -> None:
    import sqlite3

    open_queue(db, clock).close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("PRAGMA user_version = 99")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(ConfigurationError, match="schema version 99"):
        open_queue(db, clock)


def test_synchronous_setting(db: Path, clock: FakeClock) -> None:
    with open_queue(db, clock, synchronous="NORMAL") as q:
        assert q._conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    with open_queue(db, clock) as q:
        assert q._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    with pytest.raises(ConfigurationError, match="synchronous"):
        open_queue(db, clock, synchronous="OFF")


@pytest.mark.parametrize("name", ["", "1abc", "drop table", 'q"', "x" * 64, None])
def test_bad_table_name(db: Path, clock: FakeClock, name: Any) -> None:
    with pytest.raises(ConfigurationError, match="name"):
        open_queue(db, clock, name=name)


def test_missing_directory(tmp_path: Path, clock: FakeClock) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        open_queue(tmp_path / "nope" / "q.db", clock)


def test_not_a_database(db: Path, clock: FakeClock) -> None:
    db.write_bytes(b"this is not a database" * 200)
    with pytest.raises(QueueError, match="SQLite failed"):
        open_queue(db, clock)


def test_locked_database_is_a_queue_error(db: Path, clock: FakeClock) -> None:
    import sqlite3

    with open_queue(db, clock, busy_timeout=0.0) as q:
        q.put("x")
        blocker = sqlite3.connect(db, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            for call in (lambda: q.put("y"), q.lease, lambda: q.put("z", key="z")):
                with pytest.raises(QueueError, match="locked"):
                    call()
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        assert [i.payload for i in q.lease(5)] == ["x"]


async def test_async_wrap_shares_the_queue(db: Path, clock: FakeClock) -> None:
    sync = open_queue(db, clock)
    q = AsyncSQLiteQueue.wrap(sync)
    assert "queue.db" in repr(q)
    await q.put("x")
    assert len(sync) == 1
    assert q.sync is sync
    assert q.clock is clock
    assert q.name == "queue"
    await q.aclose()
    assert sync.closed
    memory = AsyncMemoryQueue.wrap(MemoryQueue(clock=clock))
    await memory.put("y")
    assert len(memory.sync) == 1
    assert "AsyncMemoryQueue" in repr(memory)


def test_reprs(db: Path, clock: FakeClock) -> None:
    with open_queue(db, clock) as q:
        assert repr(q) == f"SQLiteQueue({str(db)!r}, name='queue')"
    assert repr(MemoryQueue(name="m")) == "MemoryQueue(name='m', items=0)"


def test_queues_are_query_base_instances(db: Path, clock: FakeClock) -> None:
    makers: list[Callable[[], QueueBase]] = [
        lambda: MemoryQueue(clock=clock),
        lambda: open_queue(db, clock),
    ]
    for make in makers:
        with make() as q:
            assert isinstance(q, QueueBase)


async def test_ack_and_lease_acks_and_leases_in_one_step(h: Harness) -> None:
    first = await h.q.put({"n": 1}, priority=1)
    second = await h.q.put({"n": 2})
    third = await h.q.put({"n": 3})
    (leased,) = await h.q.lease()
    assert leased.id == first.id
    nxt = await h.q.ack_and_lease(leased, 2, lease_time=5.0)
    assert [i.id for i in nxt] == [second.id, third.id]
    assert all(i.status is LEASED and i.attempts == 1 for i in nxt)
    assert nxt[0].lease_expires_at == h.clock.time() + 5.0
    assert (await h.q.get(first.id)).status is DONE
    assert await h.q.ack_and_lease(nxt[0]) == []
    assert await h.q.ack_and_lease(nxt[1]) == []
    assert (await h.q.counts())[DONE] == 3


async def test_ack_and_lease_with_a_stale_lease_leases_nothing(h: Harness) -> None:
    await h.q.put({"n": 1})
    waiting = await h.q.put({"n": 2})
    (leased,) = await h.q.lease(lease_time=1.0)
    h.clock.advance(2.0)
    (again,) = await h.q.lease()  # the expired lease was recovered and leased anew
    assert again.id == leased.id
    with pytest.raises(LeaseError):
        await h.q.ack_and_lease(leased)
    # Nothing was acked and nothing else was leased.
    assert (await h.q.get(leased.id)).status is LEASED
    assert (await h.q.get(waiting.id)).status is PENDING
    assert (await h.q.counts())[DONE] == 0

"""corekit.queue additions: key lookup, retry_now, hold/release, history, meta, on_dead, count.

Each scenario runs on the memory and the SQLite queue, through the sync and the async face.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corekit.errors import ConfigurationError, QueueError, QueueFullError
from corekit.queue import (
    AsyncMemoryQueue,
    AsyncSQLiteQueue,
    HistoryEntry,
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


class Harness:
    def __init__(self, kind: str, face: str, clock: FakeClock, tmp_path: Path) -> None:
        self.kind = kind
        self.face = face
        self.clock = clock
        self.path = tmp_path / "queue.db"
        self._opened: list[QueueBase] = []

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


async def test_get_by_key(h: Harness) -> None:
    q = h.make()
    put = await q.put({"n": 1}, key="report-1")
    found = await q.get_by_key("report-1")
    assert found is not None
    assert found.id == put.id
    assert found.payload == {"n": 1}
    assert await q.get_by_key("other") is None
    with pytest.raises(ConfigurationError, match="key must be"):
        await q.get_by_key(None)
    with pytest.raises(ConfigurationError, match="key must be"):
        await q.get_by_key("")


async def test_retry_now_cuts_a_back_off_short(h: Harness) -> None:
    q = h.make()
    a = await q.put("a")
    b = await q.put("b")
    for item in await q.lease(2):
        await q.nack(item, error="busy", delay=100.0)
    assert await q.waiting_count() == 2
    assert await q.lease() == []
    assert await q.retry_now([a.id]) == 1
    assert await q.waiting_count() == 1
    leased = await q.lease(2)
    assert [i.id for i in leased] == [a.id]  # leased once, though its old due time is stale
    assert await q.retry_now() == 1
    assert await q.retry_now() == 0  # nothing is waiting any more
    assert [i.id for i in await q.lease(2)] == [b.id]
    assert await q.lease(2) == []


async def test_retry_now_skips_items_that_are_not_waiting(h: Harness) -> None:
    q = h.make()
    ready = await q.put("ready")
    assert await q.retry_now(ready) == 0
    assert await q.retry_now([12345]) == 0
    assert (await q.counts())[PENDING] == 1


async def test_hold_and_release(h: Harness) -> None:
    q = h.make()
    a = await q.put("a")
    b = await q.put("b", delay=50.0)
    assert await q.hold([a.id, b.id, 999]) == 2
    counts = await q.counts()
    assert counts[HELD] == 2
    assert counts[PENDING] == 0
    assert await q.lease() == []
    assert await q.next_ready_at() is None
    h.clock.advance(60.0)
    assert await q.lease() == []  # held items are never leased, due or not
    assert await q.hold(a) == 0  # already held
    assert await q.release(a) == 1
    assert await q.release(a) == 0
    leased = await q.lease(5)
    assert [i.id for i in leased] == [a.id]
    assert await q.hold(leased[0]) == 0  # a leased item is in progress: not held
    assert await q.release([b.id]) == 1
    item = await q.get(b.id)
    assert item.status is PENDING
    assert item.not_before == h.clock.time()  # released items are ready now
    actions = [e.action for e in await q.history(b.id)]
    assert actions == ["hold", "release"]


async def test_held_items_count_against_capacity(h: Harness) -> None:
    q = h.make(capacity=1)
    a = await q.put("a")
    await q.hold(a)
    with pytest.raises(QueueFullError, match="pending, leased or held"):
        await q.put("b")


async def test_capacity_can_include_dead_items(h: Harness) -> None:
    q = h.make(capacity=1, capacity_includes_dead=True)
    await q.put("a")
    (item,) = await q.lease()
    await q.nack(item, dead=True)
    with pytest.raises(QueueFullError, match="requeue or purge dead items"):
        await q.put("b")
    plain = h.make(capacity=1)
    await plain.put("a")
    (item,) = await plain.lease()
    await plain.nack(item, dead=True)
    await plain.put("b")  # dead items do not count by default


async def test_meta_and_listing_without_payloads(h: Harness) -> None:
    q = h.make()
    a = await q.put({"big": "x" * 100}, meta={"pn": "PN-1", "sn": "SN-1"})
    assert a.meta == {"pn": "PN-1", "sn": "SN-1"}
    await q.put("b")
    listed = await q.items(payloads=False)
    assert [i.meta for i in listed] == [{"pn": "PN-1", "sn": "SN-1"}, None]
    assert listed[0].payload_json is None
    with pytest.raises(QueueError, match=r"listed without its payload.*get\(item.id\)"):
        _ = listed[0].payload
    full = await q.get(a.id)
    assert full.payload == {"big": "x" * 100}
    assert full.meta == {"pn": "PN-1", "sn": "SN-1"}
    with pytest.raises(ConfigurationError, match="meta must be None or a dict"):
        await q.put("c", meta=["not", "a", "dict"])


async def test_items_filtered_by_waiting(h: Harness) -> None:
    q = h.make()
    ready = await q.put("ready")
    later = await q.put("later", delay=30.0)
    await q.put("done")
    leased = await q.lease(1)
    assert leased[0].id == ready.id
    assert [i.id for i in await q.items(PENDING, waiting=True)] == [later.id]
    assert [i.id for i in await q.items(waiting=True)] == [later.id]
    assert len(await q.items(PENDING, waiting=False)) == 1
    assert len(await q.items(waiting=False)) == 2  # the leased one and the ready one
    h.clock.advance(31.0)
    assert await q.items(waiting=True) == []
    assert await q.waiting_count() == 0


async def test_history_records_acks_nacks_and_expiries(h: Harness) -> None:
    q = h.make(max_attempts=5)
    put = await q.put("x")
    (item,) = await q.lease(lease_time=10.0)
    await q.nack(item, error="HTTP 503", delay=0.0, detail={"status": 503, "latency": 0.25})
    (item,) = await q.lease(lease_time=10.0)
    h.clock.advance(11.0)
    assert await q.recover_expired() == 1
    (item,) = await q.lease()
    await q.ack(item, detail={"status": 200})
    history = await q.history(put.id)
    assert [(e.action, e.status, e.attempts) for e in history] == [
        ("nack", PENDING, 1),
        ("expired", PENDING, 2),
        ("ack", DONE, 3),
    ]
    nack, expired, ack = history
    assert isinstance(nack, HistoryEntry)
    assert nack.error == "HTTP 503"
    assert nack.detail == {"status": 503, "latency": 0.25}
    assert "lease expired" in (expired.error or "")
    assert expired.detail is None
    assert ack.detail == {"status": 200}
    assert ack.error is None
    assert nack.at <= expired.at <= ack.at
    assert await q.history(424242) == []
    with pytest.raises(ConfigurationError, match="item_id must be an int"):
        await q.history("1")


async def test_history_of_ack_and_lease_and_requeue(h: Harness) -> None:
    q = h.make(max_attempts=1)
    a = await q.put("a")
    b = await q.put("b")
    (item,) = await q.lease()
    (nxt,) = await q.ack_and_lease(item, detail={"latency": 1.5})
    assert nxt.id == b.id
    await q.nack(nxt, error="bad")
    assert (await q.get(b.id)).status is DEAD
    assert await q.requeue(b.id) == 1
    assert [e.action for e in await q.history(a.id)] == ["ack"]
    assert (await q.history(a.id))[0].detail == {"latency": 1.5}
    assert [(e.action, e.status) for e in await q.history(b.id)] == [
        ("nack", DEAD),
        ("requeue", PENDING),
    ]


async def test_purge_done_removes_history(h: Harness) -> None:
    q = h.make()
    a = await q.put("a")
    await q.put("newest")
    (item,) = await q.lease()
    await q.ack(item)
    assert len(await q.history(a.id)) == 1
    assert await q.purge_done() == 1
    assert await q.history(a.id) == []


async def test_detail_must_be_a_dict(h: Harness) -> None:
    q = h.make()
    await q.put("a")
    (item,) = await q.lease()
    with pytest.raises(ConfigurationError, match="detail must be None or a dict"):
        await q.ack(item, detail="fast")
    with pytest.raises(ConfigurationError, match="detail must be None or a dict"):
        await q.nack(item, detail=[1])
    await q.ack(item)


async def test_nack_without_counting_never_dead_letters(h: Harness) -> None:
    q = h.make(max_attempts=2)
    put = await q.put("x")
    for expected in range(1, 6):
        (item,) = await q.lease()
        assert item.attempts == expected  # attempts still grow
        await q.nack(item, error="401", delay=0.0, count=False)
        stored = await q.get(put.id)
        assert stored.status is PENDING
        assert stored.max_attempts == 2 + expected
    (item,) = await q.lease()
    await q.nack(item, error="503", delay=0.0)  # counted: 6 attempts, 7 allowed
    (item,) = await q.lease()
    await q.nack(item, error="503", delay=0.0)
    assert (await q.get(put.id)).status is DEAD
    (item,) = await q.lease() or [None]
    assert item is None


async def test_nack_without_counting_still_dead_letters_when_told(h: Harness) -> None:
    q = h.make()
    put = await q.put("x")
    (item,) = await q.lease()
    await q.nack(item, dead=True, count=False)
    assert (await q.get(put.id)).status is DEAD


async def test_on_dead_is_called_for_nacks_and_expiries(h: Harness) -> None:
    seen: list[QueueItem] = []
    q = h.make(max_attempts=1, on_dead=seen.append)
    a = await q.put("a")
    b = await q.put("b")
    (item,) = await q.lease()
    await q.nack(item, error="refused")
    assert [(i.id, i.status, i.last_error) for i in seen] == [(a.id, DEAD, "refused")]
    (item,) = await q.lease(lease_time=5.0)
    assert item.id == b.id
    h.clock.advance(6.0)
    assert await q.lease() == []  # recovers b's lease: its last attempt, so dead
    assert [i.id for i in seen] == [a.id, b.id]
    assert seen[1].status is DEAD


async def test_on_dead_may_call_the_queue_and_its_errors_are_logged(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[dict[QueueItemStatus, int]] = []
    holder: list[Any] = []

    def hook(item: QueueItem) -> None:
        seen.append(holder[0].sync.counts())  # the lock is free: no deadlock
        raise RuntimeError("hook broke")

    q = h.make(on_dead=hook)
    holder.append(q)
    await q.put("a")
    (item,) = await q.lease()
    with caplog.at_level(logging.ERROR):
        await q.nack(item, dead=True)
    assert seen[0][DEAD] == 1
    assert "on_dead hook failed" in caplog.text


async def test_on_dead_must_be_callable(h: Harness) -> None:
    with pytest.raises(ConfigurationError, match="on_dead must be None or a callable"):
        h.make(on_dead="print")


async def test_failed_change_does_not_call_on_dead(h: Harness) -> None:
    seen: list[QueueItem] = []
    q = h.make(on_dead=seen.append)
    await q.put("a")
    (item,) = await q.lease()
    await q.ack(item)
    with pytest.raises(Exception, match="cannot nack"):
        await q.nack(item, dead=True)
    assert seen == []


# --- SQLite only ----------------------------------------------------------------------------


def test_on_dead_runs_for_the_recovery_on_open(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "q.db"
    with SQLiteQueue(path, clock=clock, max_attempts=1) as q:
        q.put("a")
        q.lease(lease_time=5.0)
    clock.advance(6.0)
    seen: list[QueueItem] = []
    with SQLiteQueue(path, clock=clock, on_dead=seen.append) as q:
        assert [i.status for i in seen] == [DEAD]
        assert [e.action for e in q.history(seen[0].id)] == ["expired"]


def test_version_1_file_is_migrated(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        'CREATE TABLE "queue" (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, key TEXT, '
        "priority INTEGER NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL, "
        "max_attempts INTEGER NOT NULL, not_before REAL NOT NULL, created_at REAL NOT NULL, "
        "updated_at REAL NOT NULL, lease_expires_at REAL, lease_token TEXT, last_error TEXT)"
    )
    conn.execute(
        "INSERT INTO queue (payload, key, priority, status, attempts, max_attempts, "
        "not_before, created_at, updated_at) VALUES ('\"old\"', 'k', 0, 'pending', 2, 5, 0, 0, 0)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with SQLiteQueue(path, clock=clock) as q:
        item = q.get_by_key("k")
        assert item is not None
        assert item.payload == "old"
        assert item.attempts == 2
        assert item.meta is None
        (leased,) = q.lease()
        q.ack(leased, detail={"ok": True})
        assert q.history(leased.id)[0].detail == {"ok": True}
        q.put("new", meta={"m": 1})
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        columns = [row[1] for row in conn.execute('PRAGMA table_info("queue")')]
        assert columns[-1] == "meta"
    finally:
        conn.close()


def test_history_survives_reopen(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "q.db"
    with SQLiteQueue(path, clock=clock) as q:
        put = q.put("a")
        (item,) = q.lease()
        q.nack(item, error="boom", detail={"status": 500})
    with SQLiteQueue(path, clock=clock) as q:
        (entry,) = q.history(put.id)
        assert (entry.action, entry.error, entry.detail) == ("nack", "boom", {"status": 500})


def test_hold_survives_reopen_and_is_not_recovered(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "q.db"
    with SQLiteQueue(path, clock=clock) as q:
        put = q.put("a")
        q.hold(put.id)
    clock.advance(1000.0)
    with SQLiteQueue(path, clock=clock) as q:
        assert q.lease() == []
        assert q.counts()[HELD] == 1
        assert len(q) == 1


# --- put_many / ack_many ---------------------------------------------------------------------


async def test_put_many_stores_all_and_dedupes_keys(h: Harness) -> None:
    q = h.make()
    old = await q.put("old", key="k0")
    items = await q.put_many(
        ["a", "b", "old again", "a again", {"n": 1}],
        keys=["k1", "k2", "k0", "k1", None],
        metas=[{"m": 1}, None, None, None, {"m": 5}],
        priority=3,
    )
    assert [i.payload for i in items] == ["a", "b", "old", "a", {"n": 1}]
    assert items[2].id == old.id
    assert items[3].id == items[0].id  # a key repeated in the batch is stored once
    assert items[0].meta == {"m": 1}
    assert items[4].meta == {"m": 5}
    assert {i.priority for i in (items[0], items[1], items[4])} == {3}
    assert (await q.counts())[PENDING] == 4
    got = await q.get(items[1].id)
    assert got is not None
    assert got.payload == "b"
    assert got.key == "k2"
    leased = await q.lease(10)
    assert sorted(i.id for i in leased) == sorted({i.id for i in items})


async def test_put_many_without_keys_and_empty(h: Harness) -> None:
    q = h.make()
    assert await q.put_many([]) == []
    items = await q.put_many(["x", "y"], delay=5.0)
    assert [i.key for i in items] == [None, None]
    assert await q.lease() == []
    h.clock.advance(5.0)
    assert len(await q.lease(5)) == 2


async def test_put_many_is_all_or_nothing_at_capacity(h: Harness) -> None:
    q = h.make(capacity=3)
    await q.put("a", key="a")
    with pytest.raises(QueueFullError, match="the 3 new items do not fit; nothing was stored"):
        await q.put_many(["b", "c", "d"], keys=["b", "c", "d"])
    assert (await q.counts())[PENDING] == 1
    # Known keys need no room: they store nothing.
    items = await q.put_many(["a", "b", "c"], keys=["a", "b", "c"])
    assert [i.payload for i in items] == ["a", "b", "c"]
    assert (await q.counts())[PENDING] == 3
    assert len(await q.put_many(["a"], keys=["a"])) == 1  # full, but nothing new


async def test_put_many_checks_its_arguments(h: Harness) -> None:
    q = h.make()
    with pytest.raises(ConfigurationError, match="one key and one meta per payload"):
        await q.put_many(["a", "b"], keys=["a"])
    with pytest.raises(ConfigurationError, match="one key and one meta per payload"):
        await q.put_many(["a"], metas=[None, None])
    with pytest.raises(ConfigurationError):
        await q.put_many(["a", {1, 2}])
    with pytest.raises(ConfigurationError, match="max_attempts"):
        await q.put_many(["a"], max_attempts=0)
    assert (await q.counts())[PENDING] == 0
    items = await q.put_many(["a"], max_attempts=7)
    assert items[0].max_attempts == 7


async def test_ack_many_acks_held_leases_and_returns_the_rest(h: Harness) -> None:
    q = h.make(lease_time=10.0)
    await q.put_many(["a", "b", "c"])
    first = await q.lease(3)
    lost = first[2]
    h.clock.advance(11.0)  # c's lease (and the others') expire; c is recovered and re-leased
    await q.recover_expired()
    again = await q.lease(3)
    assert {i.id for i in again} == {i.id for i in first}
    await q.ack_many(again[:2])  # a and b done under the new lease
    refused = await q.ack_many(first, details=[{"latency_s": 0.1}, None, None])
    assert [i.id for i in refused] == [i.id for i in first]  # every old token is refused
    left = await q.ack_many([i for i in again if i.id == lost.id], details=[{"latency_s": 0.5}])
    assert left == []
    counts = await q.counts()
    assert counts[DONE] == 3
    assert counts[LEASED] == 0
    history = await q.history(lost.id)
    assert history[-1].action == "ack"
    assert history[-1].detail == {"latency_s": 0.5}
    assert await q.ack_many([]) == []
    with pytest.raises(ConfigurationError, match="one detail per item"):
        await q.ack_many(again, details=[None])


async def test_ack_many_acks_an_item_given_twice_once(h: Harness) -> None:
    q = h.make()
    a, b = await q.put_many(["a", "b"])
    (leased_a,) = await q.lease()
    (old_b,) = await q.lease(lease_time=1.0)
    h.clock.advance(2.0)  # b's lease expires; b is leased anew
    await q.recover_expired()
    (new_b,) = await q.lease()
    refused = await q.ack_many(
        [leased_a, leased_a, old_b, new_b], details=[{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
    )
    assert refused == [leased_a, old_b]  # the repeat, and the stale token
    assert [(e.action, e.detail) for e in await q.history(a.id) if e.action == "ack"] == [
        ("ack", {"n": 1})
    ]
    assert [(e.action, e.detail) for e in await q.history(b.id) if e.action == "ack"] == [
        ("ack", {"n": 4})
    ]
    assert (await q.counts())[DONE] == 2


def test_ack_many_sqlite_is_one_update_per_chunk(tmp_path: Path, clock: FakeClock) -> None:
    with SQLiteQueue(tmp_path / "q.db", clock=clock) as q:
        q.put_many([f"r{i}" for i in range(300)])
        leased = q.lease(300)
        assert len(leased) == 300
        statements: list[str] = []
        q._conn.set_trace_callback(statements.append)
        refused = q.ack_many(leased, details=[{"i": i} for i in range(300)])
        q._conn.set_trace_callback(None)
        assert refused == []
        updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
        assert len(updates) == 2  # 256 items, then the other 44, not one per item
        assert q.counts()[DONE] == 300
        assert q.history(leased[299].id)[-1].detail == {"i": 299}


# --- ack_many_and_lease ----------------------------------------------------------------------


async def test_ack_many_and_lease_acks_and_leases_in_one_step(h: Harness) -> None:
    q = h.make(lease_time=10.0)
    items = await q.put_many(["a", "b", "c", "d", "e"])
    first = await q.lease(2)
    refused, nxt = await q.ack_many_and_lease(
        first, 2, lease_time=5.0, details=[{"latency_s": 0.1}, {"latency_s": 0.2}]
    )
    assert refused == []
    assert [i.id for i in nxt] == [items[2].id, items[3].id]
    assert all(i.status is LEASED and i.attempts == 1 for i in nxt)
    assert nxt[0].lease_expires_at == h.clock.time() + 5.0
    assert [(await q.history(i.id))[-1].detail for i in first] == [
        {"latency_s": 0.1},
        {"latency_s": 0.2},
    ]
    # n=0 only acks; no items only leases; neither does nothing.
    assert await q.ack_many_and_lease(nxt[:1], 0) == ([], [])
    refused, last = await q.ack_many_and_lease([], 3)
    assert (refused, [i.id for i in last]) == ([], [items[4].id])
    assert last[0].lease_expires_at == h.clock.time() + 10.0  # the queue's lease_time
    assert await q.ack_many_and_lease([], 0) == ([], [])
    refused, none_left = await q.ack_many_and_lease([nxt[1], last[0]], 4)
    assert (refused, none_left) == ([], [])
    counts = await q.counts()
    assert (counts[DONE], counts[LEASED], counts[PENDING]) == (5, 0, 0)


async def test_ack_many_and_lease_returns_stale_leases_and_still_leases(h: Harness) -> None:
    q = h.make()
    a, b, c = await q.put_many(["a", "b", "c"])
    (old_a,) = await q.lease(lease_time=1.0)
    (held_b,) = await q.lease(lease_time=60.0)
    h.clock.advance(2.0)  # a's lease expires; a is recovered and leased anew
    await q.recover_expired()
    (new_a,) = await q.lease(lease_time=60.0)
    assert new_a.id == a.id
    refused, nxt = await q.ack_many_and_lease([old_a, held_b], 5)
    assert refused == [old_a]  # its token is stale: left to the new attempt
    assert [i.id for i in nxt] == [c.id]  # the lease is still taken
    assert (await q.get(a.id)).status is LEASED
    assert (await q.get(b.id)).status is DONE


async def test_ack_many_and_lease_dead_letters_an_expired_last_attempt(h: Harness) -> None:
    dead: list[int] = []
    q = h.make(max_attempts=1, on_dead=lambda item: dead.append(item.id))
    first, crashed, waiting = await q.put_many(["first", "crashed", "waiting"])
    (a,) = await q.lease(lease_time=10.0)
    (b,) = await q.lease(lease_time=1.0)
    assert (a.id, b.id) == (first.id, crashed.id)
    h.clock.advance(2.0)
    refused, nxt = await q.ack_many_and_lease([a], 2)
    assert refused == []
    assert [i.id for i in nxt] == [waiting.id]
    assert (await q.get(crashed.id)).status is DEAD
    assert dead == [crashed.id]  # the hook ran for the item the lease step dead-lettered


async def test_ack_many_and_lease_checks_its_arguments(h: Harness) -> None:
    q = h.make()
    await q.put_many(["a", "b"])
    leased = await q.lease(1)
    with pytest.raises(ConfigurationError, match="n must be"):
        await q.ack_many_and_lease(leased, -1)
    with pytest.raises(ConfigurationError, match="one detail per item"):
        await q.ack_many_and_lease(leased, 1, details=[None, None])
    with pytest.raises(ConfigurationError, match="lease_time"):
        await q.ack_many_and_lease(leased, 1, lease_time=0.0)
    counts = await q.counts()  # nothing was acked or leased
    assert (counts[DONE], counts[LEASED], counts[PENDING]) == (0, 1, 1)


def test_ack_many_and_lease_is_one_sqlite_commit(tmp_path: Path, clock: FakeClock) -> None:
    with SQLiteQueue(tmp_path / "q.db", clock=clock) as q:
        q.put_many(["a", "b", "c", "d"])
        leased = q.lease(2)
        statements: list[str] = []
        q._conn.set_trace_callback(statements.append)
        refused, nxt = q.ack_many_and_lease(leased, 2)
        q._conn.set_trace_callback(None)
        assert (refused, len(nxt)) == ([], 2)
        assert sum(s.strip().upper() == "COMMIT" for s in statements) == 1


def test_ack_many_and_lease_is_all_or_nothing(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "q.db"
    with SQLiteQueue(path, clock=clock, busy_timeout=0.0) as q:
        q.put_many(["a", "b", "c"])
        leased = q.lease(2)
        # Another connection holds the write lock: the step fails as a whole.
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(QueueError, match="SQLite failed"):
                q.ack_many_and_lease(leased, 1)
        finally:
            other.execute("ROLLBACK")
            other.close()
        counts = q.counts()
        assert (counts[DONE], counts[LEASED], counts[PENDING]) == (0, 2, 1)
        refused, nxt = q.ack_many_and_lease(leased, 1)
        assert (refused, len(nxt)) == ([], 1)
        assert q.counts()[DONE] == 2

"""corekit.queue against a simple model: random operations never lose or duplicate an item."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from corekit.errors import LeaseError
from corekit.queue import MemoryQueue, QueueBase, QueueItem, QueueItemStatus, SQLiteQueue
from corekit.testing import FakeClock

PENDING = QueueItemStatus.PENDING
LEASED = QueueItemStatus.LEASED
DONE = QueueItemStatus.DONE
DEAD = QueueItemStatus.DEAD
HELD = QueueItemStatus.HELD
MAX_ATTEMPTS = 3
LEASE_TIME = 4.0


@dataclass
class Model:
    status: QueueItemStatus
    priority: int
    not_before: float
    max_attempts: int = MAX_ATTEMPTS
    attempts: int = 0
    token: str | None = None
    expires: float | None = None
    done_at: float | None = None
    key: str | None = None
    history: int = 0  # entries recorded: acks, nacks, expiries, requeues, holds, releases


class QueueMachine(RuleBasedStateMachine):
    durable = False

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.tmp = Path(tempfile.mkdtemp(prefix="corekit-queue-"))
        self.queue = self.open()
        self.model: dict[int, Model] = {}
        self.keys: dict[str, int] = {}
        self.held: list[QueueItem] = []
        self.last_attempts: dict[int, int] = {}

    def open(self) -> QueueBase:
        return MemoryQueue(clock=self.clock, max_attempts=MAX_ATTEMPTS, lease_time=LEASE_TIME)

    def teardown(self) -> None:
        self.queue.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def model_recover(self) -> int:
        now = self.clock.time()
        count = 0
        for m in self.model.values():
            if m.status is LEASED and m.expires is not None and m.expires <= now:
                # An expired last attempt is dead-lettered, not retried for ever.
                m.status = DEAD if m.attempts >= m.max_attempts else PENDING
                m.token, m.expires = None, None
                m.history += 1
                count += 1
        return count

    def holds(self, item: QueueItem) -> bool:
        m = self.model[item.id]
        return m.status is LEASED and item.lease_token is not None and m.token == item.lease_token

    # --- rules ------------------------------------------------------------------------------

    @rule(
        key=st.none() | st.sampled_from(["a", "b", "c", "d"]),
        priority=st.integers(-1, 2),
        delay=st.sampled_from([0.0, 1.0, 5.0]),
        max_attempts=st.sampled_from([None, 1]),  # 1 reaches the last attempt fast
    )
    def put(self, key: str | None, priority: int, delay: float, max_attempts: int | None) -> None:
        item = self.queue.put(
            {"k": key, "p": priority},
            key=key,
            priority=priority,
            delay=delay,
            max_attempts=max_attempts,
        )
        if key is not None and key in self.keys:
            assert item.id == self.keys[key]
            return
        assert item.id not in self.model
        assert item.status is PENDING
        self.model[item.id] = Model(
            PENDING,
            priority,
            self.clock.time() + delay,
            max_attempts=max_attempts or MAX_ATTEMPTS,
            key=key,
        )
        if key is not None:
            self.keys[key] = item.id

    @rule(n=st.integers(1, 3), lease_time=st.sampled_from([None, 1.0]))
    def lease(self, n: int, lease_time: float | None) -> None:
        self.model_recover()
        now = self.clock.time()
        due = sorted(
            (i for i, m in self.model.items() if m.status is PENDING and m.not_before <= now),
            key=lambda i: (-self.model[i].priority, self.model[i].not_before, i),
        )
        leased = self.queue.lease(n, lease_time=lease_time)
        assert [i.id for i in leased] == due[:n]
        for item in leased:
            m = self.model[item.id]
            assert m.status is PENDING  # never a done, dead or held item
            m.status, m.token = LEASED, item.lease_token
            m.attempts += 1
            m.expires = now + (LEASE_TIME if lease_time is None else lease_time)
            assert item.attempts == m.attempts
            self.held.append(item)

    @precondition(lambda self: self.held)
    @rule(index=st.integers(min_value=0))
    def ack(self, index: int) -> None:
        item = self.held[index % len(self.held)]
        if self.holds(item):
            self.queue.ack(item)
            m = self.model[item.id]
            m.status, m.expires, m.done_at = DONE, None, self.clock.time()
            m.history += 1
        else:
            with pytest.raises(LeaseError):
                self.queue.ack(item)

    @rule(
        picks=st.lists(st.integers(min_value=0), max_size=3),
        n=st.integers(0, 3),
        lease_time=st.sampled_from([None, 1.0]),
    )
    def ack_many_and_lease(self, picks: list[int], n: int, lease_time: float | None) -> None:
        items = [self.held[i % len(self.held)] for i in picks] if self.held else []
        expected_refused: list[int] = []
        for item in items:  # acked in order: an item given twice is refused the second time
            if self.holds(item):
                m = self.model[item.id]
                m.status, m.expires, m.done_at = DONE, None, self.clock.time()
                m.history += 1
            else:
                expected_refused.append(item.id)
        due: list[int] = []
        if n:
            self.model_recover()
            now = self.clock.time()
            due = sorted(
                (i for i, m in self.model.items() if m.status is PENDING and m.not_before <= now),
                key=lambda i: (-self.model[i].priority, self.model[i].not_before, i),
            )[:n]
        refused, leased = self.queue.ack_many_and_lease(items, n, lease_time=lease_time)
        assert [i.id for i in refused] == expected_refused
        assert [i.id for i in leased] == due
        now = self.clock.time()
        for item in leased:
            m = self.model[item.id]
            m.status, m.token = LEASED, item.lease_token
            m.attempts += 1
            m.expires = now + (LEASE_TIME if lease_time is None else lease_time)
            assert item.attempts == m.attempts
            self.held.append(item)

    @precondition(lambda self: self.held)
    @rule(
        index=st.integers(min_value=0),
        delay=st.sampled_from([None, 0.0, 2.0]),
        dead=st.booleans(),
        count=st.booleans(),
    )
    def nack(self, index: int, delay: float | None, dead: bool, count: bool) -> None:
        item = self.held[index % len(self.held)]
        if not self.holds(item):
            with pytest.raises(LeaseError):
                self.queue.nack(item, delay=delay, dead=dead, count=count)
            return
        self.queue.nack(item, error="failed", delay=delay, dead=dead, count=count)
        m = self.model[item.id]
        m.token, m.expires = None, None
        m.history += 1
        spent = count and m.attempts >= m.max_attempts
        if not count:
            m.max_attempts += 1  # this try does not bring it closer to the dead letters
        if dead or spent:
            m.status = DEAD
        else:
            m.status = PENDING
            wait = min(2 ** (m.attempts - 1), 300) if delay is None else delay
            m.not_before = self.clock.time() + wait

    @precondition(lambda self: self.held)
    @rule(index=st.integers(min_value=0))
    def extend(self, index: int) -> None:
        item = self.held[index % len(self.held)]
        if self.holds(item):
            renewed = self.queue.extend(item)
            self.model[item.id].expires = self.clock.time() + LEASE_TIME
            assert renewed.lease_expires_at == self.model[item.id].expires
        else:
            with pytest.raises(LeaseError):
                self.queue.extend(item)

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0, 6.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def recover(self) -> None:
        assert self.queue.recover_expired() == self.model_recover()

    @precondition(lambda self: any(m.status is DEAD for m in self.model.values()))
    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        dead = sorted(i for i, m in self.model.items() if m.status is DEAD)
        item_id = data.draw(st.sampled_from(dead))
        assert self.queue.requeue(item_id) == 1
        m = self.model[item_id]
        m.status, m.not_before = PENDING, self.clock.time()
        m.max_attempts = m.attempts + MAX_ATTEMPTS
        m.history += 1

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def hold(self, data: st.DataObject) -> None:
        item_id = data.draw(st.sampled_from(sorted(self.model)))
        m = self.model[item_id]
        expected = 1 if m.status is PENDING else 0  # leased, done, dead and held are skipped
        assert self.queue.hold(item_id) == expected
        if expected:
            m.status = HELD
            m.history += 1

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        item_id = data.draw(st.sampled_from(sorted(self.model)))
        m = self.model[item_id]
        expected = 1 if m.status is HELD else 0
        assert self.queue.release(item_id) == expected
        if expected:
            m.status, m.not_before = PENDING, self.clock.time()
            m.history += 1

    @rule(data=st.data())
    def retry_now(self, data: st.DataObject) -> None:
        now = self.clock.time()
        ids = data.draw(st.none() | st.lists(st.sampled_from([*sorted(self.model), 999])))
        chosen = self.model if ids is None else {i: self.model[i] for i in ids if i in self.model}
        waiting = [m for m in chosen.values() if m.status is PENDING and m.not_before > now]
        assert self.queue.retry_now(ids) == len(waiting)
        for m in waiting:
            m.not_before = now

    @rule(older_than=st.sampled_from([0.0, 5.0]))
    def purge(self, older_than: float) -> None:
        cutoff = self.clock.time() - older_than
        newest = max(self.model, default=None)
        doomed = [
            i
            for i, m in self.model.items()
            if m.status is DONE and m.done_at is not None and m.done_at <= cutoff and i != newest
        ]
        assert self.queue.purge_done(older_than) == len(doomed)
        for i in doomed:
            key = self.model.pop(i).key
            if key is not None:
                del self.keys[key]
        self.held = [item for item in self.held if item.id in self.model]

    @precondition(lambda self: self.durable)
    @rule()
    def reopen(self) -> None:
        self.queue.close()
        self.queue = self.open()  # recovers expired leases on open
        self.model_recover()

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def matches_the_model(self) -> None:
        items = {i.id: i for i in self.queue.items(limit=None)}
        assert items.keys() == self.model.keys()  # none lost, none invented
        for item_id, m in self.model.items():
            item = items[item_id]
            assert item.status is m.status
            assert item.attempts == m.attempts
            assert item.attempts >= self.last_attempts.get(item_id, 0)
            self.last_attempts[item_id] = item.attempts
            assert item.max_attempts == m.max_attempts
            if m.status is LEASED:
                assert (item.lease_token, item.lease_expires_at) == (m.token, m.expires)
            if m.status is PENDING:
                assert item.not_before == m.not_before
                assert item.lease_token is None
        counts = self.queue.counts()
        for status in QueueItemStatus:
            assert counts[status] == sum(m.status is status for m in self.model.values())
        now = self.clock.time()
        waiting = sum(m.status is PENDING and m.not_before > now for m in self.model.values())
        assert self.queue.waiting_count() == waiting
        for item_id, m in self.model.items():
            assert len(self.queue.history(item_id)) == m.history


class SQLiteQueueMachine(QueueMachine):
    durable = True

    def open(self) -> QueueBase:
        return SQLiteQueue(
            self.tmp / "queue.db",
            clock=self.clock,
            max_attempts=MAX_ATTEMPTS,
            lease_time=LEASE_TIME,
            synchronous="NORMAL",  # durability is not under test here; speed is welcome
        )


_settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
TestMemoryQueueModel = QueueMachine.TestCase
TestMemoryQueueModel.settings = _settings
TestSQLiteQueueModel = SQLiteQueueMachine.TestCase
TestSQLiteQueueModel.settings = _settings

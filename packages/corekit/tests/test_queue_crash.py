"""corekit.queue survives SIGKILL at any moment: nothing lost, nothing acked twice.

A producer and two consumers (queue_crash_worker.py) run as real processes on one SQLite
file; the test kills one of them at a random moment, over and over, restarting it each time.
At the end it puts whatever the producer did not, lets the orphaned leases expire, drains
the queue itself and checks the file and the consumers' results log.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from corekit.queue import QueueItemStatus, SQLiteQueue

WORKER = Path(__file__).with_name("queue_crash_worker.py")
ITEMS = 300
ROUNDS = 20
LEASE_TIME = 1.0  # the workers' lease time


class Workers:
    def __init__(self, db: Path, results: Path, log: Path, rng: random.Random) -> None:
        self.db, self.results, self.log, self.rng = db, results, log, rng
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.producer_done = False
        self.kills = 0

    def start(self, role: str) -> None:
        kind = role.rstrip("12")
        args = [str(WORKER), kind, str(self.db), str(self.results), str(ITEMS)]
        with self.log.open("ab") as log:
            self.procs[role] = subprocess.Popen(
                [sys.executable, *args, str(self.rng.randrange(2**32))],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def ensure_running(self) -> None:
        producer = self.procs.get("producer")
        if producer is not None and producer.poll() == 0:
            self.producer_done = True
        for role in ("producer", "consumer1", "consumer2"):
            if role == "producer" and self.producer_done:
                continue
            proc = self.procs.get(role)
            if proc is None or proc.poll() is not None:
                assert proc is None or proc.returncode == -signal.SIGKILL, self.log.read_text()
                self.start(role)

    def kill_one(self) -> None:
        alive = [p for p in self.procs.values() if p.poll() is None]
        if alive:
            victim = self.rng.choice(alive)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            self.kills += 1

    def kill_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()


def read_results(path: Path) -> list[tuple[str, int, str]]:
    lines = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:  # a kill can cut the last line short
            lines.append((parts[0], int(parts[1]), parts[2]))
    return lines


def test_sigkill_loses_nothing_and_acks_nothing_twice(tmp_path: Path) -> None:
    db, results, log = tmp_path / "queue.db", tmp_path / "results.log", tmp_path / "workers.log"
    results.touch()
    rng = random.Random(20261121)
    workers = Workers(db, results, log, rng)
    started = time.monotonic()
    try:
        for _ in range(ROUNDS):
            workers.ensure_running()
            time.sleep(rng.uniform(0.1, 0.4))
            workers.kill_one()
    finally:
        workers.kill_all()
    assert workers.kills == ROUNDS

    with SQLiteQueue(db, lease_time=LEASE_TIME, max_attempts=1000) as q:
        assert q.integrity_check() == ["ok"]
        # Every put that returned in the producer survived its kills, under the id it got.
        returned = {(i, key) for kind, i, key in read_results(results) if kind == "PUT"}
        assert returned
        assert {(i, q.get(i).key) for i, _ in returned} == returned  # type: ignore[union-attr]
        for i in range(ITEMS):  # what the producer did not get to; the rest are no-ops
            q.put({"i": i}, key=f"item-{i}")
        fd = os.open(results, os.O_WRONLY | os.O_APPEND)
        try:
            deadline = time.monotonic() + 30.0
            while len(q) and time.monotonic() < deadline:
                for item in q.lease_wait(10, poll_interval=0.05, timeout=LEASE_TIME + 1.0):
                    os.write(fd, f"PROCESSED {item.id} {item.lease_token}\n".encode())
                    q.ack(item)
                    os.write(fd, f"ACKED {item.id} {item.lease_token}\n".encode())
        finally:
            os.close(fd)
        assert len(q) == 0
        items = q.items(limit=None)
        assert q.integrity_check() == ["ok"]

    # Every produced item is there exactly once, and done.
    assert sorted(i.key for i in items if i.key) == sorted(f"item-{i}" for i in range(ITEMS))
    assert len(items) == ITEMS
    assert {i.status for i in items} == {QueueItemStatus.DONE}
    assert sorted(i.payload["i"] for i in items) == list(range(ITEMS))

    log_lines = read_results(results)
    processed: collections.defaultdict[int, set[str]] = collections.defaultdict(set)
    acked: collections.Counter[int] = collections.Counter()
    for kind, item_id, token in log_lines:
        if kind == "PROCESSED":
            processed[item_id].add(token)
        elif kind == "ACKED":
            acked[item_id] += 1
    for item in items:
        # The lease that acked the item is one whose work was written (fsynced) first...
        assert item.lease_token in processed[item.id]
        # ...each lease granted at most one processing, and leases were counted.
        assert len(processed[item.id]) <= item.attempts
        # ...and no item was acked twice.
        assert acked[item.id] <= 1
    assert sum(acked.values()) >= ITEMS - workers.kills  # only a kill can hide an ACKED line
    assert time.monotonic() - started < 60

"""Producer / consumer processes for test_queue_crash.py, which SIGKILLs them at random.

Run as ``python queue_crash_worker.py producer|consumer DB RESULTS N SEED``.

The producer puts items ``item-0`` .. ``item-{N-1}`` (unique keys: a restarted producer
starts again from 0 and its repeats are no-ops) and appends ``PUT <id> <key>`` to RESULTS
with fsync once each put returned, so the test can check that no returned put was lost. The
consumer leases, "processes" an item
by appending ``PROCESSED <id> <token>`` to RESULTS with fsync *before* acking, then acks and
appends ``ACKED <id> <token>``; now and then it nacks instead, to exercise retries. It runs
until it is killed.
"""

from __future__ import annotations

import os
import random
import sys
import time

from corekit.errors import LeaseError
from corekit.queue import SQLiteQueue

LEASE_TIME = 1.0


def write_line(fd: int, line: str) -> None:
    os.write(fd, line.encode() + b"\n")  # one write with O_APPEND: lines never interleave
    os.fsync(fd)


def produce(db: str, results: str, count: int, rng: random.Random) -> None:
    fd = os.open(results, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with SQLiteQueue(db, lease_time=LEASE_TIME, max_attempts=1000, busy_timeout=30.0) as q:
            for i in range(count):
                item = q.put({"i": i}, key=f"item-{i}", priority=rng.choice([0, 0, 1]))
                write_line(fd, f"PUT {item.id} {item.key}")
                time.sleep(0.002)  # spread the puts so that kills land in the middle
    finally:
        os.close(fd)


def consume(db: str, results: str, rng: random.Random) -> None:
    fd = os.open(results, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with SQLiteQueue(db, lease_time=LEASE_TIME, busy_timeout=30.0) as q:
            while True:
                for item in q.lease_wait(rng.randint(1, 3), poll_interval=0.02):
                    write_line(fd, f"PROCESSED {item.id} {item.lease_token}")
                    time.sleep(rng.uniform(0.002, 0.02))  # the upload; kills land here too
                    try:
                        if rng.random() < 0.1:
                            q.nack(item, error="simulated failure", delay=0.0)
                            continue
                        q.ack(item)
                    except LeaseError:  # our lease expired and another consumer has it
                        write_line(fd, f"LOST {item.id} {item.lease_token}")
                        continue
                    write_line(fd, f"ACKED {item.id} {item.lease_token}")
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    role, db, results, count, seed = argv[1:6]
    rng = random.Random(int(seed))
    if role == "producer":
        produce(db, results, int(count), rng)
    else:
        consume(db, results, rng)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

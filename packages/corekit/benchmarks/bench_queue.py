"""Throughput of put + lease + ack cycles: corekit SQLiteQueue vs persistqueue.SQLiteAckQueue.

Both run on a file in a temporary directory, one item at a time, at the same durability.
persist-queue opens its connection with ``PRAGMA journal_mode=WAL`` and leaves
``synchronous`` at SQLite's default (read back from its connection below: FULL here); corekit
uses WAL too and is set to the same ``synchronous``. Both settings are measured, FULL (every
commit fsynced: persist-queue's default and corekit's) and NORMAL (survives a killed process,
not a power cut), with the PRAGMAs read back from both connections and printed.

Three shapes: put, lease and ack one item at a time; put everything, then drain; and the
same drain written as a worker loop with ``ack_and_lease`` (ack one item and lease the next in
one transaction, so one commit per item instead of two), against persist-queue's drain (it has
no combined call). With FULL, commits (fsyncs) set the pace for both libraries; the combined
call is how corekit spends fewer of them without weakening durability.

Runs alternate between the two libraries and the best of several rounds counts, so a noisy
neighbour on a shared machine hurts both alike.

Run: ``uv run nox -s bench -- queue``, or ``python packages/corekit/benchmarks/bench_queue.py``.
"""

from __future__ import annotations

import gc
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import persistqueue

from corekit.queue import SQLiteQueue

ITEMS = 2000
ROUNDS = 5
TARGET = 1.5
PAYLOAD = {"station": "S-01", "serial": "SN-000000", "result": "passed", "steps": 12}


def pragmas(conn: sqlite3.Connection) -> str:
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
        conn.execute("PRAGMA synchronous").fetchone()[0]
    ]
    return f"journal_mode={journal} synchronous={sync}"


SHAPES = ("each", "backlog", "worker")


def corekit_cycle(queue: SQLiteQueue, shape: str) -> None:
    if shape == "worker":
        for i in range(ITEMS):
            queue.put({**PAYLOAD, "n": i})
        items = queue.lease()
        while items:
            items = queue.ack_and_lease(items[0])
    elif shape == "backlog":
        for i in range(ITEMS):
            queue.put({**PAYLOAD, "n": i})
        for _ in range(ITEMS):
            (item,) = queue.lease()
            queue.ack(item)
    else:
        for i in range(ITEMS):
            queue.put({**PAYLOAD, "n": i})
            (item,) = queue.lease()
            queue.ack(item)


def persistqueue_cycle(queue: Any, shape: str) -> None:
    if shape in ("backlog", "worker"):
        for i in range(ITEMS):
            queue.put({**PAYLOAD, "n": i})
        for _ in range(ITEMS):
            queue.ack(queue.get(block=False))
    else:
        for i in range(ITEMS):
            queue.put({**PAYLOAD, "n": i})
            queue.ack(queue.get(block=False))


def run_corekit(directory: Path, synchronous: Any, shape: str) -> tuple[float, str]:
    with SQLiteQueue(directory / "corekit.db", synchronous=synchronous) as queue:
        settings = pragmas(queue._conn)
        gc.collect()
        start = time.perf_counter()
        corekit_cycle(queue, shape)
        elapsed = time.perf_counter() - start
        assert len(queue) == 0
    return ITEMS / elapsed, settings


def run_persistqueue(directory: Path, synchronous: str | None, shape: str) -> tuple[float, str]:
    queue = persistqueue.SQLiteAckQueue(str(directory / "pq"))
    try:
        conn: Any = queue._putter  # one connection: multithreading=False (the default)
        if synchronous is not None:
            conn.execute(f"PRAGMA synchronous={synchronous}")
        settings = pragmas(conn)
        gc.collect()
        start = time.perf_counter()
        persistqueue_cycle(queue, shape)
        elapsed = time.perf_counter() - start
        assert queue.qsize() == 0
    finally:
        queue.close()
    return ITEMS / elapsed, settings


def measure(synchronous: str, shape: str) -> tuple[float, float, str, str]:
    best_ck = best_pq = 0.0
    ck_settings = pq_settings = ""
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory() as tmp:
            # persist-queue's own default is read back, not assumed: set only for NORMAL.
            rate, pq_settings = run_persistqueue(
                Path(tmp), None if synchronous == "FULL" else synchronous, shape
            )
            best_pq = max(best_pq, rate)
        with tempfile.TemporaryDirectory() as tmp:
            rate, ck_settings = run_corekit(Path(tmp), synchronous, shape)
            best_ck = max(best_ck, rate)
    return best_ck, best_pq, ck_settings, pq_settings


def main() -> int:
    print(f"sqlite {sqlite3.sqlite_version}; {ITEMS} items, best of {ROUNDS} alternating rounds")
    rows = []
    titles = {
        "each": "put+lease+ack each",
        "backlog": "put all, then lease+ack",
        "worker": "put all, then ack_and_lease",
    }
    for shape in SHAPES:
        for synchronous in ("FULL", "NORMAL"):
            ck, pq, ck_settings, pq_settings = measure(synchronous, shape)
            if shape == "each":
                print(f"  corekit:       {ck_settings}")
                print(f"  persist-queue: {pq_settings}")
            rows.append((f"{titles[shape]}, synchronous={synchronous}", ck, pq))
    print()
    header = f"{'items/s':<44} {'corekit':>10} {'persist-queue':>14} {'ratio':>7} {'target':>7}"
    print(header)
    print("-" * len(header))
    for figure, ck, pq in rows:
        print(f"{figure:<44} {ck:>10.0f} {pq:>14.0f} {ck / pq:>6.2f}x {TARGET:>6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The station's queue beside the raw async client: durable enqueue rate and drain rate.

Workload: ``BENCH_STATION_REPORTS`` (default 5,000) generated test reports of 10 steps each.

1. **Enqueue**: each report is put into a fresh :class:`~pywats.station.ReportQueue` on disk,
   one durable (fsync'd) commit per report, as the converter pipeline does for each file.
   Target: at least 1,000 reports/s. Printed beside it: the same payloads inserted with
   plain :mod:`sqlite3` (WAL, ``synchronous=FULL``, one commit each), the ceiling the disk's
   fsync rate sets for any queue that is durable per report; and ``enqueue_many`` of files
   of ``BENCH_STATION_FILE_REPORTS`` (default 10) reports, one durable commit per file, as
   the pipeline queues a multi-report file.
2. **Raw submit**: :class:`~pywats.AsyncWATS` submits the same reports straight to the
   emulator at the uploader's concurrency (``BENCH_STATION_CONCURRENCY``, default 8), once
   as report models (``submit``) and once as the WSJF bytes the queue stores
   (``submit_wsjf``); the drain is compared with the faster of the two.
3. **Drain**: the :class:`~pywats.station.Uploader` submits the queued reports to the
   emulator at the same concurrency, recording every attempt and state change durably.
   Target: at least 80% of the raw rate.

The emulator runs in its own process (``python -m pywats.emulator``, uvicorn with httptools and
uvloop, no request-body logging) and is reset before each turn. The three uploads swap their
order every other round (``BENCH_STATION_ROUNDS``, default 2), so a change in the machine's
load hits them alike. Run with ``uv run nox -s bench -- station``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The emulator starts as in bench_pywats.py (same folder: importable when run as a script).
from bench_pywats import start_emulator

REPORTS = int(os.environ.get("BENCH_STATION_REPORTS", "5000"))
CONCURRENCY = int(os.environ.get("BENCH_STATION_CONCURRENCY", "8"))
ROUNDS = max(1, int(os.environ.get("BENCH_STATION_ROUNDS", "2")))
FILE_REPORTS = max(1, int(os.environ.get("BENCH_STATION_FILE_REPORTS", "10")))
USER = PASSWORD = "wats"


def reset(url: str) -> None:
    request = urllib.request.Request(f"{url}/_emulator/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10):
        pass


def build_reports(n: int, prefix: str) -> list[Any]:
    from pywats import Station, UUTBuilder

    station = Station("BENCH", "Lab", "Bench")
    reports = []
    for i in range(n):
        builder = UUTBuilder(
            part_number="PN-STATION",
            serial_number=f"{prefix}-{i:05d}",
            revision="A",
            process_code=10,
            station=station,
            operator="bench",
            start=datetime.now(UTC),
        )
        seq = builder.sequence("Main")
        for k in range(10):
            seq.numeric(f"N{k}", k * 0.5, unit="V", low=-1.0, high=10.0)
        reports.append(builder.build())
    return reports


def client(url: str) -> Any:
    from pywats import AsyncWATS

    # No client-side retries, as the station runs it: the queue does the retrying.
    return AsyncWATS(url, username=USER, password=PASSWORD, retry=None, trust_env=False)


async def raw_submit(url: str, reports: list[Any], *, as_bytes: bool = False) -> float:
    """Submit with AsyncWATS: the report models, or their WSJF bytes (what the queue holds)."""
    items = [r.to_wsjf() for r in reports] if as_bytes else reports
    async with client(url) as wats:
        gate = asyncio.Semaphore(CONCURRENCY)
        submit = wats.report.submit_wsjf if as_bytes else wats.report.submit

        async def one(item: Any) -> None:
            async with gate:
                await submit(item)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in items))
        return time.perf_counter() - started


async def drain(url: str, queue: Any) -> float:
    from pywats.station import ReportState, Uploader

    async with client(url) as wats:
        uploader = Uploader(queue, wats, concurrency=CONCURRENCY)
        started = time.perf_counter()
        while queue.counts()[ReportState.DONE] < REPORTS:
            if not await uploader.drain():
                await asyncio.sleep(0.01)
        return time.perf_counter() - started


def enqueue_all(path: Path, reports: list[Any]) -> tuple[Any, float]:
    from pywats.station import ReportQueue

    queue = ReportQueue(path, capacity=REPORTS + 1)
    started = time.perf_counter()
    for report in reports:
        queue.enqueue(report, source="bench")
    return queue, time.perf_counter() - started


def enqueue_files(path: Path, reports: list[Any]) -> float:
    """Seconds to queue the reports ``FILE_REPORTS`` at a time, one commit per file."""
    from pywats.station import ReportQueue

    with ReportQueue(path, capacity=REPORTS + 1) as queue:
        started = time.perf_counter()
        for start in range(0, len(reports), FILE_REPORTS):
            queue.enqueue_many(reports[start : start + FILE_REPORTS], source="bench")
        return time.perf_counter() - started


def raw_sqlite(path: Path, reports: list[Any]) -> float:
    """Seconds to insert the payloads with plain sqlite3, one durable commit each."""
    import sqlite3

    payloads = [r.to_wsjf() for r in reports]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    started = time.perf_counter()
    for payload in payloads:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO q (body) VALUES (?)", (payload,))
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def main() -> None:
    process, url = start_emulator()
    raw_times: list[float] = []
    bytes_times: list[float] = []
    drain_times: list[float] = []
    enqueue_times: list[float] = []
    sqlite_times: list[float] = []
    file_times: list[float] = []
    load_before = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_no in range(ROUNDS):
                reports = build_reports(REPORTS, f"R{round_no}")
                sqlite_times.append(raw_sqlite(Path(tmp) / f"raw{round_no}.sqlite", reports))
                queue, seconds = enqueue_all(Path(tmp) / f"queue{round_no}.sqlite", reports)
                enqueue_times.append(seconds)
                file_times.append(enqueue_files(Path(tmp) / f"files{round_no}.sqlite", reports))
                turns = [
                    lambda r=reports: raw_times.append(asyncio.run(raw_submit(url, r))),
                    lambda r=reports: bytes_times.append(
                        asyncio.run(raw_submit(url, r, as_bytes=True))
                    ),
                    lambda q=queue: drain_times.append(asyncio.run(drain(url, q))),
                ]
                if round_no % 2:  # alternate the order: a load change hits all alike
                    turns.reverse()
                try:
                    for turn in turns:
                        reset(url)
                        turn()
                finally:
                    queue.close()
                # Per round too: shows how much the machine's load moves the figures.
                raw_r, bytes_r, drain_r = (
                    REPORTS / t[-1] for t in (raw_times, bytes_times, drain_times)
                )
                print(
                    f"  round {round_no + 1}: submit {raw_r:.0f}/s, submit_wsjf {bytes_r:.0f}/s, "
                    f"drain {drain_r:.0f}/s ({drain_r / max(raw_r, bytes_r):.0%}), "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    finally:
        process.kill()
        process.wait()

    def rate(times: list[float]) -> float:
        return REPORTS * len(times) / sum(times)

    enqueue, raw, drained = rate(enqueue_times), rate(raw_times), rate(drain_times)
    raw_bytes, ceiling, files = rate(bytes_times), rate(sqlite_times), rate(file_times)
    best = max(raw, raw_bytes)
    load = f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    print(f"pywats station: {REPORTS} reports x {ROUNDS} rounds, concurrency {CONCURRENCY}")
    print(f"  ({load}, {os.cpu_count()} CPUs)")
    print(f"  durable enqueue        {enqueue:7.0f} reports/s  (one commit each; target >= 1000)")
    print(f"  raw sqlite3 commit     {ceiling:7.0f} rows/s     (one fsync'd commit each)")
    print(f"  enqueue_many           {files:7.0f} reports/s  ({FILE_REPORTS} per file, one commit)")
    print(f"  AsyncWATS submit       {raw:7.0f} reports/s  (report models)")
    print(f"  AsyncWATS submit_wsjf  {raw_bytes:7.0f} reports/s  (stored bytes)")
    share = f"{drained / best:.0%} of the faster raw rate; target >= 80%"
    print(f"  queue drain            {drained:7.0f} reports/s  ({share})")


if __name__ == "__main__":
    main()

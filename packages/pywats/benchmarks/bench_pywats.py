"""pywats beside pywats-api 0.6.0rc1: report submit throughput and import time, in one run.

Both clients submit the same workload (2,000 generated test reports of 50 steps each) with their
async client at the same bounded concurrency against one emulator process
(``python -m pywats.emulator``), then ``import pywats`` is timed in fresh interpreters.

Run with ``uv run nox -s bench -- pywats``; the session passes the upstream interpreter (a
Python 3.12 venv with ``pywats-api==0.6.0rc1``) in ``UPSTREAM_PYTHON``. Without it, only our
figures are printed. Knobs: ``BENCH_REPORTS`` (default 2000), ``BENCH_CONCURRENCY`` (16).

The upstream client is run as its users would for bulk work: GET cache off (it would serve
stale reads), its process-wide 500-requests-per-minute throttle off (it would cap both at the
same rate and measure nothing), retries at its defaults.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

REPORTS = int(os.environ.get("BENCH_REPORTS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
USER = PASSWORD = "wats"
TOKEN = "d2F0czp3YXRz"  # base64("wats:wats"), the pre-encoded form pywats-api takes

UPSTREAM_SUBMIT = r"""
import asyncio, json, sys, time
from datetime import UTC, datetime
from pywats import AsyncWATS
from pywats.shared.enums import CompOp

url, token, n, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def build(api, i):
    report = api.report.create_uut_report(
        operator="bench", part_number="PN-UP", revision="A", serial_number=f"UP-{i:05d}",
        operation_type=10, station_name="BENCH", location="Lab", purpose="Bench",
        start_time=datetime.now(UTC),
    )
    root = report.get_root_sequence_call()
    for s in range(5):
        seq = root.add_sequence_call(name=f"Block {s}")
        for k in range(9):
            if k % 3 == 0:
                seq.add_numeric_step(name=f"N{k}", value=k * 0.5, unit="V",
                                     comp_op=CompOp.GELE, low_limit=-1.0, high_limit=10.0)
            elif k % 3 == 1:
                seq.add_boolean_step(name=f"B{k}", status="P")
            else:
                seq.add_string_step(name=f"S{k}", value="v", comp_op=CompOp.IGNORECASE, limit="V")
    return report

async def main():
    async with AsyncWATS(base_url=url, token=token, enable_cache=False,
                         enable_throttling=False) as api:
        built = time.perf_counter()
        reports = [build(api, i) for i in range(n)]
        built = time.perf_counter() - built
        gate = asyncio.Semaphore(concurrency)
        async def one(report):
            async with gate:
                await api.report.submit_report(report)
        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(r) for r in reports))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"seconds": elapsed, "cpu": cpu, "build": built}))

asyncio.run(main())
"""

IMPORT_TIME = "import time; t = time.perf_counter(); import pywats; print(time.perf_counter() - t)"
IMPORT_CLIENT_TIME = (
    "import time; t = time.perf_counter(); from pywats import AsyncWATS; "
    "print(time.perf_counter() - t)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        sys.executable, "-m", "pywats.emulator", "--host", "127.0.0.1", "--port", str(port),
        "--username", USER, "--password", PASSWORD, "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    request = urllib.request.Request(f"{url}/api/health")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=1):
                return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the emulator did not start within 30 s")


def build_reports(n: int) -> list[object]:
    from pywats import CompOp, Station, UUTBuilder

    station = Station("BENCH", "Lab", "Bench")
    reports = []
    for i in range(n):
        b = UUTBuilder(
            part_number="PN-OURS",
            serial_number=f"OURS-{i:05d}",
            revision="A",
            process_code=10,
            station=station,
            operator="bench",
            start=datetime.now(UTC),
        )
        for s in range(5):
            seq = b.sequence(f"Block {s}")
            for k in range(9):
                if k % 3 == 0:
                    seq.numeric(f"N{k}", k * 0.5, unit="V", low=-1.0, high=10.0)
                elif k % 3 == 1:
                    seq.passfail(f"B{k}", True)
                else:
                    seq.string(f"S{k}", "v", limit="V", comp=CompOp.IGNORECASE)
        reports.append(b.build())
    return reports


async def submit_ours(url: str, reports: list[object], concurrency: int) -> tuple[float, float]:
    """Submit ``reports``; return (wall seconds, client CPU seconds)."""
    from pywats import AsyncWATS, Station

    async with AsyncWATS(
        url, username=USER, password=PASSWORD, station=Station("BENCH"), trust_env=False
    ) as wats:
        gate = asyncio.Semaphore(concurrency)

        async def one(report: object) -> None:
            async with gate:
                await wats.report.submit(report)  # type: ignore[arg-type]

        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(r) for r in reports))
        return time.perf_counter() - started, time.process_time() - cpu


def submit_upstream(python: str, url: str) -> dict[str, float]:
    """Run the upstream submit script; return its wall, CPU and build seconds."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(UPSTREAM_SUBMIT)
    try:
        out = subprocess.run(
            [python, script.name, url, TOKEN, str(REPORTS), str(CONCURRENCY)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
        )
    finally:
        Path(script.name).unlink()
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def import_time(python: str, code: str, runs: int = 7) -> float:
    times = [
        float(
            subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(times)


def row(label: str, ours: str, theirs: str, note: str = "") -> None:
    print(f"{label:<44} {ours:>14} {theirs:>16}  {note}")


def main() -> int:
    upstream = os.environ.get("UPSTREAM_PYTHON")
    print(f"pywats benchmark: {REPORTS} reports x 50 steps, concurrency {CONCURRENCY}")
    row("", "pywats", "pywats-api 0.6.0rc1")
    process, url = start_emulator()
    try:
        built = time.perf_counter()
        reports = build_reports(REPORTS)
        built = time.perf_counter() - built
        ours, ours_cpu = asyncio.run(submit_ours(url, reports, CONCURRENCY))
        theirs = submit_upstream(upstream, url) if upstream else None
    finally:
        process.terminate()
        process.wait(timeout=10)

    def ratio(mine: float, other: float | None, *, higher: bool) -> str:
        if other is None:
            return "UPSTREAM_PYTHON unset"
        return f"{(mine / other if higher else other / mine):.2f}x"

    up_rate = REPORTS / theirs["seconds"] if theirs else None
    row(
        "submit throughput (reports/s)",
        f"{REPORTS / ours:.0f}",
        f"{up_rate:.0f}" if up_rate else "n/a",
        ratio(REPORTS / ours, up_rate, higher=True) + " (target >= 2x)",
    )
    up_cpu = theirs["cpu"] / REPORTS * 1000 if theirs else None
    row(
        "client CPU per submitted report (ms)",
        f"{ours_cpu / REPORTS * 1000:.2f}",
        f"{up_cpu:.2f}" if up_cpu else "n/a",
        ratio(ours_cpu / REPORTS * 1000, up_cpu, higher=False) + " less CPU",
    )
    up_build = theirs["build"] / REPORTS * 1000 if theirs else None
    row(
        "build one 50-step report (ms)",
        f"{built / REPORTS * 1000:.2f}",
        f"{up_build:.2f}" if up_build else "n/a",
        ratio(built / REPORTS * 1000, up_build, higher=False)
        + " faster"
        + " (ours derives statuses and validates)",
    )
    ours_import = import_time(sys.executable, IMPORT_TIME)
    ours_client = import_time(sys.executable, IMPORT_CLIENT_TIME)
    theirs_import = import_time(upstream, IMPORT_TIME) if upstream else None
    theirs_client = import_time(upstream, IMPORT_CLIENT_TIME) if upstream else None

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 1000:.0f} ms"

    row("import pywats", ms(ours_import), ms(theirs_import), "target <= 300 ms")
    row("from pywats import AsyncWATS", ms(ours_client), ms(theirs_client))
    return 0


if __name__ == "__main__":
    sys.exit(main())

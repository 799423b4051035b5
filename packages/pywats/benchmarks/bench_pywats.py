"""pywats beside pywats-api 0.6.0rc1: report submit throughput and import time, in one run.

Both clients submit the same workload (2,000 generated test reports of 50 steps each) with their
async client at the same bounded concurrency against one emulator process
(``python -m pywats.emulator``), then ``import pywats`` is timed in fresh interpreters.

Fairness. The emulator runs in its own process with uvicorn's C parser and event loop
(httptools, uvloop: the ``emulator`` extra), no request-body logging (``--body-limit 0``) and
no access log, and is reset before each client's turn, so both find an empty store. The
submits are split into rounds that alternate between the clients (``BENCH_ROUNDS``, default
4), so a change in the load of a shared machine hits both alike. The emulator's own CPU per
report is printed for each client: the requests are the same, and it stays below what
either client needs per report, so the figures measure the clients, not the server.

Run with ``uv run nox -s bench -- pywats``; the session passes the upstream interpreter (a
Python 3.12 venv with ``pywats-api==0.6.0rc1``) in ``UPSTREAM_PYTHON``. Without it, only our
figures are printed. Knobs: ``BENCH_REPORTS`` (default 2000), ``BENCH_CONCURRENCY`` (16),
``BENCH_ROUNDS`` (4).

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
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "4")))
USER = PASSWORD = "wats"
TOKEN = "d2F0czp3YXRz"  # base64("wats:wats"), the pre-encoded form pywats-api takes

UPSTREAM_SUBMIT = r"""
import asyncio, json, sys, time
from datetime import UTC, datetime
from pywats import AsyncWATS
from pywats.shared.enums import CompOp

url, token, first, n, concurrency = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])

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
        reports = [build(api, i) for i in range(first, first + n)]
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
        "--body-limit", "0",
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


def reset(url: str) -> None:
    """Clear the emulator's store, faults and request log (each client starts alike)."""
    request = urllib.request.Request(f"{url}/_emulator/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10):
        pass


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) process ``pid`` has used; ``None`` off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_reports(n: int, first: int = 0) -> list[object]:
    from pywats import CompOp, Station, UUTBuilder

    station = Station("BENCH", "Lab", "Bench")
    reports = []
    for i in range(first, first + n):
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


def submit_upstream(python: str, url: str, first: int, n: int) -> dict[str, float]:
    """Run the upstream submit script; return its wall, CPU and build seconds."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(UPSTREAM_SUBMIT)
    try:
        out = subprocess.run(
            [python, script.name, url, TOKEN, str(first), str(n), str(CONCURRENCY)],
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


def _speed(mine: float, other: float | None) -> str:
    """``Nx faster`` or ``Nx slower`` for a time where lower is better."""
    if other is None:
        return "UPSTREAM_PYTHON unset"
    if mine <= other:
        return f"{other / mine:.2f}x faster"
    return f"{mine / other:.2f}x slower"


def row(label: str, ours: str, theirs: str, note: str = "") -> None:
    print(f"{label:<44} {ours:>14} {theirs:>16}  {note}")


def main() -> int:
    upstream = os.environ.get("UPSTREAM_PYTHON")
    print(
        f"pywats benchmark: {REPORTS} reports x 50 steps, concurrency {CONCURRENCY}, "
        f"{ROUNDS} alternating rounds"
    )
    row("", "pywats", "pywats-api 0.6.0rc1")
    process, url = start_emulator()
    # Totals over the rounds: wall seconds, client CPU, build seconds, emulator CPU.
    ours = {"seconds": 0.0, "cpu": 0.0, "build": 0.0, "server": 0.0}
    theirs = {"seconds": 0.0, "cpu": 0.0, "build": 0.0, "server": 0.0}
    server_known = True
    try:
        sizes = [REPORTS // ROUNDS + (1 if r < REPORTS % ROUNDS else 0) for r in range(ROUNDS)]
        first = 0
        for n in sizes:
            reset(url)
            built = time.perf_counter()
            reports = build_reports(n, first)
            ours["build"] += time.perf_counter() - built
            before = cpu_seconds(process.pid)
            wall, cpu = asyncio.run(submit_ours(url, reports, CONCURRENCY))
            after = cpu_seconds(process.pid)
            ours["seconds"] += wall
            ours["cpu"] += cpu
            if before is None or after is None:
                server_known = False
            else:
                ours["server"] += after - before
            if upstream:
                reset(url)
                before = cpu_seconds(process.pid)
                figures = submit_upstream(upstream, url, first, n)
                after = cpu_seconds(process.pid)
                for name in ("seconds", "cpu", "build"):
                    theirs[name] += figures[name]
                if before is not None and after is not None:
                    theirs["server"] += after - before
            first += n
    finally:
        process.terminate()
        process.wait(timeout=10)

    def ratio(mine: float, other: float | None, *, higher: bool) -> str:
        if other is None:
            return "UPSTREAM_PYTHON unset"
        return f"{(mine / other if higher else other / mine):.2f}x"

    def per_report(figures: dict[str, float], name: str) -> float:
        return figures[name] / REPORTS * 1000

    rate = REPORTS / ours["seconds"]
    up_rate = REPORTS / theirs["seconds"] if upstream else None
    row(
        "submit throughput (reports/s)",
        f"{rate:.0f}",
        f"{up_rate:.0f}" if up_rate else "n/a",
        ratio(rate, up_rate, higher=True) + " (target >= 2x)",
    )
    up_cpu = per_report(theirs, "cpu") if upstream else None
    row(
        "client CPU per submitted report (ms)",
        f"{per_report(ours, 'cpu'):.2f}",
        f"{up_cpu:.2f}" if up_cpu else "n/a",
        ratio(per_report(ours, "cpu"), up_cpu, higher=False) + " less CPU",
    )
    if server_known:
        up_server = per_report(theirs, "server") if upstream else None
        row(
            "emulator CPU per report it served (ms)",
            f"{per_report(ours, 'server'):.2f}",
            f"{up_server:.2f}" if up_server else "n/a",
            "server side: same requests, below both clients",
        )
    up_build = per_report(theirs, "build") if upstream else None
    row(
        "build one 50-step report (ms)",
        f"{per_report(ours, 'build'):.2f}",
        f"{up_build:.2f}" if up_build else "n/a",
        _speed(per_report(ours, "build"), up_build)
        + " (ours derives statuses, validates and copies)",
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

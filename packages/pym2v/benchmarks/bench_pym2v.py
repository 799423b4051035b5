"""One year of one-minute data for 5 measurements in 30-day batches, from the emulator.

Run with ``uv run nox -s bench -- pym2v``. Every figure comes from the same run:

* ``pym2v 2.0 sync`` / ``pym2v 2.0 async``: ``get_long_frame_from_names`` of this package;
* ``upstream 0.2.0``: the unmodified ``pym2v==0.2.0`` ``get_long_frame_from_names`` in the
  Python 3.12 venv named by ``UPSTREAM_PYTHON`` (the bench session builds it from
  ``packages/pym2v/upstream/requirements.txt``); skipped, and said so, without it;
* ``floor (orjson)``: the issue's floor, the honest best raw approach: the same requests, at
  most ``max_concurrent_requests`` (5) in flight on one pooled httpx2 connection set, each
  answer decoded with orjson as soon as it arrives and its bytes dropped, no frame built;
* ``transfer only``: the same requests with the answers read and dropped, no decoding at all:
  the lower bound of any client on this machine.

The emulator runs in its own process (``python -m pym2v.emulator``), so its work never lands
on a client's CPU, and has served the year once before any timing, so its cache answers every
variant alike. Each variant runs in a fresh process, several times (the machine may be shared
and noisy: the table shows the best of the runs). Memory is measured the same way for every
variant, from the kernel, so it sees polars' and Rust's allocations too: ``peak MiB`` is the
process's resident high-water mark (``getrusage`` ``ru_maxrss``) and ``fetch MiB`` that peak
minus the resident memory just before the fetch (after imports and login), which is what the
fetch itself needed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPEAT = int(os.environ.get("PYM2V_BENCH_REPEAT", "3"))
CREDENTIALS = {
    "username": "bench",
    "password": "bench-password",
    "client_id": "backend",
    "client_secret": "bench-secret",
}

# Runs in each measured process: prints {"seconds", "rows", "base_kib", "peak_kib"}.
_PRELUDE = textwrap.dedent(
    """
    import json, resource, sys, time
    from datetime import datetime, timedelta, timezone

    def rss():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() // 1024

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    cfg = json.loads(sys.argv[1])
    START = datetime(2025, 1, 1, tzinfo=timezone.utc)
    END = datetime(2026, 1, 1, tzinfo=timezone.utc)
    INTERVAL, BATCH = timedelta(minutes=1), timedelta(days=30)
    """
)

_FLOOR = "floor (orjson)"
_TRANSFER = "transfer only"
# The floor and the transfer-only bound: raw httpx2, the same requests as the clients.
_RAW = """
import asyncio
import httpx2, orjson

async def main(decode):
    s = cfg["settings"]
    limits = httpx2.Limits(max_connections=5, max_keepalive_connections=5)
    async with httpx2.AsyncClient(base_url=s["base_url"], timeout=60, limits=limits) as client:
        form = {"grant_type": "password", "username": s["username"], "password": s["password"],
                "client_id": s["client_id"], "client_secret": s["client_secret"]}
        token = (await client.post(cfg["token_route"], data=form)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        base = rss()
        step = int(BATCH.total_seconds() * 1000)
        start, end = int(START.timestamp() * 1000), int(END.timestamp() * 1000)
        windows = [(a, min(a + step, end)) for a in range(start, end, step)]
        gate = asyncio.Semaphore(5)

        async def one(window):
            body = {"condition": "", "values": cfg["names"], "start": window[0],
                    "end": window[1], "machineUuid": cfg["uuid"], "intervalInS": 60}
            async with gate:
                response = await client.post(cfg["data_route"], json=body, headers=headers)
                content = response.content
                del response
                if not decode:
                    return len(content) and 0
                results = orjson.loads(content)["results"]
                del content
                return sum(len(r["values"]) for r in results) // len(cfg["names"])

        t = time.perf_counter()
        points = await asyncio.gather(*(one(w) for w in windows))
        return base, time.perf_counter() - t, sum(points)

base, seconds, rows = asyncio.run(main(DECODE))
"""
VARIANTS = {
    "pym2v 2.0 sync": """
from pym2v import EurogardAPI, Settings
api = EurogardAPI(Settings(**cfg["settings"]))
api.get_user_info()
base = rss()
t = time.perf_counter()
frame = api.get_long_frame_from_names(cfg["uuid"], cfg["names"], START, END, INTERVAL, BATCH)
seconds = time.perf_counter() - t
rows = frame.height
""",
    "pym2v 2.0 async": """
import asyncio
from pym2v import AsyncEurogardAPI, Settings

async def main():
    async with AsyncEurogardAPI(Settings(**cfg["settings"])) as api:
        await api.get_user_info()
        base = rss()
        t = time.perf_counter()
        frame = await api.get_long_frame_from_names(
            cfg["uuid"], cfg["names"], START, END, INTERVAL, BATCH
        )
        return base, time.perf_counter() - t, frame.height

base, seconds, rows = asyncio.run(main())
""",
    _FLOOR: "DECODE = True" + _RAW,
    _TRANSFER: "DECODE = False" + _RAW,
    "upstream 0.2.0": """
from pym2v.api import EurogardAPI
from pym2v.settings import Settings
api = EurogardAPI(Settings(**cfg["settings"]))
api.get_user_info()
base = rss()
t = time.perf_counter()
frame = api.get_long_frame_from_names(cfg["uuid"], cfg["names"], START, END, INTERVAL, BATCH)
seconds = time.perf_counter() - t
rows = frame.height
""",
}
_REPORT = (
    '\nprint(json.dumps({"seconds": seconds, "rows": rows, "base_kib": base,'
    ' "peak_kib": peak()}))\n'
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_emulator(port: int) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "pym2v.emulator", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--measurements", "5", "--machines", "1", "--log-level", "warning"]
    args += [f"--{key.replace('_', '-')}={value}" for key, value in CREDENTIALS.items()]
    process = subprocess.Popen(args)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    msg = "the emulator did not start within 30 s"
    raise SystemExit(msg)


def _catalogue(url: str) -> tuple[str, list[str]]:
    """The machine uuid and its 5 measurement names, read with pym2v itself."""
    from pym2v import EurogardAPI, Settings

    with EurogardAPI(Settings(base_url=url, **CREDENTIALS)) as api:  # type: ignore[arg-type]
        machine = next(api.iter_machines())
        names = [m.name for m in api.iter_measurements(machine.uuid)]
    return machine.uuid, names


def _run(python: str, variant: str, cfg: dict[str, object]) -> dict[str, float]:
    code = _PRELUDE + VARIANTS[variant] + _REPORT
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [python, "-c", code, json.dumps(cfg)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=900,
    )
    if done.returncode != 0:
        msg = f"{variant} failed:\n{done.stderr[-3000:]}"
        raise RuntimeError(msg)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = _start_emulator(port)
    try:
        uuid, names = _catalogue(url)
        cfg: dict[str, object] = {
            "settings": {"base_url": url, **CREDENTIALS},
            "uuid": uuid,
            "names": names,
            "token_route": "/auth/realms/iiot-platform/protocol/openid-connect/token",
            "data_route": "/backend/machine-controller/postDataByRangeAndInterval",
        }
        print(f"pym2v benchmark: 1 year x 1 min x {len(names)} measurements, 30-day batches")
        print(f"emulator: {url} (separate process); best of {REPEAT} runs, each a fresh process")
        _run(sys.executable, _TRANSFER, cfg)  # warms the emulator's cache
        pythons = dict.fromkeys(VARIANTS, sys.executable)
        upstream = os.environ.get("UPSTREAM_PYTHON")
        if upstream and Path(upstream).exists():
            pythons["upstream 0.2.0"] = upstream
        else:
            del pythons["upstream 0.2.0"]
            print("upstream 0.2.0: skipped (set UPSTREAM_PYTHON, as `nox -s bench` does)")
        # Round-robin, so a burst of load elsewhere on the machine hits every variant alike.
        runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in pythons}
        for _ in range(REPEAT):
            for variant, python in pythons.items():
                runs[variant].append(_run(python, variant, cfg))
        results = {
            variant: {
                "seconds": min(r["seconds"] for r in done),
                "rows": done[0]["rows"],
                "peak_mib": min(r["peak_kib"] for r in done) / 1024,
                "fetch_mib": min(r["peak_kib"] - r["base_kib"] for r in done) / 1024,
            }
            for variant, done in runs.items()
        }
        _print(results)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def _print(results: dict[str, dict[str, float]]) -> None:
    header = f"{'variant':<26}{'seconds':>9}{'rows':>9}{'peak MiB':>10}{'fetch MiB':>11}"
    print(header)
    print("-" * len(header))
    for variant, r in results.items():
        rows = str(int(r["rows"])) if variant != _TRANSFER else "-"
        print(
            f"{variant:<26}{r['seconds']:>9.2f}{rows:>9}"
            f"{r['peak_mib']:>10.0f}{r['fetch_mib']:>11.0f}"
        )
    floor, transfer = results[_FLOOR], results[_TRANSFER]
    upstream = results.get("upstream 0.2.0")
    for variant in ("pym2v 2.0 sync", "pym2v 2.0 async"):
        r = results[variant]
        line = (
            f"{variant}: {r['seconds'] / floor['seconds']:.2f}x the floor's time (target <= 1.5),"
            f" {r['seconds'] / transfer['seconds']:.2f}x the transfer's"
        )
        if upstream:
            line += (
                f"; {upstream['seconds'] / r['seconds']:.1f}x faster than 0.2.0 (target >= 5)"
                f"; fetch memory {r['fetch_mib'] / upstream['fetch_mib']:.2f}x, peak "
                f"{r['peak_mib'] / upstream['peak_mib']:.2f}x 0.2.0's (target <= 0.5)"
            )
        print(line)


if __name__ == "__main__":
    main()

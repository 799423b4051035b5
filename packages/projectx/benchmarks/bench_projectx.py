"""projectx beside project-x-py 4.4.1, against the same emulated Gateway, in one run.

Figures:

* time to ``import projectx`` vs ``import project_x_py`` (fresh interpreters, best of 5);
* 100,000+ one-minute bars fetched into a polars frame (six pages; best of 5, each repetition
  a different window so no client cache answers), wall-clock time and the client's CPU time;
* a cache hit on a 20,000-bar frame: our :class:`projectx.BarCache` alone, and a whole
  ``bars.get`` answered from it, beside project-x-py's ``get_bars`` answered from its cache.

project-x-py runs in its own Python 3.12 venv, given by ``UPSTREAM_PYTHON`` (``nox -s bench``
builds it from ``upstream/requirements.txt``); without it only our figures are printed. The
emulator runs in its own process as ``python -m projectx.emulator`` without rate limits, and
is warmed first (it keeps each closed bar's JSON), so both clients are measured, not the
emulator's bar generation nor the Gateway's budgets.

    uv run nox -s bench -- projectx
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

USER, KEY = "bench", "bench-api-key-0001"
CONTRACT = "CON.F.US.MNQ.Z26"
DAYS = 102  # about 100,000 one-minute bars in the emulator's trading calendar
REPEATS = 5

UPSTREAM = r"""
import asyncio, datetime as dt, json, logging, sys, time
logging.disable(logging.CRITICAL)
from project_x_py import ProjectX, ProjectXConfig

api_url, user, key, symbol, end_iso, days, repeats, hit_start, hit_end = sys.argv[1:10]
end = dt.datetime.fromisoformat(end_iso)

async def main():
    config = ProjectXConfig(api_url=api_url, timezone="UTC")
    async with ProjectX(user, key, config=config) as client:
        await client.authenticate()
        fetch = []
        rows = 0
        for rep in range(int(repeats)):
            stop = end - dt.timedelta(minutes=rep)
            start = stop - dt.timedelta(days=float(days))
            t, cpu = time.perf_counter(), time.process_time()
            frame = await client.get_bars(symbol, interval=1, unit=2, partial=False,
                                          start_time=start, end_time=stop)
            fetch.append((time.perf_counter() - t, time.process_time() - cpu))
            rows = frame.height
        start = dt.datetime.fromisoformat(hit_start)
        stop = dt.datetime.fromisoformat(hit_end)
        frame = await client.get_bars(symbol, interval=1, unit=2, partial=False,
                                      start_time=start, end_time=stop)
        hits = []
        for _ in range(50):
            t = time.perf_counter()
            await client.get_bars(symbol, interval=1, unit=2, partial=False,
                                  start_time=start, end_time=stop)
            hits.append(time.perf_counter() - t)
        hits.sort()
        wall, cpu = min(fetch)
        print(json.dumps({"fetch": wall, "cpu": cpu, "rows": rows, "hit": hits[len(hits) // 2],
                          "hit_rows": frame.height}))

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def emulator() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "projectx.emulator", "--host", "127.0.0.1", "--port", str(port),
         "--username", USER, "--api-key", KEY, "--no-rate-limits", "--log-level", "warning"],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{url}/api/Status/ping", timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("the emulator did not start")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def import_time(python: str, module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [
        float(
            subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
        )
        for _ in range(5)
    ]
    return min(runs)


async def ours(url: str, end: dt.datetime) -> dict[str, Any]:
    from projectx import BarCache, ProjectX, ProjectXSettings

    cache = BarCache()
    settings = ProjectXSettings(api_url=f"{url}/api", username=USER, api_key=KEY)
    async with ProjectX(settings, bar_cache=cache) as px:
        started, cpu = time.perf_counter(), time.process_time()
        frame = await px.bars.get(CONTRACT, end - dt.timedelta(days=DAYS), end)
        fetch, cpu = time.perf_counter() - started, time.process_time() - cpu
        rows = frame.height
        # The newest 20,000 bars of the last window: the same window for both clients.
        start, stop = frame["timestamp"][-20_000], frame["timestamp"][-1]
        frame = await px.bars.get(CONTRACT, start, stop)
        key = next(k for k in cache._entries if k[3] == start.isoformat())
        hits = []
        for _ in range(50):
            started = time.perf_counter()
            await px.bars.get(CONTRACT, start, stop)
            hits.append(time.perf_counter() - started)
        raw = []
        for _ in range(200):
            started = time.perf_counter()
            cache.get(key)
            raw.append(time.perf_counter() - started)
    return {
        "fetch": fetch,
        "cpu": cpu,
        "rows": rows,
        "hit": statistics.median(hits),
        "cache_get": statistics.median(raw),
        "hit_rows": frame.height,
        "hit_start": start.isoformat(),
        "hit_end": stop.isoformat(),
    }


def upstream(python: str, url: str, end: dt.datetime, mine: dict[str, Any]) -> dict[str, float]:
    # Given the contract id: project-x-py's symbol lookup would pick a later month
    # (alphabetically first), whose bars are not the same.
    out = subprocess.run(
        [python, "-c", UPSTREAM, f"{url}/api", USER, KEY, CONTRACT, end.isoformat(), str(DAYS),
         "1", mine["hit_start"], mine["hit_end"]],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def row(name: str, mine: float, theirs: float | None, unit: str, scale: float) -> None:
    ours_text = f"{mine * scale:10.2f} {unit}"
    if theirs is None:
        print(f"  {name:<44} projectx {ours_text}")
        return
    print(
        f"  {name:<44} projectx {ours_text}   project-x-py {theirs * scale:10.2f} {unit}"
        f"   ({theirs / mine:5.1f}x)"
    )


def best(runs: list[dict[str, Any]], key: str) -> float:
    return min(float(r[key]) for r in runs)


def warm(url: str, end: dt.datetime) -> None:
    """Have the emulator compute every bar of every window once, before any timing."""
    from projectx import ProjectX, ProjectXSettings

    async def fetch() -> None:
        settings = ProjectXSettings(api_url=f"{url}/api", username=USER, api_key=KEY)
        async with ProjectX(settings) as px:
            await px.bars.get(CONTRACT, end - dt.timedelta(days=DAYS + 1), end)

    asyncio.run(fetch())


def main() -> None:
    python = os.environ.get("UPSTREAM_PYTHON")
    print(f"projectx vs project-x-py 4.4.1 (same emulator, same machine; best of {REPEATS})")
    mine_import = import_time(sys.executable, "projectx")
    theirs_import = import_time(python, "project_x_py") if python else None
    row("import (target <= 0.2 s)", mine_import, theirs_import, "ms", 1000)
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(hours=1)
    mine: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    # The emulator is its own process (its CPU is not either client's) and is warmed first,
    # so both clients fetch from a server that only slices and sends bars it already has.
    with emulator() as url:
        warm(url, end)
        # Alternate the two clients so that a change in machine load hits both alike;
        # each repetition fetches a window one minute earlier (no client cache answers).
        for rep in range(REPEATS):
            at = end - dt.timedelta(minutes=rep)
            mine.append(asyncio.run(ours(url, at)))
            if python:
                theirs.append(upstream(python, url, at, mine[-1]))
    first, other = mine[0], theirs[0] if theirs else None
    label = f"{int(first['rows']):,} 1-min bars into a frame (>= 1.5x)"
    row(label, best(mine, "fetch"), theirs and best(theirs, "fetch"), "ms", 1000)
    row(
        "  the same, client CPU time", best(mine, "cpu"), theirs and best(theirs, "cpu"), "ms", 1000
    )
    if other is not None and other["rows"] != first["rows"]:
        print(f"    (project-x-py returned {int(other['rows']):,} bars for the same window)")
    row(
        f"cache hit, {int(first['hit_rows']):,}-bar frame, bars.get",
        best(mine, "hit"),
        theirs and best(theirs, "hit"),
        "ms",
        1000,
    )
    row("cache hit, BarCache.get alone (target < 1 ms)", best(mine, "cache_get"), None, "ms", 1000)


if __name__ == "__main__":
    main()

"""Per-request overhead of corekit.http over bare httpx2, against one loopback uvicorn server.

Each row measures N sequential GETs of a small JSON document after a warm-up, in several
rounds interleaved with the reference client, and reports the median round in µs/request.

Run: ``uv run nox -s bench -- http``, or
``python packages/corekit/benchmarks/bench_http.py [N] [ROUNDS]`` in the development venv.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

from corekit.breaker import CircuitBreaker
from corekit.http import AsyncClient, Client
from corekit.ratelimit import Rate, RateLimiter
from corekit.testing import serve

N = int(sys.argv[1]) if len(sys.argv) > 1 else 400
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
WARMUP = 100
TARGET = 10.0  # percent

BODY = b'{"id":1,"name":"sensor","value":21.5}'


async def app(
    scope: dict[str, Any], _receive: Callable[..., Any], send: Callable[..., Any]
) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def limited_kwargs() -> dict[str, Any]:
    return {
        "rate_limiter": RateLimiter({"default": [Rate(10**9, 1.0)]}),
        "breaker": CircuitBreaker(),
    }


def time_sync(get: Callable[[str], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        get("/item")
    return (time.perf_counter() - start) / n * 1e6


async def time_async(get: Callable[[str], Awaitable[Any]], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await get("/item")
    return (time.perf_counter() - start) / n * 1e6


def bench_sync(url: str) -> dict[str, float]:
    with (
        httpx2.Client(base_url=url) as bare,
        Client(url) as default,
        Client(url, **limited_kwargs()) as limited,
    ):
        clients = {"httpx2": bare.get, "default": default.get, "limited": limited.get}
        for get in clients.values():
            time_sync(get, WARMUP)
        rounds: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(ROUNDS):
            for name, get in clients.items():
                rounds[name].append(time_sync(get, N))
    return {name: statistics.median(values) for name, values in rounds.items()}


async def bench_async(url: str) -> dict[str, float]:
    async with (
        httpx2.AsyncClient(base_url=url) as bare,
        AsyncClient(url) as default,
        AsyncClient(url, **limited_kwargs()) as limited,
    ):
        clients = {"httpx2": bare.get, "default": default.get, "limited": limited.get}
        for get in clients.values():
            await time_async(get, WARMUP)
        rounds: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(ROUNDS):
            for name, get in clients.items():
                rounds[name].append(await time_async(get, N))
    return {name: statistics.median(values) for name, values in rounds.items()}


def main() -> int:
    with serve(app) as served:
        sync = bench_sync(served.url)
        async_ = asyncio.run(bench_async(served.url))
    print(f"corekit.http vs bare httpx2: {N} sequential GETs x {ROUNDS} rounds, median round")
    header = (
        f"{'figure':<44} {'corekit µs':>10} {'httpx2 µs':>10} {'ratio':>6} {'overhead':>9}  target"
    )
    print(header)
    print("-" * len(header))
    rows = [
        ("Client (defaults)", sync["default"], sync["httpx2"]),
        ("Client + RateLimiter + CircuitBreaker", sync["limited"], sync["httpx2"]),
        ("AsyncClient (defaults)", async_["default"], async_["httpx2"]),
        ("AsyncClient + RateLimiter + CircuitBreaker", async_["limited"], async_["httpx2"]),
    ]
    for label, ours, ref in rows:
        overhead = (ours / ref - 1.0) * 100.0
        print(
            f"{label:<44} {ours:>10.1f} {ref:>10.1f} {ours / ref:>6.3f} {overhead:>+8.1f}%"
            f"  <= {TARGET:g}%"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Cost of an uncontended, immediately granted rate-limiter acquire (µs per call).

corekit's RateLimiter against aiolimiter.AsyncLimiter, both with a limit so large that nothing
ever waits, measured in the same run on the real clock. Best of several interleaved rounds, so
noise from other processes on the machine counts against neither side. The Redis limiter's cost
is printed for information (a network round trip; no reference).

Run: ``uv run nox -s bench -- ratelimit``, or
``python packages/corekit/benchmarks/bench_ratelimit.py`` (needs Redis on 127.0.0.1:6379).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from aiolimiter import AsyncLimiter

from corekit.ratelimit import Rate, RateLimiter, RedisRateLimiter

CALLS = 100_000
ROUNDS = 7
REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_CALLS = 2_000
HUGE = 10**9  # per second: never waits


def time_sync(call: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls * 1e6


async def time_async(call: Callable[[], Awaitable[object]], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - started) / calls * 1e6


async def measure_local() -> dict[str, float]:
    reference = AsyncLimiter(HUGE, 1)
    limiter = RateLimiter({"default": [Rate(HUGE, 1)]})
    best = dict.fromkeys(("aiolimiter", "aacquire", "acquire", "try_acquire"), float("inf"))
    for _ in range(ROUNDS):
        best["aiolimiter"] = min(best["aiolimiter"], await time_async(reference.acquire, CALLS))
        best["aacquire"] = min(best["aacquire"], await time_async(limiter.aacquire, CALLS))
        best["acquire"] = min(best["acquire"], time_sync(limiter.acquire, CALLS))
        best["try_acquire"] = min(best["try_acquire"], time_sync(limiter.try_acquire, CALLS))
    return best


async def measure_redis() -> dict[str, float] | str:
    import redis

    prefix = f"corekit-bench:{uuid.uuid4().hex}:"
    store = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        store.ping()
    except redis.RedisError as exc:
        store.close()
        return f"Redis not reachable ({exc})"
    try:
        async with RedisRateLimiter(REDIS_URL, {"default": [Rate(HUGE, 1)]}, prefix=prefix) as lim:
            lim.acquire()  # connect and load the script before timing
            await lim.aacquire()
            sync_cost = min(time_sync(lim.acquire, REDIS_CALLS) for _ in range(3))
            async_cost = min([await time_async(lim.aacquire, REDIS_CALLS) for _ in range(3)])
    finally:
        for key in store.scan_iter(match=f"{prefix}*"):
            store.delete(key)
        store.close()
    return {"acquire": sync_cost, "aacquire": async_cost}


def main() -> None:
    local = asyncio.run(measure_local())
    remote = asyncio.run(measure_redis())
    reference = local["aiolimiter"]
    header = (
        f"{'figure (µs per granted call)':<50}{'corekit':>9}{'reference':>11}{'ratio':>8}  target"
    )
    print(header)
    print("-" * (len(header) + 20))
    target = "corekit <= aiolimiter (ratio <= 1.00)"
    for name in ("aacquire", "acquire", "try_acquire"):
        print(
            f"{'RateLimiter.' + name + ' vs AsyncLimiter.acquire':<50}"
            f"{local[name]:>9.3f}{reference:>11.3f}{local[name] / reference:>8.2f}  {target}"
        )
    if isinstance(remote, str):
        print(f"{'RedisRateLimiter (info)':<50}  skipped: {remote}")
    else:
        for name, cost in remote.items():
            print(f"{'RedisRateLimiter.' + name:<50}{cost:>9.1f}{'-':>11}{'-':>8}  info")


if __name__ == "__main__":
    main()

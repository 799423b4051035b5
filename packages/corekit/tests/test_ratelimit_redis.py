"""RedisRateLimiter against the real Redis on 127.0.0.1:6379 (it must be running)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import redis
import redis.asyncio

from corekit.clock import SystemClock
from corekit.errors import ConfigurationError, OperationError, RateLimitExceededError
from corekit.ratelimit import Limiter, Rate, RedisRateLimiter
from corekit.testing import FakeClock

REDIS_URL = "redis://127.0.0.1:6379/0"
START_REDIS = "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"


class Face:
    """Drives a limiter through its sync or its async face with the same call."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def acquire(self, limiter: Limiter, bucket: str = "default", **kwargs: Any) -> None:
        if self.name == "sync":
            limiter.acquire(bucket, **kwargs)
        else:
            await limiter.aacquire(bucket, **kwargs)


@pytest.fixture(params=["sync", "async"])
def face(request: pytest.FixtureRequest) -> Face:
    return Face(request.param)


class RecordingClock(SystemClock):
    """Real time and real sleeps (waits come from Redis TIME), but remembered."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().asleep(seconds)


@pytest.fixture
def store() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.fail(
            f"these tests need Redis on 127.0.0.1:6379 ({exc}); start it with: {START_REDIS}"
        )
    yield client
    client.close()


@pytest.fixture
def prefix(store: redis.Redis) -> Iterator[str]:
    prefix = f"corekit-test:{uuid.uuid4().hex}:"
    yield prefix
    for key in store.scan_iter(match=f"{prefix}*"):
        store.delete(key)


def keys_under(store: redis.Redis, prefix: str) -> list[bytes]:
    return sorted(store.scan_iter(match=f"{prefix}*"))


@pytest.mark.anyio
async def test_grants_up_to_the_limit_then_waits(face: Face, prefix: str) -> None:
    clock = RecordingClock()
    async with RedisRateLimiter(
        REDIS_URL, {"default": [Rate(3, 1.0)]}, prefix=prefix, clock=clock
    ) as limiter:
        started = time.monotonic()
        for _ in range(3):
            await face.acquire(limiter)
        assert clock.sleeps == []
        await face.acquire(limiter)
        assert time.monotonic() - started >= 0.99
        assert clock.sleeps
        assert all(0 < wait <= 1.0 for wait in clock.sleeps)


@pytest.mark.anyio
async def test_timeout_refuses_up_front(face: Face, prefix: str) -> None:
    clock = FakeClock()  # only sleeps and timeouts use it: proves nothing slept
    async with RedisRateLimiter(
        REDIS_URL, {"default": [Rate(1, 3.0)]}, prefix=prefix, clock=clock
    ) as limiter:
        await face.acquire(limiter, key="k")
        with pytest.raises(RateLimitExceededError) as caught:
            await face.acquire(limiter, key="k", timeout=0.1)
        assert caught.value.bucket == "default"
        assert 1.0 < caught.value.retry_after <= 3.0
        assert clock.sleeps == []


def test_several_rates_weights_and_keys(prefix: str) -> None:
    with RedisRateLimiter(
        REDIS_URL, {"default": [Rate(3, 1.0), Rate(4, 30)]}, prefix=prefix
    ) as limiter:
        assert limiter.try_acquire(weight=2) == 0.0
        wait = limiter.try_acquire(weight=2)
        assert 0 < wait <= 1.0
        time.sleep(wait)
        assert limiter.try_acquire(weight=2) == 0.0  # the 1 s window emptied
        assert limiter.try_acquire(weight=1) > 25.0  # 4 per 30 s is spent
        assert limiter.try_acquire(key="other", weight=3) == 0.0


def test_a_lost_running_total_is_rebuilt_from_the_log(store: redis.Redis, prefix: str) -> None:
    with RedisRateLimiter(REDIS_URL, {"default": [Rate(5, 10)]}, prefix=prefix) as limiter:
        assert limiter.try_acquire(weight=2) == 0.0
        assert limiter.try_acquire(weight=2) == 0.0
        (total,) = [key for key in keys_under(store, prefix) if key.endswith(b":sum")]
        assert store.get(total) == b"4"
        store.delete(total)  # as an eviction would
        assert limiter.try_acquire(weight=2) > 9.0
        assert limiter.try_acquire(weight=1) == 0.0
        assert store.get(total) == b"5"


def test_a_lost_log_resets_the_window_instead_of_lifting_the_limit(
    store: redis.Redis, prefix: str
) -> None:
    with RedisRateLimiter(REDIS_URL, {"default": [Rate(3, 10)]}, prefix=prefix) as limiter:
        assert [limiter.try_acquire() for _ in range(3)] == [0.0] * 3
        (log,) = [key for key in keys_under(store, prefix) if not key.endswith(b":sum")]
        store.delete(log)  # evicted; its running total survives
        # The log is the truth: an empty window grants the limit again, and no more.
        waits = [limiter.try_acquire() for _ in range(5)]
        assert waits[:3] == [0.0] * 3
        assert all(wait > 9.0 for wait in waits[3:])


def test_a_rebuilt_running_total_expires_with_its_log(store: redis.Redis, prefix: str) -> None:
    # Redis keeps the time here (the script reads TIME), so this test waits for real; the
    # margins are wide enough for a loaded machine.
    with RedisRateLimiter(REDIS_URL, {"default": [Rate(2, 1.2)]}, prefix=prefix) as limiter:
        assert limiter.try_acquire() == 0.0
        time.sleep(0.6)
        assert limiter.try_acquire() == 0.0
        (total,) = [key for key in keys_under(store, prefix) if key.endswith(b":sum")]
        store.delete(total)  # evicted
        time.sleep(0.7)  # the first grant left the window; the second is still in it
        assert limiter.try_acquire(weight=2) > 0  # rebuilds the total (1) and refuses
        assert store.get(total) == b"1"
        with store.pipeline(transaction=True) as pipe:  # both TTLs read at the same instant
            total_ttl, log_ttl = pipe.pttl(total).pttl(total.removesuffix(b":sum")).execute()
        assert 0 < total_ttl <= log_ttl
        time.sleep(0.7)  # the second grant left too: nothing may stay behind
        assert keys_under(store, prefix) == []
        assert limiter.try_acquire(weight=2) == 0.0


def test_misuse_is_reported_before_touching_redis(prefix: str) -> None:
    with RedisRateLimiter(
        "redis://127.0.0.1:1/0", {"bars": [Rate(5, 1)], "default": [Rate(9, 1)]}, prefix=prefix
    ) as limiter:
        with pytest.raises(ConfigurationError, match=r"bucket='x'.*'bars', 'default'"):
            limiter.try_acquire("x")
        with pytest.raises(ConfigurationError, match=r"from 1 to 5 .*weight=6"):
            limiter.acquire("bars", weight=6)
        with pytest.raises(ConfigurationError, match="timeout must be None"):
            limiter.acquire(timeout=-1)
    with pytest.raises(ConfigurationError, match="non-empty mapping"):
        RedisRateLimiter(REDIS_URL, {})
    with pytest.raises(ConfigurationError, match=r"must be a Redis URL.*got int"):
        RedisRateLimiter(6379, {"default": [Rate(1, 1)]})  # type: ignore[arg-type]


def test_two_limiters_share_one_quota(prefix: str) -> None:
    limiters = [
        RedisRateLimiter(REDIS_URL, {"default": [Rate(15, 10)]}, prefix=prefix) for _ in range(2)
    ]
    start = threading.Barrier(6)
    granted: list[int] = []

    def hammer(limiter: RedisRateLimiter) -> None:
        start.wait()
        granted.append(sum(limiter.try_acquire(key="shared") == 0.0 for _ in range(20)))

    threads = [threading.Thread(target=hammer, args=(limiters[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for limiter in limiters:
        limiter.close()
    assert sum(granted) == 15


@pytest.mark.anyio
async def test_async_limiters_share_one_quota(prefix: str) -> None:
    granted: list[int] = []
    async with (
        RedisRateLimiter(REDIS_URL, {"default": [Rate(12, 10)]}, prefix=prefix) as one,
        RedisRateLimiter(REDIS_URL, {"default": [Rate(12, 10)]}, prefix=prefix) as two,
    ):

        async def hammer(limiter: RedisRateLimiter) -> None:
            for _ in range(10):
                try:
                    await limiter.aacquire(key="shared", timeout=0)
                except RateLimitExceededError:
                    continue
                granted.append(1)

        async with anyio.create_task_group() as tg:
            for limiter in (one, two, one, two):
                tg.start_soon(hammer, limiter)
    assert len(granted) == 12


CHILD = """
import sys
from corekit.ratelimit import Rate, RedisRateLimiter

url, prefix, limit, tries = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with RedisRateLimiter(url, {"default": [Rate(limit, 30)]}, prefix=prefix) as limiter:
    limiter.try_acquire(key="warm-up")
    print("ready", flush=True)
    sys.stdin.readline()
    print(sum(limiter.try_acquire(key="shared") == 0.0 for _ in range(tries)), flush=True)
"""


def test_another_process_shares_the_quota(prefix: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, REDIS_URL, prefix, "40", "100"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        with RedisRateLimiter(REDIS_URL, {"default": [Rate(40, 30)]}, prefix=prefix) as limiter:
            limiter.try_acquire(key="warm-up")
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
            mine = sum(limiter.try_acquire(key="shared") == 0.0 for _ in range(100))
        out, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0
    assert mine + int(out) == 40


def test_idle_keys_expire(store: redis.Redis, prefix: str) -> None:
    with RedisRateLimiter(REDIS_URL, {"default": [Rate(2, 0.5)]}, prefix=prefix) as limiter:
        assert limiter.try_acquire(key="k") == 0.0
        keys = keys_under(store, prefix)
        assert len(keys) == 2  # the log and its running total
        assert all(0 < store.pttl(key) <= 500 for key in keys)
        time.sleep(0.8)
        assert keys_under(store, prefix) == []
        assert limiter.try_acquire(key="k", weight=2) == 0.0


def test_missing_redis_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'corekit\[redis\]'"):
        RedisRateLimiter(REDIS_URL, {"default": [Rate(1, 1)]})


@pytest.mark.anyio
async def test_given_clients_serve_their_face_and_stay_open(prefix: str) -> None:
    sync_client = redis.Redis.from_url(REDIS_URL)
    async_client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        buckets = {"default": [Rate(5, 10)]}
        with RedisRateLimiter(sync_client, buckets, prefix=prefix) as limiter:
            limiter.acquire()
            with pytest.raises(ConfigurationError, match="pass a Redis URL"):
                await limiter.aacquire()
        assert sync_client.ping()
        async with RedisRateLimiter(async_client, buckets, prefix=prefix) as alimiter:
            await alimiter.aacquire()
            with pytest.raises(ConfigurationError, match="pass a Redis URL"):
                alimiter.try_acquire()
        assert await async_client.ping()
        assert limiter.try_acquire(weight=4) > 0  # both grants landed in the same quota
    finally:
        sync_client.close()
        await async_client.aclose()


@pytest.mark.anyio
async def test_unreachable_redis_is_an_operation_error(face: Face) -> None:
    async with RedisRateLimiter(
        "redis://:hunter2@127.0.0.1:1/0", {"default": [Rate(1, 1)]}
    ) as limiter:
        with pytest.raises(OperationError, match=r"Redis.*unavailable") as caught:
            await face.acquire(limiter)
    assert isinstance(caught.value.__cause__, redis.ConnectionError)
    assert "hunter2" not in str(caught.value)


def test_satisfies_the_limiter_protocol() -> None:
    limiter = RedisRateLimiter(REDIS_URL, {"default": [Rate(1, 1)]})
    assert isinstance(limiter, Limiter)
    assert repr(limiter) == "RedisRateLimiter({'default': [1 per 1s]}, prefix='corekit:rl:')"
    limiter.close()


def test_bucket_and_key_names_cannot_collide(prefix: str) -> None:
    buckets = {"a:b": [Rate(1, 30)], "a": [Rate(1, 30)]}
    with RedisRateLimiter(REDIS_URL, buckets, prefix=prefix) as limiter:
        assert limiter.try_acquire("a:b", key="c") == 0.0
        assert limiter.try_acquire("a", key="b:c") == 0.0  # another quota altogether
        assert limiter.try_acquire("a", key="b:c") > 0

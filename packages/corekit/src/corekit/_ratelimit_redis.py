"""The Redis-backed sliding-window rate limiter: several processes sharing one quota.

Written by hand rather than on pyrate-limiter's Redis bucket (reference/aesthetics.md §B.2 named
it as the fallback): pyrate-limiter stores one log entry per unit of weight, runs a background
thread and waits with real sleeps, and it would be a second limiter with its own semantics next
to :class:`~corekit.ratelimit.RateLimiter`. Here one Lua script of about sixty lines (run with
EVALSHA through redis-py's ``register_script``, which falls back to EVAL) checks and records a
grant atomically, using the Redis server's ``TIME`` so processes with skewed clocks agree.

Per bucket, key and rate there are two Redis keys sharing one hash tag (so they live on one
Redis Cluster slot): a sorted set logging grants (score: grant time in microseconds, member:
``weight:unique-id``) and a running total of the weights in the window (rebuilt from the log if
it goes missing, and ignored if the log went missing). Both get a PEXPIRE of the period on
every grant, and the total never outlives the log, so a key that goes idle vanishes once its
window is empty. The script returns 0 for a grant or the wait in milliseconds (rounded up);
the caller sleeps with its injected clock and asks again.
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
import threading
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from corekit._ratelimit_core import (
    Rate,
    WaitingLimiter,
    bad_weight,
    normalize_buckets,
    unknown_bucket,
)
from corekit.clock import Clock, system_clock
from corekit.closing import AsyncClosing, Closing
from corekit.errors import ConfigurationError, OperationError

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    from redis.commands.core import AsyncScript, Script

__all__ = ["RedisRateLimiter"]

logger = logging.getLogger(__name__)

# KEYS: per rate, the log (sorted set) and its running total, in pairs.
# ARGV: weight, unique member id, then per rate: limit, period in microseconds.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local weight = tonumber(ARGV[1])
local rates = #KEYS / 2
local totals = {}
local wait = 0
local function weight_of(member)
  return tonumber(string.match(member, '^(%d+)'))
end
for i = 1, rates do
  local log, sum = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, period = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
  -- The log is the truth: without it (idle, or evicted) the window is empty, whatever a
  -- surviving running total says.
  local total = 0
  if redis.call('EXISTS', log) == 1 then
    total = tonumber(redis.call('GET', sum))
    if not total then
      -- No running total (evicted): rebuild it from the log.
      total = 0
      for _, member in ipairs(redis.call('ZRANGE', log, 0, -1)) do
        total = total + weight_of(member)
      end
    end
  end
  local expired = redis.call('ZRANGEBYSCORE', log, '-inf', now - period)
  if #expired > 0 then
    for _, member in ipairs(expired) do
      total = total - weight_of(member)
    end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - period)
    local ttl = redis.call('PTTL', log)
    if total > 0 and ttl > 0 then
      -- The log's TTL, not KEEPTTL: a rebuilt total has none and must not outlive the log.
      redis.call('SET', sum, total, 'PX', ttl)
    else
      redis.call('DEL', sum)
    end
  end
  totals[i] = total
  if total + weight > limit then
    -- Every entry weighs at least 1, so the one that frees enough is among the first `need`.
    local need = total + weight - limit
    local oldest = redis.call('ZRANGE', log, 0, need - 1, 'WITHSCORES')
    for j = 1, #oldest, 2 do
      need = need - weight_of(oldest[j])
      if need <= 0 then
        wait = math.max(wait, tonumber(oldest[j + 1]) + period - now)
        break
      end
    end
  end
end
if wait > 0 then
  return math.ceil(wait / 1000)
end
local member = ARGV[1] .. ':' .. ARGV[2]
for i = 1, rates do
  local log, sum = KEYS[2 * i - 1], KEYS[2 * i]
  local ttl = math.ceil(tonumber(ARGV[2 * i + 2]) / 1000)
  redis.call('ZADD', log, now, member)
  redis.call('PEXPIRE', log, ttl)
  redis.call('SET', sum, totals[i] + weight, 'PX', ttl)
end
return 0
"""

_INSTALL_HINT = "RedisRateLimiter needs the redis package: pip install 'corekit[redis]'"


def _import_redis() -> ModuleType:
    try:
        import redis
        import redis.asyncio
    except ImportError as exc:
        raise ConfigurationError(_INSTALL_HINT) from exc
    return redis


class _RedisBucket:
    __slots__ = ("args", "max_weight", "rates", "suffixes")

    def __init__(self, rates: tuple[Rate, ...]) -> None:
        self.rates = rates
        self.max_weight = min(rate.limit for rate in rates)
        periods = [math.ceil(rate.period * 1_000_000) for rate in rates]
        # The rate is part of the key name: a changed configuration starts afresh instead of
        # reading counts made under other limits.
        self.suffixes = [
            suffix
            for rate, period in zip(rates, periods, strict=True)
            for suffix in (f":{rate.limit}/{period}", f":{rate.limit}/{period}:sum")
        ]
        self.args = [
            value
            for rate, period in zip(rates, periods, strict=True)
            for value in (rate.limit, period)
        ]


class RedisRateLimiter(WaitingLimiter, Closing, AsyncClosing):
    """Sliding-window rate limiter whose state lives in Redis, for processes sharing a quota.

    Same buckets, keys, weights and semantics as :class:`~corekit.ratelimit.RateLimiter`, and
    the same :class:`~corekit.ratelimit.Limiter` protocol. Time comes from the Redis server,
    so processes on machines with skewed clocks agree; ``clock`` is only used to sleep and to
    measure timeouts. Requires Redis >= 6.0::

        limiter = RedisRateLimiter("redis://127.0.0.1:6379/0", {"default": [Rate(200, 60)]})
        limiter.acquire(key="account-7")
        limiter.close()

    Args:
        redis_url_or_client: a Redis URL (both a sync and an async client are built from it on
            first use and closed by :meth:`close` / :meth:`aclose`), or an existing
            ``redis.Redis`` (sync face only) or ``redis.asyncio.Redis`` (async face only)
            client, which stays the caller's to close.
        buckets: bucket name to a :class:`Rate` or a list of rates.
        prefix: prepended to every Redis key this limiter uses.
        clock: sleeper for waits and time source for timeouts.

    Raises:
        ConfigurationError: for a bad bucket configuration or client, or if the ``redis``
            package is not installed.
    """

    def __init__(
        self,
        redis_url_or_client: str | redis.Redis | redis.asyncio.Redis,
        buckets: Mapping[str, Rate | Iterable[Rate]],
        *,
        prefix: str = "corekit:rl:",
        clock: Clock = system_clock,
    ) -> None:
        self._buckets = {
            name: _RedisBucket(rates) for name, rates in normalize_buckets(buckets).items()
        }
        self._redis = _import_redis()
        self._url: str | None = None
        self._sync: redis.Redis | None = None
        self._async: redis.asyncio.Redis | None = None
        if isinstance(redis_url_or_client, str):
            self._url = redis_url_or_client
        elif isinstance(redis_url_or_client, self._redis.asyncio.Redis):
            self._async = redis_url_or_client
        elif isinstance(redis_url_or_client, self._redis.Redis):
            self._sync = redis_url_or_client
        else:
            msg = (
                "redis_url_or_client must be a Redis URL, a redis.Redis or a "
                f"redis.asyncio.Redis, got {type(redis_url_or_client).__name__}"
            )
            raise ConfigurationError(msg)
        self._owned = self._url is not None
        self._sync_script: Script | None = None
        self._async_script: AsyncScript | None = None
        self._prefix = prefix
        self._clock = clock
        self._build_lock = threading.Lock()
        self._member = secrets.token_hex(8)
        self._sequence = itertools.count()

    @property
    def buckets(self) -> dict[str, tuple[Rate, ...]]:
        """The configured buckets and their rates."""
        return {name: bucket.rates for name, bucket in self._buckets.items()}

    def _prepare(self, bucket: str, key: str, weight: int) -> tuple[list[str], list[Any]]:
        spec = self._buckets.get(bucket)
        if spec is None:
            raise unknown_bucket(bucket, self._buckets)
        if type(weight) is not int or not 0 < weight <= spec.max_weight:
            raise bad_weight(bucket, weight, spec.rates)
        # The bucket's length keeps ("a:b", "c") and ("a", "b:c") apart; the braces make one
        # Redis Cluster hash tag, so every key of one (bucket, key) lives on one slot.
        base = f"{self._prefix}{{{len(bucket)}:{bucket}:{key}}}"
        keys = [base + suffix for suffix in spec.suffixes]
        return keys, [weight, f"{self._member}:{next(self._sequence)}", *spec.args]

    def _sync_face(self) -> tuple[redis.Redis, Script]:
        with self._build_lock:
            if self._sync is None:
                if self._url is None:
                    msg = (
                        "this RedisRateLimiter was given a redis.asyncio.Redis client, so only "
                        "aacquire() works; pass a Redis URL to use both faces"
                    )
                    raise ConfigurationError(msg)
                self._sync = self._redis.Redis.from_url(self._url)
            if self._sync_script is None:
                self._sync_script = self._sync.register_script(_SCRIPT)
            return self._sync, self._sync_script

    def _async_face(self) -> tuple[redis.asyncio.Redis, AsyncScript]:
        with self._build_lock:
            if self._async is None:
                if self._url is None:
                    msg = (
                        "this RedisRateLimiter was given a sync redis.Redis client, so only "
                        "try_acquire() and acquire() work; pass a Redis URL to use both faces"
                    )
                    raise ConfigurationError(msg)
                self._async = self._redis.asyncio.Redis.from_url(self._url)
            if self._async_script is None:
                self._async_script = self._async.register_script(_SCRIPT)
            return self._async, self._async_script

    def _unavailable(self, exc: Exception) -> OperationError:
        # The URL may hold a password, so the message names only what redis-py reported.
        msg = f"the rate-limit store (Redis) is unavailable: {exc}"
        return OperationError(msg)

    def try_acquire(self, bucket: str = "default", *, key: str = "", weight: int = 1) -> float:
        """Grant now if every rate of ``bucket`` allows ``weight`` more for ``key``.

        Returns:
            ``0.0`` if granted; otherwise nothing is granted and the result is the number of
            seconds (to the millisecond, rounded up) until the request could be granted.

        Raises:
            ConfigurationError: for an unknown bucket or a weight that could never be granted.
            OperationError: if Redis cannot be reached.
        """
        return self._grant(bucket, key, weight)

    def _grant(self, bucket: str, key: str, weight: int) -> float:
        keys, args = self._prepare(bucket, key, weight)
        client, script = self._sync_face()
        try:
            waited_ms = script(keys=keys, args=args, client=client)
        except self._redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        return int(waited_ms) / 1000

    async def _agrant(self, bucket: str, key: str, weight: int) -> float:
        keys, args = self._prepare(bucket, key, weight)
        client, script = self._async_face()
        try:
            waited_ms = await script(keys=keys, args=args, client=client)
        except self._redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        return int(waited_ms) / 1000

    def close(self) -> None:
        """Close the sync client this limiter built from a URL (a given client is left open).

        An async client built from the URL needs :meth:`aclose` instead.
        """
        if not self._owned:
            return
        with self._build_lock:
            client, self._sync, self._sync_script = self._sync, None, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the clients (sync and async) this limiter built from a URL."""
        if not self._owned:
            return
        with self._build_lock:
            client, self._async, self._async_script = self._async, None, None
        if client is not None:
            await client.aclose()
        self.close()

    def __repr__(self) -> str:
        rates = ", ".join(
            f"{name!r}: [{', '.join(map(str, b.rates))}]" for name, b in self._buckets.items()
        )
        return f"RedisRateLimiter({{{rates}}}, prefix={self._prefix!r})"

"""Rate limiting: sliding-window limits with named buckets, sync and async.

* :class:`Rate` -- at most ``limit`` grants in any window of ``period`` seconds.
* :class:`RateLimiter` -- in one process; buckets with several rates each, state per key.
* :class:`RedisRateLimiter` -- the same for several processes sharing one quota (needs the
  ``corekit[redis]`` extra).
* :class:`Limiter` -- the protocol both satisfy (what the HTTP pipeline accepts).

A limiter that cannot grant in time raises :class:`corekit.errors.RateLimitExceededError`.
"""

from __future__ import annotations

from corekit._ratelimit_core import Limiter, Rate
from corekit._ratelimit_local import RateLimiter
from corekit._ratelimit_redis import RedisRateLimiter

__all__ = ["Limiter", "Rate", "RateLimiter", "RedisRateLimiter"]

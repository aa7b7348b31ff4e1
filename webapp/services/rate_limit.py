"""A rate limit shared by every process that calls one Nmbrs host: a token bucket in Redis.

Nmbrs allows 150 calls per second and slows down anyone above it; Brygga stays under its own
limit (100 calls/s by default) across all workers together. The bucket is a GCRA ("generic cell
rate algorithm"): every call reserves the next free slot `1/rate` seconds after the previous
one, on Redis' clock, and sleeps until its slot. With a burst of 1 no window of one second ever
holds more than `rate` calls, and waiting callers queue up in order instead of polling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from redis import Redis

# Reserves a slot. KEYS[1]: the bucket; ARGV: emission interval and burst tolerance in µs.
# Returns how many µs the caller must wait before its call.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local start = tat - tolerance
local wait = 0
if start > now then wait = start - now end
local new_tat = tat + interval
local ttl = math.floor((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl)
return wait
"""


class RateLimiter:
    """Blocks each caller until the shared bucket for `key` lets one more call through."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        rate: float,
        burst: int = 1,
        headroom: float = 0.02,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.redis = redis
        self.key = f"rate:{key}"
        # Slots are spaced on Redis' clock, but Nmbrs counts arrivals, which network and thread
        # jitter bunch up a little: 2 % headroom keeps every one-second window at the limit.
        self.interval_us = int(1_000_000 / (rate * (1 - headroom)))
        self.tolerance_us = self.interval_us * max(0, burst - 1)
        self._script = redis.register_script(_RESERVE)
        self._sleep = sleep

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        wait_us = int(self._script(keys=[self.key], args=[self.interval_us, self.tolerance_us]))
        if wait_us > 0:
            self._sleep(wait_us / 1_000_000)
        return wait_us / 1_000_000


def host_key(base_url: str) -> str:
    """The bucket name for an Nmbrs base URL: one bucket per host, whichever path or scheme."""
    return "nmbrs:" + (urlsplit(base_url).netloc or base_url)

"""Rate limits on Nmbrs calls, shared by every process: a bucket per Nmbrs account, under a
fleet-wide ceiling, in Redis.

Nmbrs' fair use is counted per account (150 calls/s; Brygga stays at its own limit,
`NMBRS_RATE_LIMIT`, 100 by default). One bucket per *host* made 500 customers share those 100
calls/s; now every Nmbrs account has a bucket of its own, and one more bucket per host holds the
whole fleet under `NMBRS_FLEET_RATE_LIMIT` (what Brygga as a client may ask of Nmbrs at all).

Each bucket is a GCRA ("generic cell rate algorithm") on Redis' clock: a call reserves the next
free slot of its account's bucket and sleeps until it; callers of one account queue up in order
instead of polling. A burst of `burst` calls may go at once (a sync's first dependent calls are
not spaced out), and the spacing is chosen so that no window of one second ever holds more than
`rate` calls: GCRA admits at most ``floor(W / T) + burst`` calls in any window W. Nmbrs counts
when calls *arrive*, which a busy machine (a thread waiting for its turn after its slot, a
network hiccup) delays by up to a `jitter` and bunches up: so the slots are spaced as if the
window were ``1 + jitter`` seconds long, ``T = (1 + jitter) / (rate - burst + 1)``, and calls
arriving up to `jitter` late still never make a one-second window hold more than `rate`.

The fleet bucket is taken only at the moment of the call, and only when it has room then: a
call never holds a fleet slot while it waits for its account (that would let one busy account
stall everyone else). When the fleet is full, the account slot is given up and the caller waits
for the fleet, then queues for its account again: slower when the ceiling binds, never above
either rate.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from redis import Redis

# Takes a slot of one bucket. KEYS[1]: the bucket; ARGV: interval and tolerance (µs), and the
# mode: "queue" reserves the next free slot, however far ahead; "now" takes one only if it is
# free now. Returns the µs until the slot (queue), or 0 if taken / the µs until one is (now),
# and Redis' clock (µs) at the time of asking.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if wait > 0 and ARGV[3] == 'now' then return {wait, now} end
local new_tat = tat + interval
local ttl = math.floor((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl)
return {wait, now}
"""


@dataclass(frozen=True)
class Bucket:
    """One shared limit: at most `rate` calls in any one-second window, `burst` of them at once,
    also when calls arrive up to `jitter` seconds after their slots."""

    key: str
    rate: float
    burst: int = 1
    jitter: float = 0.15

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.burst < 1 or self.burst > self.rate:
            raise ValueError("burst must be between 1 and the rate")

    @property
    def interval_us(self) -> int:
        # Slots are spaced on Redis' clock, but Nmbrs counts arrivals, which a busy machine
        # delays and bunches up: no window of 1 + jitter seconds holds more than `rate` slots.
        # (A 2 % headroom left one call of room: a fleet at its ceiling went over whenever the
        # machine stalled for 20 ms. On the shared bench machine, calls reached the sandbox
        # up to 0.1 s after they were sent at the 90th percentile: hence 0.15 s.)
        return int(1_000_000 * (1 + self.jitter) / (self.rate - self.burst + 1)) + 1

    @property
    def tolerance_us(self) -> int:
        return self.interval_us * (self.burst - 1)


class RateLimiter:
    """Blocks each caller until its account's bucket (and the fleet's, if any) lets one more
    call through. A limiter per client; only Redis is shared."""

    def __init__(
        self,
        redis: Redis,
        account: Bucket,
        fleet: Bucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.redis = redis
        self.account = account
        self.fleet = fleet
        self._take = redis.register_script(_TAKE)
        self._sleep = sleep
        # When the last call's account slot began and when the call was let through (the
        # fleet's slot, if any), on Redis' clock in seconds: the limiter's promise is about
        # these; how late a busy machine then wakes the caller is beyond any limiter.
        self.account_slot_at = 0.0
        self.granted_at = 0.0

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        waited = 0
        while True:
            a = self.account
            wait_us, now_us = self._take(
                keys=[f"rate:{a.key}"], args=[a.interval_us, a.tolerance_us, "queue"]
            )
            wait_us = int(wait_us)
            self.account_slot_at = self.granted_at = (int(now_us) + wait_us) / 1_000_000
            if wait_us > 0:
                self._sleep(wait_us / 1_000_000)
                waited += wait_us
            f = self.fleet
            if f is None:
                return waited / 1_000_000
            fleet_wait, fleet_now = self._take(
                keys=[f"rate:{f.key}"], args=[f.interval_us, f.tolerance_us, "now"]
            )
            fleet_wait = int(fleet_wait)
            if fleet_wait == 0:
                self.granted_at = int(fleet_now) / 1_000_000
                return waited / 1_000_000
            # The fleet is full now: give the account slot up rather than call late (a late
            # call would bunch up with the account's next ones), wait, queue again.
            self._sleep(fleet_wait / 1_000_000)
            waited += fleet_wait


def host_key(base_url: str) -> str:
    """The name of a host's fleet bucket: one per host, whichever path or scheme."""
    return "nmbrs:" + (urlsplit(base_url).netloc or base_url)


def account_key(base_url: str, account: str) -> str:
    """The name of one Nmbrs account's bucket on a host. The account (the API user's e-mail, or
    the debtor a REST consent belongs to) is hashed: Redis keys name nobody."""
    digest = hashlib.sha256(account.strip().lower().encode()).hexdigest()[:24]
    return f"{host_key(base_url)}:account:{digest}"


def limiter_for(
    redis: Redis,
    base_url: str,
    account: str,
    *,
    rate: float,
    burst: int = 5,
    fleet_rate: float | None = None,
    jitter: float = Bucket.jitter,
    sleep: Callable[[float], None] = time.sleep,
) -> RateLimiter:
    """The limiter of one Nmbrs account: `rate` calls/s with bursts of `burst`, and the whole
    fleet under `fleet_rate` calls/s on that host (none when falsy); both hold also for calls
    that arrive up to `jitter` seconds after their slots."""
    burst = max(1, min(int(burst), int(rate)))
    fleet = None
    if fleet_rate:
        fleet_burst = max(1, min(burst, int(fleet_rate)))
        fleet = Bucket(host_key(base_url), fleet_rate, fleet_burst, jitter)
    account_bucket = Bucket(account_key(base_url, account), rate, burst, jitter)
    return RateLimiter(redis, account_bucket, fleet, sleep)


def configured_limiter(base_url: str, account: str) -> RateLimiter:
    """The limiter of one Nmbrs account as the app's settings say (`NMBRS_RATE_LIMIT`,
    `NMBRS_RATE_BURST`, `NMBRS_FLEET_RATE_LIMIT`, `NMBRS_RATE_JITTER`), on the app's Redis."""
    from flask import current_app

    from webapp.queue import redis_connection

    cfg = current_app.config
    return limiter_for(
        redis_connection(),
        base_url,
        account,
        rate=float(cfg.get("NMBRS_RATE_LIMIT", 100)),
        burst=int(cfg.get("NMBRS_RATE_BURST", 5)),
        fleet_rate=float(cfg.get("NMBRS_FLEET_RATE_LIMIT", 0) or 0),
        jitter=float(cfg.get("NMBRS_RATE_JITTER", Bucket.jitter)),
    )

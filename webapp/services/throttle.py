"""Slowing down guessing: counters with growing delays, checked and counted in one step.

A `Rule` lets `free` attempts through at once; after that every attempt must wait, twice as
long each time (`base_delay`, up to `max_delay`), and after `ceiling` attempts none gets
through until the counter is forgotten, `window` seconds after the last attempt. `reserve()`
checks every counter of an attempt and counts it in one atomic step (a Lua script in Redis),
*before* the password or code is evaluated, so parallel guesses cannot slip between the check
and the count. A successful attempt gives its count back (`settle`).

When Redis cannot be reached, the same counters are kept in this process's memory: the limit
then holds per web process (a few times the configured one) instead of failing open.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app
from redis.exceptions import RedisError

from webapp.queue import redis_connection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    name: str
    free: int  # attempts without delay
    base_delay: float  # seconds to wait after the first attempt beyond `free`; doubles after
    max_delay: float
    window: int  # seconds after the last attempt when the counter is forgotten
    ceiling: int = 0  # attempts after which nothing gets through until then (0: none)

    def delay(self, attempts: int) -> float:
        """How long the attempt after `attempts` counted ones must wait."""
        if attempts < self.free:
            return 0.0
        return min(self.base_delay * 2 ** (attempts - self.free), self.max_delay)


@dataclass(frozen=True)
class Counter:
    rule: Rule
    subject: str  # who is counted: an account, a client, both

    @property
    def key(self) -> str:
        # Hashed: Redis keys name no e-mail address or IP address.
        digest = hashlib.sha256(self.subject.encode()).hexdigest()[:24]
        return f"throttle:{self.rule.name}:{digest}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds, when not allowed


# KEYS: one hash {n: attempts, next: ms before which no attempt is allowed} per counter.
# ARGV: per counter free, base_ms, max_ms, window_ms, ceiling.
# Returns 0 when the attempt is allowed (and counted), else the ms to wait.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i, key in ipairs(KEYS) do
  local o = (i - 1) * 5
  local ceiling = tonumber(ARGV[o + 5])
  local n = tonumber(redis.call('HGET', key, 'n') or '0')
  local nxt = tonumber(redis.call('HGET', key, 'next') or '0')
  if ceiling > 0 and n >= ceiling then
    wait = math.max(wait, redis.call('PTTL', key), 1)
  elseif nxt > now then
    wait = math.max(wait, nxt - now)
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local o = (i - 1) * 5
  local free, base, maxd, window = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2]),
    tonumber(ARGV[o + 3]), tonumber(ARGV[o + 4])
  local n = redis.call('HINCRBY', key, 'n', 1)
  if n >= free then
    redis.call('HSET', key, 'next', now + math.min(base * 2 ^ (n - free), maxd))
  end
  redis.call('PEXPIRE', key, window)
end
return 0
"""

# KEYS: counters whose attempt succeeded. ARGV[1]: "clear" or "refund".
_SETTLE = """
for _, key in ipairs(KEYS) do
  if ARGV[1] == 'clear' then
    redis.call('DEL', key)
  elseif redis.call('EXISTS', key) == 1 then
    if tonumber(redis.call('HINCRBY', key, 'n', -1)) <= 0 then redis.call('DEL', key) end
  end
end
return 0
"""


class _Memory:
    """The fallback while Redis is unreachable: the same counters, in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, tuple[int, float, float]] = {}  # key: (n, next, expires)

    def reserve(self, counters: Sequence[Counter]) -> Decision:
        now = time.monotonic()
        with self._lock:
            wait = 0.0
            for c in counters:
                n, nxt, _ = self._get(c.key, now)
                if c.rule.ceiling and n >= c.rule.ceiling:
                    wait = max(wait, self._counters[c.key][2] - now)
                elif nxt > now:
                    wait = max(wait, nxt - now)
            if wait > 0:
                return Decision(False, wait)
            for c in counters:
                n, nxt, _ = self._get(c.key, now)
                n += 1
                if n >= c.rule.free:
                    nxt = now + c.rule.delay(n)
                self._counters[c.key] = (n, nxt, now + c.rule.window)
            return Decision(True)

    def settle(self, counters: Sequence[Counter], clear: bool) -> None:
        with self._lock:
            for c in counters:
                if c.key not in self._counters:
                    continue
                n, nxt, expires = self._counters[c.key]
                if clear or n <= 1:
                    del self._counters[c.key]
                else:
                    self._counters[c.key] = (n - 1, nxt, expires)

    def _get(self, key: str, now: float) -> tuple[int, float, float]:
        entry = self._counters.get(key)
        if entry is None or entry[2] <= now:
            self._counters.pop(key, None)
            return 0, 0.0, 0.0
        return entry


REDIS_RETRY_SECONDS = 10.0  # after a failure, how long to count in memory before trying again


def _redis_resting() -> bool:
    # Each try costs a connect timeout: while Redis is down, a login must not wait for it.
    return time.monotonic() < current_app.extensions.get("brygga_throttle_redis_down_until", 0)


def _redis_failed() -> None:
    log.warning("throttle: redis unavailable, counting in this process for a while")
    current_app.extensions["brygga_throttle_redis_down_until"] = (
        time.monotonic() + REDIS_RETRY_SECONDS
    )


def _memory() -> _Memory:
    # One per app (and so per web process): what the process saw while Redis was away.
    return current_app.extensions.setdefault("brygga_throttle_memory", _Memory())


def reserve(counters: Sequence[Counter]) -> Decision:
    """Allow and count one attempt against every counter, or say how long to wait."""
    args: list[float] = []
    for c in counters:
        r = c.rule
        args += [r.free, int(r.base_delay * 1000), int(r.max_delay * 1000), r.window * 1000]
        args.append(r.ceiling)
    if _redis_resting():
        return _memory().reserve(counters)
    try:
        conn = redis_connection()
        wait_ms = int(conn.eval(_RESERVE, len(counters), *[c.key for c in counters], *args))
    except RedisError:
        _redis_failed()
        return _memory().reserve(counters)
    return Decision(True) if wait_ms <= 0 else Decision(False, wait_ms / 1000)


def settle(counters: Sequence[Counter], *, clear: bool) -> None:
    """After a successful attempt: forget the counters (`clear`), or give back its count."""
    if not counters:
        return
    _memory().settle(counters, clear)
    if _redis_resting():
        return
    try:
        redis_connection().eval(
            _SETTLE, len(counters), *[c.key for c in counters], "clear" if clear else "refund"
        )
    except RedisError:
        _redis_failed()


def forget(counters: Sequence[Counter]) -> None:
    """Forget counters entirely (a password reset frees the account for its owner)."""
    settle(counters, clear=True)

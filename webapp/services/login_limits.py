"""Counting failed logins per account and per IP address, in Redis so all web processes agree."""

from __future__ import annotations

import contextlib
import logging

from flask import current_app
from redis.exceptions import RedisError

from webapp.queue import redis_connection

log = logging.getLogger(__name__)


def _keys(email: str, ip: str) -> list[tuple[str, int]]:
    cfg = current_app.config
    return [
        (f"login-fail:acct:{email.lower()}", cfg["LOGIN_ATTEMPTS_PER_ACCOUNT"]),
        (f"login-fail:ip:{ip}", cfg["LOGIN_ATTEMPTS_PER_IP"]),
    ]


def is_blocked(email: str, ip: str) -> bool:
    """True when either the account or the address has used up its failed attempts."""
    try:
        conn = redis_connection()
        counts = conn.mget([key for key, _ in _keys(email, ip)])
    except RedisError:
        # Without Redis we cannot count; logging in must still work, hashing stays slow.
        log.warning("login limiter unavailable: redis error")
        return False
    return any(
        int(count or 0) >= limit for count, (_, limit) in zip(counts, _keys(email, ip), strict=True)
    )


def record_failure(email: str, ip: str) -> None:
    window = current_app.config["LOGIN_ATTEMPT_WINDOW_SECONDS"]
    try:
        pipe = redis_connection().pipeline()
        for key, _ in _keys(email, ip):
            # The window starts at the first failure (EXPIRE NX would need Redis 7).
            pipe.set(key, 0, ex=window, nx=True)
            pipe.incr(key)
        pipe.execute()
    except RedisError:
        log.warning("login limiter unavailable: redis error")


def clear(email: str) -> None:
    with contextlib.suppress(RedisError):
        redis_connection().delete(f"login-fail:acct:{email.lower()}")

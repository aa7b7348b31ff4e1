"""The Redis connection and the RQ queues, one per app."""

from __future__ import annotations

from flask import current_app
from redis import Redis
from rq import Queue

DEFAULT_QUEUE = "default"


def redis_connection() -> Redis:
    """The app's shared Redis client (its connection pool is reused across requests)."""
    conn = current_app.extensions.get("brygga_redis")
    if conn is None:
        conn = Redis.from_url(
            current_app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5
        )
        current_app.extensions["brygga_redis"] = conn
    return conn


def get_queue(name: str = DEFAULT_QUEUE) -> Queue:
    return Queue(name, connection=redis_connection())

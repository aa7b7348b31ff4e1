"""The shared rate limit: many processes' threads together never exceed it in any second."""

from __future__ import annotations

import bisect
import threading
import time

from redis import Redis

from webapp.services.rate_limit import RateLimiter, host_key


def test_threads_sharing_a_bucket_stay_under_the_limit_in_every_window(redis_url):
    redis = Redis.from_url(redis_url)
    redis.delete("rate:" + host_key("https://api.nmbrs.se"))
    stamps: list[float] = []
    lock = threading.Lock()

    def sleep_until_slot(seconds: float) -> None:
        # When the slot the limiter reserved begins. (A stamp taken after the sleep would also
        # measure how late a busy machine wakes the thread up, which no limiter controls.)
        with lock:
            stamps.append(time.monotonic() + seconds)
        time.sleep(seconds)

    def caller():
        # A limiter per thread, as separate workers have: only Redis is shared.
        limiter = RateLimiter(
            Redis.from_url(redis_url), host_key("https://api.nmbrs.se"), 50, sleep=sleep_until_slot
        )
        for _ in range(15):
            if limiter.acquire() == 0:  # a free slot at once: no sleep
                with lock:
                    stamps.append(time.monotonic())

    threads = [threading.Thread(target=caller) for _ in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert len(stamps) == 120
    stamps.sort()
    busiest = max(bisect.bisect_left(stamps, t + 1.0) - i for i, t in enumerate(stamps))
    assert busiest <= 50
    # 120 calls at 50/s take 2.4 s: never faster (the limit). The slots are reserved in Redis
    # ahead of time, so a busy machine delays a caller's wake-up without stretching the whole;
    # a limiter wasting half its slots would take 4.8 s.
    assert 2.0 < elapsed < 4.5


def test_one_bucket_per_host():
    assert host_key("https://api.nmbrs.se/soap/v3") == "nmbrs:api.nmbrs.se"
    assert host_key("http://127.0.0.1:8010") != host_key("https://api.nmbrs.nl")

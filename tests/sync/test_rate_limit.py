"""The shared rate limits: a bucket per Nmbrs account under a fleet-wide ceiling. Many processes'
threads together never exceed either in any one-second window, and one busy customer does not
hold up another's calls."""

from __future__ import annotations

import bisect
import threading
import uuid

import pytest
from redis import Redis

from webapp.services.rate_limit import (
    Bucket,
    account_key,
    configured_limiter,
    host_key,
    limiter_for,
)

BASE = "https://api.nmbrs.se"


def busiest_window(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    return max((bisect.bisect_left(stamps, t + 1.0) - i for i, t in enumerate(stamps)), default=0)


@pytest.fixture
def accounts():
    # Fresh account names per test: the buckets live in the shared test Redis.
    return [f"lon-{uuid.uuid4().hex[:8]}@bolag.se" for _ in range(3)]


# The stamps are the slots the limiter granted, on Redis' clock: a stamp taken after the sleep
# would also measure how late a busy machine wakes the thread up, which no limiter controls.


def test_threads_of_one_account_stay_under_its_limit_in_every_window(redis_url, accounts):
    stamps: list[float] = []
    waits: list[float] = []
    lock = threading.Lock()

    def caller():
        # A limiter per thread, as separate workers have: only Redis is shared.
        limiter = limiter_for(Redis.from_url(redis_url), BASE, accounts[0], rate=50, burst=5)
        for _ in range(15):
            waited = limiter.acquire()
            with lock:
                stamps.append(limiter.granted_at)
                waits.append(waited)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 120
    assert busiest_window(stamps) <= 50
    # The burst: the first calls of an idle account go at once, without waiting.
    assert waits.count(0) >= 5


def test_a_busy_account_does_not_hold_up_another_account(redis_url, accounts):
    busy, quiet = accounts[0], accounts[1]
    redis = Redis.from_url(redis_url)
    # The busy customer's nightly sync has reserved the next 5 seconds of its own bucket.
    hog = limiter_for(redis, BASE, busy, rate=20, burst=5, sleep=lambda s: None)
    for _ in range(100):
        hog.acquire()
    assert hog.acquire() > 4  # its own next call waits its turn

    waits: list[float] = []
    other = limiter_for(redis, BASE, quiet, rate=20, burst=5, sleep=waits.append)
    assert [other.acquire() for _ in range(5)] == [0, 0, 0, 0, 0]
    assert waits == []


def test_the_fleet_ceiling_holds_across_accounts_and_each_account_its_own(redis_url, accounts):
    fleet_key = f"test-fleet-{uuid.uuid4().hex[:8]}"
    stamps: dict[str, list[float]] = {a: [] for a in accounts}
    slots: dict[str, list[float]] = {a: [] for a in accounts}
    lock = threading.Lock()

    def caller(account: str):
        limiter = limiter_for(
            Redis.from_url(redis_url), fleet_key, account, rate=20, burst=3, fleet_rate=30
        )
        for _ in range(12):
            limiter.acquire()
            with lock:
                stamps[account].append(limiter.granted_at)
                slots[account].append(limiter.account_slot_at)

    threads = [threading.Thread(target=caller, args=(a,)) for a in accounts for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everyone = [s for account in accounts for s in stamps[account]]
    assert len(everyone) == 72
    assert busiest_window(everyone) <= 30
    assert all(busiest_window(slots[a]) <= 20 for a in accounts)


@pytest.mark.parametrize("rate,burst", [(100, 1), (100, 5), (50, 10), (7, 3)])
def test_a_bucket_never_admits_more_than_its_rate_in_one_second(rate, burst):
    """GCRA admits floor(W / T) + burst calls in any window W: the spacing makes that the rate."""
    b = Bucket("k", rate, burst)
    assert 1_000_000 // b.interval_us + burst <= rate
    assert b.tolerance_us == b.interval_us * (burst - 1)
    # Nor in 1 s plus the jitter: calls that arrive up to `jitter` after their slots (a busy
    # machine) still never put more than `rate` into one second where they are counted.
    assert int(1_000_000 * (1 + b.jitter)) // b.interval_us + burst <= rate
    assert b.jitter >= 0.05


def test_an_operator_may_allow_for_later_arrivals_at_the_cost_of_speed(app, redis_url, monkeypatch):
    monkeypatch.setitem(app.config, "NMBRS_RATE_JITTER", 0.3)
    with app.app_context():
        slow = configured_limiter(BASE, "lon@bolaget.se")
    quick = limiter_for(Redis.from_url(redis_url), BASE, "lon@bolaget.se", rate=100)
    assert slow.account.jitter == 0.3 and slow.account.interval_us > quick.account.interval_us
    assert slow.fleet is not None and slow.fleet.jitter == 0.3


def test_bucket_names():
    assert host_key("https://api.nmbrs.se/soap/v3") == "nmbrs:api.nmbrs.se"
    assert host_key("http://127.0.0.1:8010") != host_key("https://api.nmbrs.nl")
    key = account_key("https://api.nmbrs.se/soap", "Lon@Bolaget.se ")
    assert key == account_key("https://api.nmbrs.se", "lon@bolaget.se")
    assert key.startswith("nmbrs:api.nmbrs.se:account:") and "bolaget" not in key
    assert key != account_key("https://api.nmbrs.se", "lon@grannbolaget.se")

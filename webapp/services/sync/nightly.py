"""When the clock syncs every Nmbrs recipient: pure functions of "now", tested with any clock.

At 02:00 Europe/Stockholm every recipient whose key is not rejected gets a sync, spread over
the next hours rather than all at once. Every hour a check catches up anyone not synced (nor
tried) for 26 hours — the clock was down at 02:00, say — and, once the night's spread is over,
anyone the night's fan-out planned but never tried (a worker killed mid-batch, a job Redis
lost); it also reaps runs whose worker died.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NIGHTLY_AT = time(2, 0)
# The 02:00 fan-out still happens if the clock comes up this late; after that the hourly
# catch-up takes over (so a restart at noon does not sync everyone at once).
NIGHTLY_GRACE = timedelta(hours=1)
CATCH_UP_AFTER = timedelta(hours=26)
# How long after the night's spread the hourly check waits before it catches up a recipient the
# fan-out never reached: its job may still be queued behind others, or retrying.
NIGHT_MISSED_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class RecipientState:
    """What the schedule needs to know of one Nmbrs recipient."""

    id: int
    key_rejected: bool
    created_at: datetime
    last_synced_at: datetime | None  # last success
    last_attempt_at: datetime | None  # last run asked for, whatever its outcome
    has_active_run: bool = False


@dataclass(frozen=True)
class Planned:
    recipient_id: int
    delay_seconds: float
    reason: str  # "nightly" or "catch-up"


@dataclass(frozen=True)
class ClockState:
    """What the clock remembers between ticks (kept in Redis by the clock process)."""

    last_nightly_date: str | None = None  # the Stockholm date of the last 02:00 fan-out
    last_hourly_at: datetime | None = None


def nightly_start(now: datetime) -> datetime:
    """The most recent 02:00 in Stockholm at or before `now` (aware, in UTC)."""
    local = now.astimezone(STOCKHOLM)
    start = datetime.combine(local.date(), NIGHTLY_AT, tzinfo=STOCKHOLM)
    if start > local:
        start = datetime.combine(local.date() - timedelta(days=1), NIGHTLY_AT, tzinfo=STOCKHOLM)
    return start.astimezone(UTC)


def next_nightly(now: datetime) -> datetime:
    """The next 02:00 in Stockholm after `now` (aware, in UTC); DST-safe."""
    local = now.astimezone(STOCKHOLM)
    day = local.date() if local.time() < NIGHTLY_AT else local.date() + timedelta(days=1)
    return datetime.combine(day, NIGHTLY_AT, tzinfo=STOCKHOLM).astimezone(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def plan(
    now: datetime,
    state: ClockState,
    recipients: list[RecipientState],
    spread_seconds: float = 3 * 3600,
) -> tuple[list[Planned], ClockState, bool]:
    """What the clock does at `now`: the syncs to enqueue (with delays), its new state, and
    whether the hourly check (catch-up and reaping) is due."""
    planned: list[Planned] = []
    start = nightly_start(now)
    night = start.astimezone(STOCKHOLM).date().isoformat()
    eligible = [r for r in recipients if not r.key_rejected]
    nightly_due = state.last_nightly_date != night and now - start < NIGHTLY_GRACE
    if nightly_due:
        todo = [r for r in eligible if not r.has_active_run]
        step = spread_seconds / len(todo) if todo else 0
        planned = [Planned(r.id, round(i * step, 3), "nightly") for i, r in enumerate(todo)]
        state = ClockState(night, state.last_hourly_at)
    last_hourly = _aware(state.last_hourly_at)
    hourly_due = last_hourly is None or now - last_hourly >= timedelta(hours=1)
    if hourly_due:
        state = ClockState(state.last_nightly_date, now)
        if not nightly_due:
            # Tonight's fan-out happened and its spread is over: whoever it never reached
            # is tried now, not a day later.
            night_missed_before = (
                start
                if state.last_nightly_date == night
                and now >= start + timedelta(seconds=spread_seconds) + NIGHT_MISSED_AFTER
                else None
            )
            planned = [
                Planned(r.id, 0, "catch-up")
                for r in eligible
                if _needs_catch_up(r, now, night_missed_before)
            ]
    return planned, state, hourly_due


def batches(planned: list[Planned], size: int, window: float) -> list[list[Planned]]:
    """The planned syncs grouped into jobs: consecutive ones due within `window` seconds of
    the first of their group, at most `size` to a job (a job per sync when syncs are spread
    wider apart than the window). A job runs its group's syncs side by side at its first's
    time."""
    groups: list[list[Planned]] = []
    for item in planned:
        group = groups[-1] if groups else None
        if (
            group is not None
            and len(group) < size
            and item.delay_seconds - group[0].delay_seconds <= window
        ):
            group.append(item)
        else:
            groups.append([item])
    return groups


def _needs_catch_up(r: RecipientState, now: datetime, night_missed_before: datetime | None) -> bool:
    if r.has_active_run:
        return False
    # Not synced for 26 hours, and not even tried: a recipient whose nightly sync failed
    # (Nmbrs down) is not hammered every hour; the next night tries it again.
    newest = max(
        (t for t in (_aware(r.last_synced_at), _aware(r.last_attempt_at)) if t is not None),
        default=r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=UTC),
    )
    if night_missed_before is not None and newest < night_missed_before:
        return True  # tonight's fan-out never tried it
    return now - newest >= CATCH_UP_AFTER


# Nmbrs' refresh tokens live about 30 days and die unused; every refresh brings a new one.
# A REST connection whose refresh token has less than this left gets a refresh of its own
# (the clock's hourly check), so an idle connection is renewed about every 9 days, three
# weeks before it would expire, with time for retries when Nmbrs is down.
KEEPALIVE_WHEN_LEFT = timedelta(days=21)


def keepalive_due(consent_expires_at: datetime | None, now: datetime) -> bool:
    """Whether a REST connection's tokens should be refreshed now to keep the consent alive."""
    expires = _aware(consent_expires_at)
    if expires is None:
        return False  # unknown lifetime: the next sync refreshes when it needs to
    return expires - now <= KEEPALIVE_WHEN_LEFT

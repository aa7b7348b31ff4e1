"""Every night for everyone: the schedule with a controllable clock, never by waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rq.registry import ScheduledJobRegistry

import jobs.sync
from tests.sync.helpers import queue, run_scheduled_now, runs, work
from webapp.extensions import db
from webapp.models import KeyStatus, NmbrsConnection, ReportRecipient, SyncStatus, SyncTrigger
from webapp.services import sync
from webapp.services.sync import nightly, schedule
from webapp.services.sync.nightly import ClockState, RecipientState, plan

STOCKHOLM = nightly.STOCKHOLM


def at(text: str) -> datetime:
    """A Stockholm wall-clock time, as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=STOCKHOLM).astimezone(UTC)


def recipient(id, **kw) -> RecipientState:
    defaults = {
        "key_rejected": False,
        "created_at": at("2026-01-01T12:00"),
        "last_synced_at": None,
        "last_attempt_at": None,
    }
    return RecipientState(id=id, **{**defaults, **kw})


def test_nothing_happens_before_two_at_night():
    planned, state, hourly = plan(
        at("2026-11-24T01:59"), ClockState("2026-11-23", at("2026-11-24T01:30")), [recipient(1)]
    )
    assert planned == [] and not hourly


def test_at_two_every_recipient_with_a_working_key_is_scheduled_spread_over_the_night():
    everyone = [recipient(i) for i in range(1, 5)] + [recipient(9, key_rejected=True)]
    planned, state, _ = plan(
        at("2026-11-24T02:00:20"), ClockState("2026-11-23"), everyone, spread_seconds=3 * 3600
    )
    assert [p.recipient_id for p in planned] == [1, 2, 3, 4]  # not the rejected key
    assert [p.delay_seconds for p in planned] == [0, 2700, 5400, 8100]  # 02:00 … 04:15
    assert {p.reason for p in planned} == {"nightly"}
    assert state.last_nightly_date == "2026-11-24"
    again, _, _ = plan(at("2026-11-24T02:00:50"), state, everyone)
    assert again == []  # one fan-out per night, however often the clock ticks


def test_the_fan_out_follows_stockholm_time_across_daylight_saving():
    # 29 March 2026: clocks go from 02:00 to 03:00; the night still starts at local 02:00 or
    # right after the jump, and 02:00 in winter is 01:00 UTC, in summer 00:00 UTC.
    assert nightly.next_nightly(at("2026-01-10T12:00")) == datetime(2026, 1, 11, 1, 0, tzinfo=UTC)
    assert nightly.next_nightly(at("2026-07-10T12:00")) == datetime(2026, 7, 11, 0, 0, tzinfo=UTC)
    planned, _, _ = plan(at("2026-03-29T03:05"), ClockState("2026-03-28"), [recipient(1)])
    assert [p.reason for p in planned] == ["nightly"]


def test_a_clock_that_was_down_at_two_catches_up_recipients_not_synced_for_26_hours():
    now = at("2026-11-24T10:00")
    stale = recipient(1, last_synced_at=now - timedelta(hours=27))
    fresh = recipient(2, last_synced_at=now - timedelta(hours=8))
    tried = recipient(
        3,
        last_synced_at=now - timedelta(hours=40),
        last_attempt_at=now - timedelta(hours=8),  # its nightly failed: not hammered hourly
    )
    busy = recipient(4, last_synced_at=now - timedelta(hours=30), has_active_run=True)
    rejected = recipient(5, key_rejected=True)
    planned, state, hourly = plan(
        now,
        ClockState("2026-11-23", now - timedelta(hours=1)),
        [stale, fresh, tried, busy, rejected],
    )
    assert hourly
    assert [(p.recipient_id, p.reason) for p in planned] == [(1, "catch-up")]
    later, _, hourly_again = plan(now + timedelta(minutes=30), state, [stale])
    assert later == [] and not hourly_again  # the check is hourly


def test_once_the_night_is_over_the_hourly_check_tries_whoever_the_fan_out_never_reached():
    # Tonight's fan-out (02:00, spread over 3 h) planned 1, 2 and 3; the worker running the
    # batch with 2 and 3 was killed before 3 started. 3 would otherwise wait for 26 hours.
    night = at("2026-11-24T02:00")
    reached = recipient(1, last_synced_at=night + timedelta(minutes=5))
    failed = recipient(  # tried tonight, Nmbrs down: the next night tries it again
        2, last_synced_at=night - timedelta(hours=20), last_attempt_at=night + timedelta(hours=1)
    )
    missed = recipient(3, last_synced_at=night - timedelta(hours=20))
    added = recipient(4, created_at=night + timedelta(hours=2))  # added after 02:00
    everyone = [reached, failed, missed, added]
    tonight = ClockState("2026-11-24", at("2026-11-24T04:40"))
    during, _, hourly = plan(at("2026-11-24T05:40"), tonight, everyone, 3 * 3600)
    assert hourly and during == []  # within an hour of the spread's end: jobs may still run
    after, _, _ = plan(at("2026-11-24T06:40"), tonight, everyone, 3 * 3600)
    assert [(p.recipient_id, p.reason) for p in after] == [(3, "catch-up")]
    # No fan-out tonight (the clock was down at 02:00): only the 26-hour rule, not everyone.
    no_night = ClockState("2026-11-23", at("2026-11-24T04:40"))
    assert plan(at("2026-11-24T06:40"), no_night, everyone, 3 * 3600)[0] == []


def test_clock_tick_schedules_nightly_jobs_in_rq_and_they_start_syncs(
    app, client, recipient_id, nmbrs_sandbox
):
    with app.app_context():
        planned = sync.clock_tick(at("2026-11-24T02:00:30"))
        assert [p.recipient_id for p in planned] == [recipient_id]
        assert sync.clock_tick(at("2026-11-24T02:01:00")) == []  # state kept in Redis
    q = queue(app)
    assert q.count == 1  # the first slot is now; later ones wait in RQ's scheduled registry
    work(app)  # the nightly job runs the sync itself
    [run] = runs(app)
    assert run.trigger == SyncTrigger.NIGHTLY and run.status == SyncStatus.SUCCEEDED
    page = client.get(f"/settings/recipients/{recipient_id}").text
    assert "nattlig synk" in page


def test_many_recipients_are_spread_with_enqueue_in(app, recipient_id, monkeypatch):
    monkeypatch.setitem(app.config, "SYNC_NIGHTLY_SPREAD_SECONDS", 600)
    with app.app_context():
        fake = [recipient(recipient_id)] + [recipient(1000 + i) for i in range(3)]
        monkeypatch.setattr(schedule, "schedule_inputs", lambda: fake)
        sync.clock_tick(at("2026-11-24T02:00:00"))
    registry = ScheduledJobRegistry(queue=queue(app))
    assert len(registry.get_job_ids()) == 3 and queue(app).count == 1
    delays = sorted(
        registry.get_scheduled_time(job_id).timestamp() - datetime.now(UTC).timestamp()
        for job_id in registry.get_job_ids()
    )
    assert [round(d / 150) for d in delays] == [1, 2, 3]  # every 150 s over ten minutes


def test_nightly_skips_a_rejected_key_and_a_removed_recipient(app, recipient_id):
    with app.app_context():
        db.session.scalar(db.select(NmbrsConnection)).key_status = KeyStatus.REJECTED
        db.session.commit()
        assert sync.clock_tick(at("2026-11-24T02:00:30")) == []
    assert jobs.sync.nightly(recipient_id) == "skipped"
    with app.app_context():
        assert db.session.get(ReportRecipient, recipient_id).nmbrs.key_status == "rejected"
    assert runs(app) == []


def test_syncs_due_together_share_a_job_and_spread_ones_keep_their_own():
    due = [nightly.Planned(i, 0, "nightly") for i in range(1, 6)]
    assert [[p.recipient_id for p in g] for g in nightly.batches(due, 2, 5)] == [
        [1, 2],
        [3, 4],
        [5],
    ]
    spread = [nightly.Planned(i, i * 30.0, "nightly") for i in range(1, 4)]
    assert [len(g) for g in nightly.batches(spread, 16, 5)] == [1, 1, 1]
    close = [nightly.Planned(i, i * 2.0, "nightly") for i in range(1, 5)]
    assert [[p.recipient_id for p in g] for g in nightly.batches(close, 16, 5)] == [
        [1, 2, 3],
        [4],
    ]


def copies_of(app, recipient_id: int, count: int) -> list[int]:
    """More recipients of the same organization on the same Nmbrs key."""
    with app.app_context():
        source = db.session.get(ReportRecipient, recipient_id)
        made = []
        for n in range(count):
            copy = ReportRecipient(
                organization_id=source.organization_id,
                kind=source.kind,
                display_name=f"{source.display_name} {n + 2}",
            )
            c = source.nmbrs
            copy.nmbrs = NmbrsConnection(
                environment=c.environment, username=c.username, token=c.token,
                token_last4=c.token_last4, domain=c.domain, debtor_id=c.debtor_id,
                company_id=c.company_id, company_name=c.company_name,
            )  # fmt: skip
            db.session.add(copy)
            made.append(copy)
        db.session.commit()
        return [recipient_id, *(r.id for r in made)]


def test_a_fan_out_runs_in_batches_with_their_syncs_side_by_side(
    app, recipient_id, nmbrs_sandbox, monkeypatch
):
    monkeypatch.setitem(app.config, "SYNC_NIGHTLY_SPREAD_SECONDS", 0)
    monkeypatch.setitem(app.config, "SYNC_NIGHTLY_BATCH", 2)
    ids = copies_of(app, recipient_id, 2)
    with app.app_context():
        assert [p.recipient_id for p in sync.clock_tick(at("2026-11-24T02:00:30"))] == ids
    jobs_ = queue(app).get_jobs()
    assert [job.args for job in jobs_] == [tuple(ids[:2]), (ids[2],)]
    assert jobs_[0].retries_left is None  # a batch retries each sync in a job of its own
    work(app)
    done = runs(app)
    assert sorted(r.recipient_id for r in done) == ids
    assert {r.status for r in done} == {SyncStatus.SUCCEEDED}
    # A run is its batch job's: a dead worker's batch is noticed by that job's status.
    assert {r.job_id for r in done if r.recipient_id in ids[:2]} == {jobs_[0].id}


def test_in_a_batch_an_unreachable_nmbrs_is_retried_in_a_job_of_each_runs_own(
    app, recipient_id, nmbrs_sandbox
):
    ids = copies_of(app, recipient_id, 1)
    nmbrs_sandbox.state.set_failure(mode="html503")
    queue(app).enqueue(jobs.sync.nightly, *ids, job_id="nightly-batch")
    work(app)
    waiting = runs(app)
    assert [r.status for r in waiting] == [SyncStatus.QUEUED, SyncStatus.QUEUED]
    assert all(r.next_retry_at is not None for r in waiting)
    assert len({r.job_id for r in waiting} | {"nightly-batch"}) == 3  # a retry job each
    assert queue(app).fetch_job("nightly-batch").get_status() == "finished"

    nmbrs_sandbox.state.clear_failure()
    assert run_scheduled_now(app) == 2
    work(app)
    done = runs(app)
    assert [(r.status, r.attempts, r.trigger) for r in done] == [
        (SyncStatus.SUCCEEDED, 2, SyncTrigger.NIGHTLY)
    ] * 2


def test_a_batch_job_may_run_as_long_as_its_syncs_take_side_by_side(app, recipient_id, monkeypatch):
    monkeypatch.setitem(app.config, "SYNC_NIGHTLY_SPREAD_SECONDS", 0)
    monkeypatch.setitem(app.config, "SYNC_NIGHTLY_BATCH", 5)
    monkeypatch.setitem(app.config, "SYNC_NIGHTLY_BATCH_THREADS", 2)
    ids = copies_of(app, recipient_id, 4)
    with app.app_context():
        sync.clock_tick(at("2026-11-24T02:00:30"))
    [job] = queue(app).get_jobs()
    assert job.args == tuple(ids)
    # Five syncs two at a time: three rounds, each allowed one sync's timeout, so a slow
    # last round is not killed (and its syncs reaped) by a timeout meant for one sync.
    assert job.timeout == 3 * app.config["SYNC_JOB_TIMEOUT"]

"""The clock's side of the sync: every tick schedules the nightly syncs (spread with RQ's
`enqueue_in`; those due together share a job), the hourly catch-ups, reaps dead runs, and
once an hour lets each kind do its hourly work (Nmbrs: keep idle consents alive). When is a
pure function of "now" (`nightly.plan`)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from flask import current_app
from rq.exceptions import DuplicateJobError
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import RecipientStatus, ReportRecipient, SyncRun
from webapp.models.base import utcnow
from webapp.models.sync import ACTIVE_STATUSES, aware
from webapp.queue import get_queue, redis_connection
from webapp.recipients import all_kinds, kind_of
from webapp.services.sync import nightly
from webapp.services.sync.runner import reap_dead, retry_policy

log = logging.getLogger(__name__)

CLOCK_STATE_KEY = "clock:nightly-state"
NIGHTLY_FUNCTION = "jobs.sync.nightly"


def needs_admin(recipient: ReportRecipient) -> bool:
    """Whether only an admin can make the recipient's connection work again (a rejected API
    key, an expired or revoked consent, no connection at all): the clock skips it until then."""
    kind = kind_of(recipient)
    return kind.catalogues(recipient) is None or kind.needs_admin(recipient)


def schedule_inputs() -> list[nightly.RecipientState]:
    """Every active recipient with catalogues, as the nightly schedule sees it."""
    kinds = [k.key for k in all_kinds() if k.has_catalogues]
    last_attempt = (
        select(SyncRun.recipient_id, func.max(SyncRun.created_at).label("at"))
        .group_by(SyncRun.recipient_id)
        .subquery()
    )
    active = select(SyncRun.recipient_id).where(SyncRun.status.in_(ACTIVE_STATUSES))
    rows = db.session.execute(
        select(ReportRecipient, last_attempt.c.at, ReportRecipient.id.in_(active).label("busy"))
        .outerjoin(last_attempt, last_attempt.c.recipient_id == ReportRecipient.id)
        .where(
            ReportRecipient.kind.in_(kinds),
            ReportRecipient.status == RecipientStatus.ACTIVE,
        )
        .options(selectinload(ReportRecipient.nmbrs))
        .order_by(ReportRecipient.id)
    ).all()
    return [
        nightly.RecipientState(
            id=r.id,
            key_rejected=kind_of(r).needs_admin(r),
            created_at=aware(r.created_at),
            last_synced_at=aware(r.last_synced_at) if r.last_synced_at else None,
            last_attempt_at=aware(at) if at else None,
            has_active_run=bool(busy),
        )
        for r, at, busy in rows
        if kind_of(r).catalogues(r) is not None
    ]


def clock_tick(now: datetime | None = None) -> list[nightly.Planned]:
    """One tick of the clock process: schedule the nightly syncs (spread with RQ's
    `enqueue_in`) and hourly catch-ups, and reap dead runs. Safe to call often."""
    now = now or utcnow()
    redis = redis_connection()
    raw = redis.get(CLOCK_STATE_KEY)
    state = nightly.ClockState()
    if raw:
        data = json.loads(raw)
        hourly = data.get("last_hourly_at")
        state = nightly.ClockState(
            data.get("last_nightly_date"), datetime.fromisoformat(hourly) if hourly else None
        )
    planned, new_state, hourly_due = nightly.plan(
        now, state, schedule_inputs(), current_app.config["SYNC_NIGHTLY_SPREAD_SECONDS"]
    )
    queue = get_queue()
    stamp = now.strftime("%Y%m%d%H")
    cfg = current_app.config
    for group in nightly.batches(
        planned, cfg["SYNC_NIGHTLY_BATCH"], cfg["SYNC_NIGHTLY_BATCH_WINDOW_SECONDS"]
    ):
        first, ids = group[0], [item.recipient_id for item in group]
        name = f"{ids[0]}-{ids[-1]}" if len(ids) > 1 else str(ids[0])
        kwargs = {
            "job_id": f"{first.reason}-{name}-{stamp}",
            "unique": True,
            # A batch runs its syncs SYNC_NIGHTLY_BATCH_THREADS at a time: a sync's time per round.
            "job_timeout": cfg["SYNC_JOB_TIMEOUT"]
            * -(-len(ids) // max(1, cfg["SYNC_NIGHTLY_BATCH_THREADS"])),
            # A batch retries each unreachable sync in a job of its own (run_nightly).
            "retry": retry_policy() if len(ids) == 1 else None,
            "result_ttl": 3600,
            "failure_ttl": 7 * 24 * 3600,
        }
        try:
            if first.delay_seconds > 0:
                queue.enqueue_in(
                    timedelta(seconds=first.delay_seconds), NIGHTLY_FUNCTION, *ids, **kwargs
                )
            else:
                queue.enqueue(NIGHTLY_FUNCTION, *ids, **kwargs)
        except DuplicateJobError:
            continue  # already scheduled by an earlier tick
    reap_dead()  # every tick: cheap, and queued runs whose job Redis lost start again soon
    if hourly_due:
        for kind in all_kinds():
            kind.hourly(now)
    redis.set(
        CLOCK_STATE_KEY,
        json.dumps(
            {
                "last_nightly_date": new_state.last_nightly_date,
                "last_hourly_at": new_state.last_hourly_at.isoformat()
                if new_state.last_hourly_at
                else None,
            }
        ),
    )
    if planned:
        log.info("clock: %d syncs scheduled (%s)", len(planned), planned[0].reason)
    return planned

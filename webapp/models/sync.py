"""Syncs from Nmbrs: one `SyncRun` row per run (what the UI reads), and the problem an
organization's admins were last e-mailed about (so that they hear of it once, not nightly)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import Model
from webapp.models.base import TimestampMixin, string_enum, utcnow
from webapp.models.organization import User
from webapp.models.recipient import ReportRecipient


class SyncTrigger(enum.StrEnum):
    MANUAL = "manual"  # an admin clicked "Hämta senaste data från Nmbrs"
    NIGHTLY = "nightly"  # the clock (also its catch-up of missed nights)


class SyncStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker, or for a retry after Nmbrs was unreachable
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


ACTIVE_STATUSES = (SyncStatus.QUEUED, SyncStatus.RUNNING)


class SyncRun(TimestampMixin, Model):
    """One sync of a recipient's catalogues; `created_at` is when it was asked for."""

    __tenant__ = "recipient"  # owned through its recipient (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("report_recipient.id"), index=True)
    trigger: Mapped[SyncTrigger] = mapped_column(string_enum(SyncTrigger))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    status: Mapped[SyncStatus] = mapped_column(
        string_enum(SyncStatus), default=SyncStatus.QUEUED, index=True
    )
    # What the worker is doing now (a key of webapp.services.sync.STEP_LABELS).
    step: Mapped[str | None] = mapped_column(String(40))
    calls_done: Mapped[int] = mapped_column(Integer, default=0)
    calls_total: Mapped[int] = mapped_column(Integer, default=0)
    # {"wage_types": {"added": 3, "changed": 1, "archived": 0, "total": 40}, ...}
    counts: Mapped[dict | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)  # Swedish, for the admin
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Every attempt that ended: [{"started_at": iso, "ended_at": iso, "ok": bool}] (the history
    # shows the attempts and the waiting between them).
    attempt_log: Mapped[list | None] = mapped_column(JSON)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    job_id: Mapped[str | None] = mapped_column(String(100))

    recipient: Mapped[ReportRecipient] = relationship()
    requested_by: Mapped[User | None] = relationship()

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def end_attempt(self, ended_at: datetime, ok: bool) -> None:
        """Remember the attempt that just ended (from `started_at`), for the history."""
        if self.started_at is None:
            return
        entry = {"started_at": aware(self.started_at).isoformat(),
                 "ended_at": aware(ended_at).isoformat(), "ok": ok}  # fmt: skip
        self.attempt_log = [*(self.attempt_log or []), entry]  # a new list: JSON sees a change

    @property
    def worked_seconds(self) -> float | None:
        """The time the attempts took, all of them (without the waiting between them)."""
        if not self.attempt_log:
            return self.duration_seconds
        return sum(
            (
                datetime.fromisoformat(a["ended_at"]) - datetime.fromisoformat(a["started_at"])
            ).total_seconds()
            for a in self.attempt_log
        )

    @property
    def waited_seconds(self) -> float | None:
        """From the ask to the end, the time no attempt was running (queue, retry waits)."""
        worked = self.worked_seconds
        if self.finished_at is None or self.created_at is None or worked is None:
            return None
        total = (aware(self.finished_at) - aware(self.created_at)).total_seconds()
        return max(0.0, total - worked)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (aware(self.finished_at) - aware(self.started_at)).total_seconds()


class SyncAlert(Model):
    """The problem the organization's admins were last e-mailed about, per recipient.

    A new e-mail goes out only when the fingerprint changes; a successful sync deletes the row.
    """

    __tenant__ = "recipient"  # owned through its recipient (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("report_recipient.id"), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(120))
    notified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    recipient: Mapped[ReportRecipient] = relationship()


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)

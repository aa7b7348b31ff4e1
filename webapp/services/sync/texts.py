"""What the sync's pages, e-mails and errors say, and what the recipient view shows of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp.models import SyncRun, SyncStatus
from webapp.models.base import utcnow
from webapp.models.sync import aware
from webapp.services import runs
from webapp.services.sync import nightly
from webapp.services.sync.catalogue import CATALOGS

CATALOG_TITLES = {
    "wage_types": _l("Lönearter"),
    "cost_units": _l("Kostnadsenheter"),
    "cost_centers": _l("Kostnadsställen"),
    "departments": _l("Avdelningar"),
    "employees": _l("Anställda"),
}
STEP_LABELS = {
    "waiting": _l("Väntar på en ledig arbetsprocess…"),
    "retry_wait": _l("Väntar på nytt försök…"),
    "companies": _l("Hämtar företag…"),
    "wage_types": _l("Hämtar lönearter…"),
    "cost_centers": _l("Hämtar kostnadsställen…"),
    "cost_units": _l("Hämtar kostnadsenheter…"),
    "departments": _l("Hämtar avdelningar…"),
    "employees": _l("Hämtar anställda…"),
    "saving": _l("Sparar…"),
}

# error_code → what the admin reads (also in English); other codes show the stored message.
ERROR_TEXTS = {
    "key_rejected": _l(
        "Nmbrs nekade API-nyckeln. Den kan ha återställts i Nmbrs (Användarprofil → API-token)."
    ),
    "unavailable": _l("Nmbrs svarar inte just nu. Ingenting ändrades; försök igen senare."),
    "protocol": _l(
        "Svaret från Nmbrs gick inte att tolka. Ingenting ändrades; försök igen senare. "
        "Kvarstår felet, kontakta Bryggas support."
    ),
    "interrupted": _l(
        "Synken avbröts innan den blev klar (arbetsprocessen stoppades). Ingenting ändrades; "
        "försök igen."
    ),
    "not_started": _l("Synken kom aldrig igång. Ingenting ändrades; försök igen."),
    "error": _l("Synken misslyckades av ett okänt skäl. Ingenting ändrades; försök igen senare."),
    "consent_expired": _l(
        "Godkännandet i Nmbrs har gått ut eller återkallats. Anslut igen med Nmbrs-inloggning; "
        "ingenting ändrades."
    ),
    "soap_retired": _l("Nmbrs har stängt API-nyckeln — anslut med inloggning"),
}


QUEUE_DOWN = _l(
    "Kön för bakgrundsjobb svarar inte just nu, så hämtningen kunde inte startas. "
    "Ingenting ändrades; försök igen om en liten stund."
)


def error_text(run: SyncRun) -> str:
    """The failure in the admin's language: known codes translated, others as Nmbrs put it."""
    if run.error_code in ERROR_TEXTS and run.error_code != "error":
        return str(ERROR_TEXTS[run.error_code])
    return run.error_message or str(ERROR_TEXTS["error"])


_NEEDS_ADMIN_CODES = ("key_rejected", "consent_expired", "soap_retired")


def next_automatic_try(run: SyncRun) -> datetime | None:
    """When Brygga tries again by itself: the pending retry, else the next nightly sync."""
    if run.next_retry_at is not None and run.status == SyncStatus.QUEUED:
        return aware(run.next_retry_at)
    if run.status == SyncStatus.FAILED and run.error_code not in _NEEDS_ADMIN_CODES:
        return nightly.next_nightly(aware(run.finished_at or utcnow()))
    return None


@dataclass(frozen=True)
class RunView:
    """A run as the status area and the history show it."""

    run: SyncRun
    step_label: str
    done: int
    total: int
    error: str | None
    next_try: datetime | None
    duration: float | None
    rows: list[tuple[str, dict]]  # (catalogue title, counts) for a finished run
    totals: dict  # added/changed/archived summed over the catalogues
    waiting: str | None = None  # why a queued run has not started (no worker, no queue)


class Progress(Protocol):
    """What an active run's bar is drawn from: a run's row, or the columns a poll read of it."""

    @property
    def status(self) -> SyncStatus: ...
    @property
    def step(self) -> str | None: ...
    @property
    def calls_done(self) -> int | None: ...
    @property
    def calls_total(self) -> int | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def next_retry_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class ProgressView:
    """An active run as its polled fragment shows it when there is no failure to tell of (no
    error, no retry awaited): the fields of `RunView` the running fragment reads."""

    step_label: str
    done: int
    total: int
    waiting: str | None
    error: None = None
    next_try: None = None


def _bar(run: Progress) -> tuple[str, int, int]:
    # One more unit of work than the calls: saving. Before the first call the bar is empty.
    total = (run.calls_total or 0) + 1
    done = total if run.status == SyncStatus.SUCCEEDED else min(run.calls_done or 0, total - 1)
    return str(STEP_LABELS.get(run.step or "waiting", STEP_LABELS["waiting"])), done, total


def describe_progress(run: Progress) -> ProgressView:
    """What `describe` says of an active run that has no error and awaits no retry."""
    return ProgressView(*_bar(run), waiting=waiting_problem(run))


def describe(run: SyncRun) -> RunView:
    counts = run.counts or {}
    rows = [(str(CATALOG_TITLES[k]), counts[k]) for k in CATALOGS if k in counts]
    totals = {key: sum(c.get(key, 0) for _, c in rows) for key in ("added", "changed", "archived")}
    step_label, done, total = _bar(run)
    show_error = run.status == SyncStatus.FAILED or (
        run.status == SyncStatus.QUEUED and run.error_code
    )
    return RunView(
        run=run,
        step_label=step_label,
        done=done,
        total=total,
        error=error_text(run) if show_error else None,
        next_try=next_automatic_try(run),
        duration=run.duration_seconds,
        rows=rows,
        totals=totals,
        waiting=waiting_problem(run),
    )


def waiting_problem(run: Progress) -> str | None:
    """For a run queued (not waiting for a retry) longer than a few seconds: that no worker is
    running or that the queue does not answer, so the admin is not left watching a spinner."""
    if run.status != SyncStatus.QUEUED or run.next_retry_at is not None:
        return None
    return runs.worker_problem(
        run.created_at,
        _(
            "Kön för bakgrundsjobb svarar inte just nu. Synken startar av sig själv när "
            "kön är tillbaka; ingenting går förlorat."
        ),
        _(
            "Ingen arbetsprocess är igång just nu, så synken har inte startat. Den startar av sig "
            "själv så snart en arbetsprocess är igång."
        ),
    )

"""Reading the audit log: what an admin sees on *Händelselogg*."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func

from webapp.extensions import db
from webapp.models import AuditEvent, User

PAGE_SIZE = 50

# The admin's words for each action; an action without a label shows its code.
ACTION_LABELS: dict[str, object] = {
    "auth.login": _l("Inloggning"),
    "auth.logout": _l("Utloggning"),
    "auth.sessions_ended": _l("Utloggning överallt"),
    "auth.session_ended": _l("Annan inloggning avslutad"),
    "auth.password_changed": _l("Lösenord bytt"),
    "auth.password_reset_requested": _l("Återställning av lösenord begärd"),
    "auth.password_reset": _l("Lösenord återställt"),
    "auth.invitation_accepted": _l("Inbjudan accepterad"),
    "auth.mfa_enabled": _l("Tvåstegsverifiering på"),
    "auth.mfa_disabled": _l("Tvåstegsverifiering av"),
    "auth.mfa_reset": _l("Tvåstegsverifiering återställd av administratör"),
    "auth.recovery_code_used": _l("Reservkod använd"),
    "auth.recovery_codes_renewed": _l("Nya reservkoder skapade"),
    "person.invited": _l("Person inbjuden"),
    "person.invitation_resent": _l("Inbjudan skickad igen"),
    "organization.mfa_policy_changed": _l("Krav på tvåstegsverifiering ändrat"),
    "recipient.created": _l("Rapportmottagare tillagd"),
    "recipient.replaced": _l("Rapportmottagare ersatt"),
    "recipient.removed": _l("Rapportmottagare borttagen"),
    "recipient.advanced_settings_changed": _l("Avancerade inställningar ändrade"),
    "recipient.employee_mapped": _l("Anställd kopplad"),
    "nmbrs.key_replaced": _l("API-nyckel bytt"),
    "sync.requested": _l("Hämtning från Nmbrs startad"),
    "allowance_policy.saved": _l("Ersättningsnivåer ändrade"),
    "foreign_per_diem_table.imported": _l("Tabell för utlandstraktamente importerad"),
    "report.created": _l("Rapport skapad"),
    "report.line_added": _l("Rad tillagd"),
    "report.line_deleted": _l("Rad borttagen"),
    "report.line_rejected": _l("Rad avvisad"),
    "report.submitted": _l("Rapport inskickad"),
    "report.withdrawn": _l("Rapport tillbakadragen"),
    "report.approved": _l("Rapport attesterad"),
    "report.rejected": _l("Rapport återskickad"),
    "transfer.requested": _l("Överföring till lön startad"),
    "transfer.undone": _l("Överföring ångrad"),
    "transfer.file_downloaded": _l("Lönefil hämtad"),
    "employee.exported": _l("Personuppgifter exporterade"),
    "employee.erased": _l("Personuppgifter raderade"),
}


@dataclass(frozen=True)
class Filters:
    action: str | None = None
    actor_id: int | None = None
    since: date | None = None
    until: date | None = None
    page: int = 1


def label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def search(organization_id: int, filters: Filters) -> tuple[list[AuditEvent], bool]:
    """One page of the organization's events, newest first, and whether there is a next page."""
    stmt = (
        db.select(AuditEvent)
        .where(AuditEvent.organization_id == organization_id)
        .options(db.joinedload(AuditEvent.actor))
    )
    if filters.action:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.actor_id:
        stmt = stmt.where(AuditEvent.actor_id == filters.actor_id)
    if filters.since:
        stmt = stmt.where(AuditEvent.created_at >= datetime.combine(filters.since, time.min))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time.min)
        stmt = stmt.where(AuditEvent.created_at < end)
    page = max(filters.page, 1)
    rows = list(
        db.session.scalars(
            stmt.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def actions_in_use(organization_id: int) -> list[str]:
    return list(
        db.session.scalars(
            db.select(AuditEvent.action)
            .where(AuditEvent.organization_id == organization_id)
            .group_by(AuditEvent.action)
            .order_by(func.min(AuditEvent.action))
        )
    )


def people(organization_id: int) -> list[User]:
    return list(
        db.session.scalars(
            db.select(User).where(User.organization_id == organization_id).order_by(User.name)
        )
    )

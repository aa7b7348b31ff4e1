"""An employee's personal data: export on request, and erasure that keeps the bookkeeping.

Swedish bookkeeping law (Bokföringslagen 7 kap.) requires accounting records — amounts, dates,
what an expense was for, receipts — to be kept for seven years after the end of the calendar
year they belong to. Erasure therefore anonymises the person (name, e-mail, employee number,
login) and cuts the link to payroll, while the reports and receipts stay until the retention
job (`purge_expired`) may remove them.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, update

from webapp.extensions import db
from webapp.models import (
    AccountToken,
    AuditEvent,
    ExpenseLine,
    ExpenseReport,
    PayrollEmployee,
    Receipt,
    RecoveryCode,
    Role,
    User,
    UserSession,
)
from webapp.models.base import rowcount
from webapp.services import audit

RETENTION_YEARS = 7
SESSION_DAYS = 90


class ErasureRefused(ValueError):
    pass


def export(user: User) -> dict:
    """Everything Brygga holds about one person, as JSON-ready data."""
    reports = db.session.scalars(
        db.select(ExpenseReport).where(ExpenseReport.employee_id == user.id)
    ).all()
    mappings = db.session.scalars(
        db.select(PayrollEmployee).where(PayrollEmployee.user_id == user.id)
    ).all()
    events = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.actor_id == user.id).order_by(AuditEvent.id)
    ).all()
    return {
        "exported_at": datetime.now().isoformat(timespec="seconds"),
        "person": {
            "name": user.name,
            "email": user.email,
            "employee_number": user.employee_number,
            "role": user.role.value,
            "organization": user.organization.name,
            "created_at": user.created_at.isoformat(),
        },
        "payroll_links": [
            {"employee_number": m.code, "name_in_payroll": m.description} for m in mappings
        ],
        "expense_reports": [_report(r) for r in reports],
        "activity": [
            {"when": e.created_at.isoformat(), "action": e.action, "details": e.details}
            for e in events
        ],
    }


def _report(report: ExpenseReport) -> dict:
    return {
        "id": report.id,
        "title": report.title,
        "status": report.status.value,
        "submitted_at": report.submitted_at.isoformat() if report.submitted_at else None,
        "lines": [_line(line) for line in report.lines],
    }


def _line(line: ExpenseLine) -> dict:
    data: dict[str, object] = {
        "kind": line.kind.value,
        "date": line.date.isoformat(),
        "description": line.description,
        "tax_free": str(line.tax_free_ore / 100),
        "taxable": str(line.taxable_ore / 100),
    }
    for field in ("from_place", "to_place", "destination", "country_code", "category"):
        if getattr(line, field, None):
            data[field] = getattr(line, field)
    if line.receipt is not None:
        data["receipt"] = {
            "filename": line.receipt.filename,
            "content_type": line.receipt.content_type,
            "size": line.receipt.size,
        }
    return data


def erase(actor: User, user: User) -> None:
    """Anonymise a person; their accounting records stay (see the module docstring)."""
    if user.id == actor.id:
        raise ErasureRefused(_("Du kan inte radera dina egna personuppgifter här."))
    if user.is_admin and _admin_count(user.organization_id) <= 1:
        raise ErasureRefused(_("Organisationen måste ha minst en administratör kvar."))
    user.name = _("Raderad person %(id)d", id=user.id)
    user.email = f"raderad-{user.id}-{secrets.token_hex(4)}@brygga.invalid"
    user.employee_number = None
    user.password_hash = None  # the login is gone
    user.session_version += 1
    # The second factor, open links and the sessions' addresses and browsers go too.
    user.totp_secret = None
    user.totp_enabled_at = user.totp_last_step = None
    for model in (RecoveryCode, AccountToken, UserSession):
        db.session.execute(
            db.delete(model)
            .where(model.user_id == user.id)
            .execution_options(synchronize_session=False)
        )
    db.session.execute(
        update(PayrollEmployee)
        .where(PayrollEmployee.user_id == user.id)
        .values(user_id=None, mapping_source="manual")
    )
    audit.record("employee.erased", actor=actor, organization_id=user.organization_id, obj=user)


def _admin_count(organization_id: int) -> int:
    return db.session.scalar(
        db.select(func.count())
        .select_from(User)
        .where(User.organization_id == organization_id, User.role == Role.ADMIN)
    )


def retention_cutoff(today: date) -> date:
    """Records of calendar years that ended seven full years before `today` may go."""
    return date(today.year - RETENTION_YEARS, 1, 1)


def purge_expired(today: date) -> dict[str, int]:
    """Remove receipts' files and the audit trail of logins past the retention period.

    Receipt files are the bulk of the personal data in old records; their metadata stays with
    the line so the report still reads correctly. Returns counts of what was removed.
    """
    cutoff = retention_cutoff(today)
    old_lines = db.select(ExpenseLine.id).where(ExpenseLine.date < cutoff).scalar_subquery()
    receipts = rowcount(
        db.session.execute(
            update(Receipt)
            .where(Receipt.line_id.in_(old_lines), Receipt.size > 0)
            .values(data=b"", size=0)
        )
    )
    logins = rowcount(
        db.session.execute(
            db.delete(AuditEvent).where(
                AuditEvent.action.in_(("auth.login", "auth.logout")),
                AuditEvent.created_at < datetime(cutoff.year, 1, 1),
            )
        )
    )
    # Sessions (addresses, browsers) and used or expired links: kept for 90 days, for questions
    # about a login; nothing after that needs them.
    recent = datetime.combine(today - timedelta(days=SESSION_DAYS), datetime.min.time(), UTC)
    session_rows = rowcount(
        db.session.execute(db.delete(UserSession).where(UserSession.last_seen_at < recent))
    )
    links = rowcount(
        db.session.execute(db.delete(AccountToken).where(AccountToken.expires_at < recent))
    )
    return {
        "receipts": receipts or 0,
        "login_events": logins or 0,
        "sessions": session_rows,
        "links": links,
    }

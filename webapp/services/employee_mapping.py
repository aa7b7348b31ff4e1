"""Brygga users ↔ Nmbrs employees: matched on employee number, overridable by hand."""

from __future__ import annotations

from webapp.extensions import db
from webapp.models import PayrollEmployee, ReportRecipient, User
from webapp.services import audit


def normalise_number(number: str | None) -> str | None:
    # Nmbrs returns employee numbers as integers; people type "007" as often as "7".
    if number is None:
        return None
    stripped = number.strip().lstrip("0")
    return stripped or ("0" if number.strip() else None)


def rematch(recipient: ReportRecipient) -> int:
    """Match every employee not mapped by hand to the user with the same employee number.

    Returns how many mappings changed. Manual choices are left alone.
    """
    users = db.session.execute(
        db.select(User.id, User.employee_number).where(
            User.organization_id == recipient.organization_id, User.employee_number.is_not(None)
        )
    ).all()
    # A blank number is no number: an employee without one (an applicant, say) is never
    # matched to a person whose number is blank too.
    by_number = {
        key: u.id for u in users if (key := normalise_number(u.employee_number)) is not None
    }
    # Plain rows and one bulk update: a sync re-matches thousands of employees at a time.
    db.session.flush()
    employees = db.session.execute(
        db.select(
            PayrollEmployee.id,
            PayrollEmployee.code,
            PayrollEmployee.archived,
            PayrollEmployee.user_id,
            PayrollEmployee.mapping_source,
        ).where(PayrollEmployee.recipient_id == recipient.id)
    ).all()
    changes = []
    for employee in employees:
        if employee.mapping_source == "manual":
            continue
        key = normalise_number(employee.code)
        user_id = None if employee.archived or key is None else by_number.get(key)
        if employee.user_id != user_id:
            changes.append(
                {
                    "id": employee.id,
                    "user_id": user_id,
                    "mapping_source": "auto" if user_id else None,
                }
            )
    if changes:
        db.session.execute(db.update(PayrollEmployee), changes)
    return len(changes)


def set_manual(
    actor: User, recipient: ReportRecipient, employee: PayrollEmployee, user: User | None
) -> None:
    """An admin's choice; `None` clears it and lets the number match again."""
    if user is None:
        employee.user_id = None
        employee.mapping_source = None
        db.session.flush()
        rematch(recipient)
    else:
        # One Nmbrs employee per user per recipient: move the user off any other row.
        for other in db.session.scalars(
            db.select(PayrollEmployee).where(
                PayrollEmployee.recipient_id == recipient.id,
                PayrollEmployee.user_id == user.id,
                PayrollEmployee.id != employee.id,
            )
        ):
            other.user_id = None
            other.mapping_source = "manual"
        employee.user_id = user.id
        employee.mapping_source = "manual"
    audit.record(
        "recipient.employee_mapped",
        actor=actor,
        organization_id=recipient.organization_id,
        obj=employee,
        employee_number=employee.code,
        user_id=user.id if user else None,
    )


def unmatched_users(recipient: ReportRecipient) -> list[User]:
    """People in the organization who no Nmbrs employee is mapped to."""
    mapped = db.select(PayrollEmployee.user_id).where(
        PayrollEmployee.recipient_id == recipient.id, PayrollEmployee.user_id.is_not(None)
    )
    return list(
        db.session.scalars(
            db.select(User)
            .where(User.organization_id == recipient.organization_id, User.id.not_in(mapped))
            .order_by(User.name)
        )
    )

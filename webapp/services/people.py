"""The organization's people, as its admins manage them."""

from __future__ import annotations

from flask_babel import gettext as _

from webapp.extensions import db
from webapp.models import Role, User
from webapp.services import accounts, audit
from webapp.services.errors import NotFound


def in_organization(organization_id: int) -> list[User]:
    return list(
        db.session.scalars(
            db.select(User).where(User.organization_id == organization_id).order_by(User.name)
        )
    )


def get(organization_id: int, user_id: int) -> User:
    """The person, or 404 — also for someone of another organization."""
    user = db.session.get(User, user_id)
    if user is None or user.organization_id != organization_id:
        raise NotFound
    return user


def invite(actor: User, name: str, email: str, role: Role, number: str | None) -> tuple[User, bool]:
    """Add a person and e-mail them an invitation; (person, whether the mail went out)."""
    return accounts.invite(actor, name, email, role, number or None)


def set_mfa_required(actor: User, required: bool) -> None:
    """Whether the organization's admins and approvers must log in with a second factor
    (those without one are asked to set it up at their next page). Caller commits."""
    organization = actor.organization
    if organization.mfa_required == required:
        return
    organization.mfa_required = required
    audit.record(
        "organization.mfa_policy_changed", actor=actor, organization_id=organization.id,
        mfa_required=required,
    )  # fmt: skip


def update(actor: User, user: User, name: str, email: str, role: Role, number: str | None) -> None:
    email = User.normalise_email(email)
    other = User.by_email(email)
    if other is not None and other.id != user.id:
        raise accounts.AccountError(
            _("Det finns redan en användare med e-postadressen %(e)s.", e=email)
        )
    if user.id == actor.id and role != Role.ADMIN:
        raise accounts.AccountError(_("Du kan inte ta bort din egen administratörsroll."))
    changes = {
        key: value
        for key, value, old in (
            ("name", name, user.name),
            ("email", email, user.email),
            ("role", role.value, user.role.value),
            ("employee_number", number or None, user.employee_number),
        )
        if value != old
    }
    user.name, user.email, user.role, user.employee_number = name, email, role, number or None
    if "role" in changes:
        user.session_version += 1  # a changed role takes effect at once, not at next login
    if changes:
        audit.record(
            "person.changed",
            actor=actor,
            organization_id=actor.organization_id,
            obj=user,
            changed=sorted(changes),
        )

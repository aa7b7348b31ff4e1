"""Creating organizations and their users."""

from __future__ import annotations

from flask_babel import gettext as _

from webapp.extensions import db
from webapp.models import Organization, Role, User

MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    pass


def check_password_rules(password: str) -> None:
    # Length beats composition rules (NIST SP 800-63B); long passphrases must be allowed.
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(_("Lösenordet måste ha minst %(n)d tecken.", n=MIN_PASSWORD_LENGTH))
    if len(password) > 200:
        raise AccountError(_("Lösenordet får ha högst 200 tecken."))


def get_or_create_organization(name: str) -> Organization:
    org = db.session.scalar(db.select(Organization).where(Organization.name == name))
    if org is None:
        org = Organization(name=name)
        db.session.add(org)
        db.session.flush()
    return org


def create_user(
    organization: Organization,
    email: str,
    password: str,
    name: str,
    role: Role,
    employee_number: str | None = None,
) -> User:
    """Add a user; the caller commits."""
    check_password_rules(password)
    email = User.normalise_email(email)
    if "@" not in email:
        raise AccountError(_("Ogiltig e-postadress."))
    if User.by_email(email) is not None:
        raise AccountError(_("Det finns redan en användare med e-postadressen %(e)s.", e=email))
    user = User(
        organization=organization,
        email=email,
        name=name,
        role=role,
        employee_number=employee_number,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def create_admin(email: str, password: str, org_name: str, name: str | None = None) -> User:
    org = get_or_create_organization(org_name)
    return create_user(org, email, password, name or email, Role.ADMIN)

"""People's accounts: creating them, invitations, choosing, changing and resetting passwords.

Admins never set or see another person's password: they invite, and the person chooses one
through a single-use, time-limited link (`AccountToken`, stored as a hash). A forgotten
password is reset the same way. Passwords are checked against length rules and a shipped list
of 20,000 common passwords (services/data/), never against an online service.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import secrets
from datetime import timedelta
from pathlib import Path

from flask import current_app, render_template
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import update

from webapp import tenancy
from webapp.extensions import db
from webapp.models import AccountToken, Organization, Role, TokenPurpose, User
from webapp.models.base import rowcount, utcnow
from webapp.models.sync import aware
from webapp.queue import get_queue
from webapp.services import audit, mail, sessions

log = logging.getLogger(__name__)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
COMMON_PASSWORDS = Path(__file__).parent / "data" / "common-passwords.txt.gz"


class AccountError(ValueError):
    pass


class LinkInvalid(AccountError):
    """An invitation or reset link that is unknown, used or expired."""


@functools.cache
def _common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def check_password_rules(password: str, email: str | None = None) -> None:
    # Length beats composition rules (NIST SP 800-63B); long passphrases must be allowed.
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(_("Lösenordet måste ha minst %(n)d tecken.", n=MIN_PASSWORD_LENGTH))
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(_("Lösenordet får ha högst 200 tecken."))
    folded = password.strip().lower()
    if folded in _common_passwords() or (
        email and folded in {email.lower(), email.split("@")[0].lower()}
    ):
        raise AccountError(
            _("Lösenordet är för vanligt och lätt att gissa. Välj ett annat, gärna en mening.")
        )


def get_or_create_organization(name: str) -> Organization:
    org = db.session.scalar(db.select(Organization).where(Organization.name == name))
    if org is None:
        org = Organization(name=name)
        db.session.add(org)
        db.session.flush()
    return org


def _new_user(
    organization: Organization, email: str, name: str, role: Role, employee_number: str | None
) -> User:
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
    db.session.add(user)
    return user


def create_user(
    organization: Organization,
    email: str,
    password: str,
    name: str,
    role: Role,
    employee_number: str | None = None,
) -> User:
    """Add a user with a password (the first admin from the CLI, the demo, tests); people an
    admin adds are invited instead. The caller commits."""
    check_password_rules(password, email)
    user = _new_user(organization, email, name, role, employee_number)
    user.set_password(password)
    db.session.flush()
    return user


def create_admin(email: str, password: str, org_name: str, name: str | None = None) -> User:
    org = get_or_create_organization(org_name)
    return create_user(org, email, password, name or email, Role.ADMIN)


# --- one-time links -----------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue(user: User, purpose: TokenPurpose, valid: timedelta, actor: User | None) -> str:
    """A new link for `user`; every earlier unused link of the same purpose stops working."""
    now = utcnow()
    db.session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    db.session.add(
        AccountToken(
            organization_id=user.organization_id,
            user_id=user.id,
            purpose=purpose,
            token_hash=_hash(token),
            expires_at=now + valid,
            created_by_id=actor.id if actor is not None else None,
        )
    )
    return token


def find_link(token: str, purpose: TokenPurpose) -> AccountToken:
    """The valid link for `token` (any organization: the visitor is not logged in), or
    LinkInvalid. Its organization becomes the caller's to state."""
    with tenancy.all_organizations():
        link = db.session.scalar(
            db.select(AccountToken).where(
                AccountToken.token_hash == _hash(token), AccountToken.purpose == purpose
            )
        )
    if link is None or link.used_at is not None or aware(link.expires_at) <= utcnow():
        raise LinkInvalid(
            _("Länken gäller inte längre. Den kan redan ha använts eller ha gått ut.")
        )
    return link


def _use(link: AccountToken) -> None:
    # Single use also under a double click: only one request marks it used.
    used = rowcount(
        db.session.execute(
            update(AccountToken)
            .where(AccountToken.id == link.id, AccountToken.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    )
    if used != 1:
        raise LinkInvalid(
            _("Länken gäller inte längre. Den kan redan ha använts eller ha gått ut.")
        )


def _link_url(path: str, token: str) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/{path}/{token}"


# --- invitations ----------------------------------------------------------------------------------


def invite(
    actor: User, name: str, email: str, role: Role, employee_number: str | None
) -> tuple[User, bool]:
    """Add a person without a password and e-mail them a link to choose one. Returns the
    person and whether the mail was sent. The caller commits (also when the mail failed: the
    admin can send the invitation again)."""
    user = _new_user(actor.organization, email, name, role, employee_number)
    db.session.flush()
    audit.record(
        "person.invited", actor=actor, organization_id=actor.organization_id, obj=user,
        role=role.value,
    )  # fmt: skip
    return user, _send_invitation(actor, user)


def resend_invitation(actor: User, user: User) -> bool:
    if user.has_password:
        raise AccountError(_("%(name)s har redan valt ett lösenord.", name=user.name))
    audit.record(
        "person.invitation_resent", actor=actor, organization_id=user.organization_id, obj=user
    )
    return _send_invitation(actor, user)


def _send_invitation(actor: User, user: User) -> bool:
    hours = current_app.config["INVITATION_VALID_HOURS"]
    token = _issue(user, TokenPurpose.INVITATION, timedelta(hours=hours), actor)
    body = render_template(
        "mail/invitation.txt",
        person=user,
        inviter=actor,
        organization=user.organization,
        link=_link_url("invitation", token),
        hours=hours,
    )
    subject = _("Inbjudan till Brygga från %(org)s", org=user.organization.name)
    return mail.send([user.email], subject, body)


def pending_invitation(user: User) -> AccountToken | None:
    """The person's newest unused invitation (for the *Personer* page)."""
    return db.session.scalar(
        db.select(AccountToken)
        .where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == TokenPurpose.INVITATION,
            AccountToken.used_at.is_(None),
        )
        .order_by(AccountToken.created_at.desc())
        .limit(1)
    )


def accept_invitation(link: AccountToken, password: str) -> User:
    """The invited person chooses a password; the link is used up. The caller, in the link's
    organization (`tenancy.tenant(link.organization_id)`), commits."""
    user = link.user
    check_password_rules(password, user.email)
    _use(link)
    user.set_password(password)
    audit.record("auth.invitation_accepted", actor=user, organization_id=user.organization_id)
    return user


# --- changing and resetting a password ------------------------------------------------------------


def change_password(user: User, current: str, new: str, keep_session_id: int | None) -> int:
    """Change one's own password (the current one is required); every other session of the
    user ends. Returns how many ended. The caller commits."""
    if not user.check_password(current):
        raise AccountError(_("Det nuvarande lösenordet stämmer inte."))
    check_password_rules(new, user.email)
    if user.check_password(new):
        raise AccountError(_("Det nya lösenordet är samma som det gamla."))
    user.set_password(new)
    ended = sessions.end_all(user, "password_changed", keep=keep_session_id)
    audit.record(
        "auth.password_changed", actor=user, organization_id=user.organization_id,
        other_sessions_ended=ended,
    )  # fmt: skip
    return ended


RESET_JOB = "jobs.accounts.send_password_reset"


def reset_minutes() -> int:
    return int(current_app.config["PASSWORD_RESET_VALID_MINUTES"])


def request_password_reset(email: str) -> bool:
    """Queue the reset e-mail for `email` (whoever's it is: the job finds out, so the form
    takes as long either way). False when the queue cannot be reached."""
    try:
        get_queue().enqueue(
            RESET_JOB, User.normalise_email(email), job_timeout=120, result_ttl=0,
            failure_ttl=24 * 3600,
        )  # fmt: skip
    except RedisError:
        log.warning("password reset not queued: redis unavailable")
        return False
    return True


def send_password_reset(email: str) -> bool:
    """Mail a reset link when `email` belongs to someone (the job behind the "forgot password"
    form, so the form answers alike, and as fast, whether or not it does). Commits."""
    with tenancy.all_organizations():
        user = User.by_email(email)
        organization_id = user.organization_id if user is not None else None
    if user is None or organization_id is None:
        return False
    with tenancy.tenant(organization_id):
        minutes = current_app.config["PASSWORD_RESET_VALID_MINUTES"]
        token = _issue(user, TokenPurpose.PASSWORD_RESET, timedelta(minutes=minutes), None)
        audit.record("auth.password_reset_requested", actor=user, organization_id=organization_id)
        db.session.commit()
        body = render_template(
            "mail/password_reset.txt",
            person=user,
            link=_link_url("password/reset", token),
            minutes=minutes,
        )
        return mail.send([user.email], _("Återställ ditt lösenord i Brygga"), body)


def reset_password(link: AccountToken, password: str) -> User:
    """Choose a new password through a reset link: the link is used up, every session of the
    user ends. The caller, in the link's organization, commits."""
    user = link.user
    check_password_rules(password, user.email)
    _use(link)
    user.set_password(password)
    ended = sessions.end_all(user, "password_reset")
    audit.record(
        "auth.password_reset", actor=user, organization_id=user.organization_id,
        sessions_ended=ended,
    )  # fmt: skip
    return user

"""Setting up an Nmbrs recipient: saving a checked key for the chosen company, a new key for
the same company, and what needs an admin (a rejected key, an expired or revoked consent)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func

from webapp.extensions import db
from webapp.models import (
    KeyStatus,
    NmbrsApi,
    NmbrsConnection,
    PayrollEmployee,
    RecipientKind,
    ReportRecipient,
    User,
)
from webapp.models.base import utcnow
from webapp.recipients.nmbrs import sunset
from webapp.recipients.nmbrs.access import CONSENT_PROBLEMS
from webapp.recipients.nmbrs.connect import CheckedKey
from webapp.services import audit
from webapp.services.recipients import new_recipient


def add_nmbrs(
    actor: User, checked: CheckedKey, company_id: int, replacing: ReportRecipient | None = None
) -> ReportRecipient:
    """Save a checked Nmbrs key as a recipient for the chosen company; the caller commits."""
    company = next(c for c in checked.companies if c["id"] == company_id)
    recipient = new_recipient(actor, RecipientKind.NMBRS, f"Nmbrs – {company['name']}", replacing)
    recipient.nmbrs = NmbrsConnection(
        environment=checked.environment,
        username=checked.username,
        token=checked.token,
        token_last4=checked.token_last4,
        domain=checked.domain,
        debtor_id=company["debtor_id"],
        company_id=company["id"],
        company_name=company["name"],
        key_status=KeyStatus.OK,
        key_checked_at=utcnow(),
    )
    return recipient


def replace_nmbrs_key(actor: User, recipient: ReportRecipient, checked: CheckedKey) -> None:
    """A new key for the same Nmbrs recipient (after *Reset token* in Nmbrs)."""
    connection = recipient.nmbrs
    assert connection is not None
    if connection.company_id not in {c["id"] for c in checked.companies}:
        raise ValueError(
            _(
                "Den nya nyckeln ser inte företaget %(name)s. Använd en nyckel för samma "
                "Nmbrs-konto, eller ersätt mottagaren med pennan.",
                name=connection.company_name,
            )
        )
    connection.username = checked.username
    connection.environment = checked.environment
    connection.domain = checked.domain
    connection.token = checked.token
    connection.token_last4 = checked.token_last4
    connection.key_status = KeyStatus.OK
    connection.key_checked_at = connection.key_changed_at = utcnow()
    audit.record(
        "nmbrs.key_replaced",
        actor=actor,
        organization_id=recipient.organization_id,
        obj=recipient,
        username=checked.username,
    )


def needs_admin(connection: NmbrsConnection | None) -> bool:
    """Whether only an admin can make the connection work again (a rejected API key, an
    expired or revoked consent, an API key Nmbrs has closed): the clock skips it until then."""
    if connection is None:
        return False
    if connection.api == NmbrsApi.REST:
        return connection.consent_status in CONSENT_PROBLEMS
    return connection.key_status == KeyStatus.REJECTED or sunset.retired(connection)


def lost_on_replace(old: ReportRecipient) -> list[str]:
    """What of an Nmbrs recipient does not follow to the recipient that replaces it."""
    lost = []
    mapped = db.session.scalar(
        db.select(func.count())
        .select_from(PayrollEmployee)
        .where(PayrollEmployee.recipient_id == old.id, PayrollEmployee.mapping_source == "manual")
    )
    if mapped:
        lost.append(
            _(
                "%(n)d manuella kopplingar mellan personer och anställda i Nmbrs.",
                n=mapped,
            )
        )
    lost.append(_("Data hämtad från Nmbrs (lönearter, kostnadsställen, anställda)."))
    lost.append(_("API-nyckeln till Nmbrs."))
    return lost

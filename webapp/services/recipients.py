"""Adding, replacing and removing an organization's report recipients."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func

from webapp.extensions import db
from webapp.models import (
    KeyStatus,
    NmbrsConnection,
    PaxmlSettings,
    PayItemSetting,
    PayrollEmployee,
    RecipientKind,
    RecipientStatus,
    ReportRecipient,
    User,
    WageType,
)
from webapp.models.base import utcnow
from webapp.services import audit
from webapp.services.nmbrs_connect import CheckedKey


@dataclass(frozen=True)
class KindInfo:
    kind: RecipientKind
    name: object
    description: object


# The kinds an admin can choose. A new kind is a new entry here, a settings model and a dialog.
KINDS: dict[RecipientKind, KindInfo] = {
    RecipientKind.NMBRS: KindInfo(
        RecipientKind.NMBRS,
        "Nmbrs",
        _l("Lönesystemet Nmbrs, via Nmbrs API med en API-nyckel."),
    ),
    RecipientKind.PAXML: KindInfo(
        RecipientKind.PAXML,
        _l("PAXml-fil"),
        _l("En lönefil enligt PAXml-standarden (Fortnox Lön, Crona, Kontek med flera)."),
    ),
}

PAXML_ENCODINGS = ("UTF-8", "ISO-8859-1")


def active_recipients(organization_id: int) -> list[ReportRecipient]:
    return list(
        db.session.scalars(
            db.select(ReportRecipient)
            .where(
                ReportRecipient.organization_id == organization_id,
                ReportRecipient.status == RecipientStatus.ACTIVE,
            )
            .order_by(ReportRecipient.position, ReportRecipient.id)
        )
    )


def get_active(organization_id: int, recipient_id: int) -> ReportRecipient:
    """The organization's active recipient, or 404 — also for another organization's id."""
    recipient = db.session.get(ReportRecipient, recipient_id)
    if (
        recipient is None
        or recipient.organization_id != organization_id
        or recipient.status != RecipientStatus.ACTIVE
    ):
        abort(404)
    return recipient


def _next_position(organization_id: int) -> int:
    current = db.session.scalar(
        db.select(func.max(ReportRecipient.position)).where(
            ReportRecipient.organization_id == organization_id
        )
    )
    return (current or 0) + 1


def _new_recipient(
    actor: User, kind: RecipientKind, display_name: str, replacing: ReportRecipient | None
) -> ReportRecipient:
    recipient = ReportRecipient(
        organization_id=actor.organization_id,
        kind=kind,
        display_name=display_name,
        position=replacing.position if replacing else _next_position(actor.organization_id),
        created_by=actor,
    )
    db.session.add(recipient)
    db.session.flush()
    if replacing is not None:
        _carry_over(replacing, recipient)
        replacing.status = RecipientStatus.REPLACED
        replacing.replaced_by = recipient
        replacing.ended_at = utcnow()
        audit.record(
            "recipient.replaced",
            actor=actor,
            organization_id=actor.organization_id,
            obj=replacing,
            replaced_by=recipient.id,
            new_kind=kind.value,
        )
    audit.record(
        "recipient.created",
        actor=actor,
        organization_id=actor.organization_id,
        obj=recipient,
        kind=kind.value,
        display_name=display_name,
    )
    return recipient


def add_nmbrs(
    actor: User, checked: CheckedKey, company_id: int, replacing: ReportRecipient | None = None
) -> ReportRecipient:
    """Save a checked Nmbrs key as a recipient for the chosen company; the caller commits."""
    company = next(c for c in checked.companies if c["id"] == company_id)
    recipient = _new_recipient(actor, RecipientKind.NMBRS, f"Nmbrs – {company['name']}", replacing)
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


def add_paxml(
    actor: User,
    display_name: str,
    program_name: str | None,
    encoding: str,
    replacing: ReportRecipient | None = None,
) -> ReportRecipient:
    recipient = _new_recipient(actor, RecipientKind.PAXML, display_name, replacing)
    recipient.paxml = PaxmlSettings(program_name=program_name or None, encoding=encoding)
    return recipient


def remove(actor: User, recipient: ReportRecipient) -> None:
    """Take a recipient out of use; its history (syncs, transfers) stays."""
    recipient.status = RecipientStatus.REMOVED
    recipient.ended_at = utcnow()
    audit.record(
        "recipient.removed",
        actor=actor,
        organization_id=recipient.organization_id,
        obj=recipient,
        display_name=recipient.display_name,
    )


@dataclass(frozen=True)
class CarryOver:
    kept: list[str]
    lost: list[str]


def carry_over_report(old: ReportRecipient, new_kind: RecipientKind) -> CarryOver:
    """What of `old`'s settings follows to a new recipient of `new_kind`, and what does not."""
    kept, lost = [], []
    if old.pay_item_settings:
        kept.append(_("Vilka värden som skickas till lön (Avancerade inställningar)"))
    chosen = [s for s in old.pay_item_settings if s.wage_code]
    if chosen:
        lost.append(
            _(
                "Valda lönearter för %(n)d värden: lönearterna hör till %(name)s och måste "
                "väljas på nytt.",
                n=len(chosen),
                name=old.display_name,
            )
        )
    if old.kind == RecipientKind.NMBRS:
        mapped = db.session.scalar(
            db.select(func.count())
            .select_from(PayrollEmployee)
            .where(
                PayrollEmployee.recipient_id == old.id, PayrollEmployee.mapping_source == "manual"
            )
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
    return CarryOver(kept=kept, lost=lost)


def _carry_over(old: ReportRecipient, new: ReportRecipient) -> None:
    # Which values are sent is about the organization's policy and carries over; wage types
    # belong to the old payroll program and do not.
    for setting in old.pay_item_settings:
        new.pay_item_settings.append(PayItemSetting(item=setting.item, included=setting.included))


def wage_type_problems(recipient: ReportRecipient) -> list[PayItemSetting]:
    """Included values whose chosen wage type is archived in or missing from Nmbrs."""
    if recipient.kind != RecipientKind.NMBRS:
        return []
    chosen = [s for s in recipient.pay_item_settings if s.included and s.wage_code]
    if not chosen:
        return []
    live = set(
        db.session.scalars(
            db.select(WageType.code).where(
                WageType.recipient_id == recipient.id, WageType.archived.is_(False)
            )
        )
    )
    return [s for s in chosen if s.wage_code not in live]

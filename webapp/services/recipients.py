"""Adding, replacing and removing an organization's report recipients."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import bindparam, func
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import (
    PayItemSetting,
    RecipientStatus,
    ReportRecipient,
    User,
    WageType,
)
from webapp.models.base import utcnow
from webapp.recipients import kind_of
from webapp.services import audit
from webapp.services.errors import NotFound

# The statements every recipient page starts with, built once (building and walking them anew
# took most of their time): the organization is a bound value, which the tenant guard reads,
# so a statement naming the logged-in organization runs as written.
_ACTIVE = (
    ReportRecipient.organization_id == bindparam("organization_id"),
    ReportRecipient.status == RecipientStatus.ACTIVE,
)
# What the settings box reads of each recipient (its Nmbrs connection, its pay item settings)
# in the same query, not per row.
_ACTIVE_RECIPIENTS = (
    db.select(ReportRecipient)
    .where(*_ACTIVE)
    .order_by(ReportRecipient.position, ReportRecipient.id)
    .options(joinedload(ReportRecipient.nmbrs), joinedload(ReportRecipient.pay_item_settings))
)
# With its Nmbrs connection in the same query: every recipient page reads it (and its pay item
# settings, for the pages that show them).
_ONE = db.select(ReportRecipient).where(ReportRecipient.id == bindparam("recipient_id"), *_ACTIVE)
_ONE_BY_KIND = {
    False: _ONE.options(joinedload(ReportRecipient.nmbrs)),
    True: _ONE.options(
        joinedload(ReportRecipient.nmbrs), joinedload(ReportRecipient.pay_item_settings)
    ),
}


def active_recipients(organization_id: int) -> list[ReportRecipient]:
    """The organization's active recipients in the admin's order."""
    found = db.session.scalars(_ACTIVE_RECIPIENTS, {"organization_id": organization_id})
    return list(found.unique())


def get_active(
    organization_id: int, recipient_id: int, *, with_pay_item_settings: bool = False
) -> ReportRecipient:
    """The organization's active recipient, or 404 — also for another organization's id."""
    recipient = (
        db.session.scalars(
            _ONE_BY_KIND[with_pay_item_settings],
            {"organization_id": organization_id, "recipient_id": recipient_id},
        )
        .unique()
        .first()
    )
    if recipient is None:
        raise NotFound
    return recipient


def _next_position(organization_id: int) -> int:
    current = db.session.scalar(
        db.select(func.max(ReportRecipient.position)).where(
            ReportRecipient.organization_id == organization_id
        )
    )
    return (current or 0) + 1


def new_recipient(
    actor: User, kind: str, display_name: str, replacing: ReportRecipient | None
) -> ReportRecipient:
    """A new recipient of `kind`, taking the place of `replacing` if given; the caller commits."""
    recipient = ReportRecipient(
        organization_id=actor.organization_id,
        kind=str(kind),
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
            new_kind=str(kind),
        )
    audit.record(
        "recipient.created",
        actor=actor,
        organization_id=actor.organization_id,
        obj=recipient,
        kind=str(kind),
        display_name=display_name,
    )
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


def carry_over_report(old: ReportRecipient) -> CarryOver:
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
    lost.extend(kind_of(old).lost_on_replace(old))
    return CarryOver(kept=kept, lost=lost)


def _carry_over(old: ReportRecipient, new: ReportRecipient) -> None:
    # Which values are sent is about the organization's policy and carries over; wage types
    # belong to the old payroll program and do not.
    for setting in old.pay_item_settings:
        new.pay_item_settings.append(PayItemSetting(item=setting.item, included=setting.included))


def wage_type_problems(recipient: ReportRecipient) -> list[PayItemSetting]:
    """Included values whose chosen wage type is archived in or missing from Nmbrs."""
    if not kind_of(recipient).has_catalogues:
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

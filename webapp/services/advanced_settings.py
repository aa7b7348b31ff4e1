"""Avancerade inställningar: which values go to payroll, and on which wage type."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import PayItemSetting, RecipientKind, ReportRecipient, User, WageType
from webapp.payitems import CATALOG, PayGroup, PayItem, PayItemInfo
from webapp.services import audit

GROUP_TITLES = {
    PayGroup.MILEAGE: _l("Milersättning"),
    PayGroup.PER_DIEM: _l("Traktamente"),
    PayGroup.MEAL_REDUCTION: _l("Måltidsavdrag"),
    PayGroup.OUTLAY: _l("Utlägg"),
}


@dataclass
class Row:
    info: PayItemInfo
    included: bool
    wage_code: str | None
    error: str | None = None


def _settings_by_item(recipient: ReportRecipient) -> dict[str, PayItemSetting]:
    return {s.item: s for s in recipient.pay_item_settings}


def rows(recipient: ReportRecipient) -> list[Row]:
    """Every pay item with its current choice; unconfigured items are included by default."""
    current = _settings_by_item(recipient)
    result = []
    for info in CATALOG:
        setting = current.get(info.item.value)
        result.append(
            Row(
                info=info,
                included=setting.included if setting else True,
                wage_code=setting.wage_code if setting else None,
            )
        )
    return result


def grouped(rows_: list[Row]) -> list[tuple[PayGroup, list[Row]]]:
    groups: dict[PayGroup, list[Row]] = {}
    for row in rows_:
        groups.setdefault(row.info.group, []).append(row)
    return list(groups.items())


def wage_type_choices(recipient: ReportRecipient) -> list[WageType]:
    """Synced, non-archived wage types, by code."""
    return list(
        db.session.scalars(
            db.select(WageType)
            .where(WageType.recipient_id == recipient.id, WageType.archived.is_(False))
            .order_by(WageType.nmbrs_id)
        )
    )


def parse(form: dict[str, str], recipient: ReportRecipient) -> list[Row]:
    """Read the dialog's fields (`include-<item>`, `wage-<item>`) and validate them."""
    live = {w.code: w for w in wage_type_choices(recipient)}
    is_nmbrs = recipient.kind == RecipientKind.NMBRS
    result = []
    for info in CATALOG:
        included = form.get(f"include-{info.item.value}") in ("on", "1", "true")
        code = (form.get(f"wage-{info.item.value}") or "").strip() or None
        row = Row(info=info, included=included, wage_code=code)
        if code and len(code) > 50:
            row.error = _("Högst 50 tecken.")
        elif is_nmbrs and code and code not in live:
            row.error = _("Lönearten finns inte i Nmbrs (eller är arkiverad). Välj en annan.")
        result.append(row)
    return result


def save(actor: User, recipient: ReportRecipient, parsed: list[Row]) -> bool:
    """Store the choices when they are all valid; returns False (and stores nothing) otherwise."""
    if any(row.error for row in parsed):
        return False
    current = _settings_by_item(recipient)
    changed = []
    for row in parsed:
        setting = current.get(row.info.item.value)
        if setting is None:
            setting = PayItemSetting(item=row.info.item.value)
            recipient.pay_item_settings.append(setting)
        elif setting.included == row.included and setting.wage_code == row.wage_code:
            continue
        setting.included = row.included
        setting.wage_code = row.wage_code
        changed.append(
            {"item": row.info.item.value, "included": row.included, "wage_code": row.wage_code}
        )
    if changed:
        audit.record(
            "recipient.advanced_settings_changed",
            actor=actor,
            organization_id=recipient.organization_id,
            obj=recipient,
            changes=changed,
        )
    return True


def setting_for(recipient: ReportRecipient, item: PayItem) -> Row:
    """The choice for one item (for the transfer)."""
    return next(r for r in rows(recipient) if r.info.item == item)

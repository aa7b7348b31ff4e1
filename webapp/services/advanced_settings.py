"""Avancerade inställningar: which values go to payroll, and on which wage type."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import PayItemSetting, ReportRecipient, User, WageType
from webapp.payitems import CATALOG, PayGroup, PayItem, PayItemInfo
from webapp.recipients import kind_of
from webapp.services import audit, wage_type_suggestions

GROUP_TITLES = {
    PayGroup.MILEAGE: _l("Milersättning"),
    PayGroup.PER_DIEM: _l("Traktamente"),
    PayGroup.MEAL_REDUCTION: _l("Måltidsavdrag"),
    PayGroup.BENEFIT: _l("Kostförmån"),
    PayGroup.OUTLAY: _l("Utlägg"),
}


@dataclass(frozen=True)
class LayoutRow:
    """One line of the dialog: a kind of value with its tax-free and its taxable part."""

    label: object
    tax_free: PayItem | None
    taxable: PayItem | None


_P = PayItem
# How a payroll admin thinks of the choices: per vehicle kind and per kind of day, the
# tax-free and the taxable part side by side.
LAYOUT: list[tuple[PayGroup, list[LayoutRow]]] = [
    (
        PayGroup.MILEAGE,
        [
            LayoutRow(_l("Egen bil"), _P.MILEAGE_OWN_CAR_TAX_FREE, _P.MILEAGE_OWN_CAR_TAXABLE),
            LayoutRow(
                _l("Förmånsbil"), _P.MILEAGE_COMPANY_CAR_TAX_FREE, _P.MILEAGE_COMPANY_CAR_TAXABLE
            ),
            LayoutRow(
                _l("Elförmånsbil"),
                _P.MILEAGE_ELECTRIC_CAR_TAX_FREE,
                _P.MILEAGE_ELECTRIC_CAR_TAXABLE,
            ),
            LayoutRow(_l("Motorcykel"), None, _P.MILEAGE_MOTORCYCLE_TAXABLE),
            LayoutRow(_l("Moped"), None, _P.MILEAGE_MOPED_TAXABLE),
            LayoutRow(_l("Annat fordon"), None, _P.MILEAGE_OTHER_VEHICLE_TAXABLE),
        ],
    ),
    (
        PayGroup.PER_DIEM,
        [
            LayoutRow(
                _l("Inrikes heldag"), _P.DOMESTIC_FULL_DAY_TAX_FREE, _P.DOMESTIC_FULL_DAY_TAXABLE
            ),
            LayoutRow(
                _l("Inrikes halvdag"), _P.DOMESTIC_HALF_DAY_TAX_FREE, _P.DOMESTIC_HALF_DAY_TAXABLE
            ),
            LayoutRow(_l("Inrikes natt"), _P.DOMESTIC_NIGHT_TAX_FREE, _P.DOMESTIC_NIGHT_TAXABLE),
            LayoutRow(_l("Inrikes endagsförrättning"), None, _P.DOMESTIC_ONE_DAY_TAXABLE),
            LayoutRow(
                _l("Utrikes heldag"), _P.FOREIGN_FULL_DAY_TAX_FREE, _P.FOREIGN_FULL_DAY_TAXABLE
            ),
            LayoutRow(
                _l("Utrikes halvdag"), _P.FOREIGN_HALF_DAY_TAX_FREE, _P.FOREIGN_HALF_DAY_TAXABLE
            ),
            LayoutRow(_l("Utrikes natt"), _P.FOREIGN_NIGHT_TAX_FREE, _P.FOREIGN_NIGHT_TAXABLE),
            LayoutRow(_l("Utrikes endagsförrättning"), None, _P.FOREIGN_ONE_DAY_TAXABLE),
        ],
    ),
    (
        PayGroup.MEAL_REDUCTION,
        [
            LayoutRow(_l("Inrikes frukost"), _P.DOMESTIC_MEAL_REDUCTION_BREAKFAST, None),
            LayoutRow(_l("Inrikes lunch"), _P.DOMESTIC_MEAL_REDUCTION_LUNCH, None),
            LayoutRow(_l("Inrikes middag"), _P.DOMESTIC_MEAL_REDUCTION_DINNER, None),
            LayoutRow(_l("Utrikes frukost"), _P.FOREIGN_MEAL_REDUCTION_BREAKFAST, None),
            LayoutRow(_l("Utrikes lunch"), _P.FOREIGN_MEAL_REDUCTION_LUNCH, None),
            LayoutRow(_l("Utrikes middag"), _P.FOREIGN_MEAL_REDUCTION_DINNER, None),
        ],
    ),
    (
        PayGroup.BENEFIT,
        [
            LayoutRow(_l("Inrikes frukost"), None, _P.DOMESTIC_MEAL_BENEFIT_BREAKFAST),
            LayoutRow(_l("Inrikes lunch"), None, _P.DOMESTIC_MEAL_BENEFIT_LUNCH),
            LayoutRow(_l("Inrikes middag"), None, _P.DOMESTIC_MEAL_BENEFIT_DINNER),
            LayoutRow(_l("Utrikes frukost"), None, _P.FOREIGN_MEAL_BENEFIT_BREAKFAST),
            LayoutRow(_l("Utrikes lunch"), None, _P.FOREIGN_MEAL_BENEFIT_LUNCH),
            LayoutRow(_l("Utrikes middag"), None, _P.FOREIGN_MEAL_BENEFIT_DINNER),
        ],
    ),
    (PayGroup.OUTLAY, [LayoutRow(_l("Utlägg"), _P.OUTLAY, None)]),
]
assert {i for _, rows in LAYOUT for r in rows for i in (r.tax_free, r.taxable) if i} == set(
    PayItem
), "every pay item has its place in the dialog"


@dataclass
class Row:
    info: PayItemInfo
    included: bool
    wage_code: str | None
    error: str | None = None
    suggested: bool = False  # the wage code is Brygga's suggestion, not yet saved


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


def with_suggestions(recipient: ReportRecipient, rows_: list[Row]) -> list[Row]:
    """Fill empty wage types of a Nmbrs recipient with suggestions from the wage type names."""
    if not kind_of(recipient).has_catalogues:
        return rows_
    suggestions = wage_type_suggestions.suggest(wage_type_choices(recipient))
    for row in rows_:
        if row.included and not row.wage_code and row.info.item in suggestions:
            row.wage_code = suggestions[row.info.item]
            row.suggested = True
    return rows_


def by_item(rows_: list[Row]) -> dict[PayItem, Row]:
    return {row.info.item: row for row in rows_}


def summary(recipient: ReportRecipient, rows_: list[Row]) -> dict[str, int]:
    """Counts for the recipient view: how many values are sent, and how many would be but lack
    the wage type a kind with catalogues (Nmbrs) needs (those are not sent, so they are not
    counted as sent)."""
    included = [r for r in rows_ if r.included]
    needs_wage_type = kind_of(recipient).has_catalogues
    without = sum(1 for r in included if not r.wage_code) if needs_wage_type else 0
    return {
        "sent": len(included) - without,
        "total": len(rows_),
        "without_wage_type": without,
    }


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
    # A kind with catalogues (Nmbrs) knows its wage types; a file's codes are free text.
    checked = kind_of(recipient).has_catalogues
    result = []
    for info in CATALOG:
        included = form.get(f"include-{info.item.value}") in ("on", "1", "true")
        code = (form.get(f"wage-{info.item.value}") or "").strip() or None
        row = Row(info=info, included=included, wage_code=code)
        if code and len(code) > 50:
            row.error = _("Högst 50 tecken.")
        elif checked and code and code not in live:
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

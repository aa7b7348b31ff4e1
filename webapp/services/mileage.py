"""Milersättning: the organization's paid rate per mil split into tax-free and taxable parts.

Pure: no database, no Flask.
"""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _

from webapp.payitems import PayItem
from webapp.services.pay_parts import Calculation, PayPart, group_parts, to_money
from webapp.services.rates import VehicleKind, YearRules

MAX_KM_PER_LINE = Decimal(20000)

ITEMS: dict[VehicleKind, tuple[PayItem, PayItem]] = {
    VehicleKind.OWN_CAR: (PayItem.MILEAGE_OWN_CAR_TAX_FREE, PayItem.MILEAGE_OWN_CAR_TAXABLE),
    VehicleKind.COMPANY_CAR: (
        PayItem.MILEAGE_COMPANY_CAR_TAX_FREE,
        PayItem.MILEAGE_COMPANY_CAR_TAXABLE,
    ),
    VehicleKind.ELECTRIC_COMPANY_CAR: (
        PayItem.MILEAGE_ELECTRIC_CAR_TAX_FREE,
        PayItem.MILEAGE_ELECTRIC_CAR_TAXABLE,
    ),
    # No tax-free part: the "tax-free" item is never used for these (its amount is always 0).
    VehicleKind.MOTORCYCLE: (
        PayItem.MILEAGE_MOTORCYCLE_TAXABLE,
        PayItem.MILEAGE_MOTORCYCLE_TAXABLE,
    ),
    VehicleKind.MOPED: (PayItem.MILEAGE_MOPED_TAXABLE, PayItem.MILEAGE_MOPED_TAXABLE),
    VehicleKind.OTHER_VEHICLE: (
        PayItem.MILEAGE_OTHER_VEHICLE_TAXABLE,
        PayItem.MILEAGE_OTHER_VEHICLE_TAXABLE,
    ),
}


class MileageError(ValueError):
    """Input that cannot be a journey; the message is for the employee."""


def calculate_mileage(
    km: Decimal,
    vehicle: VehicleKind,
    rules: YearRules,
    paid_rate: Decimal | None = None,
    employee_paid_fuel: bool = True,
) -> Calculation:
    """Split `km` driven at the organization's `paid_rate` per mil (None: the tax-free rate).

    A benefit car gives tax-free allowance only when the employee paid the fuel or charging;
    otherwise everything paid is taxable. Tax-free milersättning covers cars only: for a
    motorcycle, moped or other vehicle everything paid is taxable, and the organization must
    have set a rate (there is no Skatteverket amount to pay by default).
    """
    if km <= 0:
        raise MileageError(_("Ange en körsträcka större än 0 km."))
    if km > MAX_KM_PER_LINE:
        raise MileageError(_("Körsträckan får vara högst %(km)s km per rad.", km=MAX_KM_PER_LINE))
    if paid_rate is not None and paid_rate < 0:
        raise MileageError(_("Ersättningen per mil kan inte vara negativ."))
    mil = km / 10
    if not vehicle.has_tax_free_rate:
        if paid_rate is None:
            raise MileageError(
                _(
                    "Organisationen har ingen ersättning för det fordonet. En administratör kan "
                    "ange den under Ersättningsnivåer."
                )
            )
        max_rate = Decimal(0)
    else:
        max_rate = rules.mileage_per_mil[vehicle]
    if vehicle.has_tax_free_rate and vehicle != VehicleKind.OWN_CAR and not employee_paid_fuel:
        max_rate = Decimal(0)
    rate = max_rate if paid_rate is None else paid_rate
    tax_free_rate = min(rate, max_rate)
    paid = to_money(mil * rate)
    tax_free = to_money(mil * tax_free_rate)
    tax_free_item, taxable_item = ITEMS[vehicle]
    parts = group_parts(
        [
            PayPart(tax_free_item, mil, tax_free_rate, tax_free),
            PayPart(taxable_item, mil, rate - tax_free_rate, paid - tax_free),
        ]
    )
    details = {
        "kind": "mileage",
        "km": str(km),
        "mil": str(mil),
        "vehicle": vehicle.value,
        "max_rate": str(max_rate),
        "paid_rate": str(rate),
        "employee_paid_fuel": employee_paid_fuel,
    }
    return Calculation(parts, rules.year, details)

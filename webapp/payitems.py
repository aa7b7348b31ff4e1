"""The kinds of value an expense report sends to payroll.

This vocabulary is shared by the allowance calculations (which produce amounts per item), the
report recipients' *Avancerade inställningar* (which choose per item whether it is sent and on
which wage type) and the transfer (which turns items into Nmbrs wage components or PAXml lines).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


class PayItem(enum.StrEnum):
    MILEAGE_OWN_CAR_TAX_FREE = "mileage.own_car.tax_free"
    MILEAGE_OWN_CAR_TAXABLE = "mileage.own_car.taxable"
    MILEAGE_COMPANY_CAR_TAX_FREE = "mileage.company_car.tax_free"
    MILEAGE_COMPANY_CAR_TAXABLE = "mileage.company_car.taxable"
    MILEAGE_ELECTRIC_CAR_TAX_FREE = "mileage.electric_company_car.tax_free"
    MILEAGE_ELECTRIC_CAR_TAXABLE = "mileage.electric_company_car.taxable"
    # No tax-free milersättning for these: all that is paid is taxable.
    MILEAGE_MOTORCYCLE_TAXABLE = "mileage.motorcycle.taxable"
    MILEAGE_MOPED_TAXABLE = "mileage.moped.taxable"
    MILEAGE_OTHER_VEHICLE_TAXABLE = "mileage.other_vehicle.taxable"

    DOMESTIC_FULL_DAY_TAX_FREE = "per_diem.domestic.full_day.tax_free"
    DOMESTIC_FULL_DAY_TAXABLE = "per_diem.domestic.full_day.taxable"
    DOMESTIC_HALF_DAY_TAX_FREE = "per_diem.domestic.half_day.tax_free"
    DOMESTIC_HALF_DAY_TAXABLE = "per_diem.domestic.half_day.taxable"
    DOMESTIC_NIGHT_TAX_FREE = "per_diem.domestic.night.tax_free"
    DOMESTIC_NIGHT_TAXABLE = "per_diem.domestic.night.taxable"
    DOMESTIC_ONE_DAY_TAXABLE = "per_diem.domestic.one_day.taxable"

    FOREIGN_FULL_DAY_TAX_FREE = "per_diem.foreign.full_day.tax_free"
    FOREIGN_FULL_DAY_TAXABLE = "per_diem.foreign.full_day.taxable"
    FOREIGN_HALF_DAY_TAX_FREE = "per_diem.foreign.half_day.tax_free"
    FOREIGN_HALF_DAY_TAXABLE = "per_diem.foreign.half_day.taxable"
    FOREIGN_NIGHT_TAX_FREE = "per_diem.foreign.night.tax_free"
    FOREIGN_NIGHT_TAXABLE = "per_diem.foreign.night.taxable"
    FOREIGN_ONE_DAY_TAXABLE = "per_diem.foreign.one_day.taxable"

    # Reductions for free meals are negative amounts on their own lines.
    DOMESTIC_MEAL_REDUCTION_BREAKFAST = "per_diem.domestic.meal_reduction.breakfast"
    DOMESTIC_MEAL_REDUCTION_LUNCH = "per_diem.domestic.meal_reduction.lunch"
    DOMESTIC_MEAL_REDUCTION_DINNER = "per_diem.domestic.meal_reduction.dinner"
    FOREIGN_MEAL_REDUCTION_BREAKFAST = "per_diem.foreign.meal_reduction.breakfast"
    FOREIGN_MEAL_REDUCTION_LUNCH = "per_diem.foreign.meal_reduction.lunch"
    FOREIGN_MEAL_REDUCTION_DINNER = "per_diem.foreign.meal_reduction.dinner"

    # Kostförmån: the taxable value of a free meal. Not money paid out: payroll adds it to the
    # employee's taxable income (PAXml MATFRM_*/UTRFRM_*).
    DOMESTIC_MEAL_BENEFIT_BREAKFAST = "benefit.meal.domestic.breakfast"
    DOMESTIC_MEAL_BENEFIT_LUNCH = "benefit.meal.domestic.lunch"
    DOMESTIC_MEAL_BENEFIT_DINNER = "benefit.meal.domestic.dinner"
    FOREIGN_MEAL_BENEFIT_BREAKFAST = "benefit.meal.foreign.breakfast"
    FOREIGN_MEAL_BENEFIT_LUNCH = "benefit.meal.foreign.lunch"
    FOREIGN_MEAL_BENEFIT_DINNER = "benefit.meal.foreign.dinner"

    OUTLAY = "outlay"


class PayGroup(enum.StrEnum):
    MILEAGE = "mileage"
    PER_DIEM = "per_diem"
    MEAL_REDUCTION = "meal_reduction"
    BENEFIT = "benefit"
    OUTLAY = "outlay"


@dataclass(frozen=True)
class PayItemInfo:
    item: PayItem
    group: PayGroup
    label: object  # a lazy string: rendered in the reader's language
    tax_free: bool
    paxml_code: str  # PAXml 2.0 lönekod
    benefit: bool = False  # a förmån: a taxable value, not money paid to the employee


_P = PayItem
_G = PayGroup
CATALOG: tuple[PayItemInfo, ...] = (
    PayItemInfo(
        _P.MILEAGE_OWN_CAR_TAX_FREE,
        _G.MILEAGE,
        _l("Milersättning egen bil, skattefri"),
        True,
        "MILPRI_FRI",
    ),
    PayItemInfo(
        _P.MILEAGE_OWN_CAR_TAXABLE,
        _G.MILEAGE,
        _l("Milersättning egen bil, skattepliktig"),
        False,
        "MILPRI_SKT",
    ),
    PayItemInfo(
        _P.MILEAGE_COMPANY_CAR_TAX_FREE,
        _G.MILEAGE,
        _l("Milersättning förmånsbil, skattefri"),
        True,
        "MILFTG_FRI",
    ),
    PayItemInfo(
        _P.MILEAGE_COMPANY_CAR_TAXABLE,
        _G.MILEAGE,
        _l("Milersättning förmånsbil, skattepliktig"),
        False,
        "MILFTG_SKT",
    ),
    # PAXml 2.0 has no code for fully electric benefit cars; the benefit-car code is the closest.
    PayItemInfo(
        _P.MILEAGE_ELECTRIC_CAR_TAX_FREE,
        _G.MILEAGE,
        _l("Milersättning elförmånsbil, skattefri"),
        True,
        "MILFTG_FRI",
    ),
    PayItemInfo(
        _P.MILEAGE_ELECTRIC_CAR_TAXABLE,
        _G.MILEAGE,
        _l("Milersättning elförmånsbil, skattepliktig"),
        False,
        "MILFTG_SKT",
    ),
    PayItemInfo(
        _P.MILEAGE_MOTORCYCLE_TAXABLE,
        _G.MILEAGE,
        _l("Milersättning motorcykel, skattepliktig"),
        False,
        "MIL_SKT",
    ),
    PayItemInfo(
        _P.MILEAGE_MOPED_TAXABLE,
        _G.MILEAGE,
        _l("Milersättning moped, skattepliktig"),
        False,
        "MIL_SKT",
    ),
    PayItemInfo(
        _P.MILEAGE_OTHER_VEHICLE_TAXABLE,
        _G.MILEAGE,
        _l("Milersättning annat fordon, skattepliktig"),
        False,
        "MIL_SKT",
    ),
    PayItemInfo(
        _P.DOMESTIC_FULL_DAY_TAX_FREE,
        _G.PER_DIEM,
        _l("Traktamente inrikes heldag, skattefritt"),
        True,
        "INRHEL_FRI",
    ),
    PayItemInfo(
        _P.DOMESTIC_FULL_DAY_TAXABLE,
        _G.PER_DIEM,
        _l("Traktamente inrikes heldag, skattepliktigt"),
        False,
        "INRHEL_SKT",
    ),
    PayItemInfo(
        _P.DOMESTIC_HALF_DAY_TAX_FREE,
        _G.PER_DIEM,
        _l("Traktamente inrikes halvdag, skattefritt"),
        True,
        "INRHLV_FRI",
    ),
    PayItemInfo(
        _P.DOMESTIC_HALF_DAY_TAXABLE,
        _G.PER_DIEM,
        _l("Traktamente inrikes halvdag, skattepliktigt"),
        False,
        "INRHLV_SKT",
    ),
    PayItemInfo(
        _P.DOMESTIC_NIGHT_TAX_FREE,
        _G.PER_DIEM,
        _l("Nattraktamente inrikes, skattefritt"),
        True,
        "INRNAT_FRI",
    ),
    PayItemInfo(
        _P.DOMESTIC_NIGHT_TAXABLE,
        _G.PER_DIEM,
        _l("Nattraktamente inrikes, skattepliktigt"),
        False,
        "INRNAT_SKT",
    ),
    PayItemInfo(
        _P.DOMESTIC_ONE_DAY_TAXABLE,
        _G.PER_DIEM,
        _l("Endagstraktamente inrikes, skattepliktigt"),
        False,
        "INRDAG_SKT",
    ),
    PayItemInfo(
        _P.FOREIGN_FULL_DAY_TAX_FREE,
        _G.PER_DIEM,
        _l("Traktamente utrikes heldag, skattefritt"),
        True,
        "UTRHEL_FRI",
    ),
    PayItemInfo(
        _P.FOREIGN_FULL_DAY_TAXABLE,
        _G.PER_DIEM,
        _l("Traktamente utrikes heldag, skattepliktigt"),
        False,
        "UTRHEL_SKT",
    ),
    PayItemInfo(
        _P.FOREIGN_HALF_DAY_TAX_FREE,
        _G.PER_DIEM,
        _l("Traktamente utrikes halvdag, skattefritt"),
        True,
        "UTRHLV_FRI",
    ),
    PayItemInfo(
        _P.FOREIGN_HALF_DAY_TAXABLE,
        _G.PER_DIEM,
        _l("Traktamente utrikes halvdag, skattepliktigt"),
        False,
        "UTRHLV_SKT",
    ),
    PayItemInfo(
        _P.FOREIGN_NIGHT_TAX_FREE,
        _G.PER_DIEM,
        _l("Nattraktamente utrikes, skattefritt"),
        True,
        "UTRNAT_FRI",
    ),
    PayItemInfo(
        _P.FOREIGN_NIGHT_TAXABLE,
        _G.PER_DIEM,
        _l("Nattraktamente utrikes, skattepliktigt"),
        False,
        "UTRNAT_SKT",
    ),
    PayItemInfo(
        _P.FOREIGN_ONE_DAY_TAXABLE,
        _G.PER_DIEM,
        _l("Endagstraktamente utrikes, skattepliktigt"),
        False,
        "UTRDAG_SKT",
    ),
    PayItemInfo(
        _P.DOMESTIC_MEAL_REDUCTION_BREAKFAST,
        _G.MEAL_REDUCTION,
        _l("Måltidsavdrag inrikes, frukost"),
        True,
        "MATRED_FRU",
    ),
    PayItemInfo(
        _P.DOMESTIC_MEAL_REDUCTION_LUNCH,
        _G.MEAL_REDUCTION,
        _l("Måltidsavdrag inrikes, lunch"),
        True,
        "MATRED_LCH",
    ),
    PayItemInfo(
        _P.DOMESTIC_MEAL_REDUCTION_DINNER,
        _G.MEAL_REDUCTION,
        _l("Måltidsavdrag inrikes, middag"),
        True,
        "MATRED_MID",
    ),
    PayItemInfo(
        _P.FOREIGN_MEAL_REDUCTION_BREAKFAST,
        _G.MEAL_REDUCTION,
        _l("Måltidsavdrag utrikes, frukost"),
        True,
        "UTRRED_FRU",
    ),
    PayItemInfo(
        _P.FOREIGN_MEAL_REDUCTION_LUNCH,
        _G.MEAL_REDUCTION,
        _l("Måltidsavdrag utrikes, lunch"),
        True,
        "UTRRED_LCH",
    ),
    PayItemInfo(
        _P.FOREIGN_MEAL_REDUCTION_DINNER,
        _G.MEAL_REDUCTION,
        _l("Måltidsavdrag utrikes, middag"),
        True,
        "UTRRED_MID",
    ),
    PayItemInfo(
        _P.DOMESTIC_MEAL_BENEFIT_BREAKFAST,
        _G.BENEFIT,
        _l("Kostförmån inrikes, frukost"),
        False,
        "MATFRM_FRU",
        benefit=True,
    ),
    PayItemInfo(
        _P.DOMESTIC_MEAL_BENEFIT_LUNCH,
        _G.BENEFIT,
        _l("Kostförmån inrikes, lunch"),
        False,
        "MATFRM_LCH",
        benefit=True,
    ),
    PayItemInfo(
        _P.DOMESTIC_MEAL_BENEFIT_DINNER,
        _G.BENEFIT,
        _l("Kostförmån inrikes, middag"),
        False,
        "MATFRM_MID",
        benefit=True,
    ),
    PayItemInfo(
        _P.FOREIGN_MEAL_BENEFIT_BREAKFAST,
        _G.BENEFIT,
        _l("Kostförmån utrikes, frukost"),
        False,
        "UTRFRM_FRU",
        benefit=True,
    ),
    PayItemInfo(
        _P.FOREIGN_MEAL_BENEFIT_LUNCH,
        _G.BENEFIT,
        _l("Kostförmån utrikes, lunch"),
        False,
        "UTRFRM_LCH",
        benefit=True,
    ),
    PayItemInfo(
        _P.FOREIGN_MEAL_BENEFIT_DINNER,
        _G.BENEFIT,
        _l("Kostförmån utrikes, middag"),
        False,
        "UTRFRM_MID",
        benefit=True,
    ),
    PayItemInfo(_P.OUTLAY, _G.OUTLAY, _l("Utlägg"), True, "UTLÄGG"),
)
INFO: dict[PayItem, PayItemInfo] = {info.item: info for info in CATALOG}
assert set(INFO) == set(PayItem), "every pay item needs its catalogue entry"

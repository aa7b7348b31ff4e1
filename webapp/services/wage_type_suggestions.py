"""Suggesting a wage type for each kind of value from the names of the synced wage types.

Swedish payroll programs name their wage types in words a machine can read ("Milersättning
egen bil skattefri", "Traktamente inrikes halvdag skattepliktig"). Suggesting from those names
saves the admin 27 drop-downs; every suggestion is shown as one and saved only by the admin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from webapp.models import WageType
from webapp.payitems import PayItem

_P = PayItem


@dataclass(frozen=True)
class Rule:
    required: tuple[str, ...]  # word prefixes that must all appear
    forbidden: tuple[str, ...] = ()  # word prefixes that must not appear


def _mileage(vehicle: tuple[str, ...], part: str, forbidden: tuple[str, ...] = ()) -> Rule:
    return Rule(("milersättning", *vehicle, part), forbidden)


def _per_diem(where: str, day: str, part: str) -> Rule:
    if where == "utrikes":
        return Rule(("traktamente", "utrikes", day, part))
    return Rule(("traktamente", day, part), ("utrikes",))


def _meal(where: str, meal: str) -> Rule:
    if where == "utrikes":
        return Rule(("måltidsavdrag", "utrikes", meal))
    return Rule(("måltidsavdrag", meal), ("utrikes",))


def _benefit(where: str, meal: str) -> Rule:
    # "Kostförmån lunch", "Kostförmån utrikes frukost".
    if where == "utrikes":
        return Rule(("kostförmån", "utrikes", meal))
    return Rule(("kostförmån", meal), ("utrikes",))


RULES: dict[PayItem, Rule] = {
    _P.MILEAGE_OWN_CAR_TAX_FREE: _mileage(("egen",), "skattefri"),
    _P.MILEAGE_OWN_CAR_TAXABLE: _mileage(("egen",), "skattepliktig"),
    _P.MILEAGE_COMPANY_CAR_TAX_FREE: _mileage(("förmånsbil",), "skattefri", ("el",)),
    _P.MILEAGE_COMPANY_CAR_TAXABLE: _mileage(("förmånsbil",), "skattepliktig", ("el",)),
    _P.MILEAGE_ELECTRIC_CAR_TAX_FREE: _mileage(("förmånsbil", "el"), "skattefri"),
    # Payroll programs rarely split the taxable excess by fuel: the benefit-car one serves.
    _P.MILEAGE_ELECTRIC_CAR_TAXABLE: _mileage(("förmånsbil",), "skattepliktig"),
    _P.MILEAGE_MOTORCYCLE_TAXABLE: _mileage(("motorcykel",), "skattepliktig"),
    _P.MILEAGE_MOPED_TAXABLE: _mileage(("moped",), "skattepliktig"),
    _P.MILEAGE_OTHER_VEHICLE_TAXABLE: _mileage(("annat",), "skattepliktig"),
    _P.DOMESTIC_FULL_DAY_TAX_FREE: _per_diem("inrikes", "heldag", "skattefri"),
    _P.DOMESTIC_FULL_DAY_TAXABLE: _per_diem("inrikes", "heldag", "skattepliktig"),
    _P.DOMESTIC_HALF_DAY_TAX_FREE: _per_diem("inrikes", "halvdag", "skattefri"),
    _P.DOMESTIC_HALF_DAY_TAXABLE: _per_diem("inrikes", "halvdag", "skattepliktig"),
    _P.DOMESTIC_NIGHT_TAX_FREE: _per_diem("inrikes", "natt", "skattefri"),
    _P.DOMESTIC_NIGHT_TAXABLE: _per_diem("inrikes", "natt", "skattepliktig"),
    _P.DOMESTIC_ONE_DAY_TAXABLE: _per_diem("inrikes", "endag", "skattepliktig"),
    _P.FOREIGN_FULL_DAY_TAX_FREE: _per_diem("utrikes", "heldag", "skattefri"),
    _P.FOREIGN_FULL_DAY_TAXABLE: _per_diem("utrikes", "heldag", "skattepliktig"),
    _P.FOREIGN_HALF_DAY_TAX_FREE: _per_diem("utrikes", "halvdag", "skattefri"),
    _P.FOREIGN_HALF_DAY_TAXABLE: _per_diem("utrikes", "halvdag", "skattepliktig"),
    _P.FOREIGN_NIGHT_TAX_FREE: _per_diem("utrikes", "natt", "skattefri"),
    _P.FOREIGN_NIGHT_TAXABLE: _per_diem("utrikes", "natt", "skattepliktig"),
    _P.FOREIGN_ONE_DAY_TAXABLE: _per_diem("utrikes", "endag", "skattepliktig"),
    _P.DOMESTIC_MEAL_REDUCTION_BREAKFAST: _meal("inrikes", "frukost"),
    _P.DOMESTIC_MEAL_REDUCTION_LUNCH: _meal("inrikes", "lunch"),
    _P.DOMESTIC_MEAL_REDUCTION_DINNER: _meal("inrikes", "middag"),
    _P.FOREIGN_MEAL_REDUCTION_BREAKFAST: _meal("utrikes", "frukost"),
    _P.FOREIGN_MEAL_REDUCTION_LUNCH: _meal("utrikes", "lunch"),
    _P.FOREIGN_MEAL_REDUCTION_DINNER: _meal("utrikes", "middag"),
    _P.DOMESTIC_MEAL_BENEFIT_BREAKFAST: _benefit("inrikes", "frukost"),
    _P.DOMESTIC_MEAL_BENEFIT_LUNCH: _benefit("inrikes", "lunch"),
    _P.DOMESTIC_MEAL_BENEFIT_DINNER: _benefit("inrikes", "middag"),
    _P.FOREIGN_MEAL_BENEFIT_BREAKFAST: _benefit("utrikes", "frukost"),
    _P.FOREIGN_MEAL_BENEFIT_LUNCH: _benefit("utrikes", "lunch"),
    _P.FOREIGN_MEAL_BENEFIT_DINNER: _benefit("utrikes", "middag"),
    _P.OUTLAY: Rule(("utlägg",), ("representation", "traktamente", "kvitto")),
}
assert set(RULES) == set(PayItem), "every pay item needs a suggestion rule"


def _words(text: str) -> list[str]:
    return re.findall(r"[a-zåäöé]+", text.lower())


def _matches(rule: Rule, words: list[str]) -> bool:
    def has(prefix: str) -> bool:
        # "el" must be the word itself: "elförmånsbil" aside, prefixes would catch "elva".
        if len(prefix) <= 2:
            return prefix in words
        return any(w.startswith(prefix) for w in words)

    return all(has(p) for p in rule.required) and not any(has(p) for p in rule.forbidden)


def suggest(wage_types: list[WageType]) -> dict[PayItem, str]:
    """The first wage type (by code) whose name fits each pay item; items without one are left
    out rather than guessed."""
    ordered = sorted(wage_types, key=lambda w: (len(w.code), w.code))
    named = [(w.code, _words(w.description or "")) for w in ordered]
    suggestions = {}
    for item, rule in RULES.items():
        code = next((c for c, words in named if _matches(rule, words)), None)
        if code is not None:
            suggestions[item] = code
    return suggestions

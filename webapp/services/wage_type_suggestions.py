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

# Each term is a regular expression a whole word of the name must match; Swedish glues words
# together ("Nattraktamente", "halvdagstraktamente", "elförmånsbil"), so most terms find their
# stem anywhere in a word.
MILEAGE = r"milers\w*|\w*milersättning\w*"
OWN = r"egen|egna|privat\w*"
BENEFIT = r"\w*förmånsbil\w*|företagsbil\w*|tjänstebil\w*"
ELECTRIC = r"el|el\w*bil\w*"
MOTORCYCLE = r"\w*motorcykel\w*|mc"
MOPED = r"\w*moped\w*"
OTHER_VEHICLE = r"annat|annan|övri\w*"
PER_DIEM = r"\w*traktamente\w*"
DOMESTIC = r"inrikes|\w*sverige\w*"
FOREIGN = r"utrikes|\w*utland\w*"
FULL_DAY = r"\w*heldag\w*"
HALF_DAY = r"\w*halvdag\w*"
NIGHT = r"\w*natt\w*"
ONE_DAY = r"\w*endag\w*"
MEAL = r"\w*måltidsavdrag\w*|\w*kostavdrag\w*"
MEAL_BENEFIT = r"\w*kostförmån\w*"
TAX_FREE = r"skattefri\w*"
TAXABLE = r"skattepl\w*|skpl"


@dataclass(frozen=True)
class Rule:
    required: tuple[str, ...]  # terms that must all appear
    forbidden: tuple[str, ...] = ()  # terms that must not appear
    preferred: tuple[str, ...] = ()  # terms that make a name fit better when they appear
    # The one deliberate sharing: payroll programs rarely split the taxable excess of a
    # benefit car by fuel, so the electric car's taxable part may take the benefit car's.
    may_share: bool = False


def _part(tax_free: bool) -> dict[str, tuple[str, ...]]:
    # A name without a tax word ("Nattraktamente", "Milersättning") is the allowance itself:
    # the tax-free part. The taxable part is only ever suggested by name.
    if tax_free:
        return {"forbidden": (TAXABLE,), "preferred": (TAX_FREE,)}
    return {"required": (TAXABLE,), "forbidden": (TAX_FREE,)}


def _rule(required, forbidden=(), preferred=(), *, tax_free: bool | None, may_share=False):
    part = _part(tax_free) if tax_free is not None else {}
    return Rule(
        (*required, *part.get("required", ())),
        (*forbidden, *part.get("forbidden", ())),
        (*preferred, *part.get("preferred", ())),
        may_share,
    )


def _mileage(vehicle: str, tax_free: bool) -> Rule:
    if vehicle == "own":
        others = (BENEFIT, MOTORCYCLE, MOPED, OTHER_VEHICLE)
        return _rule((MILEAGE,), others, (OWN,), tax_free=tax_free)
    if vehicle == "benefit":
        return _rule((MILEAGE, BENEFIT), (ELECTRIC, MOTORCYCLE), tax_free=tax_free)
    if tax_free:
        return _rule((MILEAGE, BENEFIT, ELECTRIC), (MOTORCYCLE,), tax_free=True)
    return _rule((MILEAGE, BENEFIT), (MOTORCYCLE,), (ELECTRIC,), tax_free=False, may_share=True)


_DAYS = {"full": FULL_DAY, "half": HALF_DAY, "night": NIGHT, "one": ONE_DAY}


def _per_diem(where: str, day: str, tax_free: bool) -> Rule:
    others = tuple(term for name, term in _DAYS.items() if name != day)
    if where == "foreign":
        return _rule((PER_DIEM, FOREIGN, _DAYS[day]), others, tax_free=tax_free)
    return _rule((PER_DIEM, _DAYS[day]), (FOREIGN, *others), (DOMESTIC,), tax_free=tax_free)


def _meal(where: str, meal: str, kind: str = MEAL) -> Rule:
    if where == "foreign":
        return Rule((kind, FOREIGN, meal))
    return Rule((kind, meal), (FOREIGN,), (DOMESTIC,))


def _taxable_only(vehicle: str) -> Rule:
    # Vehicles with no tax-free allowance: a name without a tax word is their taxable one.
    return Rule((MILEAGE, vehicle), (TAX_FREE,), (TAXABLE,))


BREAKFAST, LUNCH, DINNER = r"\w*frukost\w*", r"\w*lunch\w*", r"\w*middag\w*"

RULES: dict[PayItem, Rule] = {
    _P.MILEAGE_OWN_CAR_TAX_FREE: _mileage("own", True),
    _P.MILEAGE_OWN_CAR_TAXABLE: _mileage("own", False),
    _P.MILEAGE_COMPANY_CAR_TAX_FREE: _mileage("benefit", True),
    _P.MILEAGE_COMPANY_CAR_TAXABLE: _mileage("benefit", False),
    _P.MILEAGE_ELECTRIC_CAR_TAX_FREE: _mileage("electric", True),
    _P.MILEAGE_ELECTRIC_CAR_TAXABLE: _mileage("electric", False),
    _P.MILEAGE_MOTORCYCLE_TAXABLE: _taxable_only(MOTORCYCLE),
    _P.MILEAGE_MOPED_TAXABLE: _taxable_only(MOPED),
    _P.MILEAGE_OTHER_VEHICLE_TAXABLE: _taxable_only(OTHER_VEHICLE),
    _P.DOMESTIC_FULL_DAY_TAX_FREE: _per_diem("domestic", "full", True),
    _P.DOMESTIC_FULL_DAY_TAXABLE: _per_diem("domestic", "full", False),
    _P.DOMESTIC_HALF_DAY_TAX_FREE: _per_diem("domestic", "half", True),
    _P.DOMESTIC_HALF_DAY_TAXABLE: _per_diem("domestic", "half", False),
    _P.DOMESTIC_NIGHT_TAX_FREE: _per_diem("domestic", "night", True),
    _P.DOMESTIC_NIGHT_TAXABLE: _per_diem("domestic", "night", False),
    # A one-day trip has no tax-free allowance: a name without a tax word is its taxable one.
    _P.DOMESTIC_ONE_DAY_TAXABLE: Rule(
        (PER_DIEM, ONE_DAY), (FOREIGN, TAX_FREE), (DOMESTIC, TAXABLE)
    ),
    _P.FOREIGN_FULL_DAY_TAX_FREE: _per_diem("foreign", "full", True),
    _P.FOREIGN_FULL_DAY_TAXABLE: _per_diem("foreign", "full", False),
    _P.FOREIGN_HALF_DAY_TAX_FREE: _per_diem("foreign", "half", True),
    _P.FOREIGN_HALF_DAY_TAXABLE: _per_diem("foreign", "half", False),
    _P.FOREIGN_NIGHT_TAX_FREE: _per_diem("foreign", "night", True),
    _P.FOREIGN_NIGHT_TAXABLE: _per_diem("foreign", "night", False),
    _P.FOREIGN_ONE_DAY_TAXABLE: Rule((PER_DIEM, FOREIGN, ONE_DAY), (TAX_FREE,), (TAXABLE,)),
    _P.DOMESTIC_MEAL_REDUCTION_BREAKFAST: _meal("domestic", BREAKFAST),
    _P.DOMESTIC_MEAL_REDUCTION_LUNCH: _meal("domestic", LUNCH),
    _P.DOMESTIC_MEAL_REDUCTION_DINNER: _meal("domestic", DINNER),
    _P.FOREIGN_MEAL_REDUCTION_BREAKFAST: _meal("foreign", BREAKFAST),
    _P.FOREIGN_MEAL_REDUCTION_LUNCH: _meal("foreign", LUNCH),
    _P.FOREIGN_MEAL_REDUCTION_DINNER: _meal("foreign", DINNER),
    _P.DOMESTIC_MEAL_BENEFIT_BREAKFAST: _meal("domestic", BREAKFAST, MEAL_BENEFIT),
    _P.DOMESTIC_MEAL_BENEFIT_LUNCH: _meal("domestic", LUNCH, MEAL_BENEFIT),
    _P.DOMESTIC_MEAL_BENEFIT_DINNER: _meal("domestic", DINNER, MEAL_BENEFIT),
    _P.FOREIGN_MEAL_BENEFIT_BREAKFAST: _meal("foreign", BREAKFAST, MEAL_BENEFIT),
    _P.FOREIGN_MEAL_BENEFIT_LUNCH: _meal("foreign", LUNCH, MEAL_BENEFIT),
    _P.FOREIGN_MEAL_BENEFIT_DINNER: _meal("foreign", DINNER, MEAL_BENEFIT),
    _P.OUTLAY: Rule((r"utlägg\w*",), (r"\w*representation\w*", PER_DIEM, r"kvitto\w*", MILEAGE)),
}
assert set(RULES) == set(PayItem), "every pay item needs a suggestion rule"


def _words(text: str) -> list[str]:
    return re.findall(r"[a-zåäöéü]+", text.lower())


def _has(term: str, words: list[str]) -> bool:
    return any(re.fullmatch(term, w) for w in words)


def _score(rule: Rule, words: list[str]) -> int | None:
    """How well a name fits a rule (more matched terms fit better), or None when it does not."""
    if not all(_has(t, words) for t in rule.required) or any(
        _has(t, words) for t in rule.forbidden
    ):
        return None
    return len(rule.required) + sum(1 for t in rule.preferred if _has(t, words))


def suggest(wage_types: list[WageType]) -> dict[PayItem, str]:
    """The wage type whose name fits each pay item best (ties: the lowest code); items without
    one are left out rather than guessed.

    The best fits are handed out first and a wage type goes to one value only, so two values
    never land on one wage type by accident (the electric benefit car's taxable part, which
    may share the benefit car's, is the declared exception)."""
    ordered = sorted(wage_types, key=lambda w: (len(w.code), w.code))
    items = list(RULES)
    candidates = []
    for position, w in enumerate(ordered):
        words = _words(w.description or "")
        for rank, item in enumerate(items):
            score = _score(RULES[item], words)
            if score is not None:
                candidates.append((-score, position, rank, item, w.code))
    suggestions: dict[PayItem, str] = {}
    taken: set[str] = set()
    for _, _, _, item, code in sorted(candidates):
        if item in suggestions or (code in taken and not RULES[item].may_share):
            continue
        suggestions[item] = code
        taken.add(code)
    return suggestions

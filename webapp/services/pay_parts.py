"""What a calculated expense line sends to payroll: parts tagged with a `PayItem`.

Every line (outlay, mileage, per diem) turns into a list of `PayPart`s. Free-meal reductions are
negative parts on the MEAL_REDUCTION items rather than folded into the per-diem amount: PAXml
has its own codes for them (`MATRED_*`) and payroll systems show them as deductions, so the
payslip tells the employee why the per diem is lower. The tax-free total of a line therefore
includes those negative parts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from webapp.payitems import INFO, PayItem

ORE = Decimal("0.01")

# Each pay item by its stored value (an enum's own lookup by value is a slower Python call).
ITEMS = {item.value: item for item in PayItem}


def to_money(value: Decimal | int | str) -> Decimal:
    """Round to öre, half up (the way Skatteverket rounds)."""
    return Decimal(value).quantize(ORE, rounding=ROUND_HALF_UP)


def to_ore(value: Decimal) -> int:
    return int(to_money(value) * 100)


def from_ore(value: int | None) -> Decimal:
    return (Decimal(value or 0) / 100).quantize(ORE)


@dataclass(frozen=True)
class PayPart:
    item: PayItem
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    note: str = ""

    @property
    def tax_free(self) -> bool:
        return INFO[self.item].tax_free

    @property
    def benefit(self) -> bool:
        """A förmån (kostförmån): a taxable value for payroll, not money paid out."""
        return INFO[self.item].benefit

    def to_json(self) -> dict[str, str]:
        return {
            "item": self.item.value,
            "quantity": str(self.quantity),
            "unit_price": str(self.unit_price),
            "amount": str(self.amount),
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, str]) -> PayPart:
        # Positional, and the item by a dict: a transfer decodes thousands of these.
        item = data["item"]
        return cls(
            ITEMS[item] if item in ITEMS else PayItem(item),
            Decimal(data["quantity"]),
            Decimal(data["unit_price"]),
            Decimal(data["amount"]),
            data.get("note", ""),
        )


@dataclass(frozen=True)
class Calculation:
    """A line's result: its parts, its totals, the rule year and the steps to show a reader."""

    parts: tuple[PayPart, ...]
    rule_year: int | None
    details: dict

    @property
    def tax_free(self) -> Decimal:
        return sum((p.amount for p in self.parts if p.tax_free), Decimal("0.00"))

    @property
    def taxable(self) -> Decimal:
        """Taxable money paid out (a benefit is not paid: see `benefit`)."""
        return sum(
            (p.amount for p in self.parts if not p.tax_free and not p.benefit), Decimal("0.00")
        )

    @property
    def benefit(self) -> Decimal:
        """The taxable value of benefits (kostförmån) the line reports to payroll."""
        return sum((p.amount for p in self.parts if p.benefit), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.tax_free + self.taxable


def parts_of(line) -> list[PayPart]:
    """The parts an expense line sends to payroll, exactly as calculated when it was saved."""
    return [PayPart.from_json(part) for part in line.parts or []]


def group_parts(raw: Iterable[PayPart]) -> tuple[PayPart, ...]:
    """Merge parts with the same item, unit price and note; drop parts worth nothing."""
    merged: dict[tuple[PayItem, Decimal, str], list[Decimal]] = {}
    for part in raw:
        key = (part.item, part.unit_price, part.note)
        quantity, amount = merged.setdefault(key, [Decimal(0), Decimal("0.00")])
        merged[key] = [quantity + part.quantity, amount + part.amount]
    return tuple(
        PayPart(item, quantity, unit_price, to_money(amount), note)
        for (item, unit_price, note), (quantity, amount) in merged.items()
        if amount != 0
    )

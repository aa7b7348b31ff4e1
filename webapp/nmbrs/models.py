"""Dataclasses the Nmbrs client takes and returns.

Names follow the payroll admin's vocabulary in English (``WageType`` for a löneart, ``CostCenter``
for a kostnadsställe); field names are snake_case versions of the Nmbrs element names.

Result items are plain slotted dataclasses rather than frozen ones: a sync builds tens of
thousands of them, and frozen dataclasses cost half as much again to create.

Ids: the SOAP client (``NmbrsClient``) returns ``int`` ids; the REST client (``NmbrsRestClient``)
returns the REST API's GUIDs as lower-case ``str``. Hence ``Id = int | str``. Codes and numbers
(wage code, employee number, department code, company number) are the same in both APIs, which
is what the SOAP → REST migration matches on.

Optional means optional: a field Nmbrs' REST description does not require (an employee's
number, a department's code, a company's number) is ``None`` when Nmbrs leaves it out, never a
reason to fail the whole list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeAlias

# An Nmbrs id: ``int`` from SOAP, a GUID string from REST.
Id: TypeAlias = int | str


@dataclass(frozen=True)
class Environment:
    """What ``Environment_Get`` tells about the credential's Nmbrs environment."""

    domain: str | None
    subdomain: str | None


@dataclass(slots=True)
class Debtor:
    """An Nmbrs debtor (the customer that owns companies and departments)."""

    id: Id
    number: str | None
    name: str | None


@dataclass(slots=True)
class Company:
    """A company (arbetsgivare) in Nmbrs. ``number`` is an int where Nmbrs' number is numeric
    (REST sends it as a string, and may leave it out)."""

    id: Id
    number: int | str | None
    name: str | None
    tax_period_kind: str | None = None


_PERIOD_PATTERN = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\w+)\s*$")


@dataclass(frozen=True, order=True)
class PayrollPeriod:
    """A payroll period such as ``2026-11-M`` (year, period number, period type).

    Ordering compares year, then period, which is what "before the current period" means.
    """

    year: int
    period: int
    kind: str = field(default="M", compare=False)

    @classmethod
    def parse(cls, text: str) -> PayrollPeriod:
        """Parse Nmbrs' ``yyyy-p-type`` string; ``ValueError`` when it has another shape."""
        match = _PERIOD_PATTERN.match(text or "")
        if not match:
            raise ValueError(f"not a payroll period: {text!r}")
        return cls(int(match.group(1)), int(match.group(2)), match.group(3))

    def __str__(self) -> str:
        return f"{self.year}-{self.period}-{self.kind}"


@dataclass(slots=True)
class WageType:
    """A wage type (löneart): the code sent with every amount, and its description."""

    code: int
    description: str | None


@dataclass(slots=True)
class CostCenter:
    """A cost center (kostnadsställe). ``id`` is what wage components refer to."""

    id: Id | None
    code: str | None
    description: str | None


@dataclass(slots=True)
class CostUnit:
    """A cost unit (kostnadsenhet / kostnadsbärare)."""

    id: Id
    code: str | None
    description: str | None


@dataclass(slots=True)
class Department:
    """A department (avdelning); departments belong to the debtor, not to a company. REST may
    leave the code out."""

    id: Id
    code: int | None
    description: str | None


@dataclass(slots=True)
class EmployeeType:
    """An employee type, the filter ``List_GetByCompany`` takes (SOAP only; REST's
    ``employeeType`` is a status such as ``payroll`` and is passed as a plain string)."""

    id: Id
    description: str | None


@dataclass(slots=True)
class Employee:
    """An employee of a company: Nmbrs id, employee number and display name.

    ``number`` is ``None`` for someone Nmbrs has not numbered (an applicant, say): listed, but
    not matched to a Brygga user automatically.
    """

    id: Id
    number: int | None
    display_name: str | None


@dataclass(slots=True)
class WageComponent:
    """A variable wage component as Nmbrs returns it from ``WageComponentVar_Get``."""

    id: Id
    code: int
    value: Decimal
    comment: str | None = None  # REST only: SOAP's WageComponentVar_Get has no comment


@dataclass(frozen=True)
class NewWageComponent:
    """One amount to send to Nmbrs for an employee (an item of a batch insert)."""

    employee_id: Id
    code: int
    value: Decimal | int
    cost_center_id: Id | None = None
    cost_unit_id: Id | None = None
    comment: str | None = None

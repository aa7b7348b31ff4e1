"""Nmbrs' protocol rules, once for both faces: who may see what, and which amounts Nmbrs takes.

Each rule raises a ``Refusal`` naming what is wrong in the shared vocabulary (``Reason``);
each face says it in its own words: the SOAP face as a fault with Nmbrs' four-digit code
(``soap.py``), the REST face as an error reply with the five-digit codes its OpenAPI
description lists (``rest.py``). Neither face reads the other's wording, so either can go.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from .data import Account, CompanyRow, EmployeeRow

if TYPE_CHECKING:  # pragma: no cover
    from .state import SandboxState


class Reason(enum.Enum):
    """What a refused call did wrong; the value is Nmbrs' wording, which both faces show."""

    DEBTOR_FORBIDDEN = "No access to this debtor or company"
    COMPANY_UNKNOWN = "Company not found"
    COMPANY_FORBIDDEN = "No rights to the company"
    EMPLOYEE_UNKNOWN = "Employee not found"
    EMPLOYEE_FORBIDDEN = "No rights to the employee"
    PERIOD_INVALID = "Invalid Period"
    PERIOD_PROTECTED = "Protected Period, use UnprotectedMode"
    PERIOD_DECLARED = "Wage tax declaration already sent for this period"
    WAGE_CODE_UNKNOWN = "Invalid Wage Code"
    COST_CENTER_UNKNOWN = "Invalid Cost Center Id"
    COST_UNIT_UNKNOWN = "Invalid Cost Unit Id"


class Refusal(Exception):
    """Nmbrs refuses the call for ``reason``."""

    def __init__(self, reason: Reason):
        super().__init__(reason.value)
        self.reason = reason


# --- who may see what ----------------------------------------------------------------------


def own_debtor(account: Account, debtor_id: int | None) -> int:
    """The debtor, when the account has access to it. Nmbrs does not say whether a debtor
    exists that the user may not see."""
    if debtor_id is None or debtor_id not in account.debtor_ids:
        raise Refusal(Reason.DEBTOR_FORBIDDEN)
    return debtor_id


def own_company(state: SandboxState, account: Account, company_id: int | None) -> CompanyRow:
    """The company, when it exists and belongs to one of the account's debtors."""
    company = None if company_id is None else state.data.companies.get(company_id)
    if company is None:
        raise Refusal(Reason.COMPANY_UNKNOWN)
    if company.debtor_id not in account.debtor_ids:
        raise Refusal(Reason.COMPANY_FORBIDDEN)
    return company


def own_employee(state: SandboxState, account: Account, employee_id: int | None) -> EmployeeRow:
    """The employee, when they exist in a company of one of the account's debtors."""
    employee = None if employee_id is None else state.employee(employee_id)
    if employee is None:
        raise Refusal(Reason.EMPLOYEE_UNKNOWN)
    if state.data.companies[employee.company_id].debtor_id not in account.debtor_ids:
        raise Refusal(Reason.EMPLOYEE_FORBIDDEN)
    return employee


# --- which amounts Nmbrs takes ----------------------------------------------------------------


def check_period(company: CompanyRow, year: int, period: int, unprotected: bool) -> None:
    """A period Nmbrs takes amounts for: a real one, not declared, and not before the current
    one unless ``unprotected``."""
    _, _, kind = company.period
    last = {"M": 12, "4W": 13, "W": 53}.get(kind, 12)
    if not (2000 <= year <= 2100 and 1 <= period <= last):
        raise Refusal(Reason.PERIOD_INVALID)
    if (year, period) in company.declared:
        raise Refusal(Reason.PERIOD_DECLARED)
    if (year, period) < company.period[:2] and not unprotected:
        raise Refusal(Reason.PERIOD_PROTECTED)


def check_component(
    company: CompanyRow,
    *,
    year: int,
    period: int,
    unprotected: bool,
    code: int,
    cost_center_id: int | None,
    cost_unit_id: int | None,
) -> None:
    """One variable wage component Nmbrs would store: period, wage code, cost center, cost
    unit, checked in that order."""
    check_period(company, year, period, unprotected)
    if code not in company.wage_codes():
        raise Refusal(Reason.WAGE_CODE_UNKNOWN)
    if cost_center_id is not None and cost_center_id not in company.cost_centers:
        raise Refusal(Reason.COST_CENTER_UNKNOWN)
    if cost_unit_id is not None and cost_unit_id not in company.cost_units:
        raise Refusal(Reason.COST_UNIT_UNKNOWN)

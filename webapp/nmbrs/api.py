"""``PayrollApi``: what Brygga needs from Nmbrs, whichever API carries it.

Both ``NmbrsClient`` (SOAP, int ids) and ``NmbrsRestClient`` (REST, GUID string ids) satisfy
it. Services type their client parameter as ``PayrollApi`` and never name a class, so a
recipient can move from SOAP to REST without the sync or the transfer noticing.

Two differences stay visible on purpose, because the caller has to act on them:
- ``insert_wage_components`` returns ``None`` over SOAP (the batch call gives no ids: read
  back) and the new ids over REST (one POST each, not all-or-nothing). ``prepared_insert``
  is the same call with its request built ahead, sent when the returned function is called.
- ``employee_types()`` is empty over REST; ``employees(company_id)`` with no type returns
  everyone on both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Protocol, runtime_checkable

from .models import (
    Company,
    CostCenter,
    CostUnit,
    Debtor,
    Department,
    Employee,
    EmployeeType,
    Environment,
    Id,
    NewWageComponent,
    PayrollPeriod,
    WageComponent,
    WageType,
)


@runtime_checkable
class PayrollApi(Protocol):
    """The Nmbrs operations of the connect dialog, the sync and the transfer."""

    def verify(self) -> Environment: ...

    def debtors(self) -> list[Debtor]: ...

    def companies(self, debtor_id: Id | None = None) -> list[Company]: ...

    def current_period(self, company_id: Id) -> PayrollPeriod: ...

    def wage_types(self, company_id: Id) -> list[WageType]: ...

    def cost_centers(self, company_id: Id) -> list[CostCenter]: ...

    def cost_units(self, company_id: Id) -> list[CostUnit]: ...

    def departments(self, debtor_id: Id) -> list[Department]: ...

    def employee_types(self) -> list[EmployeeType]: ...

    def employees(self, company_id: Id, employee_type: Id | None = None) -> list[Employee]: ...

    def insert_wage_component(
        self,
        employee_id: Id,
        code: int,
        value: Decimal | int,
        *,
        year: int,
        period: int,
        cost_center_id: Id | None = None,
        cost_unit_id: Id | None = None,
        comment: str | None = None,
        unprotected: bool = False,
    ) -> Id: ...

    def insert_wage_components(
        self,
        components: Sequence[NewWageComponent],
        *,
        year: int,
        period: int,
        unprotected: bool = False,
    ) -> Sequence[Id] | None: ...

    def prepared_insert(
        self,
        components: Sequence[NewWageComponent],
        *,
        year: int,
        period: int,
        unprotected: bool = False,
    ) -> Callable[[], Sequence[Id] | None]: ...

    def wage_components(
        self, employee_id: Id, *, year: int, period: int, company_id: Id | None = None
    ) -> list[WageComponent]: ...

    def delete_wage_component(self, employee_id: Id, component_id: Id) -> bool: ...

    def close(self) -> None: ...

    def __enter__(self) -> PayrollApi: ...

    def __exit__(self, *exc_info: object) -> None: ...

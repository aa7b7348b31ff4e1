"""``NmbrsClient``: the typed operations Brygga uses over SOAP API v3, one method per purpose.

Nmbrs retires SOAP on 1 March 2027; this folder (``soap/``) goes with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from ..http import RetryPolicy, Timeouts
from ..models import (
    Company,
    CostCenter,
    CostUnit,
    Debtor,
    Department,
    Employee,
    EmployeeType,
    Environment,
    NewWageComponent,
    PayrollPeriod,
    WageComponent,
    WageType,
)
from . import parsing
from .credentials import Credentials, resolve_base_url
from .envelope import AUTH_HEADER
from .transport import SoapTransport, Transport

COMPANY = "CompanyService"
EMPLOYEE = "EmployeeService"
DEBTOR = "DebtorService"


class NmbrsClient:
    """Typed access to the Nmbrs SOAP API v3 for one credential.

    >>> client = NmbrsClient(Credentials("lon@demo.se", token, "demo"), environment="se",
    ...                      base_url=app.config["NMBRS_BASE_URL"] or None)

    Reads are retried on transient failures; writes (``insert_*``, ``delete_*``) are sent once.
    Every failure is an ``NmbrsError`` subclass. Safe to share between threads.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        environment: str = "se",
        base_url: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        pool_size: int = 8,
    ):
        self.credentials = credentials
        self.environment_name = environment
        self.base_url = resolve_base_url(environment, base_url)
        self.transport = transport or SoapTransport(
            self.base_url, timeouts=timeouts, retry=retry, pool_size=pool_size
        )

    def __repr__(self) -> str:
        return f"NmbrsClient({self.credentials!r}, base_url={self.base_url!r})"

    def __enter__(self) -> NmbrsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections."""
        self.transport.close()

    def _call(
        self, service: str, operation: str, params: Sequence[tuple[str, Any]] = (), **kw: Any
    ) -> Any:
        return self.transport.call(service, operation, params, credentials=self.credentials, **kw)

    # --- credentials ---------------------------------------------------------------------

    def verify(self) -> Environment:
        """Check the e-mail and token (``Environment_Get``) and return the environment.

        Raises ``NmbrsAuthError`` when Nmbrs rejects them. Uses the plain ``AuthHeader`` so it
        works before the domain is known.
        """
        return parsing.environment(self._call(DEBTOR, "Environment_Get", header=AUTH_HEADER))

    def environment(self) -> Environment:
        """Same as ``verify()``: the credential's Nmbrs domain and subdomain."""
        return self.verify()

    # --- structure -----------------------------------------------------------------------

    def debtors(self) -> list[Debtor]:
        """All debtors the credential can see (DebtorService ``List_GetAll``)."""
        return parsing.debtors(self._call(DEBTOR, "List_GetAll"))

    def companies(self, debtor_id: int | None = None) -> list[Company]:
        """All companies (``List_GetAll``), or those of one debtor (``List_GetByDebtor``)."""
        if debtor_id is None:
            return parsing.companies(self._call(COMPANY, "List_GetAll"))
        return parsing.companies(
            self._call(COMPANY, "List_GetByDebtor", [("DebtorId", int(debtor_id))])
        )

    def current_period(self, company_id: int) -> PayrollPeriod:
        """The company's current payroll period (``Company_GetCurrentPeriod``)."""
        return parsing.period(
            self._call(COMPANY, "Company_GetCurrentPeriod", [("CompanyId", int(company_id))])
        )

    def wage_types(self, company_id: int) -> list[WageType]:
        """Wage types of both wage models, merged; the first occurrence of a code wins."""
        params = [("CompanyId", int(company_id))]
        merged: dict[int, WageType] = {}
        for operation in ("WageModel_GetWageCodes", "WageModel2_GetWageCodes"):
            for wage_type in parsing.wage_types(self._call(COMPANY, operation, params)):
                merged.setdefault(wage_type.code, wage_type)
        return list(merged.values())

    def cost_centers(self, company_id: int) -> list[CostCenter]:
        """Cost centers of a company (``CostCenter_GetList``)."""
        return parsing.cost_centers(
            self._call(COMPANY, "CostCenter_GetList", [("CompanyId", int(company_id))])
        )

    def cost_units(self, company_id: int) -> list[CostUnit]:
        """Cost units of a company (``CostUnit_GetList``)."""
        return parsing.cost_units(
            self._call(COMPANY, "CostUnit_GetList", [("CompanyId", int(company_id))])
        )

    def departments(self, debtor_id: int) -> list[Department]:
        """Departments of a debtor (DebtorService ``Department_GetList``)."""
        return parsing.departments(
            self._call(DEBTOR, "Department_GetList", [("DebtorId", int(debtor_id))])
        )

    def employee_types(self) -> list[EmployeeType]:
        """Employee types (``EmployeeType_GetList``)."""
        return parsing.employee_types(self._call(EMPLOYEE, "EmployeeType_GetList"))

    def employees(self, company_id: int, employee_type: int | None = None) -> list[Employee]:
        """Employees of a company (``List_GetByCompany``).

        v3 filters by employee type. With ``employee_type=None`` every type is fetched and the
        lists merged, since Nmbrs documents no "all types" value.
        """
        if employee_type is not None:
            return parsing.employees(
                self._call(
                    EMPLOYEE,
                    "List_GetByCompany",
                    [("CompanyId", int(company_id)), ("EmployeeType", int(employee_type))],
                )
            )
        merged: dict[int | str, Employee] = {}
        for kind in self.employee_types():
            for employee in self.employees(company_id, int(kind.id)):
                merged.setdefault(employee.id, employee)
        return list(merged.values())

    # --- wage components -----------------------------------------------------------------

    def insert_wage_component(
        self,
        employee_id: int,
        code: int,
        value: Decimal | int,
        *,
        year: int,
        period: int,
        cost_center_id: int | None = None,
        cost_unit_id: int | None = None,
        comment: str | None = None,
        unprotected: bool = False,
    ) -> int:
        """Send one amount (``WageComponentVar_Insert``) and return the new component's Id.

        Never retried: if it fails with ``NmbrsUnavailable``, read back with
        ``wage_components`` before sending again. A period before the company's current one
        needs ``unprotected=True``.
        """
        component = NewWageComponent(
            employee_id, code, value, cost_center_id, cost_unit_id, comment
        )
        params = [
            ("EmployeeId", int(employee_id)),
            ("WageComponent", [("Id", 0), *_component_fields(component)]),
            ("Period", int(period)),
            ("Year", int(year)),
            ("UnprotectedMode", bool(unprotected)),
        ]
        result = self._call(EMPLOYEE, "WageComponentVar_Insert", params, write=True)
        return parsing.scalar_int("WageComponentVar_Insert", result)

    def insert_wage_components(
        self,
        components: Sequence[NewWageComponent],
        *,
        year: int,
        period: int,
        unprotected: bool = False,
    ) -> None:
        """Send many amounts in one call (``WageComponentVar_Insert_Batch``). Never retried.

        Nmbrs returns no Ids here; read them back with ``wage_components``.
        """
        self.prepared_insert(components, year=year, period=period, unprotected=unprotected)()

    def prepared_insert(
        self,
        components: Sequence[NewWageComponent],
        *,
        year: int,
        period: int,
        unprotected: bool = False,
    ) -> Callable[[], None]:
        """``insert_wage_components`` with its envelope built now, sent when the returned
        function is called: a transfer builds its next batch while one is on the wire."""
        items = [
            (
                "EmployeeWageComponent",
                [("EmployeeId", int(c.employee_id)), ("Id", 0), *_component_fields(c)],
            )
            for c in components
        ]
        params = [
            ("WageComponents", items),
            ("Period", int(period)),
            ("Year", int(year)),
            ("UnprotectedMode", bool(unprotected)),
        ]
        send = self.transport.prepare(
            EMPLOYEE,
            "WageComponentVar_Insert_Batch",
            params,
            credentials=self.credentials,
            write=True,
        )

        def insert() -> None:
            send()

        return insert

    def wage_components(
        self, employee_id: int, *, year: int, period: int, company_id: object = None
    ) -> list[WageComponent]:
        """Variable wage components of an employee in a period (``WageComponentVar_Get``).
        SOAP finds them by the employee alone; ``company_id`` (REST's need) is not used."""
        params = [("EmployeeId", int(employee_id)), ("Period", int(period)), ("Year", int(year))]
        return parsing.wage_components(self._call(EMPLOYEE, "WageComponentVar_Get", params))

    def delete_wage_component(self, employee_id: int, component_id: int) -> bool:
        """Remove one component Brygga sent (``WageComponent_Delete``). Never retried."""
        params = [("EmployeeId", int(employee_id)), ("WageComponentID", int(component_id))]
        result = self._call(EMPLOYEE, "WageComponent_Delete", params, write=True)
        return parsing.scalar_bool("WageComponent_Delete", result)


def _component_fields(c: NewWageComponent) -> list[tuple[str, Any]]:
    if isinstance(c.value, float):
        # Binary floats cannot hold öre exactly; callers must pass Decimal (or int).
        raise TypeError("pass amounts as Decimal, not float")
    value = c.value if isinstance(c.value, Decimal) else Decimal(c.value)
    fields: list[tuple[str, Any]] = [
        ("Code", int(c.code)),
        ("Value", value),
        ("CostCenterId", None if c.cost_center_id is None else int(c.cost_center_id)),
        ("CostUnitId", None if c.cost_unit_id is None else int(c.cost_unit_id)),
    ]
    if c.comment:
        fields.append(("Comment", c.comment))
    return fields

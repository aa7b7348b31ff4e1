"""``NmbrsRestClient``: the same typed operations as ``NmbrsClient``, over Nmbrs' REST API.

Nmbrs retires SOAP on 1 March 2027. This client offers the methods the sync and the transfer
use (see ``api.PayrollApi``) and returns the same dataclasses, so the rest of Brygga does not
know which API it talks to. Differences a caller can see:

- **Ids are GUID strings** (lower-case) instead of ints. Codes and numbers are the same as in
  SOAP (wage code, employee number, cost-center code, company number): the SOAP → REST
  migration matches on those.
- ``employee_types()`` is empty: REST has no SOAP-style employee types. Its ``employeeType`` is a
  status (``payroll``, ``formerPayroll``, ``applicant`` …) and ``employees()`` takes it as a
  comma-separated string.
- ``insert_wage_components`` sends one POST per component (REST has no batch) and returns the
  new ids in order; it is not all-or-nothing.

Fields are read as Nmbrs' OpenAPI description types them: what it does not require may be
missing (an employee's number, a department's code, a company's number and name) and is
``None`` then. Two things are still required, on purpose: a record's own id (a record without it
cannot be addressed; it is left out and logged) and a wage component's id, code and value (the
transfer's read-back compares them; guessing could pay an amount twice).

    store = ConnectionTokenStore(...)              # the app's TokenSource, see oauth.py
    with NmbrsRestClient(store, subscription_key=cfg["NMBRS_SUBSCRIPTION_KEY"],
                         base_url=cfg["NMBRS_BASE_URL"] or None) as nmbrs:
        companies = nmbrs.companies()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

import requests

from ..errors import NmbrsError, NmbrsProtocolError
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
    Id,
    NewWageComponent,
    PayrollPeriod,
    WageComponent,
    WageType,
)
from .oauth import TokenSource
from .transport import REST_BASE_URL, RestTransport

log = logging.getLogger("webapp.nmbrs.rest")

# Every (method, path) the client calls: one table, which the contract test checks against
# Nmbrs' OpenAPI description.
ENDPOINTS: dict[str, tuple[str, str]] = {
    "debtors": ("GET", "/api/debtors"),
    "companies": ("GET", "/api/companies"),
    "debtor_companies": ("GET", "/api/debtors/{debtorId}/companies"),
    "period": ("GET", "/api/companies/{companyId}/period"),
    "wage_models": ("GET", "/api/companies/{companyId}/wagemodels"),
    "cost_centers": ("GET", "/api/companies/{companyId}/costCenters"),
    "cost_units": ("GET", "/api/companies/{companyId}/costUnits"),
    "departments": ("GET", "/api/debtors/{debtorId}/departments"),
    "employees": ("GET", "/api/companies/{companyId}/employees"),
    "insert_component": ("POST", "/api/employees/{employeeId}/variablewagecomponent"),
    "components": ("GET", "/api/companies/{companyId}/employees/variablewagecomponents"),
    "delete_component": ("DELETE", "/api/employees/{employeeId}/wagecomponents/{wagecomponentId}"),
}

# Each list's record id: a record seen on two pages is kept once.
RECORD_IDS: dict[str, str] = {
    "debtors": "debtorId",
    "companies": "companyId",
    "debtor_companies": "companyId",
    "wage_models": "id",
    "cost_centers": "costCenterId",
    "cost_units": "costUnitId",
    "departments": "departmentId",
    "employees": "employeeId",
    # Not "components": its records are per employee, and one employee's components could
    # come in two records; wage_components keeps each component once by its own id instead.
}

# REST periodType → the SOAP period kind PayrollPeriod carries.
_PERIOD_KINDS = {"month": "M", "4-weeks": "4W", "1-week": "W"}


def _path(name: str, **ids: Id) -> str:
    template = ENDPOINTS[name][1]
    return template.format(**{k: _guid(v, k) for k, v in ids.items()})


def _guid(value: Id, what: str) -> str:
    # REST ids are GUIDs; an int here is a SOAP id that was not migrated. Refuse it rather than
    # send it and let Nmbrs guess.
    if isinstance(value, bool) or not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a REST GUID string, got {value!r}")
    text = value.strip().lower()
    if not all(c in "0123456789abcdef-" for c in text):
        raise ValueError(f"{what} is not a GUID: {value!r}")
    return text


class NmbrsRestClient:
    """Typed access to the Nmbrs REST API for one connection (one admin's consent).

    ``tokens`` is the connection's ``TokenSource`` (``oauth.SerialisedTokenStore`` subclass in
    the app, ``oauth.MemoryTokenStore`` in tests). ``subscription_key`` is the deployment's
    ``X-Subscription-Key``. ``base_url`` overrides ``https://api.nmbrsapp.com`` (the sandbox).

    Reads are retried on transient failures and on 42908 (honouring ``Retry-After``); writes
    are repeated only after a 429 or a 401 fixed by a token refresh. Every failure is an
    ``NmbrsError`` subclass. Safe to share between threads.
    """

    def __init__(
        self,
        tokens: TokenSource,
        *,
        subscription_key: str,
        base_url: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: RestTransport | None = None,
        pool_size: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ):
        self.base_url = (base_url or REST_BASE_URL).rstrip("/")
        self.transport = transport or RestTransport(
            self.base_url,
            tokens,
            subscription_key,
            timeouts=timeouts,
            retry=retry,
            pool_size=pool_size,
            sleep=sleep,
            clock=clock,
            session=session,
        )
        # employee GUID → company GUID, learnt from employees(); wage_components() needs it
        # because REST reads variable wage components per company.
        self._employee_company: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"NmbrsRestClient(base_url={self.base_url!r})"

    def __enter__(self) -> NmbrsRestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections."""
        self.transport.close()

    def _list(
        self, name: str, params: dict[str, Any] | None = None, **ids: Id
    ) -> list[dict[str, Any]]:
        """Every record of a list endpoint, all pages, once each (see ``pages.py``)."""
        return self.transport.read_list(_path(name, **ids), params, key=RECORD_IDS.get(name))

    # --- connection ------------------------------------------------------------------------

    def verify(self) -> Environment:
        """Check that the tokens work (one small debtor read). REST has no domain: both
        fields are ``None``."""
        self.transport.request("GET", _path("debtors"), params={"pageNumber": 1, "pageSize": 1})
        return Environment(None, None)

    def environment(self) -> Environment:
        """Same as ``verify()``."""
        return self.verify()

    # --- structure -----------------------------------------------------------------------

    def debtors(self) -> list[Debtor]:
        """Debtors the consenting user can see (``GET /api/debtors``)."""
        return [
            Debtor(guid, _str(d.get("number")), _str(d.get("name")))
            for guid, d in _identified(self._list("debtors"), "debtorId")
        ]

    def companies(self, debtor_id: Id | None = None) -> list[Company]:
        """All companies, or those of one debtor (``/api/debtors/{id}/companies``;
        ``NmbrsPermissionError`` when the user has no access to that debtor)."""
        rows = (
            self._list("companies")
            if debtor_id is None
            else self._list("debtor_companies", debtorId=debtor_id)
        )
        return [
            Company(guid, _number(c.get("number")), _str(c.get("name")))
            for guid, c in _identified(rows, "companyId")
        ]

    def current_period(self, company_id: Id) -> PayrollPeriod:
        """The company's current payroll period (``/api/companies/{id}/period``)."""
        _, body = self.transport.request("GET", _path("period", companyId=company_id))
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, list):  # the schema wraps it in a list with pagination
            data = data[0] if data else None
        if not isinstance(data, dict):
            raise NmbrsProtocolError("period reply has no period")
        period = data.get("period")
        kind = _PERIOD_KINDS.get(str(data.get("periodType") or "month"), "M")
        if (
            isinstance(period, dict)
            and _is_int(period.get("year"))
            and _is_int(period.get("period"))
        ):
            return PayrollPeriod(int(period["year"]), int(period["period"]), kind)
        try:
            return PayrollPeriod.parse(str(data.get("displayPeriod") or ""))
        except ValueError:
            raise NmbrsProtocolError("period reply has no usable period") from None

    def wage_types(self, company_id: Id) -> list[WageType]:
        """Wage types of all the company's wage models, merged; the first code wins.

        Reads both shapes Nmbrs documents: ``data: [{wageCodes: [...]}]`` (schema) and
        ``data: {wageModels: [{"": [...]}]}`` (its example).
        """
        merged: dict[int, WageType] = {}
        models = self.transport.read_list(
            _path("wage_models", companyId=company_id), key=RECORD_IDS["wage_models"], rows=_models
        )
        for model in models:
            codes = model.get("wageCodes", model.get(""))
            for code in _objects(codes or [], "wage code"):
                number = code.get("code")
                if not _is_int(number):  # required by the schema: the code is the wage type
                    raise NmbrsProtocolError(f"wage code without a numeric code: {number!r}")
                merged.setdefault(int(number), WageType(int(number), _str(code.get("description"))))
        return list(merged.values())

    def cost_centers(self, company_id: Id) -> list[CostCenter]:
        """Cost centers of a company (``/api/companies/{id}/costCenters``)."""
        return [
            CostCenter(guid, _str(r.get("code")), _str(r.get("description")))
            for guid, r in _identified(
                self._list("cost_centers", companyId=company_id), "costCenterId"
            )
        ]

    def cost_units(self, company_id: Id) -> list[CostUnit]:
        """Cost units of a company (``/api/companies/{id}/costUnits``)."""
        return [
            CostUnit(guid, _str(r.get("code")), _str(r.get("description")))
            for guid, r in _identified(self._list("cost_units", companyId=company_id), "costUnitId")
        ]

    def departments(self, debtor_id: Id) -> list[Department]:
        """Departments of a debtor (``/api/debtors/{id}/departments``); the code is optional."""
        return [
            Department(guid, _optional_int(r.get("code")), _str(r.get("description")))
            for guid, r in _identified(
                self._list("departments", debtorId=debtor_id), "departmentId"
            )
        ]

    def employee_types(self) -> list[EmployeeType]:
        """Always empty: REST has no SOAP-style employee types (see the module docstring)."""
        return []

    def employees(self, company_id: Id, employee_type: str | None = None) -> list[Employee]:
        """Employees of a company (``/api/companies/{id}/employees``).

        ``employee_type`` is passed through as Nmbrs' filter (e.g. ``"payroll,newHire"``);
        ``None`` asks for every employee, as ``NmbrsClient.employees(company_id)`` does. The
        schema requires only ``lastName`` and ``employeeType``: someone without an
        ``employeeNumber`` (an applicant, say) is listed with ``number=None``.
        """
        if employee_type is not None and not isinstance(employee_type, str):
            raise ValueError("REST employee types are strings such as 'payroll'")
        params = {"employeeType": employee_type} if employee_type else None
        company = _guid(company_id, "company_id")
        result: list[Employee] = []
        for guid, row in _identified(
            self._list("employees", params, companyId=company), "employeeId"
        ):
            info = row.get("employeeBasicInfo") or row.get("basicInfo") or {}
            if not isinstance(info, dict):
                raise NmbrsProtocolError("employee basic info is not an object")
            result.append(Employee(guid, _optional_int(info.get("employeeNumber")), _name(info)))
        with self._lock:
            for employee in result:
                self._employee_company[str(employee.id)] = company
        return result

    # --- wage components -----------------------------------------------------------------

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
    ) -> str:
        """Send one amount (``POST /api/employees/{id}/variablewagecomponent``); returns the
        new component's GUID.

        Not repeated after a 5xx or timeout: on ``NmbrsUnavailable`` read back with
        ``wage_components`` before sending again. A period before the company's current one
        needs ``unprotected=True``.
        """
        component = NewWageComponent(
            employee_id, code, value, cost_center_id, cost_unit_id, comment
        )
        body = _component_body(component, year=year, period=period, unprotected=unprotected)
        _, reply = self.transport.request(
            "POST", _path("insert_component", employeeId=employee_id), body=body, write=True
        )
        if isinstance(reply, dict):
            data: dict[str, Any] = reply["data"] if isinstance(reply.get("data"), dict) else reply
            # The create reply spells it "variableWagecomponentId" (lower-case c), the list
            # "variableWageComponentId": accept both.
            for key in ("variableWagecomponentId", "variableWageComponentId", "id"):
                if isinstance(data.get(key), str) and data[key]:
                    return data[key].lower()
        raise NmbrsProtocolError(
            "Nmbrs accepted the wage component but returned no id; read back before resending"
        )

    def insert_wage_components(
        self,
        components: Sequence[NewWageComponent],
        *,
        year: int,
        period: int,
        unprotected: bool = False,
        on_sent: Callable[[int, NewWageComponent, str], None] | None = None,
    ) -> list[str]:
        """Send many amounts, one POST each (REST has no batch); returns their ids in order.

        Not all-or-nothing. ``on_sent(index, component, id)`` is called after each accepted
        POST, so the caller can record the id before the next one goes out. If one fails, the
        raised error carries ``sent_ids`` (ids of the components before it) and
        ``failed_index``.
        """
        return self.prepared_insert(
            components, year=year, period=period, unprotected=unprotected, on_sent=on_sent
        )()

    def prepared_insert(
        self,
        components: Sequence[NewWageComponent],
        *,
        year: int,
        period: int,
        unprotected: bool = False,
        on_sent: Callable[[int, NewWageComponent, str], None] | None = None,
    ) -> Callable[[], list[str]]:
        """``insert_wage_components``, checked now and sent when the returned function is
        called (REST has no batch body to build ahead: one POST per component)."""
        components = list(components)
        for c in components:  # everything checked locally before anything reaches Nmbrs
            _component_body(c, year=year, period=period, unprotected=unprotected)

        def insert() -> list[str]:
            ids: list[str] = []
            for index, c in enumerate(components):
                try:
                    new_id = self.insert_wage_component(
                        c.employee_id,
                        c.code,
                        c.value,
                        year=year,
                        period=period,
                        cost_center_id=c.cost_center_id,
                        cost_unit_id=c.cost_unit_id,
                        comment=c.comment,
                        unprotected=unprotected,
                    )
                except NmbrsError as exc:
                    exc.sent_ids = list(ids)  # type: ignore[attr-defined]
                    exc.failed_index = index  # type: ignore[attr-defined]
                    raise
                ids.append(new_id)
                if on_sent is not None:
                    on_sent(index, c, new_id)
            return ids

        return insert

    def wage_components(
        self, employee_id: Id, *, year: int, period: int, company_id: Id | None = None
    ) -> list[WageComponent]:
        """Variable wage components of an employee in a period.

        REST reads them per company (``/api/companies/{cid}/employees/variablewagecomponents``
        filtered by employee, year and period). ``company_id`` is looked up from earlier
        ``employees()`` calls, or searched, when not given.
        """
        employee = _guid(employee_id, "employee_id")
        company = _guid(company_id, "company_id") if company_id else self._company_of(employee)
        params = {"employeeId": employee, "year": int(year), "period": int(period)}
        result: list[WageComponent] = []
        seen: set[str] = set()
        for row in self._list("components", params, companyId=company):
            # Filter again: the server's employee filter is documented but not confirmed.
            if str(row.get("employeeId") or "").lower() != employee:
                continue
            for c in _objects(row.get("variablewagecomponents") or [], "wage component"):
                comp_id = c.get("variableWageComponentId") or c.get("variableWagecomponentId")
                if not isinstance(comp_id, str) or not _is_int(c.get("code")):
                    raise NmbrsProtocolError("variable wage component without id or code")
                if comp_id.lower() in seen:  # on two pages: the list moved while read
                    continue
                seen.add(comp_id.lower())
                result.append(
                    WageComponent(
                        comp_id.lower(),
                        int(c["code"]),
                        _decimal(c.get("value")),
                        _str(c.get("comment")),
                    )
                )
        return result

    def delete_wage_component(self, employee_id: Id, component_id: Id) -> bool:
        """Remove one component Brygga sent (``DELETE /api/employees/{id}/wagecomponents/{wcId}``).

        ``False`` when Nmbrs does not know it (404), as the SOAP client answers. Not repeated
        after a 5xx or timeout.
        """
        status, _ = self.transport.request(
            "DELETE",
            _path("delete_component", employeeId=employee_id, wagecomponentId=component_id),
            write=True,
            allow=(404,),
        )
        return status != 404

    def _company_of(self, employee: str) -> str:
        with self._lock:
            known = self._employee_company.get(employee)
        if known:
            return known
        for company in self.companies():
            rows = self._list("employees", {"employeeId": employee}, companyId=company.id)
            if any(str(r.get("employeeId") or "").lower() == employee for r in rows):
                with self._lock:
                    self._employee_company[employee] = str(company.id)
                return str(company.id)
        raise NmbrsError(
            f"employee {employee} is in none of the connection's companies",
            user_message=(
                "Den anställda finns inte i något av företagen som anslutningen når i Nmbrs. "
                "Hämta de anställda på nytt."
            ),
        )


# --- parsing ---------------------------------------------------------------------------------


def _component_body(
    c: NewWageComponent, *, year: int, period: int, unprotected: bool
) -> dict[str, Any]:
    if isinstance(c.value, float):
        # Binary floats cannot hold öre exactly; callers must pass Decimal (or int).
        raise TypeError("pass amounts as Decimal, not float")
    value = c.value if isinstance(c.value, Decimal) else Decimal(c.value)
    body: dict[str, Any] = {
        "code": int(c.code),
        "value": value,
        "costCenterId": None
        if c.cost_center_id is None
        else _guid(c.cost_center_id, "cost_center_id"),
        "costUnitId": None if c.cost_unit_id is None else _guid(c.cost_unit_id, "cost_unit_id"),
        # Flat periodDetails as the POST schema says (the PUT's nested shape is a known defect).
        "periodDetails": {"year": int(year), "period": int(period)},
        "unprotectedMode": bool(unprotected),
    }
    _guid(c.employee_id, "employee_id")
    if c.comment:
        body["comment"] = c.comment
    return body


def _objects(rows: Iterable[Any] | Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise NmbrsProtocolError(f"expected a list of {what} objects")
    return rows


def _models(data: Any) -> Any:
    # The schema's ``data: [model, …]`` or the example's ``data: {wageModels: [model, …]}``.
    return data.get("wageModels") or [] if isinstance(data, dict) else data


def _identified(rows: list[dict[str, Any]], key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each record with its lower-case id. The schemas require no id, but a record without one
    cannot be addressed by anything Brygga does: it is left out, and logged."""
    missing = 0
    for row in rows:
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            yield value.strip().lower(), row
        else:
            missing += 1
    if missing:
        log.warning("nmbrs: %d record(s) without %s left out", missing, key)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _is_int(value: Any) -> TypeGuard[int | str]:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().lstrip("-").isdigit()


def _optional_int(value: Any) -> int | None:
    # Optional in the schema: missing (or null) is None; something else than a number is not.
    if value is None or value == "":
        return None
    if not _is_int(value):
        raise NmbrsProtocolError(f"expected a whole number, got {value!r}")
    return int(value)


def _number(value: Any) -> int | str | None:
    # Company numbers are strings in REST (optional); numeric ones become ints, as SOAP has them.
    if value is None or value == "":
        return None
    return int(value) if _is_int(value) else str(value)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise NmbrsProtocolError(f"not an amount: {value!r}")
    try:
        return Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise NmbrsProtocolError(f"not an amount: {value!r}") from None


def _name(info: dict[str, Any]) -> str | None:
    parts = [info.get("firstName"), info.get("prefix"), info.get("lastName")]
    name = " ".join(str(p).strip() for p in parts if p and str(p).strip())
    return name or None

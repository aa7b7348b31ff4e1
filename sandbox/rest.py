"""The Nmbrs REST endpoints Brygga uses, over the same demo data as the SOAP side.

Ids: every SOAP int id has a stable GUID, ``rest_id(kind, int_id)`` = uuid5 of a fixed
namespace and ``"{kind}:{int_id}"`` (kinds: debtor, company, employee, costcenter, costunit,
department, component, wagemodel, wagecode). Codes and numbers are the same as over SOAP, so
an app can map SOAP → REST by company number, wage code, cost-center code and employee number.
Variable wage components live in the same store as SOAP inserts: one inserted over SOAP is
visible over REST and the other way round.

Auth: ``Authorization: Bearer`` (tokens from ``sandbox.oauth``) and ``X-Subscription-Key``
(``DEMO_SUBSCRIPTION_KEY``). Access is per debtor, as in Nmbrs (40306 for another customer's
debtor). Errors have Nmbrs' shape ``{type, httpStatus, code, title, detail, invalid-params}``.

Control (``POST /_sandbox/rest/<method>``): ``set_failure`` / ``clear_failure`` (401, 403,
42908 with Retry-After, 42909, 500, HTML 503, non-JSON, …), ``calls`` (the request log),
``rest_id``.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .oauth import DEMO_SUBSCRIPTION_KEY

if TYPE_CHECKING:  # pragma: no cover
    from .data import Account, CompanyRow, EmployeeRow
    from .state import SandboxState

NAMESPACE = uuid.UUID("6f1d2c7e-4b3a-5e8f-9a0b-1c2d3e4f5a6b")
KINDS = (
    "debtor",
    "company",
    "employee",
    "costcenter",
    "costunit",
    "department",
    "component",
    "wagemodel",
    "wagecode",
)
_REVERSE: dict[str, tuple[str, int]] = {}
_REVERSE_LOCK = threading.Lock()


def rest_id(kind: str, int_id: int) -> str:
    """The REST GUID of a SOAP int id (stable across runs and processes)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    guid = str(uuid.uuid5(NAMESPACE, f"{kind}:{int(int_id)}"))
    with _REVERSE_LOCK:
        _REVERSE[guid] = (kind, int(int_id))
    return guid


def soap_id(kind: str, guid: str, state: SandboxState | None = None) -> int | None:
    """The SOAP int id behind a GUID, or ``None``. With ``state``, GUIDs this process has not
    handed out yet (a sandbox restarted under a running app) are found by indexing the data."""
    key = (guid or "").strip().lower()
    with _REVERSE_LOCK:
        found = _REVERSE.get(key)
    if found is None and state is not None:
        _index(state)
        with _REVERSE_LOCK:
            found = _REVERSE.get(key)
    return found[1] if found and found[0] == kind else None


def _index(state: SandboxState) -> None:
    data = state.data
    for debtor in data.debtors.values():
        rest_id("debtor", debtor.id)
        for row in debtor.departments.values():
            rest_id("department", row.id)
    for company in data.companies.values():
        rest_id("company", company.id)
        for kind, rows in (
            ("employee", company.employees),
            ("costcenter", company.cost_centers),
            ("costunit", company.cost_units),
        ):
            for int_id in rows:
                rest_id(kind, int_id)
    for int_id in state.stored:
        rest_id("component", int_id)


# --- errors ------------------------------------------------------------------------------------

ERRORS: dict[int, tuple[int, str, str, str]] = {
    # code: (HTTP status, type, title, detail)
    40033: (400, "validationError", "Parameter_Invalid", "Invalid parameter."),
    40101: (401, "authenticationError", "Missing_Token", "Token is missing on the authentication"),
    40102: (401, "authenticationError", "Invalid_Token", "The token is invalid or has expired."),
    40301: (403, "authenticationError", "Insufficient_Scope", "The token lacks a scope."),
    40303: (
        403,
        "authenticationError",
        "Unauthorized_AccessData",
        "You do not have access for the debtor or company you are trying to reach.",
    ),
    40306: (
        403,
        "authenticationError",
        "Unauthorized_Debtor",
        "You do not have access to this debtor.",
    ),
    40401: (404, "invalidRequestError", "Not_Found", "The requested resource could not be found."),
    42908: (
        429,
        "throttlingError",
        "Too_Many_Calls",
        "The amount of calls is above the threshold for your subscription plan.",
    ),
    42909: (429, "throttlingError", "Quota_Exceeded", "The quota for your subscription is used."),
    50001: (500, "apiError", "Unkown", "An unexpected error has occurred."),
}


class ApiError(Exception):
    """An Nmbrs REST error reply."""

    def __init__(self, code: int, detail: str | None = None, params: list[dict] | None = None):
        super().__init__(code)
        self.code = code
        self.detail = detail
        self.params = params


def error_response(
    code: int, detail: str | None = None, params: list[dict] | None = None, headers=None
) -> Response:
    status, kind, title, default = ERRORS[code]
    body: dict[str, Any] = {
        "type": kind,
        "httpStatus": status,
        "code": code,
        "title": title,
        "detail": detail or default,
        "docUrl": "https://developer.nmbrs.com/api/docs/errors",
    }
    if params:
        body["invalid-params"] = params
    return Response(
        json.dumps(body), status=status, content_type="application/json", headers=headers
    )


def _invalid(name: str, reason: str) -> ApiError:
    return ApiError(40033, f"Invalid parameter: {name}", [{"name": name, "reason": reason}])


# --- failures ------------------------------------------------------------------------------------

REST_FAILURE_MODES = {
    "throttle": 42908,  # 429 Too_Many_Calls (+ Retry-After when retry_after is set)
    "quota": 42909,  # 429 Quota_Exceeded
    "unauthorized": 40102,  # 401 Invalid_Token
    "forbidden": 40303,  # 403
    "error500": 50001,  # 500 with the JSON error body
    "html503": 0,  # an HTML 503 page from a load balancer
    "notjson": 0,  # HTTP 200 with an HTML body
    "unexpected": 0,  # HTTP 200 JSON without "data"
    "drop": 0,  # connection closed without an answer
}


@dataclass
class RestFailure:
    mode: str
    times: int | None = None
    endpoints: frozenset[str] | None = None  # e.g. {"employees", "insert_component"}
    methods: frozenset[str] | None = None
    retry_after: float | None = None
    after: bool = False  # run the call first, then fail (a write that did arrive)


@dataclass
class RestControl:
    """REST-side knobs and the request log."""

    CONTROL_METHODS = frozenset({"set_failure", "clear_failure", "calls", "rest_id"})

    failure: RestFailure | None = None
    log: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_failure(
        self,
        mode: str,
        times: int | None = None,
        endpoints: list[str] | None = None,
        methods: list[str] | None = None,
        retry_after: float | None = None,
        after: bool = False,
    ) -> dict:
        """Fail the next ``times`` REST calls (all when ``None``) with ``mode``."""
        if mode not in REST_FAILURE_MODES:
            raise ValueError(
                f"unknown REST failure mode {mode!r}; one of {sorted(REST_FAILURE_MODES)}"
            )
        with self.lock:
            self.failure = RestFailure(
                mode,
                None if times is None else int(times),
                frozenset(endpoints) if endpoints else None,
                frozenset(m.upper() for m in methods) if methods else None,
                None if retry_after is None else float(retry_after),
                bool(after),
            )
            return {"mode": mode, "times": times}

    def clear_failure(self) -> dict:
        """Stop failing REST calls."""
        with self.lock:
            self.failure = None
            return {"ok": True}

    def calls(self, clear: bool = False) -> list[dict]:
        """The REST requests served so far: method, endpoint, status, query."""
        with self.lock:
            result = list(self.log)
            if clear:
                self.log.clear()
            return result

    def rest_id(self, kind: str, id: int) -> dict:
        """The GUID of a SOAP id."""
        return {"id": rest_id(kind, id)}

    def pick(self, endpoint: str, method: str) -> RestFailure | None:
        with self.lock:
            f = self.failure
            if f is None:
                return None
            if f.endpoints is not None and endpoint not in f.endpoints:
                return None
            if f.methods is not None and method not in f.methods:
                return None
            if f.times is not None:
                if f.times <= 0:
                    return None
                f.times -= 1
            return f

    def record(self, method: str, endpoint: str, status: int, query: dict) -> dict:
        entry = {"method": method, "endpoint": endpoint, "status": status, "query": query}
        with self.lock:
            self.log.append(entry)
        return entry


# --- routing ---------------------------------------------------------------------------------

# endpoint → scopes of which the token needs one (from Nmbrs' OpenAPI description)
SCOPES = {
    "debtors": {"company.info", "company.info.read"},
    "companies": {"company.info", "company.info.read"},
    "debtor_companies": {"company.info", "company.info.read"},
    "departments": {"employee.orgstructure", "employee.orgstructure.read"},
    "period": {"company.info", "company.info.read"},
    "wage_models": {"company.payrollsettings.read"},
    "cost_centers": {"company.payrollsettings.read"},
    "cost_units": {"company.payrollsettings.read"},
    "employees": {"employee.info", "employee.info.read"},
    "components": {"employee.payment", "employee.payment.read"},
    "insert_component": {"employee.payment"},
    "delete_component": {"employee.payment"},
}

URLS = Map(
    [
        Rule("/api/debtors", endpoint="debtors", methods=["GET"]),
        Rule("/api/companies", endpoint="companies", methods=["GET"]),
        Rule("/api/debtors/<debtor>/companies", endpoint="debtor_companies", methods=["GET"]),
        Rule("/api/debtors/<debtor>/departments", endpoint="departments", methods=["GET"]),
        Rule("/api/companies/<company>/period", endpoint="period", methods=["GET"]),
        Rule("/api/companies/<company>/wagemodels", endpoint="wage_models", methods=["GET"]),
        Rule("/api/companies/<company>/costCenters", endpoint="cost_centers", methods=["GET"]),
        Rule("/api/companies/<company>/costUnits", endpoint="cost_units", methods=["GET"]),
        Rule("/api/companies/<company>/employees", endpoint="employees", methods=["GET"]),
        Rule(
            "/api/companies/<company>/employees/variablewagecomponents",
            endpoint="components",
            methods=["GET"],
        ),
        Rule(
            "/api/employees/<employee>/variablewagecomponent",
            endpoint="insert_component",
            methods=["POST"],
        ),
        Rule(
            "/api/employees/<employee>/wagecomponents/<component>",
            endpoint="delete_component",
            methods=["DELETE"],
        ),
    ],
    strict_slashes=False,
)

_PERIOD_TYPES = {"M": "month", "4W": "4-weeks", "W": "1-week"}
_HTML_503 = (
    "<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body>"
    "<h1>503 Service Unavailable</h1></body></html>"
)


def handle(state: SandboxState, request: Request) -> Response:
    """Answer one REST call."""
    control: RestControl = state.rest
    try:
        endpoint, args = URLS.bind_to_environ(request.environ).match()
    except NotFound:
        return error_response(40401)
    except MethodNotAllowed:
        return Response(status=405)
    if request.headers.get("X-Subscription-Key") != DEMO_SUBSCRIPTION_KEY:
        # The API gateway answers this itself, in its own shape.
        return Response(
            json.dumps(
                {
                    "statusCode": 401,
                    "message": "Access denied due to missing or invalid subscription key.",
                }
            ),
            status=401,
            content_type="application/json",
        )
    # Logged before answering: a dropped connection must not race the log.
    entry = control.record(request.method, endpoint, 0, dict(request.args))
    failure = control.pick(endpoint, request.method)
    if failure is not None and not failure.after:
        response = _fail(failure, request)
    else:
        response = _serve(state, request, endpoint, args)
        if failure is not None:
            response = _fail(failure, request)
    entry["status"] = response.status_code
    return response


def _serve(state: SandboxState, request: Request, endpoint: str, args: dict) -> Response:
    try:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            raise ApiError(40101)
        username, scopes, problem = state.oauth.bearer(header[7:].strip())
        if problem:
            raise ApiError(40102, f"The token is {problem}.")
        if not set(scopes) & SCOPES[endpoint]:
            raise ApiError(40301, f"One of these scopes is needed: {sorted(SCOPES[endpoint])}")
        with state.lock:
            account = state.account(username)
            handler = HANDLERS[endpoint]
            status, body = handler(state, account, request, **args)
    except ApiError as exc:
        return error_response(exc.code, exc.detail, exc.params)
    if body is None:
        return Response(status=status)
    return Response(
        json.dumps(body, default=_number, ensure_ascii=False),
        status=status,
        content_type="application/json; charset=utf-8",
    )


def _fail(failure: RestFailure, request: Request) -> Response:
    mode = failure.mode
    code = REST_FAILURE_MODES[mode]
    if code:
        headers = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = f"{failure.retry_after:g}"
        return error_response(code, headers=headers)
    if mode == "html503":
        return Response(_HTML_503, status=503, content_type="text/html")
    if mode == "notjson":
        return Response("<html><body>Maintenance</body></html>", content_type="text/html")
    if mode == "unexpected":
        return Response(json.dumps({"status": "maintenance"}), content_type="application/json")
    if mode == "drop":
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        return Response(b"", status=200)
    raise AssertionError(mode)  # pragma: no cover


def _number(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)


# --- pagination ----------------------------------------------------------------------------


def _page(request: Request, items: list[Any]) -> tuple[int, dict]:
    try:
        number = int(request.args.get("pageNumber", 1))
        size = int(request.args.get("pageSize", 20))
    except ValueError:
        raise _invalid("pageNumber", "must be a whole number") from None
    if number < 1:
        raise _invalid("pageNumber", "minimum is 1")
    if not 1 <= size <= 100:
        raise _invalid("pageSize", "between 1 and 100")
    total_pages = max(1, -(-len(items) // size))
    base = request.host_url.rstrip("/") + request.path

    def link(n: int) -> str:
        query = {k: v for k, v in request.args.items() if k not in ("pageNumber", "pageSize")}
        return f"{base}?{urlencode({**query, 'pageNumber': n, 'pageSize': size})}"

    return 200, {
        "pagination": {
            "pageNumber": number,
            "pageSize": size,
            "firstPage": link(1),
            "lastPage": link(total_pages),
            "totalPages": total_pages,
            "totalRecords": len(items),
            "nextPage": link(number + 1) if number < total_pages else None,
            "previousPage": link(number - 1) if number > 1 else None,
        },
        "data": items[(number - 1) * size : number * size],
    }


# --- lookups -------------------------------------------------------------------------------


def _debtor(state: SandboxState, account: Account, guid: str) -> int:
    debtor_id = soap_id("debtor", guid, state)
    if debtor_id is None or debtor_id not in account.debtor_ids:
        # Nmbrs does not say whether the debtor exists when the user may not see it.
        raise ApiError(40306)
    return debtor_id


def _company(state: SandboxState, account: Account, guid: str) -> CompanyRow:
    company_id = soap_id("company", guid, state)
    company = None if company_id is None else state.data.companies.get(company_id)
    if company is None:
        raise ApiError(40401, "Company not found.")
    if company.debtor_id not in account.debtor_ids:
        raise ApiError(40303)
    return company


def _employee(state: SandboxState, account: Account, guid: str) -> EmployeeRow:
    employee_id = soap_id("employee", guid, state)
    employee = None if employee_id is None else state.employee(employee_id)
    if employee is None:
        raise ApiError(40401, "Employee not found.")
    if state.data.companies[employee.company_id].debtor_id not in account.debtor_ids:
        raise ApiError(40303)
    return employee


def _company_json(state: SandboxState, c: CompanyRow) -> dict:
    return {
        "companyId": rest_id("company", c.id),
        "number": str(c.number),
        "name": c.name,
        "debtorId": rest_id("debtor", c.debtor_id),
    }


# --- handlers ------------------------------------------------------------------------------


def debtors(state, account, request):
    rows = [state.data.debtors[d] for d in account.debtor_ids]
    return _page(
        request,
        [{"debtorId": rest_id("debtor", d.id), "number": d.number, "name": d.name} for d in rows],
    )


def companies(state, account, request):
    return _page(
        request,
        [
            _company_json(state, c)
            for c in state.data.companies.values()
            if c.debtor_id in account.debtor_ids
        ],
    )


def debtor_companies(state, account, request, debtor):
    debtor_id = _debtor(state, account, debtor)
    return _page(
        request,
        [
            _company_json(state, c)
            for c in state.data.companies.values()
            if c.debtor_id == debtor_id
        ],
    )


def departments(state, account, request, debtor):
    debtor_id = _debtor(state, account, debtor)
    return _page(
        request,
        [
            {
                "departmentId": rest_id("department", r.id),
                "code": int(r.code),
                "description": r.description,
                "managers": [],
            }
            for r in state.data.debtors[debtor_id].departments.values()
        ],
    )


def period(state, account, request, company):
    year, number, kind = _company(state, account, company).period
    return _page(
        request,
        [
            {
                "period": {"year": year, "period": number},
                "periodType": _PERIOD_TYPES.get(kind, "month"),
                "displayPeriod": f"{year}-{number}-{kind}",
            }
        ],
    )


def wage_models(state, account, request, company):
    c = _company(state, account, company)
    models = []
    for number, codes in ((1, c.wage_model), (2, c.wage_model2)):
        models.append(
            {
                "id": rest_id("wagemodel", c.id * 10 + number),
                "number": number,
                "name": f"Lönemodell {number}",
                "wageCodes": [
                    {
                        "wageCodeId": rest_id("wagecode", c.id * 100_000 + code),
                        "code": code,
                        "description": description,
                        "continuityType": "variable",
                    }
                    for code, description in codes.items()
                ],
            }
        )
    return _page(request, models)


def cost_centers(state, account, request, company):
    c = _company(state, account, company)
    return _page(
        request,
        [
            {
                "costCenterId": rest_id("costcenter", r.id),
                "code": r.code,
                "description": r.description,
            }
            for r in c.cost_centers.values()
        ],
    )


def cost_units(state, account, request, company):
    c = _company(state, account, company)
    return _page(
        request,
        [
            {"costUnitId": rest_id("costunit", r.id), "code": r.code, "description": r.description}
            for r in c.cost_units.values()
        ],
    )


def employees(state, account, request, company):
    c = _company(state, account, company)
    wanted = {t for t in request.args.get("employeeType", "").split(",") if t}
    only = request.args.get("employeeId")
    rows = []
    for e in c.employees.values():
        guid = rest_id("employee", e.id)
        if only and guid != only.lower():
            continue
        if wanted and "payroll" not in wanted:  # every sandbox employee is on the payroll
            continue
        first, _, last = e.name.partition(" ")
        rows.append(
            {
                "employeeId": guid,
                "employeeBasicInfo": {
                    "employeeNumber": e.number,
                    "firstName": first,
                    "lastName": last or first,
                    "employeeType": "payroll",
                },
            }
        )
    return _page(request, rows)


def components(state, account, request, company):
    c = _company(state, account, company)
    try:
        year = int(request.args.get("year", c.period[0]))
        number = int(request.args.get("period", c.period[1]))
    except ValueError:
        raise _invalid("period", "must be a whole number") from None
    only = request.args.get("employeeId")
    grouped: dict[int, list[dict]] = {}
    for row in state.stored.values():
        if row.year != year or row.period != number or row.employee_id not in c.employees:
            continue
        grouped.setdefault(row.employee_id, []).append(
            {
                "variableWageComponentId": rest_id("component", row.id),
                "code": row.code,
                "value": row.value,
                "comment": row.comment,
                "costCenterId": (
                    None
                    if row.cost_center_id is None
                    else rest_id("costcenter", row.cost_center_id)
                ),
                "costUnitId": (
                    None if row.cost_unit_id is None else rest_id("costunit", row.cost_unit_id)
                ),
            }
        )
    items = [
        {"employeeId": rest_id("employee", emp), "variablewagecomponents": rows}
        for emp, rows in grouped.items()
        if not only or rest_id("employee", emp) == only.lower()
    ]
    return _page(request, items)


def insert_component(state, account, request, employee):
    from .soap import Fault, _check_period

    e = _employee(state, account, employee)
    c = state.data.companies[e.company_id]
    try:
        body = json.loads(request.get_data(), parse_float=Decimal)
    except ValueError:
        raise _invalid("body", "not JSON") from None
    if not isinstance(body, dict):
        raise _invalid("body", "expected an object")
    code = body.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        raise _invalid("code", "required whole number")
    try:
        value = Decimal(str(body.get("value")))
        if not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise _invalid("value", "required number") from None
    details = body.get("periodDetails") or {}
    if "period" in details and isinstance(details["period"], dict):
        raise _invalid("periodDetails", "expected {year, period}")  # the PUT's nested shape
    year = details.get("year", c.period[0])
    number = details.get("period", c.period[1])
    if not isinstance(year, int) or not isinstance(number, int):
        raise _invalid("periodDetails", "year and period are whole numbers")
    unprotected = bool(body.get("unprotectedMode", False))
    try:
        _check_period(c, year, number, unprotected)
    except Fault as fault:
        # "... ---> 2011: Protected Period, use UnprotectedMode" → the reason after the code
        reason = fault.faultstring.rsplit("---> ", 1)[-1].split(": ", 1)[-1]
        raise _invalid("periodDetails", reason) from None
    if code not in c.wage_codes():
        raise _invalid("code", "Invalid Wage Code")
    cost_center_id = _optional(state, body.get("costCenterId"), "costcenter", c.cost_centers)
    cost_unit_id = _optional(state, body.get("costUnitId"), "costunit", c.cost_units)
    new_id = state.store_component(
        employee_id=e.id,
        code=code,
        value=value,
        year=year,
        period=number,
        cost_center_id=cost_center_id,
        cost_unit_id=cost_unit_id,
        comment=body.get("comment"),
    )
    # Nmbrs' create reply spells it with a lower-case "c" (a known quirk of its description).
    return 201, {"variableWagecomponentId": rest_id("component", new_id)}


def _optional(state: SandboxState, guid: Any, kind: str, rows: dict) -> int | None:
    name = {"costcenter": "costCenterId", "costunit": "costUnitId"}[kind]
    if guid in (None, ""):
        return None
    int_id = soap_id(kind, str(guid), state)
    if int_id is None or int_id not in rows:
        raise _invalid(name, f"Invalid {name}")
    return int_id


def delete_component(state, account, request, employee, component):
    e = _employee(state, account, employee)
    component_id = soap_id("component", component, state)
    row = None if component_id is None else state.stored.get(component_id)
    if row is None or row.employee_id != e.id:
        raise ApiError(40401, "Wage component not found.")
    del state.stored[component_id]
    return 204, None


HANDLERS = {
    "debtors": debtors,
    "companies": companies,
    "debtor_companies": debtor_companies,
    "departments": departments,
    "period": period,
    "wage_models": wage_models,
    "cost_centers": cost_centers,
    "cost_units": cost_units,
    "employees": employees,
    "components": components,
    "insert_component": insert_component,
    "delete_component": delete_component,
}

__all__ = ["RestControl", "handle", "rest_id", "soap_id"]

"""The sandbox's REST face: the Nmbrs REST endpoints Brygga uses, over the same demo data and
by the same rules (``rules.py``) as the SOAP face, answered as Nmbrs' OpenAPI description says.

Ids: every SOAP int id has a stable GUID (``ids.rest_id``). Codes and numbers are the same as
over SOAP. Variable wage components live in the same store as SOAP inserts: one inserted over
SOAP is visible over REST and the other way round.

Auth: ``Authorization: Bearer`` (tokens from ``oauth.py``) and ``X-Subscription-Key``
(``DEMO_SUBSCRIPTION_KEY``). Access is per debtor, as in Nmbrs. Errors have Nmbrs' shape
``{type, httpStatus, code, title, detail, invalid-params}`` and only the codes the description
lists (``ERRORS``).

Control (``POST /_sandbox/rest/<method>``, see ``rest_control.py``): ``set_failure`` /
``clear_failure``, ``set_reading`` (no ``nextPage``, ``pageNumber``-only or placeholder links,
optional fields absent, small pages, short lists), ``calls`` (the request log), ``rest_id``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .data import Account, CompanyRow
from .ids import rest_id, soap_id
from .oauth import DEMO_SUBSCRIPTION_KEY
from .rest_control import REST_FAILURE_MODES, Readings, RestControl, RestFailure
from .rules import Reason, Refusal, check_component, own_company, own_debtor, own_employee

if TYPE_CHECKING:  # pragma: no cover
    from .state import SandboxState

# --- errors ------------------------------------------------------------------------------------

# Every error code Nmbrs' OpenAPI description lists (components/responses), and only those.
ERRORS: dict[int, tuple[int, str, str, str]] = {
    # code: (HTTP status, type, title, detail)
    40033: (400, "validationError", "Parameter_Invalid", "Invalid parameter."),
    40101: (401, "authenticationError", "Missing_Token", "Token is missing on the authentication"),
    40102: (401, "authenticationError", "Invalid_Token", "Token is invalid."),
    40303: (
        403,
        "authenticationError",
        "Unauthorized_AccessData",
        "You do not have access for the debtor or company you are trying to reach. Contact the "
        "administrator of the environment and review access rights by tags/filters for your "
        "login on Template User.",
    ),
    40304: (
        403,
        "authenticationError",
        "Invalid_Subscription",
        "This environment is disabled, there is no valid subscription.",
    ),
    40401: (404, "invalidRequestError", "Not_Found", "The requested resource could not be found."),
    40404: (
        404,
        "invalidRequestError",
        "Invalid_Company",
        "Company not found. Check if the company Id is correct.",
    ),
    42908: (
        429,
        "throttlingError",
        "Too_Many_Calls",
        "The amount of calls is above the threshold for your subscription plan.",
    ),
    42909: (429, "throttlingError", "Quota_Exceeded", "Out of call volume quota."),
    50001: (500, "apiError", "Unkown", "An unexpected error has occurred."),
    50201: (502, "apiError", "Bad_Gateway", "A gateway error has ocurred."),
    50301: (
        503,
        "apiError",
        "Service_Unavailable",
        "The API is not available, it can be because of an update or an unexpected error.",
    ),
}


class ApiError(Exception):
    """An Nmbrs REST error reply."""

    def __init__(
        self, code: int, detail: str | None = None, params: list[dict[str, str]] | None = None
    ):
        super().__init__(code)
        self.code = code
        self.detail = detail
        self.params = params


def error_response(
    code: int,
    detail: str | None = None,
    params: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
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


# How the REST face says each refusal of the shared rules. Nmbrs does not say whether a debtor
# or company exists that the user may not see; a company id that is nobody's is 40404.
_REFUSALS: dict[Reason, Callable[[Reason], ApiError]] = {
    Reason.DEBTOR_FORBIDDEN: lambda r: ApiError(40303),
    Reason.COMPANY_UNKNOWN: lambda r: ApiError(40404),
    Reason.COMPANY_FORBIDDEN: lambda r: ApiError(40303),
    Reason.EMPLOYEE_UNKNOWN: lambda r: ApiError(40401, "Employee not found."),
    Reason.EMPLOYEE_FORBIDDEN: lambda r: ApiError(40303),
    Reason.PERIOD_INVALID: lambda r: _invalid("periodDetails", r.value),
    Reason.PERIOD_PROTECTED: lambda r: _invalid("periodDetails", r.value),
    Reason.PERIOD_DECLARED: lambda r: _invalid("periodDetails", r.value),
    Reason.WAGE_CODE_UNKNOWN: lambda r: _invalid("code", r.value),
    Reason.COST_CENTER_UNKNOWN: lambda r: _invalid("costCenterId", "Invalid costCenterId"),
    Reason.COST_UNIT_UNKNOWN: lambda r: _invalid("costUnitId", "Invalid costUnitId"),
}


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
    entry = control.record(request.method, str(endpoint), 0, dict(request.args))
    failure = control.pick(str(endpoint), request.method)
    if failure is not None and not failure.after:
        response = _fail(failure, request)
    else:
        response = _serve(state, request, str(endpoint), dict(args))
        if failure is not None:
            response = _fail(failure, request)
    entry["status"] = response.status_code
    return response


def _serve(state: SandboxState, request: Request, endpoint: str, args: dict[str, str]) -> Response:
    try:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            raise ApiError(40101)
        username, scopes, problem = state.oauth.bearer(header[7:].strip())
        if problem or username is None:
            raise ApiError(40102, f"The token is {problem}.")
        if not set(scopes) & SCOPES[endpoint]:
            # The description lists no code of its own for a missing scope; the token does
            # not give access to this data.
            raise ApiError(40303, f"One of these scopes is needed: {sorted(SCOPES[endpoint])}")
        with state.lock:
            account = state.account(username)
            view = _View(state, account, request, state.rest.readings)
            try:
                status, body = HANDLERS[endpoint](view, **args)
            except Refusal as refusal:
                raise _REFUSALS[refusal.reason](refusal.reason) from None
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


# --- one request's view: paging and the optional-fields reading -------------------------------

# Per record shape, the fields the description requires; the "optional fields absent" reading
# leaves out every other one but the record's own id and its lists of child records.
REQUIRED: dict[str, frozenset[str]] = {
    "debtor": frozenset({"debtorId"}),
    "company": frozenset({"companyId"}),
    "period": frozenset({"period", "periodType", "displayPeriod"}),
    "period.period": frozenset(),
    "wage_model": frozenset({"id", "wageCodes"}),
    "wage_code": frozenset({"wageCodeId", "code", "description"}),
    "cost_center": frozenset({"costCenterId", "code", "description"}),
    "cost_unit": frozenset({"costUnitId", "code", "description"}),
    "department": frozenset({"departmentId", "managers"}),
    "employee": frozenset({"employeeId", "employeeBasicInfo"}),
    "employee_basic": frozenset({"lastName", "employeeType"}),
    "employee_components": frozenset({"employeeId", "variablewagecomponents"}),
    "component": frozenset({"variableWageComponentId"}),
}

PLACEHOLDER = "https://api.nmbrsapp.com/api/companies/439323/{endpoint}"
PRODUCTION = "https://api.nmbrsapp.com"


class _View:
    """What one request sees: the caller's account, the query, and the readings in force."""

    def __init__(self, state: SandboxState, account: Account, request: Request, readings: Readings):
        self.state = state
        self.account = account
        self.request = request
        self.readings = readings

    def record(self, shape: str, fields: dict[str, Any]) -> dict[str, Any]:
        """One record, without its optional fields when that reading is on."""
        if self.readings.optional_fields == "present":
            return fields
        keep = REQUIRED[shape]
        return {k: v for k, v in fields.items() if k in keep}

    def page(self, items: list[Any]) -> tuple[int, dict[str, Any]]:
        """A list reply: one page of ``items`` and its ``pagination``, as the readings say."""
        args = self.request.args
        try:
            number = int(args.get("pageNumber", 1))
            size = int(args.get("pageSize", 20))  # the description's default
        except ValueError:
            raise _invalid("pageNumber", "must be a whole number") from None
        if number < 1:
            raise _invalid("pageNumber", "minimum is 1")
        if not 1 <= size <= 100:
            raise _invalid("pageSize", "between 1 and 100")
        r = self.readings
        if r.page_size_limit:
            size = min(size, r.page_size_limit)
        total = len(items)
        served = items[: max(0, total - r.withhold)]
        total_pages = max(1, -(-total // size))
        pagination: dict[str, Any] = {"pageNumber": number, "pageSize": size}
        links = {
            "firstPage": 1,
            "lastPage": total_pages,
            "nextPage": number + 1 if number < total_pages else None,
            "previousPage": number - 1 if number > 1 else None,
        }
        for name, target in links.items():
            if r.links == "absent" and name in ("nextPage", "previousPage"):
                continue
            if r.links == "null" and name in ("nextPage", "previousPage"):
                pagination[name] = None
                continue
            pagination[name] = None if target is None else self._link(target, size)
        if r.totals == "present":
            pagination["totalPages"] = total_pages
            pagination["totalRecords"] = total
        return 200, {
            "pagination": pagination,
            "data": served[(number - 1) * size : number * size],
        }

    def _link(self, number: int, size: int) -> str:
        style = self.readings.links
        if style == "placeholder":
            return f"{PLACEHOLDER}?pageNumber={number}"
        if style == "page_number_only":
            return f"{self.request.host_url.rstrip('/')}{self.request.path}?pageNumber={number}"
        query = {k: v for k, v in self.request.args.items() if k not in ("pageNumber", "pageSize")}
        host = PRODUCTION if style == "other_host" else self.request.host_url.rstrip("/")
        query.update(pageNumber=str(number), pageSize=str(size))
        return f"{host}{self.request.path}?{urlencode(query)}"

    def company(self, guid: str) -> CompanyRow:
        return own_company(self.state, self.account, soap_id("company", guid, self.state))

    def company_json(self, c: CompanyRow) -> dict[str, Any]:
        return self.record(
            "company",
            {
                "companyId": rest_id("company", c.id),
                "number": str(c.number),
                "name": c.name,
                "debtorId": rest_id("debtor", c.debtor_id),
            },
        )


# --- handlers ------------------------------------------------------------------------------

Reply = tuple[int, Any]


def debtors(view: _View) -> Reply:
    rows = [view.state.data.debtors[d] for d in view.account.debtor_ids]
    return view.page(
        [
            view.record(
                "debtor", {"debtorId": rest_id("debtor", d.id), "number": d.number, "name": d.name}
            )
            for d in rows
        ]
    )


def companies(view: _View) -> Reply:
    return view.page(
        [
            view.company_json(c)
            for c in view.state.data.companies.values()
            if c.debtor_id in view.account.debtor_ids
        ]
    )


def debtor_companies(view: _View, debtor: str) -> Reply:
    debtor_id = own_debtor(view.account, soap_id("debtor", debtor, view.state))
    return view.page(
        [
            view.company_json(c)
            for c in view.state.data.companies.values()
            if c.debtor_id == debtor_id
        ]
    )


def departments(view: _View, debtor: str) -> Reply:
    debtor_id = own_debtor(view.account, soap_id("debtor", debtor, view.state))
    return view.page(
        [
            view.record(
                "department",
                {
                    "departmentId": rest_id("department", r.id),
                    "code": int(r.code),
                    "description": r.description,
                    "managers": [],
                },
            )
            for r in view.state.data.debtors[debtor_id].departments.values()
        ]
    )


def period(view: _View, company: str) -> Reply:
    year, number, kind = view.company(company).period
    return view.page(
        [
            view.record(
                "period",
                {
                    "period": view.record("period.period", {"year": year, "period": number}),
                    "periodType": _PERIOD_TYPES.get(kind, "month"),
                    "displayPeriod": f"{year}-{number}-{kind}",
                },
            )
        ]
    )


def wage_models(view: _View, company: str) -> Reply:
    c = view.company(company)
    models = []
    for number, codes in ((1, c.wage_model), (2, c.wage_model2)):
        wage_codes = [
            view.record(
                "wage_code",
                {
                    "wageCodeId": rest_id("wagecode", c.id * 100_000 + code),
                    "code": code,
                    "description": description,
                    "continuityType": "variable",
                },
            )
            for code, description in codes.items()
        ]
        models.append(
            view.record(
                "wage_model",
                {
                    "id": rest_id("wagemodel", c.id * 10 + number),
                    "number": number,
                    "name": f"Lönemodell {number}",
                    "wageCodes": wage_codes,
                },
            )
        )
    return view.page(models)


def cost_centers(view: _View, company: str) -> Reply:
    c = view.company(company)
    return view.page(
        [
            view.record(
                "cost_center",
                {
                    "costCenterId": rest_id("costcenter", r.id),
                    "code": r.code,
                    "description": r.description,
                },
            )
            for r in c.cost_centers.values()
        ]
    )


def cost_units(view: _View, company: str) -> Reply:
    c = view.company(company)
    return view.page(
        [
            view.record(
                "cost_unit",
                {
                    "costUnitId": rest_id("costunit", r.id),
                    "code": r.code,
                    "description": r.description,
                },
            )
            for r in c.cost_units.values()
        ]
    )


def employees(view: _View, company: str) -> Reply:
    c = view.company(company)
    args = view.request.args
    wanted = {t for t in args.get("employeeType", "").split(",") if t}
    only = args.get("employeeId")
    rows = []
    for e in c.employees.values():
        guid = rest_id("employee", e.id)
        if only and guid != only.lower():
            continue
        if wanted and "payroll" not in wanted:  # every sandbox employee is on the payroll
            continue
        first, _, last = e.name.partition(" ")
        basic = {
            "employeeNumber": e.number,
            "firstName": first,
            "lastName": last or first,
            "employeeType": "payroll",
        }
        rows.append(
            view.record(
                "employee",
                {"employeeId": guid, "employeeBasicInfo": view.record("employee_basic", basic)},
            )
        )
    return view.page(rows)


def components(view: _View, company: str) -> Reply:
    c = view.company(company)
    args = view.request.args
    try:
        year = int(args.get("year", c.period[0]))
        number = int(args.get("period", c.period[1]))
    except ValueError:
        raise _invalid("period", "must be a whole number") from None
    only = args.get("employeeId")
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in view.state.stored.values():
        if row.year != year or row.period != number or row.employee_id not in c.employees:
            continue
        grouped.setdefault(row.employee_id, []).append(
            view.record(
                "component",
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
                },
            )
        )
    items = [
        view.record(
            "employee_components",
            {"employeeId": rest_id("employee", emp), "variablewagecomponents": rows},
        )
        for emp, rows in grouped.items()
        if not only or rest_id("employee", emp) == only.lower()
    ]
    return view.page(items)


def insert_component(view: _View, employee: str) -> Reply:
    state = view.state
    e = own_employee(state, view.account, soap_id("employee", employee, state))
    c = state.data.companies[e.company_id]
    try:
        body = json.loads(view.request.get_data(), parse_float=Decimal)
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
    cost_center_id = _optional_id(state, body.get("costCenterId"), "costcenter")
    cost_unit_id = _optional_id(state, body.get("costUnitId"), "costunit")
    check_component(
        c,
        year=year,
        period=number,
        unprotected=bool(body.get("unprotectedMode", False)),
        code=code,
        cost_center_id=cost_center_id,
        cost_unit_id=cost_unit_id,
    )
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


def _optional_id(state: SandboxState, guid: Any, kind: str) -> int | None:
    if guid in (None, ""):
        return None
    int_id = soap_id(kind, str(guid), state)
    if int_id is None:  # a GUID that is nothing of this kind: as unknown as a missing row
        raise Refusal(
            Reason.COST_CENTER_UNKNOWN if kind == "costcenter" else Reason.COST_UNIT_UNKNOWN
        )
    return int_id


def delete_component(view: _View, employee: str, component: str) -> Reply:
    state = view.state
    e = own_employee(state, view.account, soap_id("employee", employee, state))
    component_id = soap_id("component", component, state)
    row = None if component_id is None else state.stored.get(component_id)
    if component_id is None or row is None or row.employee_id != e.id:
        raise ApiError(40401, "Wage component not found.")
    del state.stored[component_id]
    return 204, None


HANDLERS: dict[str, Callable[..., Reply]] = {
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

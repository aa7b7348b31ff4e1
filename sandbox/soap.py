"""The sandbox's SOAP 1.1 endpoint: read a request as Nmbrs does, answer as Nmbrs does.

Built from ``API.md`` and the published WSDLs (v2.1 element names, v3 namespaces and header),
never from what Brygga's client happens to send. Replies mimic ASP.NET ASMX: UTF-8 XML with
``soap``/``xsi``/``xsd`` prefixes, optional elements omitted, faults as HTTP 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from xml.sax.saxutils import escape

from lxml import etree

from .data import Account, CompanyRow, EmployeeRow
from .state import SandboxState

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
NS_PREFIX = "https://api.nmbrs.nl/soap/v3/"
SERVICES = ("CompanyService", "EmployeeService", "DebtorService")

_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<soap:Envelope xmlns:soap="{SOAP_NS}" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>'
)
_ENVELOPE_CLOSE = "</soap:Body></soap:Envelope>"

# Nmbrs' texts for the codes it documents (API.md). The fault string wraps them as .NET does.
FAULT_TEXTS = {
    1001: "Invalid Authentication",
    1002: "No rights for this function",
    1003: "No access to this debtor or company",
    1004: "No valid subscription",
    2002: "Invalid Wage Code",
    2003: "No rights to the employee",
    2004: "No rights to the company",
    2006: "Invalid Period",
    2011: "Protected Period, use UnprotectedMode",
    2012: "Wage tax declaration already sent for this period",
    2037: "Invalid Cost Center Id",
    2038: "Invalid Cost Center Code",
    9999: "Unknown error",
}

_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


class Fault(Exception):
    """A SOAP fault to send back (HTTP 500)."""

    def __init__(self, faultstring: str, faultcode: str = "soap:Server"):
        super().__init__(faultstring)
        self.faultcode = faultcode
        self.faultstring = faultstring


def nmbrs_fault(code: int) -> Fault:
    """The fault Nmbrs sends for one of its error codes."""
    return Fault(
        "System.Web.Services.Protocols.SoapException: Server was unable to process request. "
        f"---> {code}: {FAULT_TEXTS.get(code, 'Error')}"
    )


def bad_request(detail: str) -> Fault:
    """What ASMX says when the body does not deserialize."""
    return Fault(
        f"Server was unable to read request. ---> There is an error in XML document. ---> {detail}",
        "soap:Client",
    )


NO_ACTION = Fault(
    "Unable to handle request without a valid action parameter. Please supply a valid soap action.",
    "soap:Client",
)


def fault_body(fault: Fault) -> bytes:
    """A whole fault envelope."""
    return (
        f"{_ENVELOPE_OPEN}<soap:Fault><faultcode>{fault.faultcode}</faultcode>"
        f"<faultstring>{escape(fault.faultstring)}</faultstring><detail /></soap:Fault>"
        f"{_ENVELOPE_CLOSE}"
    ).encode()


def result_body(service: str, operation: str, inner: str | None) -> bytes:
    """A whole result envelope; ``inner=None`` omits the Result element entirely."""
    ns = NS_PREFIX + service
    if inner is None:
        payload = f'<{operation}Response xmlns="{ns}" />'
    elif inner == "":
        payload = f'<{operation}Response xmlns="{ns}"><{operation}Result /></{operation}Response>'
    else:
        payload = (
            f'<{operation}Response xmlns="{ns}"><{operation}Result>{inner}'
            f"</{operation}Result></{operation}Response>"
        )
    return f"{_ENVELOPE_OPEN}{payload}{_ENVELOPE_CLOSE}".encode()


def _e(name: str, value: object) -> str:
    """One element; ``None`` and empty strings are omitted, as Nmbrs omits empty optionals."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


# --- request reading ---------------------------------------------------------------------


class Request:
    """The body element of one call, with typed accessors that fail like ASMX would."""

    def __init__(self, element: etree._Element, ns: str):
        self.element = element
        self.ns = ns

    def child(self, name: str, parent: etree._Element | None = None) -> etree._Element | None:
        return (self.element if parent is None else parent).find(f"{{{self.ns}}}{name}")

    def int(self, name: str, parent: etree._Element | None = None, *, nillable=False) -> int | None:
        el = self.child(name, parent)
        if el is None or el.get(XSI_NIL) == "true":
            if nillable:
                return None
            raise bad_request(f"<{name}> is missing or nil.")
        try:
            return int((el.text or "").strip())
        except ValueError:
            raise bad_request(f"Input string was not in a correct format ({name}).") from None

    def bool(self, name: str) -> bool:
        el = self.child(name)
        text = (el.text or "").strip() if el is not None else ""
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise bad_request(f"The string '{text}' is not a valid Boolean value ({name}).")

    def decimal(self, name: str, parent: etree._Element) -> Decimal:
        el = self.child(name, parent)
        text = (el.text or "").strip() if el is not None else ""
        # xs:decimal: a dot, no exponent, no thousands separator.
        if not _DECIMAL.match(text):
            raise bad_request(f"Input string was not in a correct format ({name}={text!r}).")
        try:
            return Decimal(text)
        except InvalidOperation:
            raise bad_request(f"Input string was not in a correct format ({name}).") from None

    def str(self, name: str, parent: etree._Element | None = None) -> str | None:
        el = self.child(name, parent)
        return None if el is None else (el.text or "")


def parse_request(body: bytes) -> etree._Element:
    """Parse a request body, refusing DTDs as ASMX does."""
    if b"<!DOCTYPE" in body[:4096]:
        raise bad_request("DTD is prohibited in this XML document.")
    try:
        # A fresh parser per call: lxml parsers must not be shared across threads.
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        return etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise bad_request(f"(1, 1) {exc}") from None


# --- the handlers ------------------------------------------------------------------------

Handler = Callable[[SandboxState, Account, Request], "str | None"]
HANDLERS: dict[tuple[str, str], Handler] = {}

# Environment_Get is credential discovery: it takes the plain AuthHeader (API.md).
PLAIN_AUTH = {("DebtorService", "Environment_Get")}


def handler(service: str, operation: str):
    def register(fn: Handler) -> Handler:
        HANDLERS[(service, operation)] = fn
        return fn

    return register


def _own_company(state: SandboxState, account: Account, company_id: int) -> CompanyRow:
    company = state.data.companies.get(company_id)
    if company is None or company.debtor_id not in account.debtor_ids:
        raise nmbrs_fault(2004)
    return company


def _own_employee(state: SandboxState, account: Account, employee_id: int) -> EmployeeRow:
    employee = state.employee(employee_id)
    if employee is None or state.data.companies[employee.company_id].debtor_id not in (
        account.debtor_ids
    ):
        raise nmbrs_fault(2003)
    return employee


def _own_debtor(account: Account, debtor_id: int) -> None:
    if debtor_id not in account.debtor_ids:
        raise nmbrs_fault(1003)


def _company_xml(c: CompanyRow) -> str:
    return (
        f"<Company>{_e('ID', c.id)}{_e('Number', c.number)}{_e('Name', c.name)}"
        f"<LoonaangifteTijdvak>Month</LoonaangifteTijdvak></Company>"
    )


@handler("DebtorService", "Environment_Get")
def environment_get(state, account, req):
    return _e("Domain", f"{account.domain}.nmbrs.se") + _e("SubDomain", account.domain)


@handler("DebtorService", "List_GetAll")
def debtor_list(state, account, req):
    return "".join(
        f"<Debtor>{_e('Id', d.id)}{_e('Number', d.number)}{_e('Name', d.name)}</Debtor>"
        for d in (state.data.debtors[i] for i in account.debtor_ids)
    )


@handler("DebtorService", "Department_GetList")
def department_list(state, account, req):
    debtor_id = req.int("DebtorId")
    _own_debtor(account, debtor_id)
    return "".join(
        f"<Department>{_e('Id', r.id)}{_e('Code', r.code)}{_e('Description', r.description)}"
        "</Department>"
        for r in state.data.debtors[debtor_id].departments.values()
    )


@handler("CompanyService", "List_GetAll")
def company_list(state, account, req):
    return "".join(
        _company_xml(c) for c in state.data.companies.values() if c.debtor_id in account.debtor_ids
    )


@handler("CompanyService", "List_GetByDebtor")
def company_by_debtor(state, account, req):
    debtor_id = req.int("DebtorId")
    _own_debtor(account, debtor_id)
    return "".join(
        _company_xml(c) for c in state.data.companies.values() if c.debtor_id == debtor_id
    )


@handler("CompanyService", "Company_GetCurrentPeriod")
def current_period(state, account, req):
    year, period, kind = _own_company(state, account, req.int("CompanyId")).period
    return f"{year}-{period}-{kind}"


def _wage_codes(model: dict[int, str]) -> str:
    return "".join(
        f"<WageCode>{_e('Code', code)}{_e('Description', description)}</WageCode>"
        for code, description in model.items()
    )


@handler("CompanyService", "WageModel_GetWageCodes")
def wage_model(state, account, req):
    return _wage_codes(_own_company(state, account, req.int("CompanyId")).wage_model)


@handler("CompanyService", "WageModel2_GetWageCodes")
def wage_model2(state, account, req):
    return _wage_codes(_own_company(state, account, req.int("CompanyId")).wage_model2)


@handler("CompanyService", "CostCenter_GetList")
def cost_center_list(state, account, req):
    company = _own_company(state, account, req.int("CompanyId"))
    return "".join(
        f"<CostCenter>{_e('Code', r.code)}{_e('Description', r.description)}{_e('Id', r.id)}"
        "</CostCenter>"
        for r in company.cost_centers.values()
    )


@handler("CompanyService", "CostUnit_GetList")
def cost_unit_list(state, account, req):
    company = _own_company(state, account, req.int("CompanyId"))
    return "".join(
        f"<CostUnit>{_e('Id', r.id)}{_e('Code', r.code)}{_e('Description', r.description)}"
        "</CostUnit>"
        for r in company.cost_units.values()
    )


@handler("EmployeeService", "EmployeeType_GetList")
def employee_type_list(state, account, req):
    return "".join(
        f"<EmployeeType>{_e('Id', i)}{_e('Description', d)}</EmployeeType>"
        for i, d in state.data.employee_types
    )


@handler("EmployeeService", "List_GetByCompany")
def employee_list(state, account, req):
    company = _own_company(state, account, req.int("CompanyId"))
    # v3 takes EmployeeType; a v2.1-style request with "active" has no EmployeeType and fails.
    employee_type = req.int("EmployeeType")
    return "".join(
        f"<Employee>{_e('Id', e.id)}{_e('Number', e.number)}{_e('DisplayName', e.name)}</Employee>"
        for e in company.employees.values()
        if e.type_id == employee_type
    )


def _check_period(company: CompanyRow, year: int, period: int, unprotected: bool) -> None:
    _, _, kind = company.period
    last = {"M": 12, "4W": 13, "W": 53}.get(kind, 12)
    if not (2000 <= year <= 2100 and 1 <= period <= last):
        raise nmbrs_fault(2006)
    if (year, period) in company.declared:
        raise nmbrs_fault(2012)
    if (year, period) < company.period[:2] and not unprotected:
        raise nmbrs_fault(2011)


def _read_component(
    state: SandboxState, account: Account, req: Request, el, employee_id: int, period_args
) -> dict:
    employee = _own_employee(state, account, employee_id)
    company = state.data.companies[employee.company_id]
    year, period, unprotected = period_args
    _check_period(company, year, period, unprotected)
    code = req.int("Code", el)
    value = req.decimal("Value", el)
    cost_center_id = req.int("CostCenterId", el, nillable=True)
    cost_unit_id = req.int("CostUnitId", el, nillable=True)
    if code not in company.wage_codes():
        raise nmbrs_fault(2002)
    if cost_center_id is not None and cost_center_id not in company.cost_centers:
        raise nmbrs_fault(2037)
    if cost_unit_id is not None and cost_unit_id not in company.cost_units:
        # Nmbrs documents no code for an unknown cost unit; 9999 is its catch-all.
        raise nmbrs_fault(9999)
    return {
        "employee_id": employee_id,
        "code": code,
        "value": value,
        "year": year,
        "period": period,
        "cost_center_id": cost_center_id,
        "cost_unit_id": cost_unit_id,
        "comment": req.str("Comment", el),
    }


def _period_args(req: Request) -> tuple[int, int, bool]:
    return req.int("Year"), req.int("Period"), req.bool("UnprotectedMode")


@handler("EmployeeService", "WageComponentVar_Insert")
def component_insert(state, account, req):
    el = req.child("WageComponent")
    if el is None:
        raise bad_request("<WageComponent> is missing.")
    fields = _read_component(state, account, req, el, req.int("EmployeeId"), _period_args(req))
    return str(state.store_component(**fields))


@handler("EmployeeService", "WageComponentVar_Insert_Batch")
def component_insert_batch(state, account, req):
    args = _period_args(req)
    container = req.child("WageComponents")
    items = [] if container is None else container.findall(f"{{{req.ns}}}EmployeeWageComponent")
    # All or nothing: validate every line before storing any.
    rows = [
        _read_component(state, account, req, el, req.int("EmployeeId", el), args) for el in items
    ]
    for fields in rows:
        state.store_component(**fields)
    return None


@handler("EmployeeService", "WageComponentVar_Get")
def component_get(state, account, req):
    employee_id = req.int("EmployeeId")
    _own_employee(state, account, employee_id)
    year, period = req.int("Year"), req.int("Period")
    return "".join(
        f"<WageComponent>{_e('Id', c.id)}{_e('Code', c.code)}{_e('Value', format(c.value, 'f'))}"
        "</WageComponent>"
        for c in state.employee_components(employee_id)
        if c.year == year and c.period == period
    )


@handler("EmployeeService", "WageComponent_Delete")
def component_delete(state, account, req):
    employee_id = req.int("EmployeeId")
    _own_employee(state, account, employee_id)
    component_id = req.int("WageComponentID")
    row = state.stored.get(component_id)
    if row is None or row.employee_id != employee_id:
        return "false"
    del state.stored[component_id]
    return "true"


# --- one call end to end -----------------------------------------------------------------


def operation_from_action(service: str, soap_action: str | None) -> str | None:
    """The operation named by a SOAPAction header, if it is one this service has."""
    action = (soap_action or "").strip().strip('"')
    prefix = f"{NS_PREFIX}{service}/"
    if not action.startswith(prefix):
        return None
    operation = action[len(prefix) :]
    return operation if (service, operation) in HANDLERS else None


def handle(state: SandboxState, service: str, soap_action: str | None, body: bytes) -> bytes:
    """Answer one SOAP call; raises ``Fault`` for every failure Nmbrs would report."""
    operation = operation_from_action(service, soap_action)
    if operation is None:
        raise NO_ACTION
    ns = NS_PREFIX + service
    root = parse_request(body)
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise Fault(
            "Possible SOAP version mismatch: Envelope namespace was unexpected.",
            "soap:VersionMismatch",
        )
    soap_body = root.find(f"{{{SOAP_NS}}}Body")
    payload = (
        None if soap_body is None else next((c for c in soap_body if isinstance(c.tag, str)), None)
    )
    if payload is None or payload.tag != f"{{{ns}}}{operation}":
        found = payload.tag if payload is not None else "nothing"
        raise bad_request(f"<{operation} xmlns='{ns}'> was expected, found {found}.")
    header_name = "AuthHeader" if (service, operation) in PLAIN_AUTH else "AuthHeaderWithDomain"
    header = root.find(f"{{{SOAP_NS}}}Header/{{{ns}}}{header_name}")
    if header is None:
        raise nmbrs_fault(1001)
    auth = Request(header, ns)
    with state.lock:
        account = state.authenticate(
            auth.str("Username") or "",
            auth.str("Token") or "",
            auth.str("Domain") if header_name == "AuthHeaderWithDomain" else None,
        )
        if account is None:
            raise nmbrs_fault(1001)
        inner = HANDLERS[(service, operation)](state, account, Request(payload, ns))
        return result_body(service, operation, inner)

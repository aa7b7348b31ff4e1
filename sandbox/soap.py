"""The sandbox's SOAP face: read a request as Nmbrs' SOAP API v3 does, answer as it does.

Built from ``API.md`` and the published WSDLs (v2.1 element names, v3 namespaces and header),
never from what Brygga's client happens to send. Replies mimic ASP.NET ASMX: UTF-8 XML with
``soap``/``xsi``/``xsd`` prefixes, optional elements omitted, faults as HTTP 500. What Nmbrs
refuses is decided in ``rules.py`` (shared with the REST face) and said here as a fault.

Nmbrs retires SOAP on 1 March 2027: deleting this file removes the SOAP face and nothing else
(``app.py`` serves without it).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree
from werkzeug.wrappers import Request as HttpRequest
from werkzeug.wrappers import Response

from .data import Account, CompanyRow
from .rules import Reason, Refusal, check_component, own_company, own_debtor, own_employee
from .state import Failure, SandboxState

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

# How the SOAP face says each refusal of the shared rules: Nmbrs' documented code.
REFUSAL_CODES: dict[Reason, int] = {
    Reason.DEBTOR_FORBIDDEN: 1003,
    Reason.COMPANY_UNKNOWN: 2004,
    Reason.COMPANY_FORBIDDEN: 2004,
    Reason.EMPLOYEE_UNKNOWN: 2003,
    Reason.EMPLOYEE_FORBIDDEN: 2003,
    Reason.PERIOD_INVALID: 2006,
    Reason.PERIOD_PROTECTED: 2011,
    Reason.PERIOD_DECLARED: 2012,
    Reason.WAGE_CODE_UNKNOWN: 2002,
    Reason.COST_CENTER_UNKNOWN: 2037,
    # Nmbrs documents no code for an unknown cost unit; 9999 is its catch-all.
    Reason.COST_UNIT_UNKNOWN: 9999,
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
    debtor_id = own_debtor(account, req.int("DebtorId"))
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
    debtor_id = own_debtor(account, req.int("DebtorId"))
    return "".join(
        _company_xml(c) for c in state.data.companies.values() if c.debtor_id == debtor_id
    )


@handler("CompanyService", "Company_GetCurrentPeriod")
def current_period(state, account, req):
    year, period, kind = own_company(state, account, req.int("CompanyId")).period
    return f"{year}-{period}-{kind}"


def _wage_codes(model: dict[int, str]) -> str:
    return "".join(
        f"<WageCode>{_e('Code', code)}{_e('Description', description)}</WageCode>"
        for code, description in model.items()
    )


@handler("CompanyService", "WageModel_GetWageCodes")
def wage_model(state, account, req):
    return _wage_codes(own_company(state, account, req.int("CompanyId")).wage_model)


@handler("CompanyService", "WageModel2_GetWageCodes")
def wage_model2(state, account, req):
    return _wage_codes(own_company(state, account, req.int("CompanyId")).wage_model2)


@handler("CompanyService", "CostCenter_GetList")
def cost_center_list(state, account, req):
    company = own_company(state, account, req.int("CompanyId"))
    return "".join(
        f"<CostCenter>{_e('Code', r.code)}{_e('Description', r.description)}{_e('Id', r.id)}"
        "</CostCenter>"
        for r in company.cost_centers.values()
    )


@handler("CompanyService", "CostUnit_GetList")
def cost_unit_list(state, account, req):
    company = own_company(state, account, req.int("CompanyId"))
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
    company = own_company(state, account, req.int("CompanyId"))
    # v3 takes EmployeeType; a v2.1-style request with "active" has no EmployeeType and fails.
    employee_type = req.int("EmployeeType")
    return "".join(
        f"<Employee>{_e('Id', e.id)}{_e('Number', e.number)}{_e('DisplayName', e.name)}</Employee>"
        for e in company.employees.values()
        if e.type_id == employee_type
    )


def _read_component(
    state: SandboxState,
    account: Account,
    req: Request,
    el: etree._Element,
    employee_id: int | None,
    period_args: tuple[int, int, bool],
) -> dict[str, Any]:
    employee = own_employee(state, account, employee_id)
    company = state.data.companies[employee.company_id]
    year, period, unprotected = period_args
    # ASMX reads the whole body before the method runs: malformed values fail first.
    code = req.int("Code", el)
    value = req.decimal("Value", el)
    cost_center_id = req.int("CostCenterId", el, nillable=True)
    cost_unit_id = req.int("CostUnitId", el, nillable=True)
    assert code is not None  # not nillable: req.int raised
    check_component(
        company,
        year=year,
        period=period,
        unprotected=unprotected,
        code=code,
        cost_center_id=cost_center_id,
        cost_unit_id=cost_unit_id,
    )
    return {
        "employee_id": employee.id,
        "code": code,
        "value": value,
        "year": year,
        "period": period,
        "cost_center_id": cost_center_id,
        "cost_unit_id": cost_unit_id,
        "comment": req.str("Comment", el),
    }


def _period_args(req: Request) -> tuple[int, int, bool]:
    year, period = req.int("Year"), req.int("Period")
    assert year is not None and period is not None  # not nillable: req.int raised
    return year, period, req.bool("UnprotectedMode")


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
    own_employee(state, account, employee_id)
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
    own_employee(state, account, employee_id)
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
        try:
            inner = HANDLERS[(service, operation)](state, account, Request(payload, ns))
        except Refusal as refusal:
            raise nmbrs_fault(REFUSAL_CODES[refusal.reason]) from None
        return result_body(service, operation, inner)


# --- over HTTP, and the ways a broken Nmbrs answers ------------------------------------------

SERVICE_PATH = re.compile(r"^/soap/v3/(\w+)\.asmx$")
_XML = "text/xml; charset=utf-8"

_HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>{status}</title></head><body><h1>{status}</h1>"
    "<p>The server is temporarily unable to service your request. Please try again later.</p>"
    "</body></html>"
)

_ENVELOPE_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
    'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
)

_XXE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    '<{op}Response xmlns="https://api.nmbrs.nl/soap/v3/{service}"><{op}Result>&xxe;'
    "</{op}Result></{op}Response></soap:Body></soap:Envelope>"
)


def _billion_laughs(service: str, op: str) -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<!DOCTYPE soap:Envelope [{''.join(entities)}]>"
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<{op}Response xmlns="https://api.nmbrs.nl/soap/v3/{service}"><{op}Result>&lol9;'
        f"</{op}Result></{op}Response></soap:Body></soap:Envelope>"
    )


def serve(state: SandboxState, request: HttpRequest, wait_latency: Callable[[], None]) -> Response:
    """Answer one HTTP request to ``/soap/v3/{Service}.asmx``, with the failures set."""
    match = SERVICE_PATH.match(request.path)
    if not match or match.group(1) not in SERVICES:
        return Response("Not Found", status=404, content_type="text/html")
    service = match.group(1)
    if request.method != "POST":
        return Response(
            "The sandbox does not serve WSDLs; see shared/nmbrs/wsdl.",
            status=405 if "wsdl" not in request.query_string.decode().lower() else 404,
            content_type="text/plain",
        )
    if request.mimetype not in ("text/xml", "application/soap+xml"):
        return Response("Unsupported Media Type", status=415, content_type="text/plain")
    body = request.get_data(cache=False)
    wait_latency()
    soap_action = request.headers.get("SOAPAction")
    operation = operation_from_action(service, soap_action) or ""
    failure = state.pick_failure(operation)
    if failure is not None and not failure.after:
        return fail(state, failure, service, operation or "List_GetAll", request)
    try:
        response = Response(handle(state, service, soap_action, body), content_type=_XML)
    except Fault as fault:
        response = Response(fault_body(fault), status=500, content_type=_XML)
    if failure is not None:  # carried out; now the answer is lost on the way back
        return fail(state, failure, service, operation or "List_GetAll", request)
    return response


def fail(
    state: SandboxState, failure: Failure, service: str, op: str, request: HttpRequest
) -> Response:
    """Answer the way a broken Nmbrs or its load balancer would."""
    mode = failure.mode
    if mode == "fault":
        return Response(fault_body(nmbrs_fault(failure.code)), status=500, content_type=_XML)
    if mode in ("html503", "html502"):
        status = "503 Service Unavailable" if mode == "html503" else "502 Bad Gateway"
        return Response(_HTML_PAGE.format(status=status), status=status, content_type="text/html")
    if mode == "drop":
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        return Response(b"", status=200)
    if mode == "malformed":
        return Response(
            _ENVELOPE_HEAD + f"<{op}Response><{op}Result><Item><Id>1</I", content_type=_XML
        )
    if mode == "unexpected":
        return Response('<?xml version="1.0"?><status>maintenance</status>', content_type=_XML)
    if mode == "xxe":
        return Response(_XXE.format(op=op, service=service), content_type=_XML)
    if mode == "billion_laughs":
        return Response(_billion_laughs(service, op), content_type=_XML)
    if mode == "stall":
        return Response(_stall(state), content_type=_XML)
    if mode == "endless":
        return Response(_endless(state, op), content_type=_XML)
    raise AssertionError(mode)  # pragma: no cover - set_failure validates modes


def _stall(state: SandboxState) -> Iterator[bytes]:
    yield _ENVELOPE_HEAD.encode()
    state.hold(state.stall_seconds)


def _endless(state: SandboxState, op: str) -> Iterator[bytes]:
    yield (_ENVELOPE_HEAD + f"<{op}Response><{op}Result>").encode()
    deadline = time.monotonic() + 600
    # Small pieces often enough that no read timeout ever fires.
    while time.monotonic() < deadline and state.hold(0.02):
        yield b"<Item><Id>1</Id></Item>" * 4

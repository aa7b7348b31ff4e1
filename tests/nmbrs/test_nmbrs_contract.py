"""Contract: what the client sends, and what the sandbox answers, fits the published WSDLs
(rewritten to v3 as API.md describes); the recorded Nmbrs replies parse into the right objects."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
import requests
from lxml import etree
from requests.adapters import HTTPAdapter

from webapp.nmbrs import (
    Company,
    Employee,
    NewWageComponent,
    NmbrsClient,
    NmbrsProtocolError,
    RetryPolicy,
    SoapTransport,
)
from webapp.nmbrs.soap import parsing

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


class RecordingAdapter(HTTPAdapter):
    """A real HTTP adapter that keeps every request it sends."""

    def __init__(self):
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        return super().send(request, **kwargs)


@pytest.fixture
def recorded(sandbox, v3_schemas):
    """A demo client whose every request is recorded, after running every operation once."""
    from sandbox.data import DEMO_DOMAIN, DEMO_TOKEN, DEMO_USERNAME
    from webapp.nmbrs import Credentials

    adapter = RecordingAdapter()
    session = requests.Session()
    session.mount("http://", adapter)
    client = NmbrsClient(
        Credentials(DEMO_USERNAME, DEMO_TOKEN, DEMO_DOMAIN),
        environment="sandbox",
        base_url=sandbox.url,
        transport=SoapTransport(sandbox.url, session=session, retry=RetryPolicy(attempts=1)),
    )
    client.verify()
    debtor = client.debtors()[0]
    company = client.companies()[0]
    client.companies(debtor.id)
    client.current_period(company.id)
    client.wage_types(company.id)
    cost_center = client.cost_centers(company.id)[0]
    cost_unit = client.cost_units(company.id)[0]
    client.departments(debtor.id)
    client.employee_types()
    first, second = client.employees(company.id, 1)[:2]
    new_id = client.insert_wage_component(
        first.id,
        5100,
        Decimal("1234.50"),
        year=2026,
        period=11,
        cost_center_id=cost_center.id,
        cost_unit_id=cost_unit.id,
        comment="Resa Kungälv–Göteborg",
    )
    client.insert_wage_component(first.id, 5500, Decimal("99"), year=2026, period=11)
    client.insert_wage_components(
        [
            NewWageComponent(first.id, 5200, Decimal("290.00"), cost_center.id),
            NewWageComponent(second.id, 5400, Decimal("-58.00"), comment="Frukost ingick"),
        ],
        year=2026,
        period=11,
    )
    client.wage_components(first.id, year=2026, period=11)
    client.delete_wage_component(first.id, new_id)
    return adapter.sent


def _operation(request: requests.PreparedRequest) -> tuple[str, str]:
    action = request.headers["SOAPAction"]
    assert action.startswith('"') and action.endswith('"'), "SOAPAction must be quoted"
    prefix = "https://api.nmbrs.nl/soap/v3/"
    service, operation = action.strip('"')[len(prefix) :].split("/")
    return service, operation


def _validate(schema: etree.XMLSchema, element: etree._Element) -> None:
    doc = etree.ElementTree(copy.deepcopy(element))
    if not schema.validate(doc):
        raise AssertionError(f"{element.tag}: {schema.error_log}")


def test_every_operation_was_exercised(recorded):
    operations = {_operation(r) for r in recorded}
    assert operations == {
        ("DebtorService", "Environment_Get"),
        ("DebtorService", "List_GetAll"),
        ("DebtorService", "Department_GetList"),
        ("CompanyService", "List_GetAll"),
        ("CompanyService", "List_GetByDebtor"),
        ("CompanyService", "Company_GetCurrentPeriod"),
        ("CompanyService", "WageModel_GetWageCodes"),
        ("CompanyService", "WageModel2_GetWageCodes"),
        ("CompanyService", "CostCenter_GetList"),
        ("CompanyService", "CostUnit_GetList"),
        ("EmployeeService", "EmployeeType_GetList"),
        ("EmployeeService", "List_GetByCompany"),
        ("EmployeeService", "WageComponentVar_Insert"),
        ("EmployeeService", "WageComponentVar_Insert_Batch"),
        ("EmployeeService", "WageComponentVar_Get"),
        ("EmployeeService", "WageComponent_Delete"),
    }


def test_every_request_matches_the_wsdl(recorded, v3_schemas, sandbox):
    for request in recorded:
        service, operation = _operation(request)
        ns = f"https://api.nmbrs.nl/soap/v3/{service}"
        assert request.url == f"{sandbox.url}/soap/v3/{service}.asmx"
        assert request.headers["Content-Type"] == "text/xml; charset=utf-8"
        envelope = etree.fromstring(request.body)
        assert envelope.tag == f"{{{SOAP}}}Envelope"
        header, body = list(envelope)
        assert header.tag == f"{{{SOAP}}}Header" and body.tag == f"{{{SOAP}}}Body"
        (auth,) = list(header)
        (payload,) = list(body)
        expected_header = "AuthHeader" if operation == "Environment_Get" else "AuthHeaderWithDomain"
        assert auth.tag == f"{{{ns}}}{expected_header}"
        assert payload.tag == f"{{{ns}}}{operation}"
        _validate(v3_schemas[service], auth)
        _validate(v3_schemas[service], payload)


def test_amounts_and_missing_cost_centers_are_sent_as_the_wsdl_types_say(recorded):
    inserts = [r for r in recorded if _operation(r)[1] == "WageComponentVar_Insert"]
    first, second = (etree.fromstring(r.body) for r in inserts)
    ns = {"e": "https://api.nmbrs.nl/soap/v3/EmployeeService"}
    assert first.findtext(".//e:Value", namespaces=ns) == "1234.50"
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    assert second.find(".//e:CostCenterId", ns).get(nil) == "true"
    assert second.find(".//e:CostUnitId", ns).get(nil) == "true"
    assert second.findtext(".//e:UnprotectedMode", namespaces=ns) == "false"


def test_the_schema_check_rejects_a_v21_style_request(v3_schemas):
    # Proof that the validation has teeth: v2.1's "active" is not v3's EmployeeType.
    ns = "https://api.nmbrs.nl/soap/v3/EmployeeService"
    old = etree.fromstring(
        f'<List_GetByCompany xmlns="{ns}"><CompanyId>1</CompanyId><active>all</active>'
        "</List_GetByCompany>"
    )
    with pytest.raises(AssertionError):
        _validate(v3_schemas["EmployeeService"], old)
    swapped = etree.fromstring(
        f'<WageComponentVar_Get xmlns="{ns}"><Period>11</Period><EmployeeId>1</EmployeeId>'
        "<Year>2026</Year></WageComponentVar_Get>"
    )
    with pytest.raises(AssertionError):
        _validate(v3_schemas["EmployeeService"], swapped)


def test_sandbox_replies_match_the_wsdl(recorded, v3_schemas, sandbox):
    sandbox.state.reset()
    for request in recorded:
        service, operation = _operation(request)
        reply = requests.post(request.url, data=request.body, headers=dict(request.headers))
        envelope = etree.fromstring(reply.content)
        (payload,) = list(envelope.find(f"{{{SOAP}}}Body"))
        if payload.tag == f"{{{SOAP}}}Fault":
            # Replaying after reset: the deleted component id no longer exists, etc. Faults
            # must still be real-format faults.
            assert reply.status_code == 500
            assert payload.findtext("faultcode") in ("soap:Server", "soap:Client")
            continue
        assert reply.status_code == 200, (operation, reply.content[:300])
        assert payload.tag == f"{{https://api.nmbrs.nl/soap/v3/{service}}}{operation}Response"
        _validate(v3_schemas[service], payload)


def _recorded_as_v3(path) -> bytes:
    # The recordings are v2.1; v3 differs in the namespace only (API.md).
    return path.read_bytes().replace(b"/soap/v2.1/", b"/soap/v3/")


def test_recorded_company_list_parses(wsdl_dir):
    content = _recorded_as_v3(wsdl_dir / "ListGetAll.xml")
    result = parsing.read_result(content, 200, "text/xml", "CompanyService", "List_GetAll")
    assert parsing.companies(result) == [Company(54613, 444445, "DEMO B.V. 2", "Month")]


def test_recorded_employee_list_parses(wsdl_dir):
    content = _recorded_as_v3(wsdl_dir / "ListGetByCompany.xml")
    result = parsing.read_result(content, 200, "text/xml", "EmployeeService", "List_GetByCompany")
    assert parsing.employees(result) == [
        Employee(503293, 1, "Jan de Vries"),
        Employee(503294, 2, "Anton de Jong"),
    ]


def test_a_reply_in_another_api_version_is_refused(wsdl_dir):
    content = (wsdl_dir / "ListGetAll.xml").read_bytes()  # still v2.1
    with pytest.raises(NmbrsProtocolError):
        parsing.read_result(content, 200, "text/xml", "CompanyService", "List_GetAll")

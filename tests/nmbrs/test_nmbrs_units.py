"""Small pieces a payroll admin feels indirectly: amounts, periods, error texts, parsing edges."""

from __future__ import annotations

import gc
from decimal import Decimal

import pytest

from webapp.nmbrs import (
    CostCenter,
    Credentials,
    Employee,
    NmbrsAuthError,
    NmbrsError,
    NmbrsPermissionError,
    NmbrsProtocolError,
    NmbrsUnavailable,
    NmbrsValidationError,
    PayrollPeriod,
)
from webapp.nmbrs.soap import parsing
from webapp.nmbrs.soap.envelope import build_envelope, format_value
from webapp.nmbrs.soap.faults import error_from_fault


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1234.50"), "1234.50"),
        (Decimal("-58"), "-58"),
        (Decimal("1E+3"), "1000"),
        (True, "true"),
        (7, "7"),
        ("Resa <Göteborg> & tillbaka\x01", "Resa &lt;Göteborg&gt; &amp; tillbaka"),
    ],
)
def test_values_are_written_as_xml_schema_text(value, text):
    assert format_value(value) == text


def test_floats_and_nan_are_refused():
    with pytest.raises(TypeError):
        format_value(0.1)
    with pytest.raises(ValueError):
        format_value(Decimal("NaN"))


def test_envelope_leaves_out_an_unknown_domain():
    body = build_envelope("CompanyService", "List_GetAll", Credentials("a@b.se", "t"))
    assert b"<Domain>" not in body and b"<Username>a@b.se</Username>" in body


def test_periods_parse_and_order():
    assert PayrollPeriod.parse("2026-11-M") == PayrollPeriod(2026, 11, "M")
    assert PayrollPeriod.parse("2026-3-4W").kind == "4W"
    assert PayrollPeriod(2026, 10) < PayrollPeriod(2026, 11) < PayrollPeriod(2027, 1)
    with pytest.raises(ValueError):
        PayrollPeriod.parse("november")


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (1001, NmbrsAuthError),
        (1002, NmbrsPermissionError),
        (1003, NmbrsPermissionError),
        (1004, NmbrsPermissionError),
        (2003, NmbrsPermissionError),
        (2004, NmbrsPermissionError),
        (2002, NmbrsValidationError),
        (2006, NmbrsValidationError),
        (2011, NmbrsValidationError),
        (2012, NmbrsValidationError),
        (2037, NmbrsValidationError),
        (2038, NmbrsValidationError),
        (2099, NmbrsValidationError),
        (9999, NmbrsError),
    ],
)
def test_fault_codes_map_to_typed_errors_with_swedish_text(code, cls):
    error = error_from_fault(
        "soap:Server",
        f"System.Web.Services.Protocols.SoapException: Server was unable to process request. "
        f"---> {code}: Something",
    )
    assert type(error) is cls
    assert error.code == code
    assert error.message.startswith(f"{code}:")
    assert error.user_message and "Nmbrs" in error.user_message


def test_soap_client_fault_without_code_is_a_protocol_error():
    error = error_from_fault("soap:Client", "Unable to handle request without a valid action")
    assert isinstance(error, NmbrsProtocolError)


def test_credentials_repr_hides_the_token():
    creds = Credentials("lon@demo.se", "hemlig-token-123", "demo")
    assert "hemlig" not in repr(creds) and "hemlig" not in str(creds)


def _reply(ns_service: str, op: str, inner: str) -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body>'
        f'<{op}Response xmlns="https://api.nmbrs.nl/soap/v3/{ns_service}"><{op}Result>{inner}'
        f"</{op}Result></{op}Response></soap:Body></soap:Envelope>"
    ).encode()


def test_omitted_optional_fields_and_nil_items_are_read():
    content = _reply(
        "CompanyService",
        "CostCenter_GetList",
        '<CostCenter><Code>100</Code><Id>5</Id></CostCenter><CostCenter xsi:nil="true" />'
        '<CostCenter><Description>Utan kod</Description><Id xsi:nil="true" /></CostCenter>',
    )
    result = parsing.read_result(content, 200, "text/xml", "CompanyService", "CostCenter_GetList")
    assert parsing.cost_centers(result) == [
        CostCenter(5, "100", None),
        CostCenter(None, None, "Utan kod"),
    ]


def test_an_employee_list_with_an_unexpected_field_still_parses():
    content = _reply(
        "EmployeeService",
        "List_GetByCompany",
        "<Employee><Id>1</Id><Number>7</Number><DisplayName>Åsa Ek</DisplayName></Employee>"
        "<Employee><Id>2</Id><Number>8</Number><Email>x@y.se</Email></Employee>",
    )
    result = parsing.read_result(content, 200, "text/xml", "EmployeeService", "List_GetByCompany")
    assert parsing.employees(result) == [Employee(1, 7, "Åsa Ek"), Employee(2, 8, None)]


def _result(service: str, op: str, inner: str):
    return parsing.read_result(_reply(service, op, inner), 200, "text/xml", service, op)


def test_list_fields_are_read_by_name_whatever_their_order():
    result = _result(
        "CompanyService",
        "CostCenter_GetList",
        "<CostCenter><Id>5</Id><Description>Ledning</Description><Code>100</Code></CostCenter>"
        "<CostCenter><Code>200</Code><Id>6</Id><Description>Lager</Description></CostCenter>",
    )
    assert parsing.cost_centers(result) == [
        CostCenter(5, "100", "Ledning"),
        CostCenter(6, "200", "Lager"),
    ]


def test_an_item_with_an_empty_field_keeps_the_others_in_place():
    result = _result(
        "EmployeeService",
        "List_GetByCompany",
        "<Employee><Id>1</Id><Number></Number><DisplayName>Åsa Ek</DisplayName></Employee>"
        "<Employee><Id>2</Id><Number>8</Number><DisplayName>Bo Ek</DisplayName></Employee>"
        "<Employee><Id>3</Id><Number>9</Number><DisplayName>Cia Ek</DisplayName>"
        "<DisplayName>Extra</DisplayName></Employee>",
    )
    assert parsing.employees(result) == [
        Employee(1, None, "Åsa Ek"),
        Employee(2, 8, "Bo Ek"),
        Employee(3, 9, "Extra"),
    ]


def test_a_garbled_item_is_a_protocol_error():
    content = _reply(
        "EmployeeService",
        "List_GetByCompany",
        "<Employee><Id>ett</Id><Number>7</Number><DisplayName>Åsa</DisplayName></Employee>",
    )
    result = parsing.read_result(content, 200, "text/xml", "EmployeeService", "List_GetByCompany")
    with pytest.raises(NmbrsProtocolError):
        parsing.employees(result)


def test_reading_a_list_leaves_the_garbage_collector_as_it_was():
    # Lists are built with the collector paused: a worker left without it would grow forever.
    def employees(items: str) -> list:
        content = _reply("EmployeeService", "List_GetByCompany", items)
        result = parsing.read_result(
            content, 200, "text/xml", "EmployeeService", "List_GetByCompany"
        )
        return parsing.employees(result)

    good = "<Employee><Id>1</Id><Number>7</Number><DisplayName>Åsa</DisplayName></Employee>"
    garbled = good.replace("<Id>1</Id>", "<Id>ett</Id>")
    assert gc.isenabled()
    assert employees(good * 3) == [Employee(1, 7, "Åsa")] * 3
    assert gc.isenabled()
    with pytest.raises(NmbrsProtocolError):
        employees(garbled)
    assert gc.isenabled()
    gc.disable()
    try:
        employees(good)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("status", "content_type", "body", "error"),
    [
        (503, "text/html", b"<html><body>Service Unavailable</body></html>", NmbrsUnavailable),
        (502, "text/plain", b"", NmbrsUnavailable),
        (200, "text/html", b"<!DOCTYPE html><html>Logga in</html>", NmbrsProtocolError),
        (200, "text/xml", b"not xml at all", NmbrsProtocolError),
        (404, "text/xml", b"<x/>", NmbrsProtocolError),
    ],
)
def test_non_soap_replies_get_the_right_error(status, content_type, body, error):
    with pytest.raises(error):
        parsing.read_result(body, status, content_type, "CompanyService", "List_GetAll")

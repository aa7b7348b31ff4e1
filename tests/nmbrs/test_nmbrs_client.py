"""The client against the sandbox over real HTTP: every operation, writes, and every Nmbrs error
a payroll admin can run into."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from sandbox.data import OTHER_DOMAIN, OTHER_TOKEN, OTHER_USERNAME
from tests.support import PATIENCE_SECONDS
from webapp.nmbrs import (
    Credentials,
    NewWageComponent,
    NmbrsAuthError,
    NmbrsError,
    NmbrsPermissionError,
    NmbrsProtocolError,
    NmbrsValidationError,
    PayrollPeriod,
    resolve_base_url,
)


@pytest.fixture
def demo(nmbrs):
    """Ids a payroll admin would pick in the demo account."""
    debtor = nmbrs.debtors()[0]
    company = nmbrs.companies(debtor.id)[0]
    return {
        "debtor": debtor,
        "company": company,
        "employee": nmbrs.employees(company.id, 1)[0],
        "cost_center": nmbrs.cost_centers(company.id)[0],
    }


def test_verify_tells_the_domain(nmbrs):
    env = nmbrs.verify()
    assert env.subdomain == "demo"
    assert env.domain == "demo.nmbrs.se"


def test_demo_account_looks_like_a_swedish_customer(nmbrs):
    (debtor,) = nmbrs.debtors()
    companies = nmbrs.companies()
    assert [c.name for c in companies] == ["Fjällviks Bygg AB", "Fjällviks Service AB"]
    assert nmbrs.companies(debtor.id) == companies
    employees = [e for c in companies for e in nmbrs.employees(c.id)]
    assert 35 <= len(employees) <= 45
    assert len({e.id for e in employees}) == len(employees)
    assert all(e.display_name and e.number > 0 for e in employees)
    descriptions = {w.description for w in nmbrs.wage_types(companies[0].id)}
    for wanted in (
        "Milersättning egen bil skattefri",
        "Milersättning egen bil skattepliktig",
        "Traktamente inrikes heldag skattefri",
        "Traktamente inrikes halvdag skattefri",
        "Traktamente inrikes nattschablon skattefri",
        "Traktamente endagsförrättning skattepliktig",
        "Måltidsavdrag lunch",
        "Utlägg",
    ):
        assert wanted in descriptions
    assert {d.description for d in nmbrs.departments(debtor.id)} >= {"Administration"}
    assert [t.description for t in nmbrs.employee_types()][0] == "Tjänsteman"
    assert nmbrs.cost_units(companies[0].id)[0].code == "P-1001"


def test_current_period_is_parsed(nmbrs, demo):
    period = nmbrs.current_period(demo["company"].id)
    assert period == PayrollPeriod(2026, 11, "M")
    assert str(period) == "2026-11-M"


def test_wage_types_of_both_models_are_merged_without_duplicates(nmbrs, demo, sandbox):
    company_id = demo["company"].id
    sandbox.state.add_wage_type(company_id, 8800, "Friskvårdsbidrag", model=2)
    wage_types = nmbrs.wage_types(company_id)
    codes = [w.code for w in wage_types]
    assert len(codes) == len(set(codes))
    assert 8800 in codes and 1000 in codes
    assert len(codes) == len(sandbox.state.company(company_id).wage_codes())


def test_employees_of_all_types_when_no_type_is_given(nmbrs, demo, sandbox):
    company_id = demo["company"].id
    everyone = nmbrs.employees(company_id)
    assert len(everyone) == len(sandbox.state.company(company_id).employees)
    by_type = sum(len(nmbrs.employees(company_id, t.id)) for t in nmbrs.employee_types())
    assert by_type == len(everyone)


def test_sent_amount_is_stored_and_can_be_read_back_and_undone(nmbrs, demo):
    employee = demo["employee"]
    new_id = nmbrs.insert_wage_component(
        employee.id,
        5100,
        Decimal("1234.50"),
        year=2026,
        period=11,
        cost_center_id=demo["cost_center"].id,
        comment="Resa till Göteborg",
    )
    assert isinstance(new_id, int) and new_id > 0
    (stored,) = nmbrs.wage_components(employee.id, year=2026, period=11)
    assert (stored.id, stored.code, stored.value) == (new_id, 5100, Decimal("1234.50"))
    assert nmbrs.wage_components(employee.id, year=2026, period=12) == []
    assert nmbrs.delete_wage_component(employee.id, new_id) is True
    assert nmbrs.wage_components(employee.id, year=2026, period=11) == []
    assert nmbrs.delete_wage_component(employee.id, new_id) is False


def test_batch_insert_stores_every_line(nmbrs, demo, sandbox):
    company_id = demo["company"].id
    first, second = nmbrs.employees(company_id, 1)[:2]
    nmbrs.insert_wage_components(
        [
            NewWageComponent(first.id, 5200, Decimal("290")),
            NewWageComponent(first.id, 5420, Decimal("-116.00")),
            NewWageComponent(second.id, 5500, Decimal("349.90"), comment="Parkering"),
        ],
        year=2026,
        period=11,
    )
    assert {(c.code, c.value) for c in nmbrs.wage_components(first.id, year=2026, period=11)} == {
        (5200, Decimal("290")),
        (5420, Decimal("-116.00")),
    }
    assert sandbox.state.components(second.id)[0]["comment"] == "Parkering"


def test_a_prepared_batch_reaches_nmbrs_only_when_it_is_sent(nmbrs, demo, sandbox):
    """A transfer builds its next batch while the one before is on the wire: built, nothing has
    reached Nmbrs (a float amount is refused right there); sent, it is stored as the plain
    batch call stores it."""
    employee = demo["employee"]
    with pytest.raises(TypeError):
        nmbrs.prepared_insert([NewWageComponent(employee.id, 5200, 2.5)], year=2026, period=11)
    send = nmbrs.prepared_insert(
        [NewWageComponent(employee.id, 5200, Decimal("290"), comment="Resa")],
        year=2026,
        period=11,
    )
    assert sandbox.state.components() == []
    assert send() is None  # SOAP's batch call returns no ids
    (stored,) = nmbrs.wage_components(employee.id, year=2026, period=11)
    assert (stored.code, stored.value) == (5200, Decimal("290"))
    assert sandbox.state.components(employee.id)[0]["comment"] == "Resa"


def test_batch_with_one_bad_line_stores_nothing(nmbrs, demo, sandbox):
    employee = demo["employee"]
    with pytest.raises(NmbrsValidationError) as caught:
        nmbrs.insert_wage_components(
            [
                NewWageComponent(employee.id, 5200, Decimal("290")),
                NewWageComponent(employee.id, 4242, Decimal("1")),
            ],
            year=2026,
            period=11,
        )
    assert caught.value.code == 2002
    assert sandbox.state.components() == []


def test_past_period_needs_unprotected_mode(nmbrs, demo):
    employee = demo["employee"]
    with pytest.raises(NmbrsValidationError) as caught:
        nmbrs.insert_wage_component(employee.id, 5100, Decimal("10"), year=2026, period=10)
    assert caught.value.code == 2011
    assert "låst" in caught.value.user_message
    new_id = nmbrs.insert_wage_component(
        employee.id, 5100, Decimal("10"), year=2026, period=10, unprotected=True
    )
    assert [c.id for c in nmbrs.wage_components(employee.id, year=2026, period=10)] == [new_id]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"code": 4242}, 2002),
        ({"cost_center_id": 1}, 2037),
        ({"period": 13}, 2006),
    ],
)
def test_invalid_lines_are_validation_errors(nmbrs, demo, change, code):
    args = {"code": 5100, "period": 11, "cost_center_id": None} | change
    with pytest.raises(NmbrsValidationError) as caught:
        nmbrs.insert_wage_component(
            demo["employee"].id,
            args["code"],
            Decimal("1"),
            year=2026,
            period=args["period"],
            cost_center_id=args["cost_center_id"],
        )
    assert caught.value.code == code
    assert caught.value.user_message


def test_declared_period_is_refused_even_unprotected(nmbrs, demo, sandbox):
    sandbox.state.mark_declared(demo["company"].id, 2026, 11)
    with pytest.raises(NmbrsValidationError) as caught:
        nmbrs.insert_wage_component(
            demo["employee"].id, 5100, Decimal("1"), year=2026, period=11, unprotected=True
        )
    assert caught.value.code == 2012


def test_another_customers_employee_and_company_are_refused(nmbrs, make_client):
    other = make_client(Credentials(OTHER_USERNAME, OTHER_TOKEN, OTHER_DOMAIN))
    other_company = other.companies()[0]
    other_employee = other.employees(other_company.id, 1)[0]
    with pytest.raises(NmbrsPermissionError) as caught:
        nmbrs.insert_wage_component(other_employee.id, 5100, Decimal("1"), year=2026, period=11)
    assert caught.value.code == 2003
    with pytest.raises(NmbrsPermissionError) as caught:
        nmbrs.cost_centers(other_company.id)
    assert caught.value.code == 2004
    with pytest.raises(NmbrsPermissionError) as caught:
        nmbrs.departments(other.debtors()[0].id)
    assert caught.value.code == 1003


def test_reset_token_makes_the_old_key_fail_with_1001(nmbrs, make_client, sandbox):
    nmbrs.verify()
    reply = requests.post(
        f"{sandbox.url}/_sandbox/accounts/lon@demo.se/reset-token", timeout=PATIENCE_SECONDS
    )
    new_token = reply.json()["token"]
    with pytest.raises(NmbrsAuthError) as caught:
        nmbrs.companies()
    assert caught.value.code == 1001
    assert "API-nyckel" in caught.value.user_message
    renewed = make_client(Credentials("lon@demo.se", new_token, "demo"))
    assert renewed.companies()


@pytest.mark.parametrize(
    "credentials",
    [
        Credentials("lon@demo.se", "fel-token", "demo"),
        Credentials("okand@demo.se", "3f9c2e71b8a04d5e9c6f1a2b7d8e4c30", "demo"),
        Credentials("lon@demo.se", "3f9c2e71b8a04d5e9c6f1a2b7d8e4c30", "annan"),
    ],
    ids=["token", "e-mail", "domain"],
)
def test_wrong_credentials_are_an_auth_error(make_client, credentials):
    with pytest.raises(NmbrsAuthError) as caught:
        make_client(credentials).companies()
    assert caught.value.code == 1001


def test_verify_tells_the_right_domain_when_a_wrong_one_was_typed(make_client):
    from sandbox.data import DEMO_TOKEN

    client = make_client(Credentials("lon@demo.se", DEMO_TOKEN, "annan"))
    assert client.verify().subdomain == "demo"


def test_verify_works_without_a_domain(make_client):
    from sandbox.data import DEMO_TOKEN

    assert make_client(Credentials("LON@demo.se", DEMO_TOKEN)).verify().subdomain == "demo"


def test_sandbox_refuses_a_missing_or_unknown_soap_action(sandbox):
    url = f"{sandbox.url}/soap/v3/CompanyService.asmx"
    for action in (None, '"https://api.nmbrs.nl/soap/v3/CompanyService/Company_Wipe"'):
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if action:
            headers["SOAPAction"] = action
        reply = requests.post(url, data=b"<x/>", headers=headers, timeout=PATIENCE_SECONDS)
        assert reply.status_code == 500
        assert b"<faultcode>soap:Client</faultcode>" in reply.content
        assert b"Unable to handle request without a valid action parameter." in reply.content


def test_sandbox_refuses_a_body_in_the_wrong_namespace(sandbox, nmbrs):
    from webapp.nmbrs.soap.envelope import build_envelope

    body = build_envelope("CompanyService", "List_GetAll", nmbrs.credentials).replace(
        b"soap/v3/CompanyService", b"soap/v2.1/CompanyService"
    )
    reply = requests.post(
        f"{sandbox.url}/soap/v3/CompanyService.asmx",
        data=body,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '"https://api.nmbrs.nl/soap/v3/CompanyService/List_GetAll"',
        },
        timeout=PATIENCE_SECONDS,
    )
    assert reply.status_code == 500 and b"soap:Client" in reply.content


def test_sandbox_data_changes_show_up_in_the_next_sync(nmbrs, demo, sandbox):
    company_id = demo["company"].id
    url = f"{sandbox.url}/_sandbox/call"
    added = requests.post(
        f"{url}/add_cost_center",
        json={"company_id": company_id, "code": "900", "description": "Nytt projekt"},
        timeout=PATIENCE_SECONDS,
    ).json()["id"]
    requests.post(
        f"{url}/rename_wage_type",
        json={"company_id": company_id, "code": 5500, "description": "Utlägg (kvitto)"},
        timeout=PATIENCE_SECONDS,
    ).raise_for_status()
    requests.post(
        f"{url}/remove_employee",
        json={"company_id": company_id, "id": demo["employee"].id},
        timeout=PATIENCE_SECONDS,
    ).raise_for_status()
    assert added in {c.id for c in nmbrs.cost_centers(company_id)}
    assert {w.code: w.description for w in nmbrs.wage_types(company_id)}[5500] == "Utlägg (kvitto)"
    assert demo["employee"].id not in {e.id for e in nmbrs.employees(company_id)}
    bad = requests.post(f"{url}/shutdown", json={}, timeout=PATIENCE_SECONDS)
    assert bad.status_code == 400


def test_environments_and_base_url_override():
    assert resolve_base_url("se") == "https://api.nmbrs.se"
    assert resolve_base_url("nl") == "https://api.nmbrs.nl"
    assert resolve_base_url("sandbox") == "https://api-sandbox.nmbrs.nl"
    assert resolve_base_url("se", "http://127.0.0.1:8010/") == "http://127.0.0.1:8010"
    with pytest.raises(ValueError):
        resolve_base_url("https://evil.example")


def test_floats_are_refused_as_amounts(nmbrs, demo):
    with pytest.raises(TypeError):
        nmbrs.insert_wage_component(demo["employee"].id, 5100, 0.1, year=2026, period=11)


def test_every_error_is_an_nmbrs_error():
    for cls in (NmbrsAuthError, NmbrsPermissionError, NmbrsValidationError, NmbrsProtocolError):
        assert issubclass(cls, NmbrsError)

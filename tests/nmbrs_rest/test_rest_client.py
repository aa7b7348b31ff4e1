"""The REST client against the sandbox over real HTTP: every operation, the same demo data as
SOAP (GUIDs that map to the SOAP ids by code and number), writes, and access per debtor."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.data import OTHER_USERNAME
from sandbox.rest import rest_id
from webapp.nmbrs import (
    NewWageComponent,
    NmbrsClient,
    NmbrsPermissionError,
    NmbrsRestClient,
    NmbrsValidationError,
    PayrollApi,
    PayrollPeriod,
)


@pytest.fixture
def demo(nmbrs):
    """What a payroll admin would pick in the demo account, over REST."""
    debtor = nmbrs.debtors()[0]
    company = nmbrs.companies(debtor.id)[0]
    return {
        "debtor": debtor,
        "company": company,
        "employee": nmbrs.employees(company.id)[0],
        "cost_center": nmbrs.cost_centers(company.id)[0],
        "cost_unit": nmbrs.cost_units(company.id)[0],
    }


def test_both_clients_satisfy_the_payroll_api(nmbrs, soap):
    assert isinstance(nmbrs, PayrollApi)
    assert isinstance(soap, PayrollApi)


def test_demo_customer_reads_the_same_over_rest_as_over_soap(nmbrs, soap):
    (soap_debtor,) = soap.debtors()
    (debtor,) = nmbrs.debtors()
    assert debtor.id == rest_id("debtor", soap_debtor.id)
    assert (debtor.number, debtor.name) == (soap_debtor.number, soap_debtor.name)

    soap_companies = soap.companies()
    companies = nmbrs.companies()
    assert nmbrs.companies(debtor.id) == companies
    assert [(c.number, c.name) for c in companies] == [(c.number, c.name) for c in soap_companies]
    for soap_company, company in zip(soap_companies, companies, strict=True):
        assert company.id == rest_id("company", soap_company.id)
        assert nmbrs.current_period(company.id) == soap.current_period(soap_company.id)
        assert {(w.code, w.description) for w in nmbrs.wage_types(company.id)} == {
            (w.code, w.description) for w in soap.wage_types(soap_company.id)
        }
        assert [(c.id, c.code, c.description) for c in nmbrs.cost_centers(company.id)] == [
            (rest_id("costcenter", c.id), c.code, c.description)
            for c in soap.cost_centers(soap_company.id)
        ]
        assert [(u.id, u.code) for u in nmbrs.cost_units(company.id)] == [
            (rest_id("costunit", u.id), u.code) for u in soap.cost_units(soap_company.id)
        ]
        soap_people = {e.number: e for e in soap.employees(soap_company.id)}
        people = {e.number: e for e in nmbrs.employees(company.id)}
        assert people.keys() == soap_people.keys()
        for number, person in people.items():
            assert person.id == rest_id("employee", soap_people[number].id)
            assert person.display_name == soap_people[number].display_name
    assert [(d.code, d.description) for d in nmbrs.departments(debtor.id)] == [
        (d.code, d.description) for d in soap.departments(soap_debtor.id)
    ]


def test_ids_are_guid_strings(demo):
    for item in demo.values():
        assert isinstance(item.id, str) and len(item.id) == 36 and item.id == item.id.lower()


def test_rest_has_no_soap_employee_types_and_employees_work_without(nmbrs, demo):
    assert nmbrs.employee_types() == []
    everyone = nmbrs.employees(demo["company"].id)
    assert len(everyone) == 24
    assert nmbrs.employees(demo["company"].id, "payroll,newHire") == everyone
    assert nmbrs.employees(demo["company"].id, "formerPayroll") == []


def test_current_period_is_a_payroll_period(nmbrs, demo):
    assert nmbrs.current_period(demo["company"].id) == PayrollPeriod(2026, 11, "M")


def test_admin_sends_an_amount_and_reads_it_back(nmbrs, demo, sandbox):
    employee = demo["employee"]
    component_id = nmbrs.insert_wage_component(
        employee.id,
        5100,
        Decimal("1234.50"),
        year=2026,
        period=11,
        cost_center_id=demo["cost_center"].id,
        cost_unit_id=demo["cost_unit"].id,
        comment="Milersättning oktober",
    )
    (stored,) = sandbox.state.components()
    assert rest_id("component", stored["id"]) == component_id
    assert stored["value"] == "1234.50"
    assert rest_id("costcenter", stored["cost_center_id"]) == demo["cost_center"].id
    assert rest_id("costunit", stored["cost_unit_id"]) == demo["cost_unit"].id
    assert stored["comment"] == "Milersättning oktober"
    (component,) = nmbrs.wage_components(employee.id, year=2026, period=11)
    assert (component.id, component.code, component.value) == (
        component_id,
        5100,
        Decimal("1234.50"),
    )
    assert nmbrs.wage_components(employee.id, year=2026, period=12) == []


def test_a_component_sent_over_soap_is_seen_and_deleted_over_rest(nmbrs, soap, demo):
    soap_company = soap.companies()[0]
    soap_employee = next(e for e in soap.employees(soap_company.id) if e.number == 1001)
    soap_id = soap.insert_wage_component(
        soap_employee.id, 5500, Decimal("99.90"), year=2026, period=11
    )
    employee_guid = rest_id("employee", soap_employee.id)
    (component,) = nmbrs.wage_components(employee_guid, year=2026, period=11)
    assert component.id == rest_id("component", soap_id)
    assert component.value == Decimal("99.90")
    assert nmbrs.delete_wage_component(employee_guid, component.id) is True
    assert soap.wage_components(soap_employee.id, year=2026, period=11) == []
    rest_new = nmbrs.insert_wage_component(employee_guid, 5500, Decimal("5"), year=2026, period=11)
    (back,) = soap.wage_components(soap_employee.id, year=2026, period=11)
    assert rest_id("component", back.id) == rest_new


def test_wage_components_finds_the_company_without_a_prior_employee_list(make_client, demo):
    fresh = make_client()
    fresh.insert_wage_component(demo["employee"].id, 5500, Decimal("1"), year=2026, period=11)
    assert len(fresh.wage_components(demo["employee"].id, year=2026, period=11)) == 1


def test_many_amounts_are_one_post_each_with_ids_recorded_as_they_go(nmbrs, demo, sandbox):
    people = nmbrs.employees(demo["company"].id)[:3]
    lines = [NewWageComponent(p.id, 5500, Decimal(f"{i}00.25")) for i, p in enumerate(people, 1)]
    recorded = []
    ids = nmbrs.insert_wage_components(
        lines, year=2026, period=11, on_sent=lambda i, c, new_id: recorded.append((i, new_id))
    )
    assert len(ids) == 3 and len(set(ids)) == 3
    assert recorded == list(enumerate(ids))
    posts = [c for c in sandbox.state.rest.calls() if c["endpoint"] == "insert_component"]
    assert len(posts) == 3


def test_a_prepared_set_of_amounts_is_checked_at_once_and_posted_when_sent(nmbrs, demo, sandbox):
    """REST has no batch body to build ahead: the amounts are checked when the call is built
    (a float is refused before anything is posted), and posted one by one when it is sent."""
    people = nmbrs.employees(demo["company"].id)[:2]
    with pytest.raises(TypeError):
        nmbrs.prepared_insert([NewWageComponent(people[0].id, 5500, 1.5)], year=2026, period=11)
    send = nmbrs.prepared_insert(
        [NewWageComponent(p.id, 5500, Decimal("10.50")) for p in people], year=2026, period=11
    )
    posts = [c for c in sandbox.state.rest.calls() if c["endpoint"] == "insert_component"]
    assert posts == []
    ids = send()
    assert len(ids) == 2
    assert [c.id for c in nmbrs.wage_components(people[1].id, year=2026, period=11)] == [ids[1]]


def test_a_failing_line_reports_what_was_already_sent(nmbrs, demo):
    people = nmbrs.employees(demo["company"].id)[:3]
    lines = [
        NewWageComponent(people[0].id, 5500, Decimal("10")),
        NewWageComponent(people[1].id, 9999, Decimal("20")),  # no such wage code
        NewWageComponent(people[2].id, 5500, Decimal("30")),
    ]
    with pytest.raises(NmbrsValidationError) as caught:
        nmbrs.insert_wage_components(lines, year=2026, period=11)
    assert caught.value.failed_index == 1
    assert len(caught.value.sent_ids) == 1
    assert "code" in caught.value.message
    assert nmbrs.wage_components(people[2].id, year=2026, period=11) == []


def test_past_period_needs_unprotected_mode(nmbrs, demo):
    employee = demo["employee"]
    with pytest.raises(NmbrsValidationError) as caught:
        nmbrs.insert_wage_component(employee.id, 5500, Decimal("1"), year=2026, period=10)
    assert "Protected Period" in caught.value.message
    assert caught.value.user_message  # Swedish, for the admin
    nmbrs.insert_wage_component(
        employee.id, 5500, Decimal("1"), year=2026, period=10, unprotected=True
    )


def test_unknown_cost_center_is_refused(nmbrs, demo):
    with pytest.raises(NmbrsValidationError):
        nmbrs.insert_wage_component(
            demo["employee"].id,
            5500,
            Decimal("1"),
            year=2026,
            period=11,
            cost_center_id="00000000-0000-0000-0000-000000000000",
        )


def test_delete_of_an_unknown_component_is_false(nmbrs, demo):
    assert nmbrs.delete_wage_component(demo["employee"].id, rest_id("component", 1)) is False


def test_amounts_must_be_decimal_and_ids_must_be_guids(nmbrs, demo):
    with pytest.raises(TypeError):
        nmbrs.insert_wage_component(demo["employee"].id, 5500, 1.5, year=2026, period=11)
    with pytest.raises(ValueError, match="GUID"):
        nmbrs.insert_wage_component(100017, 5500, Decimal("1"), year=2026, period=11)
    with pytest.raises(ValueError, match="GUID"):
        nmbrs.cost_centers(100003)


def test_lists_longer_than_a_page_are_read_page_by_page(nmbrs, demo, sandbox):
    soap_company_id = next(iter(sandbox.state.data.companies))
    for i in range(230):
        sandbox.state.add_employee(soap_company_id, f"Extra Anställd{i}")
    sandbox.state.rest.calls(clear=True)
    people = nmbrs.employees(demo["company"].id)
    assert len(people) == 254
    assert len({p.id for p in people}) == 254
    pages = [c for c in sandbox.state.rest.calls() if c["endpoint"] == "employees"]
    assert [c["query"]["pageNumber"] for c in pages] == ["1", "2", "3"]
    assert all(c["query"]["pageSize"] == "100" for c in pages)


def test_other_customers_debtor_is_forbidden(nmbrs, make_client):
    other = make_client(username=OTHER_USERNAME)
    (other_debtor,) = other.debtors()
    with pytest.raises(NmbrsPermissionError) as caught:
        nmbrs.companies(other_debtor.id)
    assert caught.value.code == 40303  # Unauthorized_AccessData, as the spec lists
    assert "tillgång" in caught.value.user_message
    with pytest.raises(NmbrsPermissionError):
        nmbrs.departments(other_debtor.id)
    other_company = other.companies()[0]
    with pytest.raises(NmbrsPermissionError):
        nmbrs.cost_centers(other_company.id)


def test_verify_checks_the_tokens(nmbrs):
    env = nmbrs.verify()
    assert (env.domain, env.subdomain) == (None, None)


def test_client_is_a_context_manager_and_repr_is_safe(make_client):
    with make_client() as client:
        assert client.debtors()
    assert "Bearer" not in repr(client) and "token" not in repr(client).lower()
    assert isinstance(client, NmbrsRestClient) and not isinstance(client, NmbrsClient)

"""Every reading of Nmbrs' OpenAPI description the REST client must cope with, against the
sandbox replying in that reading (``set_reading``): pages without ``nextPage``, links with only
``pageNumber``, the examples' placeholder links, links to another host, no totals, optional
fields left out, and lists that come back short. Each reading is also read the other way (the
default reply) elsewhere in ``tests/nmbrs_rest``, so both sides of every bet are covered."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.ids import rest_id
from tests.support import PATIENCE_SECONDS
from webapp.nmbrs import (
    NmbrsIncompleteList,
    NmbrsProtocolError,
    NmbrsUnavailable,
    PayrollPeriod,
)


@pytest.fixture
def company(nmbrs, sandbox):
    """Fjällviks Bygg AB, with 24 employees and 6 cost centers; lists come in pages of 5."""
    first = nmbrs.companies()[0]
    sandbox.state.rest.set_reading(page_size_limit=5)
    sandbox.state.rest.calls(clear=True)
    return first


def _pages(sandbox, endpoint):
    return [c["query"] for c in sandbox.state.rest.calls() if c["endpoint"] == endpoint]


def _everyone(sandbox, company):
    soap_id = next(iter(sandbox.state.data.companies))
    assert rest_id("company", soap_id) == company.id
    return {rest_id("employee", e) for e in sandbox.state.data.companies[soap_id].employees}


def test_pages_without_next_page_are_read_to_the_last_by_page_number(nmbrs, company, sandbox):
    sandbox.state.rest.set_reading(links="absent")
    people = nmbrs.employees(company.id)
    assert {p.id for p in people} == _everyone(sandbox, company)
    assert len(people) == 24
    pages = _pages(sandbox, "employees")
    assert [q["pageNumber"] for q in pages] == ["1", "2", "3", "4", "5"]
    assert {q["pageSize"] for q in pages} == {"100"}


def test_next_page_null_on_every_page_is_read_the_same_way(nmbrs, company, sandbox):
    sandbox.state.rest.set_reading(links="null")
    assert len(nmbrs.employees(company.id)) == 24
    assert len(nmbrs.cost_centers(company.id)) == 6


def test_links_with_only_a_page_number_still_get_the_page_size_asked_for(nmbrs, sandbox):
    sandbox.state.rest.set_reading(links="page_number_only")
    company = nmbrs.companies()[0]
    soap_company = next(iter(sandbox.state.data.companies))
    for i in range(230):  # three pages of 100; the default size (20) would make twelve
        sandbox.state.add_employee(soap_company, f"Extra Anställd{i}")
    sandbox.state.rest.calls(clear=True)
    people = nmbrs.employees(company.id)
    assert len(people) == 254 and len({p.id for p in people}) == 254
    pages = _pages(sandbox, "employees")
    assert [(q["pageNumber"], q["pageSize"]) for q in pages] == [
        ("1", "100"),
        ("2", "100"),
        ("3", "100"),
    ]


def test_the_examples_placeholder_links_are_not_followed(nmbrs, company, sandbox):
    sandbox.state.rest.set_reading(links="placeholder")
    assert len(nmbrs.employees(company.id)) == 24
    statuses = [c["status"] for c in sandbox.state.rest.calls()]
    assert statuses == [200] * 5  # no 404 for ".../439323/{endpoint}"


def test_links_to_another_host_never_take_the_token_there(nmbrs, company, sandbox):
    sandbox.state.rest.set_reading(links="other_host")
    assert len(nmbrs.employees(company.id)) == 24  # every page asked of the sandbox itself
    assert len(_pages(sandbox, "employees")) == 5


def test_pages_without_totals_follow_next_page(nmbrs, company, sandbox):
    sandbox.state.rest.set_reading(totals="absent")
    assert len(nmbrs.employees(company.id)) == 24


def test_pages_without_totals_or_links_are_read_until_a_page_is_not_full(nmbrs, company, sandbox):
    sandbox.state.rest.set_reading(totals="absent", links="absent")
    assert len(nmbrs.employees(company.id)) == 24
    assert len(_pages(sandbox, "employees")) == 5
    assert len(nmbrs.cost_centers(company.id)) == 6


@pytest.mark.parametrize("links", ["full", "absent", "placeholder"])
def test_a_list_that_comes_back_short_is_an_error_never_a_shorter_list(
    nmbrs, company, sandbox, links
):
    sandbox.state.rest.set_reading(links=links, withhold=1)
    with pytest.raises(NmbrsIncompleteList) as caught:
        nmbrs.cost_centers(company.id)
    assert "5 records, totalRecords is 6" in caught.value.message
    assert isinstance(caught.value, NmbrsUnavailable)  # a sync tries again later
    assert "hela listan" in caught.value.user_message


def test_optional_fields_left_out_are_none_and_the_lists_still_come(nmbrs, company, sandbox):
    sandbox.state.rest.set_reading(optional_fields="absent")
    people = nmbrs.employees(company.id)
    assert len(people) == 24
    assert all(p.number is None for p in people)  # listed, not matchable by number
    assert all(p.display_name for p in people)  # lastName is required
    (debtor,) = nmbrs.debtors()
    assert (debtor.number, debtor.name) == (None, None)
    departments = nmbrs.departments(debtor.id)
    assert len(departments) == 4 and all(d.code is None for d in departments)
    assert {(c.number, c.name) for c in nmbrs.companies()} == {(None, None)}
    assert len(nmbrs.cost_centers(company.id)) == 6  # code and description are required
    assert len(nmbrs.wage_types(company.id)) == 30
    assert nmbrs.current_period(company.id) == PayrollPeriod(2026, 11)  # from displayPeriod


def test_a_read_back_without_code_or_value_fails_rather_than_guess(nmbrs, company, sandbox):
    employee = nmbrs.employees(company.id)[0]
    nmbrs.insert_wage_component(employee.id, 5500, Decimal("12"), year=2026, period=11)
    sandbox.state.rest.set_reading(optional_fields="absent")
    # The transfer compares code and value to know what arrived; guessing could pay twice.
    with pytest.raises(NmbrsProtocolError):
        nmbrs.wage_components(employee.id, year=2026, period=11)


def test_readings_are_set_over_the_control_api_and_reset_with_the_sandbox(sandbox):
    import requests

    reply = requests.post(
        f"{sandbox.url}/_sandbox/rest/set_reading",
        json={"links": "placeholder", "withhold": 2},
        timeout=PATIENCE_SECONDS,
    )
    assert reply.json()["links"] == "placeholder" and reply.json()["withhold"] == 2
    bad = requests.post(
        f"{sandbox.url}/_sandbox/rest/set_reading", json={"links": "x"}, timeout=PATIENCE_SECONDS
    )
    assert bad.status_code == 400
    sandbox.state.reset()
    assert sandbox.state.rest.readings.links == "full"

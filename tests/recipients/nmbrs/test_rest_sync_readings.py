"""A sync over REST when Nmbrs replies in a reading of its OpenAPI description the client once
bet against: pages without ``nextPage``, lists that come back short, optional fields left out.
A sync must bring every item, and never archive one because a list came back short: a list
that cannot be read whole fails the sync, and a failed sync changes nothing."""

from __future__ import annotations

import pytest

from tests.sync.helpers import run_scheduled_now, runs, work
from webapp.extensions import db
from webapp.models import CostCenter, Department, PayrollEmployee, Role, SyncStatus, WageType

from .conftest import consent, soap_sync

CATALOGS = (WageType, CostCenter, PayrollEmployee, Department)


@pytest.fixture
def rest_recipient(app, client, admin, nmbrs_sandbox, recipient_id) -> int:
    """Grannbolaget AB moved to REST by its admin's consent, and synced once over REST."""
    assert consent(client, nmbrs_sandbox, recipient_id).status_code == 302
    work(app)
    assert runs(app)[-1].status == SyncStatus.SUCCEEDED
    return recipient_id


def _rows(app, recipient_id: int) -> dict[str, dict[str, tuple]]:
    """Every catalogue row by its REST id: (code, description, archived)."""
    with app.app_context():
        return {
            model.__name__: {
                row.rest_id: (row.code, row.description, row.archived)
                for row in db.session.scalars(
                    db.select(model).where(model.recipient_id == recipient_id)
                )
            }
            for model in CATALOGS
        }


def _company(nmbrs_sandbox, company_id):
    return nmbrs_sandbox.state.data.companies[company_id]


def test_a_sync_whose_replies_omit_next_page_brings_every_item_and_archives_nothing(
    app, client, nmbrs_sandbox, rest_recipient, company_id
):
    state = nmbrs_sandbox.state
    state.add_cost_center(company_id, "900", "Nytt kostnadsställe")
    state.add_employee(company_id, "Nyanställd Person")
    # Pages of two records and no nextPage on any: 7 cost centers take four pages.
    state.rest.set_reading(links="absent", page_size_limit=2)
    state.rest.calls(clear=True)

    run = soap_sync(app, client, rest_recipient)

    assert run.status == SyncStatus.SUCCEEDED, run.error_message
    assert all(c["archived"] == 0 for c in run.counts.values()), run.counts
    assert run.counts["cost_centers"]["added"] == 1
    assert run.counts["employees"]["added"] == 1
    rows = _rows(app, rest_recipient)
    company = _company(nmbrs_sandbox, company_id)
    assert len(rows["CostCenter"]) == len(company.cost_centers) == 7
    assert len(rows["PayrollEmployee"]) == len(company.employees) == 6
    assert len(rows["WageType"]) == 30
    assert not any(archived for table in rows.values() for *_, archived in table.values())
    pages = [c for c in state.rest.calls() if c["endpoint"] == "cost_centers"]
    assert [c["query"]["pageNumber"] for c in pages] == ["1", "2", "3", "4"]


@pytest.mark.parametrize("links", ["page_number_only", "placeholder"])
def test_a_sync_through_the_examples_kind_of_links_is_complete(
    app, client, nmbrs_sandbox, rest_recipient, links
):
    before = _rows(app, rest_recipient)
    nmbrs_sandbox.state.rest.set_reading(links=links, page_size_limit=2)
    run = soap_sync(app, client, rest_recipient)
    assert run.status == SyncStatus.SUCCEEDED, run.error_message
    assert all((c["added"], c["archived"]) == (0, 0) for c in run.counts.values()), run.counts
    assert _rows(app, rest_recipient) == before


def test_a_sync_whose_list_comes_back_short_fails_and_archives_nothing(
    app, client, nmbrs_sandbox, rest_recipient
):
    before = _rows(app, rest_recipient)
    # Every list is one record short of its totalRecords, as "5 of 7 cost centers" was.
    nmbrs_sandbox.state.rest.set_reading(links="absent", page_size_limit=2, withhold=1)

    first = soap_sync(app, client, rest_recipient)
    assert first.status == SyncStatus.QUEUED and first.next_retry_at is not None  # tried again
    assert _rows(app, rest_recipient) == before
    assert run_scheduled_now(app) == 1
    work(app)

    run = runs(app)[-1]
    assert run.status == SyncStatus.FAILED and run.error_code == "unavailable"
    assert "Nmbrs skickade inte hela listan" in run.error_message
    assert _rows(app, rest_recipient) == before  # nothing archived, nothing changed
    page = client.get(f"/settings/recipients/{rest_recipient}").text
    assert "Ingenting ändrades" in page


def test_employees_without_a_number_are_listed_but_not_matched_automatically(
    app, client, people, nmbrs_sandbox, rest_recipient, company_id
):
    number = next(iter(_company(nmbrs_sandbox, company_id).employees.values())).number
    people.user(Role.EMPLOYEE, email="anna@testbolaget.se", employee_number=str(number))
    assert soap_sync(app, client, rest_recipient).status == SyncStatus.SUCCEEDED
    with app.app_context():
        matched = db.session.scalar(
            db.select(PayrollEmployee).where(PayrollEmployee.user_id.is_not(None))
        )
        assert matched is not None and matched.mapping_source == "auto"

    # Nmbrs leaves out every field its description does not require: no employee numbers,
    # no department codes.
    nmbrs_sandbox.state.rest.set_reading(optional_fields="absent")
    run = soap_sync(app, client, rest_recipient)

    assert run.status == SyncStatus.SUCCEEDED, run.error_message
    assert all(c["archived"] == 0 for c in run.counts.values()), run.counts
    rows = _rows(app, rest_recipient)
    assert len(rows["PayrollEmployee"]) == 5  # all listed
    with app.app_context():
        assert (
            db.session.scalar(
                db.select(PayrollEmployee).where(PayrollEmployee.user_id.is_not(None))
            )
            is None
        )


def test_a_missing_employee_number_or_department_code_shows_as_blank(
    app, client, nmbrs_sandbox, rest_recipient
):
    nmbrs_sandbox.state.rest.set_reading(optional_fields="absent")
    assert soap_sync(app, client, rest_recipient).status == SyncStatus.SUCCEEDED
    rows = _rows(app, rest_recipient)
    assert {code for code, _, _ in rows["PayrollEmployee"].values()} == {""}
    assert {code for code, _, _ in rows["Department"].values()} == {""}

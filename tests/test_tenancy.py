"""The tenant guard in the data layer: a query that forgets `organization_id` sees only the
current organization's rows, code that states no organization is refused, and requests and
jobs state theirs."""

from __future__ import annotations

import contextvars
from datetime import date

import pytest
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import aliased

import jobs.sync
from tests.conftest import get_org, get_user
from tests.sync.conftest import fast_sync, recipient_id  # noqa: F401 - fixtures
from tests.sync.helpers import work
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    ExpenseLine,
    ExpenseReport,
    LineKind,
    Organization,
    PayrollEmployee,
    RecipientKind,
    ReportRecipient,
    Role,
    SyncRun,
    User,
)
from webapp.tenancy import (
    TenantMismatch,
    TenantNotStated,
    all_organizations,
    owned_models,
    tenant,
    tenant_of,
)


def _organization_with_rows(app, people, name: str) -> int:
    """An organization with a person, a recipient with a payroll employee, a report with a
    line, and an audit event: rows owned directly and through one or two parents."""
    email = people.user(Role.ADMIN, org=name, email=f"admin@{name.split()[0].lower()}.se")
    with app.app_context():
        user = get_user(email)
        recipient = ReportRecipient(
            organization_id=user.organization_id, kind=RecipientKind.PAXML, display_name=name
        )
        report = ExpenseReport(
            organization_id=user.organization_id, employee_id=user.id, title=f"Resa {name}"
        )
        db.session.add_all([recipient, report])
        db.session.flush()
        db.session.add(PayrollEmployee(recipient_id=recipient.id, code="1", description=name))
        db.session.add(
            ExpenseLine(
                report_id=report.id,
                kind=LineKind.OUTLAY,
                date=date(2026, 11, 2),
                description=f"Tåg {name}",
                amount_ore=10000,
            )
        )
        db.session.add(AuditEvent(organization_id=user.organization_id, action="test.row"))
        db.session.commit()
        return user.organization_id


@pytest.fixture
def two_organizations(app, people) -> tuple[int, int]:
    return (
        _organization_with_rows(app, people, "Alfa AB"),
        _organization_with_rows(app, people, "Beta AB"),
    )


def test_a_deliberately_unfiltered_query_sees_only_the_current_organizations_rows(
    app, two_organizations
):
    alfa, beta = two_organizations
    with app.app_context(), tenant(alfa):
        # No organization_id anywhere below: the guard adds it.
        assert [u.email for u in db.session.scalars(select(User))] == ["admin@alfa.se"]
        assert [o.name for o in db.session.scalars(select(Organization))] == ["Alfa AB"]
        assert [r.display_name for r in db.session.scalars(select(ReportRecipient))] == ["Alfa AB"]
        # Owned through a parent (recipient), and through two (line → report → organization).
        assert db.session.scalars(select(PayrollEmployee.description)).all() == ["Alfa AB"]
        assert db.session.scalars(select(ExpenseLine.description)).all() == ["Tåg Alfa AB"]
        assert db.session.scalar(select(func.count()).select_from(ExpenseReport)) == 1
        assert db.session.scalars(select(AuditEvent.organization_id)).all() == [alfa]
        # A join and a lookup by primary key of another organization's row.
        joined = db.session.scalars(select(ExpenseLine).join(ExpenseLine.report)).all()
        assert [line.report.title for line in joined] == ["Resa Alfa AB"]
        beta_report = db.session.scalar(
            select(ExpenseReport.id).where(ExpenseReport.organization_id == beta)
        )
        assert beta_report is None
    with app.app_context():
        with all_organizations():
            beta_report = db.session.scalar(
                select(ExpenseReport.id).where(ExpenseReport.organization_id == beta)
            )
        with tenant(alfa):
            assert db.session.get(ExpenseReport, beta_report) is None


def test_a_query_with_its_own_organization_filter_still_sees_only_the_current_organization(
    app, two_organizations
):
    """The guard leaves a query that filters on the current organization by itself as it is;
    any other shape of filter, or another organization's rows reached beside it, still gets
    the criteria."""
    alfa, beta = two_organizations
    with app.app_context(), tenant(alfa):
        own = select(ExpenseReport.title).where(ExpenseReport.organization_id == alfa)
        assert db.session.scalars(own).all() == ["Resa Alfa AB"]
        # The same shape of statement with another organization's id: nothing.
        other = select(ExpenseReport.title).where(ExpenseReport.organization_id == beta)
        assert db.session.scalars(other).all() == []
        either = select(ExpenseReport.title).where(
            or_(ExpenseReport.organization_id == alfa, ExpenseReport.organization_id == beta)
        )
        assert db.session.scalars(either).all() == ["Resa Alfa AB"]
        # Beside the filtered rows, a subquery of rows the filter does not cover (of another
        # table, and of the same table).
        for reports in (ExpenseReport, aliased(ExpenseReport)):
            beta_title = (
                select(reports.title).where(reports.title == "Resa Beta AB").scalar_subquery()
            )
            for owner in (User, ExpenseReport):
                beside = select(owner.organization_id, beta_title).where(
                    owner.organization_id == alfa
                )
                assert db.session.execute(beside).first() == (alfa, None)


def test_a_statement_built_once_sees_only_the_organization_it_is_given_if_current(
    app, two_organizations
):
    """A statement built once names the organization with a bound value given at each
    execution: the guard reads the value given, and another organization's id finds nothing."""
    alfa, beta = two_organizations
    built_once = select(ExpenseReport.title).where(
        ExpenseReport.organization_id == bindparam("organization_id")
    )
    with app.app_context(), tenant(alfa):
        assert db.session.scalars(built_once, {"organization_id": alfa}).all() == ["Resa Alfa AB"]
        assert db.session.scalars(built_once, {"organization_id": beta}).all() == []
    with app.app_context(), tenant(beta):
        assert db.session.scalars(built_once, {"organization_id": alfa}).all() == []
        # A value given by the name SQLAlchemy compiles a plain filter's value to replaces it.
        own = select(ExpenseReport.title).where(ExpenseReport.organization_id == beta)
        assert db.session.scalars(own, {"organization_id_1": alfa}).all() == []


def test_a_bulk_update_without_a_filter_changes_only_the_current_organization(
    app, two_organizations
):
    alfa, beta = two_organizations
    with app.app_context(), tenant(alfa):
        db.session.execute(update(ExpenseReport).values(title="Ändrad"))
        db.session.commit()
    with app.app_context():
        titles = dict(
            db.session.execute(select(ExpenseReport.organization_id, ExpenseReport.title)).all()
        )
    assert titles == {alfa: "Ändrad", beta: "Resa Beta AB"}


def test_an_anonymous_visitor_sees_no_organizations_rows(app, two_organizations):
    with app.app_context(), tenant(None):
        assert db.session.scalars(select(User)).all() == []
        assert db.session.scalars(select(PayrollEmployee)).all() == []


def test_code_that_states_no_organization_is_refused(app, two_organizations):
    def unstated_query():
        with app.app_context():
            return db.session.scalars(select(ExpenseReport)).all()

    # A fresh context: no organization stated, as in a new job entry point that forgot.
    with pytest.raises(TenantNotStated, match="ExpenseReport"):
        contextvars.Context().run(unstated_query)


def test_writing_another_organizations_row_is_refused(app, two_organizations):
    alfa, beta = two_organizations
    with app.app_context():
        with all_organizations():
            beta_admin = get_user("admin@beta.se")
        with tenant(alfa):
            beta_admin.name = "Kapad"
            with pytest.raises(TenantMismatch):
                db.session.flush()
            db.session.rollback()
        with tenant(alfa):
            db.session.add(
                ExpenseReport(organization_id=beta, employee_id=beta_admin.id, title="Fel")
            )
            with pytest.raises(TenantMismatch):
                db.session.flush()
            db.session.rollback()
    with app.app_context():
        assert get_user("admin@beta.se").name != "Kapad"


def test_a_job_states_its_organization_from_the_row_it_was_given(app, two_organizations):
    alfa, beta = two_organizations
    with app.app_context():
        beta_recipient = db.session.scalar(
            select(ReportRecipient.id).where(ReportRecipient.organization_id == beta)
        )
        with tenant_of(ReportRecipient, beta_recipient) as organization_id:
            assert organization_id == beta
            assert db.session.scalars(select(PayrollEmployee.description)).all() == ["Beta AB"]
        with tenant_of(ReportRecipient, 999_999) as organization_id:
            assert organization_id is None
            assert db.session.scalars(select(ReportRecipient)).all() == []


def test_the_sync_job_runs_with_no_organization_stated_by_its_caller(
    app,
    recipient_id,  # noqa: F811 - the fixture imported above
    nmbrs_sandbox,
):
    """The RQ entry point states the organization itself: run from an empty context, as a
    worker process runs it, it syncs the recipient's organization."""
    contextvars.Context().run(jobs.sync.nightly, recipient_id)
    contextvars.Context().run(work, app)
    with app.app_context():
        run = db.session.scalars(select(SyncRun)).one()
        assert run.status.value == "succeeded", run.error_message
        assert db.session.scalar(select(func.count()).select_from(PayrollEmployee)) == 5


def test_a_request_sees_only_the_logged_in_users_organization(app, client, admin, people):
    people.user(Role.EMPLOYEE, org="Annat AB", email="hemlig@annat.se", name="Hemlig Person")
    page = client.get("/people/")
    assert page.status_code == 200
    assert "Hemlig Person" not in page.text
    with app.app_context():
        assert get_org("Annat AB") is not None


def test_every_model_says_whose_rows_it_holds(app):
    """A new model must declare `__tenant__` (or `__tenant__ = None` for rows shared by every
    organization), so that the guard cannot silently miss it."""
    undeclared = [
        m.class_.__name__
        for m in db.Model.registry.mappers
        if "__tenant__" not in {k for c in m.class_.__mro__ for k in vars(c)}
    ]
    assert undeclared == []
    assert len(owned_models(db.Model.registry)) >= 20

"""Every route of the app, crawled as an anonymous visitor and as the employee, the approver and
the admin of ANOTHER organization, with the ids of organization A's real objects in the URL.

The routes come from `app.url_map`, so a new route is crawled without touching this file; a
route with a URL parameter the crawl cannot fill fails with a message saying what to add.
Expected: anonymous → the login page (or 401/405), except the public routes; another
organization's people → 403 where their role may not go, 404 for any id of organization A;
no response shows organization A's name, its people, or its Nmbrs token; nothing of
organization A changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from werkzeug.exceptions import MethodNotAllowed, NotFound

from tests.recipients.helpers import OTHER_TOKEN, add_single_company_nmbrs
from tests.reports.helpers import add_outlay, login, new_report
from tests.sync.helpers import start_sync, work
from webapp.extensions import db
from webapp.models import (
    ExpenseLine,
    ExpenseReport,
    PayrollEmployee,
    ReportRecipient,
    Role,
    SyncRun,
    User,
    UserSession,
)

ORG_A = "Alfa Hemlighet AB"
ORG_B = "Betabolaget AB"
A_PEOPLE = {
    "admin": ("admin@alfahemlighet.se", "Astrid Alfasdotter"),
    "approver": ("attest@alfahemlighet.se", "Arvid Attestsson"),
    "employee": ("petra@alfahemlighet.se", "Petra Hemligsdotter"),
}
A_REPORT_TITLE = "Hemlig resa till Kiruna"

# Who may go where: the policy this crawl holds the app to, written down here rather than read
# from the code it checks. Everything else needs a login and nothing more.
PUBLIC = {"auth.login", "main.healthz", "main.set_language", "static"}
# Before a login: the second-factor step, a forgotten password, the e-mailed links.
PUBLIC |= {"auth.login_code", "auth.forgot_password", "auth.reset_password"}
PUBLIC |= {"auth.accept_invitation"}
ADMIN_AREAS = ("/settings/", "/people/", "/audit/", "/transfers/")
ADMIN_ENDPOINTS = {"reports.ready", "reports.policy", "reports.policy_summary"}
ADMIN_ENDPOINTS |= {"reports.foreign_tables", "reports.years"}
APPROVER_ENDPOINTS = {"reports.approvals", "reports.approve", "reports.reject"}
APPROVER_ENDPOINTS |= {"reports.reject_line"}

# A form with the fields the app's forms use, pointed at organization A where it names an id:
# a POST that should change nothing gets every chance to change something.
FORM_FIELDS = {
    "title": "Crawl",
    "name": "Crawl",
    "display_name": "Crawl",
    "comment": "crawl",
    "reason": "crawl",
    "email": "crawl@betabolaget.se",
    "role": "admin",
    "password": "crawl-crawl-123",
    "confirm": "crawl-crawl-123",
    "code": "123456",
}


@dataclass
class OrgA:
    ids: dict[str, int]
    secrets: list[str]


def _org_a(app, people, nmbrs_sandbox, monkeypatch) -> OrgA:
    """Organization A with one of everything: a synced Nmbrs recipient, a sync run, payroll
    employees, a submitted report with a receipt, and its people."""
    import os

    import jobs.context

    monkeypatch.setattr(jobs.context, "_app", app)
    monkeypatch.setattr(jobs.context, "_app_pid", os.getpid())
    for role, (email, name) in A_PEOPLE.items():
        people.user(Role(role), org=ORG_A, email=email, name=name)
    admin = login(app, A_PEOPLE["admin"][0])
    assert add_single_company_nmbrs(admin).status_code == 302
    employee = login(app, A_PEOPLE["employee"][0])
    report_id = new_report(employee, title=A_REPORT_TITLE)
    assert add_outlay(employee, report_id).status_code in (200, 302)
    assert employee.post(f"/reports/{report_id}/submit").status_code == 302
    with app.app_context():
        org_users = select(User.id).join(User.organization).where(User.organization.has(name=ORG_A))
        recipient_id = db.session.scalar(
            select(ReportRecipient.id).where(ReportRecipient.organization.has(name=ORG_A))
        )
    start_sync(admin, recipient_id)
    work(app)
    with app.app_context():
        ids = {
            "recipient_id": recipient_id,
            "run_id": db.session.scalar(
                select(SyncRun.id).where(SyncRun.recipient_id == recipient_id)
            ),
            "employee_id": db.session.scalar(
                select(PayrollEmployee.id).where(PayrollEmployee.recipient_id == recipient_id)
            ),
            "report_id": report_id,
            "line_id": db.session.scalar(
                select(ExpenseLine.id).where(ExpenseLine.report_id == report_id)
            ),
            "user_id": db.session.scalar(
                select(User.id).where(User.email == A_PEOPLE["employee"][0])
            ),
            # A login of organization A's admin (made by login() above).
            "session_id": db.session.scalar(select(UserSession.id)),
        }
        ids.update(_finished_transfer(recipient_id, ids["user_id"]))
        assert all(ids.values()), ids
        payroll_names = db.session.scalars(
            select(PayrollEmployee.description).where(PayrollEmployee.recipient_id == recipient_id)
        ).all()
        assert db.session.scalar(select(ExpenseReport.status).where(ExpenseReport.id == report_id))
        assert len(db.session.scalars(org_users).all()) == 3
    secrets = [ORG_A, OTHER_TOKEN, A_REPORT_TITLE, *payroll_names]
    for email, name in A_PEOPLE.values():
        secrets += [email, name]
    return OrgA(ids=ids, secrets=secrets)


def _finished_transfer(recipient_id: int, user_id: int) -> dict[str, int]:
    """A sent transfer of organization A, as the transfer job leaves one (when the app has
    transfers): its id fills <transfer_id>."""
    try:
        from webapp.models.transfer import Transfer, TransferStatus
    except ImportError:
        return {}
    recipient = db.session.get(ReportRecipient, recipient_id)
    transfer = Transfer(
        organization_id=recipient.organization_id,
        recipient_id=recipient_id,
        kind=recipient.kind,
        status=TransferStatus.SUCCEEDED,
        requested_by_id=user_id,
        period_year=2026,
        period_number=11,
    )
    db.session.add(transfer)
    db.session.commit()
    return {"transfer_id": transfer.id}


def _owned_rows(app, org_name: str) -> dict[str, list[tuple]]:
    """Every row that belongs to the organization, table by table: its own row, rows with its
    organization_id, and rows pointing (by foreign key) at a row it owns. Tables come in
    dependency order, so one pass finds them all — new tables included."""
    owned: dict[str, list[tuple]] = {}
    owned_ids: dict[str, set] = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(select(table)).all()
            keys = list(table.primary_key.columns)
            mine = []
            for row in rows:
                data = row._mapping
                belongs = table.name == "organization" and data["name"] == org_name
                for column in table.columns:
                    for fk in column.foreign_keys:
                        target = fk.column.table.name
                        if data[column.name] is not None and data[column.name] in owned_ids.get(
                            target, set()
                        ):
                            belongs = True
                if belongs:
                    mine.append(tuple(data.values()))
                    if len(keys) == 1:
                        owned_ids.setdefault(table.name, set()).add(data[keys[0].name])
            owned[table.name] = sorted(mine, key=repr)
        db.session.remove()
    return owned


def _fill(app, rule, ids: dict[str, int]) -> dict[str, object]:
    """Values for the rule's URL parameters: organization A's ids, or a value the route
    accepts. Fails with a clear message for a parameter this crawl does not know."""
    special: dict[tuple[str, str], object] = {
        ("reports.add_line", "kind"): "outlay",
        ("settings.confirm_replace", "kind"): "paxml",
        ("settings.catalog", "tab"): "employees",
        ("main.set_language", "code"): "sv",
        ("static", "filename"): "app.css",
        # Organization A's real links are never mailed to outsiders: a made-up one.
        ("auth.reset_password", "token"): "ingen-sadan-lank",
        ("auth.accept_invitation", "token"): "ingen-sadan-lank",
    }
    values = {}
    for name in rule.arguments:
        if (rule.endpoint, name) in special:
            values[name] = special[(rule.endpoint, name)]
        elif name in ids:
            values[name] = ids[name]
        else:
            pytest.fail(
                f"The route crawl does not know how to fill <{name}> in {rule.rule} "
                f"({rule.endpoint}): give organization A such an object in _org_a() and add "
                f"its id as {name!r}, or add ({rule.endpoint!r}, {name!r}) to `special` in "
                f"_fill() (tests/test_route_crawl.py)."
            )
    return values


def _roles_needed(rule) -> str:
    if rule.endpoint in ADMIN_ENDPOINTS or rule.rule.startswith(ADMIN_AREAS):
        return "admin"
    if rule.endpoint in APPROVER_ENDPOINTS:
        return "approver"
    return "login"


def _expected(visitor: str, rule, method: str, routable: bool) -> Callable[[int], bool]:
    """What `visitor` must get for `method` on `rule`, filled with organization A's ids."""
    if not routable:
        return lambda status: status == 405
    if rule.endpoint in PUBLIC:
        return lambda status: status < 500
    if visitor == "anonymous":
        return lambda status: status in (302, 401)
    needed = _roles_needed(rule)
    if (needed == "admin" and visitor != "admin") or (
        needed == "approver" and visitor == "employee"
    ):
        return lambda status: status == 403
    if rule.arguments:
        return lambda status: status == 404  # everything with an id is organization A's
    return lambda status: status in (200, 302, 303, 400, 422)  # 422: a form error


def _requests(app, org_a: OrgA):
    adapter = app.url_map.bind("localhost")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        url = adapter.build(rule.endpoint, _fill(app, rule, org_a.ids), url_scheme="http")
        url = re.sub(r"^https?://localhost", "", url)
        for method in sorted({"GET", *(rule.methods - {"HEAD", "OPTIONS"})}):
            try:
                adapter.match(url, method=method)
                routable = True
            except MethodNotAllowed:
                routable = False
            except NotFound:  # pragma: no cover - a rule always matches its own URL
                pytest.fail(f"{url} built from {rule.rule} does not match it")
            yield rule, method, url, routable


VISITORS = ("anonymous", "employee", "approver", "admin")


def _visitor_client(app, people, visitor: str):
    if visitor == "anonymous":
        return app.test_client(), None
    email = f"{visitor}@betabolaget.se"
    if not _user_exists(app, email):
        people.user(Role(visitor), org=ORG_B, email=email, name=f"Bertil B-{visitor}")
    return login(app, email), email


def _user_exists(app, email: str) -> bool:
    with app.app_context():
        found = db.session.scalar(select(User.id).where(User.email == email)) is not None
        db.session.remove()
        return found


def test_every_route_as_outsiders_gives_the_expected_status_and_leaks_nothing(
    app, people, nmbrs_sandbox, monkeypatch
):
    org_a = _org_a(app, people, nmbrs_sandbox, monkeypatch)
    before = _owned_rows(app, ORG_A)
    assert sum(len(rows) for rows in before.values()) > 20, "organization A has too little"
    wrong, leaks, crawled = [], [], 0
    for visitor in VISITORS:
        client, email = _visitor_client(app, people, visitor)
        for rule, method, url, routable in _requests(app, org_a):
            response = client.open(
                url, method=method, data=dict(FORM_FIELDS, **{"user_id": org_a.ids["user_id"]})
            )
            crawled += 1
            if not _expected(visitor, rule, method, routable)(response.status_code):
                wrong.append(f"{visitor:9} {method:4} {url} → {response.status_code}")
            redirected_elsewhere = response.status_code == 302 and not response.headers[
                "Location"
            ].startswith("/login")
            if visitor == "anonymous" and rule.endpoint not in PUBLIC and redirected_elsewhere:
                wrong.append(f"{visitor:9} {method:4} {url} → {response.headers['Location']}")
            seen = response.get_data(as_text=True) + str(response.headers)
            leaks += [f"{visitor} {method} {url}: {s!r}" for s in org_a.secrets if s in seen]
            logs_out = rule.endpoint in ("auth.logout", "account.end_all_sessions")
            if logs_out and email and routable:
                client = login(app, email)  # the crawl logged itself out; carry on
    assert crawled > 4 * len(list(app.url_map.iter_rules()))
    assert not wrong, "unexpected statuses:\n" + "\n".join(wrong)
    assert not leaks, "organization A's data shown to outsiders:\n" + "\n".join(leaks)
    after = _owned_rows(app, ORG_A)
    changed = [t for t in before if before[t] != after.get(t)]
    assert not changed, f"organization A changed in: {changed}"


def test_the_snapshot_sees_a_change_deep_in_organization_a(app, people, nmbrs_sandbox, monkeypatch):
    """The crawl's own check: a change three foreign keys away from the organization (a payroll
    employee of its recipient) shows in the snapshot, so "nothing changed" means something."""
    org_a = _org_a(app, people, nmbrs_sandbox, monkeypatch)
    before = _owned_rows(app, ORG_A)
    with app.app_context():
        db.session.get(PayrollEmployee, org_a.ids["employee_id"]).description = "Ändrad"
        db.session.commit()
    after = _owned_rows(app, ORG_A)
    assert [t for t in before if before[t] != after[t]] == ["payroll_employee"]

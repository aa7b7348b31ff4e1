"""Every route of the app, crawled as an anonymous visitor and as the employee, the approver and
the admin of ANOTHER organization, with the ids of organization A's real objects in the URL, in
the form body and in the query string (transfer report ids, `?replace=`, the company step's
`ref`), each route once as a plain request and once as htmx's, with CSRF protection on as in
production; then as a colleague of organization A's employee, who must not reach her report.
Organization A is connected over REST (OAuth): its tokens and keys are never in any response,
not even to its own admin.

The routes come from `app.url_map`, so a new route is crawled without touching this file; a
route with a URL parameter the crawl cannot fill fails with a message saying what to add.
Expected: anonymous → the login page (or 401/405), except the public routes; another
organization's people → 403 where their role may not go, 404 for any id of organization A;
no response shows organization A's name, its people, or its Nmbrs token; nothing of
organization A changes.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from werkzeug.exceptions import MethodNotAllowed, NotFound

from sandbox.oauth import DEMO_CLIENT_SECRET, DEMO_SUBSCRIPTION_KEY
from tests.recipients.helpers import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    OTHER_TOKEN,
    add_single_company_nmbrs,
)
from tests.recipients.nmbrs.conftest import consent
from tests.reports.helpers import add_outlay, login, new_report
from tests.support import PASSWORD, use_sandbox_oauth
from tests.sync.helpers import start_sync, work
from webapp.extensions import db
from webapp.models import (
    ExpenseLine,
    ExpenseReport,
    NmbrsConnection,
    PayrollEmployee,
    RecipientKind,
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
# Petra's colleague in organization A: an employee too.
A_COLLEAGUE = ("kalle@alfahemlighet.se", "Kalle Kollega")
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
    secrets: list[str]  # organization A's data: never shown to another organization
    ref: str  # the company step's reference of a key organization A's admin is adding
    keys: list[str]  # Nmbrs keys and OAuth tokens: never in any response to anyone
    # The crawling organization's own recipient, when it has one: a transfer preview or send
    # to it with organization A's report ids must still reach nothing of A.
    own_recipient_id: int | None = None

    @property
    def recipient_id(self) -> int:
        return self.own_recipient_id or self.ids["recipient_id"]

    def queries(self) -> list[str]:
        """Organization A's ids as query strings of a request another organization makes:
        `?replace=` alone (it is checked first where it is read), then the others."""
        return [
            f"replace={self.ids['recipient_id']}",
            f"recipient_id={self.recipient_id}&report_id={self.ids['report_id']}&ref={self.ref}",
        ]

    def form(self) -> dict[str, object]:
        """FORM_FIELDS, with organization A's ids wherever a form names one."""
        return dict(
            FORM_FIELDS,
            user_id=self.ids["user_id"],
            report_id=self.ids["report_id"],
            recipient_id=self.recipient_id,
            employee_id=self.ids["employee_id"],
            transfer_id=self.ids["transfer_id"],
            ref=self.ref,
            company_id=self.ids["company_id"],
        )


def _org_a(app, people, nmbrs_sandbox, monkeypatch) -> OrgA:
    """Organization A with one of everything: a synced Nmbrs recipient moved to REST by its
    admin's consent, a sync run, payroll employees, an approved report with a receipt, a key
    waiting in the company step, and its people."""
    import os

    import jobs.context

    monkeypatch.setattr(jobs.context, "_app", app)
    monkeypatch.setattr(jobs.context, "_app_pid", os.getpid())
    use_sandbox_oauth(app, nmbrs_sandbox.url, monkeypatch)
    for role, (email, name) in A_PEOPLE.items():
        people.user(Role(role), org=ORG_A, email=email, name=name)
    people.user(Role.EMPLOYEE, org=ORG_A, email=A_COLLEAGUE[0], name=A_COLLEAGUE[1])
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
    assert consent(admin, nmbrs_sandbox, recipient_id).status_code == 302  # now over REST
    work(app)
    approver = login(app, A_PEOPLE["approver"][0])
    assert approver.post(f"/reports/{report_id}/approve").status_code == 302  # ready to send
    # A second key, seeing two companies, waits for A's admin to choose one.
    first = admin.post(
        "/settings/recipients/new/nmbrs",
        data={"username": DEMO_USERNAME, "token": DEMO_TOKEN, "environment": "se"},
    )
    ref = re.search(r'name="ref"[^>]*value="([^"]+)"', first.text).group(1)
    company_id = int(re.search(r'name="company_id"[^>]*value="(\d+)"', first.text).group(1))
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
            "company_id": company_id,
        }
        ids.update(_finished_transfer(recipient_id, ids["user_id"]))
        assert all(ids.values()), ids
        payroll_names = db.session.scalars(
            select(PayrollEmployee.description).where(PayrollEmployee.recipient_id == recipient_id)
        ).all()
        assert db.session.scalar(select(ExpenseReport.status).where(ExpenseReport.id == report_id))
        assert len(db.session.scalars(org_users).all()) == 4
        connection = db.session.scalar(
            select(NmbrsConnection).where(NmbrsConnection.recipient_id == recipient_id)
        )
        tokens = json.loads(connection.oauth_tokens)
    keys = [OTHER_TOKEN, DEMO_TOKEN, DEMO_CLIENT_SECRET, DEMO_SUBSCRIPTION_KEY]
    keys += [tokens["access_token"], tokens["refresh_token"]]
    secrets = [ORG_A, A_REPORT_TITLE, *payroll_names]
    for email, name in [*A_PEOPLE.values(), A_COLLEAGUE]:
        secrets += [email, name]
    return OrgA(ids=ids, secrets=secrets, ref=ref, keys=keys)


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


def _owned_rows(app, org_name: str, ignore=lambda table, row: False) -> dict[str, list[tuple]]:
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
                if belongs and not ignore(table.name, data):
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
    # 422: a form error; 204: htmx's answer to a change; 404: an id of organization A in the
    # query string or the form (`?replace=`, `recipient_id`).
    return lambda status: status in (200, 204, 302, 303, 400, 404, 422)


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
LOGS_OUT = ("auth.logout", "account.end_all_sessions")


def _csrf_token(client, path: str) -> str:
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    found = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


class Visitor:
    """A browser of the crawl: logged in as `email` (or anonymous), with CSRF protection on as
    in production, so it sends its session's token as the page's forms and htmx would."""

    def __init__(self, app, email: str | None) -> None:
        self.app, self.email = app, email
        self.start()

    def start(self) -> None:
        self.client = self.app.test_client()
        if self.email:
            token = _csrf_token(self.client, "/login")
            response = self.client.post(
                "/login", data={"email": self.email, "password": PASSWORD, "csrf_token": token}
            )
            assert response.status_code == 302, f"login of {self.email} failed"
        self.token = _csrf_token(self.client, "/" if self.email else "/login")

    def open(self, url: str, method: str, data: dict, *, hx: bool, csrf: bool = True):
        headers = {"HX-Request": "true"} if hx else {}
        if csrf:
            headers["X-CSRFToken"] = self.token
            data = dict(data, csrf_token=self.token)
        return self.client.open(url, method=method, data=data, headers=headers)


def _b_visitor(app, people, visitor: str) -> Visitor:
    if visitor == "anonymous":
        return Visitor(app, None)
    email = f"{visitor}@betabolaget.se"
    if not _user_exists(app, email):
        people.user(Role(visitor), org=ORG_B, email=email, name=f"Bertil B-{visitor}")
    return Visitor(app, email)


def _org_b_with_a_recipient(app, people, org_a: OrgA) -> None:
    """Organization B's admin, and a PAXml recipient of B's own that the crawl's transfer
    forms name."""
    email = "admin@betabolaget.se"
    people.user(Role.ADMIN, org=ORG_B, email=email, name="Bertil B-admin")
    with app.app_context():
        recipient = ReportRecipient(
            organization_id=db.session.scalar(
                select(User.organization_id).where(User.email == email)
            ),
            kind=RecipientKind.PAXML,
            display_name="Lönefil Beta",
        )
        db.session.add(recipient)
        db.session.commit()
        org_a.own_recipient_id = recipient.id
        db.session.remove()


def _org_b_nmbrs_recipients(app) -> list[str]:
    """B's Nmbrs recipients: B has no Nmbrs key, so any would be made with A's."""
    with app.app_context():
        found = db.session.scalars(
            select(ReportRecipient.display_name).where(
                ReportRecipient.organization.has(name=ORG_B),
                ReportRecipient.kind == RecipientKind.NMBRS,
            )
        ).all()
        db.session.remove()
        return list(found)


def _user_exists(app, email: str) -> bool:
    with app.app_context():
        found = db.session.scalar(select(User.id).where(User.email == email)) is not None
        db.session.remove()
        return found


@dataclass
class Crawl:
    wrong: list[str]
    leaks: list[str]
    crawled: int = 0


def _crawl(app, org_a: OrgA, visitor: Visitor, name: str, expected, secrets, *, methods=None,
           csrf: bool = True) -> Crawl:  # fmt: skip
    """Every route, as a plain request and as htmx's, with organization A's ids in the path,
    the query string and the form."""
    result = Crawl([], [])
    for rule, method, url, routable in _requests(app, org_a):
        if methods and method not in methods:
            continue
        for hx, query in itertools.product((False, True), org_a.queries()):
            full = f"{url}?{query}"
            response = visitor.open(full, method, org_a.form(), hx=hx, csrf=csrf)
            result.crawled += 1
            how = f"{name:9} {method:4} {'htmx ' if hx else ''}{full}"
            if not expected(rule, method, routable)(response.status_code):
                result.wrong.append(f"{how} → {response.status_code}")
            redirected_elsewhere = response.status_code == 302 and not response.headers[
                "Location"
            ].startswith("/login")
            if name == "anonymous" and rule.endpoint not in PUBLIC and redirected_elsewhere:
                result.wrong.append(f"{how} → {response.headers['Location']}")
            seen = response.get_data().decode("utf-8", "replace") + str(response.headers)
            result.leaks += [f"{how}: {s!r}" for s in secrets if s in seen]
            if rule.endpoint in LOGS_OUT and routable:
                visitor.start()  # the crawl logged itself out (or lost its session); carry on
    return result


def _csrf_on(app, monkeypatch) -> None:
    """From here on the app checks CSRF tokens as in production (the set-up's helpers post
    without them)."""
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)


def test_every_route_as_outsiders_gives_the_expected_status_and_leaks_nothing(
    app, people, nmbrs_sandbox, monkeypatch
):
    org_a = _org_a(app, people, nmbrs_sandbox, monkeypatch)
    _org_b_with_a_recipient(app, people, org_a)
    _csrf_on(app, monkeypatch)
    before = _owned_rows(app, ORG_A)
    assert sum(len(rows) for rows in before.values()) > 20, "organization A has too little"
    wrong, leaks, crawled = [], [], 0
    for name in VISITORS:
        visitor = _b_visitor(app, people, name)
        result = _crawl(
            app,
            org_a,
            visitor,
            name,
            lambda rule, method, routable, name=name: _expected(name, rule, method, routable),
            [*org_a.secrets, *org_a.keys],
        )
        wrong += result.wrong
        leaks += result.leaks
        crawled += result.crawled
    assert crawled > 2 * 4 * len(list(app.url_map.iter_rules()))
    assert not wrong, "unexpected statuses:\n" + "\n".join(wrong)
    assert not leaks, "organization A's data shown to outsiders:\n" + "\n".join(leaks)
    after = _owned_rows(app, ORG_A)
    changed = [t for t in before if before[t] != after.get(t)]
    assert not changed, f"organization A changed in: {changed}"
    # Nor did B gain anything of A's: A's parked key (the company step's ref) added nothing.
    assert _org_b_nmbrs_recipients(app) == []


def test_a_post_without_the_csrf_token_is_refused_everywhere(
    app, people, nmbrs_sandbox, monkeypatch
):
    org_a = _org_a(app, people, nmbrs_sandbox, monkeypatch)
    _csrf_on(app, monkeypatch)
    before = _owned_rows(app, ORG_A)
    for name in ("anonymous", "admin"):
        result = _crawl(
            app,
            org_a,
            _b_visitor(app, people, name),
            name,
            lambda rule, method, routable: lambda status: status == (400 if routable else 405),
            [*org_a.secrets, *org_a.keys],
            methods={"POST"},
            csrf=False,
        )
        assert result.crawled > 20
        assert not result.wrong, "accepted without a CSRF token:\n" + "\n".join(result.wrong)
        assert not result.leaks, "\n".join(result.leaks)
    assert _owned_rows(app, ORG_A) == before


# The colleague may add reports of his own; no row that was there may change.
COLLEAGUE_TABLES = {"expense_report", "expense_line", "receipt"}


def _colleagues_own(app):
    """The colleague's own person, logins and audit trail: his to change."""
    with app.app_context():
        me = db.session.scalar(select(User.id).where(User.email == A_COLLEAGUE[0]))
        db.session.remove()
    own = {"user": "id", "user_session": "user_id", "audit_event": "actor_id"}
    return lambda table, row: table in own and row[own[table]] == me


def test_an_employee_cannot_reach_a_colleagues_report(app, people, nmbrs_sandbox, monkeypatch):
    org_a = _org_a(app, people, nmbrs_sandbox, monkeypatch)
    _csrf_on(app, monkeypatch)
    colleague = Visitor(app, A_COLLEAGUE[0])
    own = _colleagues_own(app)
    before = _owned_rows(app, ORG_A, own)
    petra = [A_REPORT_TITLE, *A_PEOPLE["employee"]]
    result = _crawl(
        app,
        org_a,
        colleague,
        "colleague",
        lambda rule, method, routable: _expected("employee", rule, method, routable),
        [*petra, *org_a.keys],
    )
    assert not result.wrong, "unexpected statuses:\n" + "\n".join(result.wrong)
    assert not result.leaks, "Petra's report shown to her colleague:\n" + "\n".join(result.leaks)
    after = _owned_rows(app, ORG_A, own)
    kept = {t: {repr(row) for row in rows} for t, rows in after.items()}
    changed = [t for t in before if not {repr(row) for row in before[t]} <= kept.get(t, set())]
    changed += [t for t in before if before[t] != after.get(t) and t not in COLLEAGUE_TABLES]
    assert not changed, f"organization A changed in: {changed}"


def test_an_organization_on_rest_never_sees_its_tokens_or_keys(
    app, people, nmbrs_sandbox, monkeypatch
):
    """Every page organization A's own admin and employee can open: no OAuth token, client
    secret, subscription key or API key in any of them, and no server error."""
    org_a = _org_a(app, people, nmbrs_sandbox, monkeypatch)
    _csrf_on(app, monkeypatch)
    for email in (A_PEOPLE["admin"][0], A_PEOPLE["employee"][0]):
        result = _crawl(
            app,
            org_a,
            Visitor(app, email),
            email.split("@")[0],
            lambda rule, method, routable: lambda status: status < 500,
            org_a.keys,
            methods={"GET"},
        )
        assert result.crawled > 20
        assert not result.wrong, "server errors:\n" + "\n".join(result.wrong)
        assert not result.leaks, "Nmbrs secrets in a response:\n" + "\n".join(result.leaks)


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

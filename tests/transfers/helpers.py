"""Small steps the transfer tests share: a synced Nmbrs recipient with wage types chosen, people
mapped to Nmbrs employees, and approved reports."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sandbox.data import OTHER_USERNAME
from tests.reports.helpers import add_mileage, add_outlay, login, new_report
from tests.sync.helpers import start_sync, work
from webapp.extensions import db
from webapp.models import (
    ExpenseReport,
    LineStatus,
    PaxmlSettings,
    RecipientKind,
    RecipientStatus,
    ReportRecipient,
    Role,
    Transfer,
    TransferLine,
    User,
)
from webapp.payitems import PayItem
from webapp.services import advanced_settings

ORG = "Testbolaget AB"

# Wage types of the sandbox's companies, per pay item the tests use.
WAGE_CODES = {
    PayItem.MILEAGE_OWN_CAR_TAX_FREE: "5100",
    PayItem.MILEAGE_OWN_CAR_TAXABLE: "5101",
    PayItem.OUTLAY: "5500",
    PayItem.DOMESTIC_FULL_DAY_TAX_FREE: "5200",
}


@dataclass
class Staff:
    admin: object  # logged-in test clients
    approver: object
    maria: object
    johan: object


def staff(app, people, org: str = ORG) -> Staff:
    """An admin, an approver and two employees whose numbers match Nmbrs employees 1001, 1002."""
    domain = org.split()[0].lower()
    people.user(Role.ADMIN, org=org, email=f"admin@{domain}.se", name="Anna Admin")
    people.user(Role.APPROVER, org=org, email=f"attest@{domain}.se", name="Erik Attest")
    people.user(
        Role.EMPLOYEE, org=org, email=f"maria@{domain}.se", name="Maria Anställd",
        employee_number="1001",
    )  # fmt: skip
    people.user(
        Role.EMPLOYEE, org=org, email=f"johan@{domain}.se", name="Johan Anställd",
        employee_number="1002",
    )  # fmt: skip
    return Staff(
        login(app, f"admin@{domain}.se"),
        login(app, f"attest@{domain}.se"),
        login(app, f"maria@{domain}.se"),
        login(app, f"johan@{domain}.se"),
    )


def recipient_id(app, org: str = ORG, kind: RecipientKind = RecipientKind.NMBRS) -> int:
    with app.app_context():
        return db.session.scalar(
            db.select(ReportRecipient.id).where(
                ReportRecipient.status == RecipientStatus.ACTIVE,
                ReportRecipient.kind == kind,
                ReportRecipient.organization.has(name=org),
            )
        )


def choose_wage_types(app, rid: int, codes: dict | None = None, excluded=()) -> None:
    """Avancerade inställningar as an admin saves them: every item included (except
    `excluded`), with these wage types."""
    codes = WAGE_CODES if codes is None else codes
    with app.app_context():
        recipient = db.session.get(ReportRecipient, rid)
        form = {}
        for item in PayItem:
            if item not in excluded:
                form[f"include-{item.value}"] = "on"
            if item in codes:
                form[f"wage-{item.value}"] = codes[item]
        parsed = advanced_settings.parse(form, recipient)
        assert not [r.error for r in parsed if r.error], [r.error for r in parsed if r.error]
        admin = db.session.scalar(db.select(User).where(User.role == Role.ADMIN))
        assert advanced_settings.save(admin, recipient, parsed)
        db.session.commit()


def connect_nmbrs(app, client, org: str = ORG) -> int:
    """Grannbolaget AB in Nmbrs (employees 1001-1005), synced, wage types chosen."""
    from tests.recipients.helpers import add_single_company_nmbrs

    assert add_single_company_nmbrs(client).status_code == 302
    rid = recipient_id(app, org)
    start_sync(client, rid)
    work(app)
    choose_wage_types(app, rid)
    return rid


def add_paxml(app, client, encoding: str = "UTF-8", org: str = ORG) -> int:
    response = client.post(
        "/settings/recipients/new/paxml",
        data={"display_name": "Fortnox", "program_name": "Fortnox Lön", "encoding": encoding},
    )
    assert response.status_code in (200, 302), response.text
    rid = recipient_id(app, org, RecipientKind.PAXML)
    with app.app_context():
        settings = db.session.scalar(
            db.select(PaxmlSettings).where(PaxmlSettings.recipient_id == rid)
        )
        settings.encoding = encoding
        db.session.commit()
    return rid


def approved_report(s: Staff, who: str = "maria", *, km="300", outlay="1 234,50", cc="200",
                    title="Kundbesök Göteborg") -> int:  # fmt: skip
    """A report with a mileage line and an outlay, submitted and approved."""
    employee = getattr(s, who)
    report_id = new_report(employee, title=title)
    if km:
        assert add_mileage(employee, report_id, km=km).status_code in (200, 302)
    if outlay:
        response = add_outlay(employee, report_id, amount=outlay, cost_center=cc)
        assert response.status_code in (200, 302)
    assert employee.post(f"/reports/{report_id}/submit").status_code == 302
    assert s.approver.post(f"/reports/{report_id}/approve").status_code == 302
    return report_id


def company_id(nmbrs_sandbox) -> int:
    [account] = [
        a for a in nmbrs_sandbox.state.summary()["accounts"] if a["username"] == OTHER_USERNAME
    ]
    return account["debtors"][0]["companies"][0]["id"]


def employee_id(nmbrs_sandbox, number: int) -> int:
    company = nmbrs_sandbox.state.company(company_id(nmbrs_sandbox))
    return next(e.id for e in company.employees.values() if e.number == number)


def cost_center_id(nmbrs_sandbox, code: str) -> int:
    company = nmbrs_sandbox.state.company(company_id(nmbrs_sandbox))
    return next(c.id for c in company.cost_centers.values() if c.code == code)


def stored(nmbrs_sandbox, number: int | None = None) -> list[tuple]:
    """What Nmbrs holds (sandbox state), as sorted (employee number, code, value, cost center,
    period) tuples."""
    numbers = {}
    for company in nmbrs_sandbox.state.data.companies.values():
        for e in company.employees.values():
            numbers[e.id] = e.number
    rows = [
        (numbers[c["employee_id"]], c["code"], c["value"], c["cost_center_id"], c["period"])
        for c in nmbrs_sandbox.state.components()
    ]
    return sorted(r for r in rows if number is None or r[0] == number)


def send(client, rid: int, report_ids, year=2026, period=11, confirm=False, follow=False):
    data = {"recipient_id": str(rid), "report_id": [str(i) for i in report_ids],
            "year": str(year), "period": str(period)}  # fmt: skip
    if confirm:
        data["confirm_past"] = "y"
    return client.post("/transfers/send", data=data, follow_redirects=follow)


def transfer_url(response) -> str:
    return re.search(r"/transfers/\d+", response.headers["Location"]).group(0)


def transfers(app) -> list[Transfer]:
    with app.app_context():
        found = list(db.session.scalars(db.select(Transfer).order_by(Transfer.id)))
        for t in found:
            t.lines  # noqa: B018
            t.reports  # noqa: B018
        db.session.expunge_all()
        return found


def report_status(app, report_id: int):
    with app.app_context():
        return db.session.get(ExpenseReport, report_id).status


def line_statuses(app, transfer_id: int) -> list[LineStatus]:
    with app.app_context():
        return list(
            db.session.scalars(
                db.select(TransferLine.status)
                .where(TransferLine.transfer_id == transfer_id, TransferLine.skip_reason.is_(None))
                .order_by(TransferLine.id)
            )
        )


# The confirmation *Ångra* asks for first (issue 12, item 10).
CONFIRMED = {"confirmed": "yes"}

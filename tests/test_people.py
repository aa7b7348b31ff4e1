import json

from tests.conftest import get_user
from tests.support import PASSWORD
from webapp.extensions import db
from webapp.models import AuditEvent, ExpenseReport, PayrollEmployee, Role, User
from webapp.services import data_protection


def test_a_taken_email_saves_nothing(app, client, admin):
    taken = client.post("/people/", data={"name": "X", "email": admin, "role": "employee"})
    assert "Det finns redan en användare" in taken.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1


def test_an_email_taken_in_another_organization_is_refused_too(app, client, admin, people):
    people.user(Role.EMPLOYEE, org="Annat AB", email="upptagen@annat.se")
    taken = client.post(
        "/people/", data={"name": "X", "email": "upptagen@annat.se", "role": "employee"}
    )
    assert "Det finns redan en användare med e-postadressen upptagen@annat.se." in taken.text


def test_changing_a_role_takes_effect_at_once(app, client, admin, people):
    email = people.user(Role.APPROVER, name="Erik")
    approver = app.test_client()
    approver.post("/login", data={"email": email, "password": PASSWORD})
    assert approver.get("/reports/approvals").status_code == 200
    with app.app_context():
        uid = get_user(email).id
    client.post(f"/people/{uid}", data={"name": "Erik", "email": email, "role": "employee"})
    assert approver.get("/reports/approvals").status_code in (302, 403)  # logged out by the change


def test_an_admin_cannot_demote_themself(app, client, admin):
    with app.app_context():
        uid = get_user(admin).id
    response = client.post(f"/people/{uid}", data={"name": "A", "email": admin, "role": "employee"})
    assert "Du kan inte ta bort din egen administratörsroll." in response.text
    with app.app_context():
        assert get_user(admin).role == Role.ADMIN


def test_export_gives_everything_as_json(app, client, admin, people):
    email = people.user(Role.EMPLOYEE, employee_number="1003", name="Göran")
    with app.app_context():
        user = get_user(email)
        db.session.add(
            ExpenseReport(
                organization_id=user.organization_id, employee_id=user.id, title="Kundbesök"
            )
        )
        db.session.commit()
        uid = user.id
    response = client.get(f"/people/{uid}/export")
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"  # personal data: never cached
    data = json.loads(response.data)
    assert data["person"]["name"] == "Göran"
    assert data["person"]["employee_number"] == "1003"
    assert data["expense_reports"][0]["title"] == "Kundbesök"
    assert "password" not in json.dumps(data)


def test_erasure_anonymises_the_person_but_keeps_the_bookkeeping(app, client, admin, people):
    email = people.user(Role.EMPLOYEE, employee_number="1003", name="Göran Lindqvist")
    with app.app_context():
        user = get_user(email)
        db.session.add(
            ExpenseReport(
                organization_id=user.organization_id, employee_id=user.id, title="Kundbesök"
            )
        )
        db.session.commit()
        uid = user.id
    client.post(f"/people/{uid}/erase")
    with app.app_context():
        erased = db.session.get(User, uid)
        assert "Göran" not in erased.name and erased.employee_number is None
        assert erased.email.endswith("@brygga.invalid")
        assert db.session.scalar(db.select(ExpenseReport.title)) == "Kundbesök"  # kept 7 years
        assert "employee.erased" in db.session.scalars(db.select(AuditEvent.action)).all()
    assert (
        app.test_client().post("/login", data={"email": email, "password": PASSWORD}).status_code
        == 401
    )


def test_the_last_admin_and_oneself_cannot_be_erased(app, client, admin):
    with app.app_context():
        uid = get_user(admin).id
    response = client.post(f"/people/{uid}/erase", follow_redirects=True)
    assert "Du kan inte radera dina egna personuppgifter här." in response.text


def test_people_of_another_organization_are_404(app, client, admin, people):
    stranger = people.user(Role.EMPLOYEE, org="Grannbolaget AB")
    with app.app_context():
        sid = get_user(stranger).id
    assert client.get(f"/people/{sid}").status_code == 404
    assert client.get(f"/people/{sid}/export").status_code == 404
    assert client.post(f"/people/{sid}/erase").status_code == 404


def test_retention_removes_old_receipt_files_and_login_trail(app, people):
    from datetime import UTC, date, datetime

    from webapp.models import ExpenseLine, LineKind, Receipt

    email = people.user(Role.EMPLOYEE)
    with app.app_context():
        user = get_user(email)
        report = ExpenseReport(
            organization_id=user.organization_id, employee_id=user.id, title="Gammal"
        )
        db.session.add(report)
        db.session.flush()
        for day in (date(2018, 12, 31), date(2019, 1, 1)):
            line = ExpenseLine(
                report_id=report.id, kind=LineKind.OUTLAY, date=day, description="Taxi"
            )
            db.session.add(line)
            db.session.flush()
            db.session.add(
                Receipt(
                    line_id=line.id,
                    filename="k.pdf",
                    content_type="application/pdf",
                    size=4,
                    data=b"%PDF",
                )
            )
        db.session.add(
            AuditEvent(
                organization_id=user.organization_id,
                action="auth.login",
                created_at=datetime(2018, 6, 1, tzinfo=UTC),
            )
        )
        db.session.commit()
        assert data_protection.retention_cutoff(date(2026, 11, 24)) == date(2019, 1, 1)
        removed = data_protection.purge_expired(date(2026, 11, 24))
        db.session.commit()
        assert removed == {"receipts": 1, "login_events": 1, "sessions": 0, "links": 0}
        sizes = sorted(r.size for r in db.session.scalars(db.select(Receipt)))
        assert sizes == [0, 4]  # 2018's receipt file is gone, 2019's is kept
        assert db.session.scalar(db.select(ExpenseReport.title)) == "Gammal"


def test_erased_mapping_is_cut(app, client, admin, people):
    email = people.user(Role.EMPLOYEE, employee_number="1003")
    with app.app_context():
        user = get_user(email)
        from webapp.models import RecipientKind, ReportRecipient

        r = ReportRecipient(
            organization_id=user.organization_id, kind=RecipientKind.PAXML, display_name="Fil"
        )
        db.session.add(r)
        db.session.flush()
        db.session.add(
            PayrollEmployee(
                recipient_id=r.id, nmbrs_id=1, code="1003", description="G", user_id=user.id
            )
        )
        db.session.commit()
        uid = user.id
    client.post(f"/people/{uid}/erase")
    with app.app_context():
        assert db.session.scalar(db.select(PayrollEmployee.user_id)) is None

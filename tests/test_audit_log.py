from tests.conftest import get_user
from webapp.extensions import db
from webapp.models import Role
from webapp.services import audit


def test_admin_sees_the_organizations_events_newest_first_in_swedish(app, client, admin, people):
    with app.app_context():
        user = get_user(admin)
        audit.record("nmbrs.key_replaced", actor=user, organization_id=user.organization_id,
                     username="lon@demo.se")  # fmt: skip
        db.session.commit()
    page = client.get("/audit/")
    assert page.status_code == 200
    assert page.text.index("<td>API-nyckel bytt</td>") < page.text.index("<td>Inloggning</td>")
    assert "username: lon@demo.se" in page.text


def test_filters_by_action_and_person(app, client, admin, people):
    other = people.user(Role.APPROVER)
    app.test_client().post("/login", data={"email": other, "password": "rätt-lösenord-123"})
    with app.app_context():
        other_id = get_user(other).id
    only_other = client.get(f"/audit/?actor={other_id}").text
    assert only_other.count("<td>Inloggning</td>") == 1
    none = client.get("/audit/?action=recipient.removed").text
    assert "Inga händelser matchar." in none


def test_another_organizations_events_are_not_shown(app, client, admin, people):
    stranger = people.user(Role.ADMIN, org="Grannbolaget AB")
    app.test_client().post("/login", data={"email": stranger, "password": "rätt-lösenord-123"})
    page = client.get("/audit/").text
    assert page.count("<td>Inloggning</td>") == 1  # only our admin's own login


def test_employees_and_approvers_get_403(client, people, auth):
    auth.login(people.user(Role.APPROVER))
    assert client.get("/audit/").status_code == 403


def test_a_secret_cannot_be_written_to_the_audit_log(app_ctx):
    import pytest

    with pytest.raises(ValueError):
        audit.record("nmbrs.key_replaced", actor=None, organization_id=None, token="hemligt")

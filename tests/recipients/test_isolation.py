"""Another organization's recipient in the URL is 404; an employee gets 403; CSRF is enforced."""

import re

import pytest

from tests.support import PASSWORD
from webapp.extensions import db
from webapp.models import PayrollEmployee, Role

from .helpers import active, add_single_company_nmbrs


def recipient_urls(rid: int, eid: int) -> list[tuple[str, str]]:
    return [
        ("GET", f"/settings/recipients/{rid}"),
        ("GET", f"/settings/recipients/{rid}/menu"),
        ("GET", f"/settings/recipients/{rid}/key"),
        ("POST", f"/settings/recipients/{rid}/key"),
        ("GET", f"/settings/recipients/{rid}/remove"),
        ("POST", f"/settings/recipients/{rid}/remove"),
        ("GET", f"/settings/recipients/{rid}/replace/paxml"),
        ("GET", f"/settings/recipients/{rid}/advanced"),
        ("POST", f"/settings/recipients/{rid}/advanced"),
        ("GET", f"/settings/recipients/{rid}/catalog/wage_types"),
        ("POST", f"/settings/recipients/{rid}/employees/{eid}"),
        ("GET", f"/settings/recipients/new/nmbrs?replace={rid}"),
        ("GET", f"/settings/recipients/new?replace={rid}"),
    ]


@pytest.fixture
def foreign_recipient(app, people, nmbrs_sandbox):
    """A recipient of Grannbolaget AB, created by its own admin."""
    other = app.test_client()
    email = people.user(Role.ADMIN, org="Grannbolaget AB")
    other.post("/login", data={"email": email, "password": PASSWORD})
    add_single_company_nmbrs(other)
    [recipient] = active(app)
    with app.app_context():
        employee = PayrollEmployee(recipient_id=recipient.id, nmbrs_id=1, code="1", description="X")
        db.session.add(employee)
        db.session.commit()
        return recipient.id, employee.id


def test_every_recipient_url_is_404_for_another_organizations_admin(
    app, client, admin, foreign_recipient
):
    rid, eid = foreign_recipient
    for method, url in recipient_urls(rid, eid):
        response = client.open(url, method=method, data={"user_id": "1"})
        assert response.status_code == 404, (method, url, response.status_code)
    assert len(active(app)) == 1  # nothing was removed or replaced


def test_an_employee_gets_403_on_every_recipient_url(app, client, people, auth, foreign_recipient):
    rid, eid = foreign_recipient
    auth.login(people.user(Role.EMPLOYEE))
    for method, url in recipient_urls(rid, eid):
        assert client.open(url, method=method).status_code == 403, (method, url)


def test_forms_and_htmx_requests_without_a_csrf_token_are_refused(app, people, redis_url, tmp_path):
    from tests.support import make_test_app

    strict = make_test_app(
        app.config["SQLALCHEMY_DATABASE_URI"], redis_url, tmp_path, WTF_CSRF_ENABLED=True
    )
    browser = strict.test_client()
    email = people.user(Role.ADMIN)
    assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 400
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', browser.get("/login").text
    )
    logged_in = browser.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert logged_in.status_code == 302
    form = {"display_name": "Lönefil", "encoding": "UTF-8"}
    assert browser.post("/settings/recipients/new/paxml", data=form).status_code == 400
    htmx = {"HX-Request": "true"}
    assert (
        browser.post("/settings/recipients/new/paxml", data=form, headers=htmx).status_code == 400
    )
    assert active(app) == []
    # The page hands htmx the token in hx-headers; with it the same request goes through.
    page = browser.get("/settings/").text
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    ok = browser.post(
        "/settings/recipients/new/paxml", data=form, headers={**htmx, "X-CSRFToken": header_token}
    )
    assert ok.status_code == 204
    assert [r.display_name for r in active(app)] == ["Lönefil"]

"""The Nmbrs dialog: the key is checked live against Nmbrs (the sandbox) before it is saved."""

from webapp.extensions import db
from webapp.models import AuditEvent, NmbrsConnection

from .helpers import (
    DEMO_TOKEN,
    DEMO_USERNAME,
    OTHER_TOKEN,
    active,
    add_demo_nmbrs,
    add_single_company_nmbrs,
)


def test_wrong_key_keeps_the_dialog_open_with_a_swedish_message_and_saves_nothing(
    app, client, admin, nmbrs_sandbox
):
    response = client.post(
        "/settings/recipients/new/nmbrs",
        data={"username": DEMO_USERNAME, "token": "fel-nyckel-12345678", "environment": "se"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200  # htmx swaps 200s only: the dialog re-renders
    assert "<dialog" in response.text
    assert "Nmbrs godkände inte API-nyckeln" in response.text
    assert "fel-nyckel-12345678" not in response.text
    assert active(app) == []


def test_nmbrs_unreachable_says_so_and_saves_nothing(
    app, client, admin, nmbrs_sandbox, monkeypatch
):
    monkeypatch.setitem(app.config, "NMBRS_BASE_URL", "http://127.0.0.1:9")  # nothing listens
    response = client.post(
        "/settings/recipients/new/nmbrs",
        data={"username": DEMO_USERNAME, "token": DEMO_TOKEN, "environment": "se"},
    )
    assert "Nmbrs svarar inte just nu" in response.text
    assert active(app) == []


def test_nmbrs_down_with_a_503_page_saves_nothing(app, client, admin, nmbrs_sandbox):
    nmbrs_sandbox.state.set_failure(mode="html503", share=1.0)
    response = client.post(
        "/settings/recipients/new/nmbrs",
        data={"username": DEMO_USERNAME, "token": DEMO_TOKEN, "environment": "se"},
    )
    assert "Nmbrs svarar inte just nu" in response.text
    assert active(app) == []


def test_a_key_that_sees_one_company_is_saved_encrypted_at_once(app, client, admin, nmbrs_sandbox):
    response = add_single_company_nmbrs(client)
    assert response.status_code == 302
    [recipient] = active(app)
    with app.app_context():
        connection = db.session.scalar(db.select(NmbrsConnection))
        assert connection.company_name == "Grannbolaget AB"
        assert connection.domain == "grannbolaget"
        assert OTHER_TOKEN not in connection.token_encrypted
        assert connection.token_last4 == OTHER_TOKEN[-4:]
    page = client.get("/settings/")
    assert "Nmbrs – Grannbolaget AB" in page.text
    assert "••••" + OTHER_TOKEN[-4:] in page.text
    assert OTHER_TOKEN not in page.text


def test_a_key_that_sees_several_companies_asks_which_one(app, client, admin, nmbrs_sandbox):
    first = client.post(
        "/settings/recipients/new/nmbrs",
        data={"username": DEMO_USERNAME, "token": DEMO_TOKEN, "environment": "se"},
    )
    assert "Välj företag" in first.text
    assert "Fjällviks Bygg AB" in first.text and "Fjällviks Service AB" in first.text
    assert DEMO_TOKEN not in first.text  # the second step does not carry the key
    assert active(app) == []
    response = add_demo_nmbrs(client, company_index=1)
    assert response.status_code == 302
    [recipient] = active(app)
    assert recipient.display_name == "Nmbrs – Fjällviks Service AB"


def test_an_expired_company_step_asks_for_the_key_again(app, client, admin, nmbrs_sandbox):
    response = client.post(
        "/settings/recipients/new/nmbrs/company", data={"ref": "borta", "company_id": "1"}
    )
    assert "Ange API-nyckeln igen" in response.text
    assert active(app) == []


def test_htmx_save_closes_the_dialog_by_reloading_the_settings_page(
    app, client, admin, nmbrs_sandbox
):
    response = client.post(
        "/settings/recipients/new/nmbrs",
        data={"username": "lon@grannbolaget.se", "token": OTHER_TOKEN, "environment": "se"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/settings/"


def test_replacing_the_key_after_a_reset_token_in_nmbrs(app, client, admin, nmbrs_sandbox):
    add_single_company_nmbrs(client)
    [recipient] = active(app)
    new_token = nmbrs_sandbox.state.reset_token("lon@grannbolaget.se")["token"]
    wrong = client.post(
        f"/settings/recipients/{recipient.id}/key",
        data={"username": "lon@grannbolaget.se", "token": OTHER_TOKEN, "environment": "se"},
    )
    assert "Nmbrs godkände inte API-nyckeln" in wrong.text  # the old key no longer works
    ok = client.post(
        f"/settings/recipients/{recipient.id}/key",
        data={"username": "lon@grannbolaget.se", "token": new_token, "environment": "se"},
    )
    assert ok.status_code == 302
    assert "••••" + new_token[-4:] in client.get("/settings/").text
    with app.app_context():
        actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert "nmbrs.key_replaced" in actions


def test_a_new_key_for_another_account_is_refused(app, client, admin, nmbrs_sandbox):
    add_single_company_nmbrs(client)
    [recipient] = active(app)
    response = client.post(
        f"/settings/recipients/{recipient.id}/key",
        data={"username": DEMO_USERNAME, "token": DEMO_TOKEN, "environment": "se"},
    )
    assert "ser inte företaget Grannbolaget AB" in response.text
    with app.app_context():
        assert db.session.scalar(db.select(NmbrsConnection.token_last4)) == OTHER_TOKEN[-4:]

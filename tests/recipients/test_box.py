"""The Rapportmottagare box: add with +, replace with the pen, remove, and the history kept."""

from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    PayItemSetting,
    RecipientStatus,
    ReportRecipient,
)
from webapp.payitems import PayItem

from .helpers import active, add_single_company_nmbrs


def add_paxml(client, name="Fortnox-fil", encoding="ISO-8859-1"):
    return client.post(
        "/settings/recipients/new/paxml",
        data={"display_name": name, "program_name": "Fortnox Lön", "encoding": encoding},
    )


def test_empty_box_explains_what_to_do(client, admin):
    page = client.get("/settings/")
    assert "Rapportmottagare" in page.text
    assert "Inga rapportmottagare ännu" in page.text


def test_plus_offers_nmbrs_and_paxml(client, admin):
    chooser = client.get("/settings/recipients/new", headers={"HX-Request": "true"})
    assert "<dialog" in chooser.text
    assert "Nmbrs" in chooser.text and "PAXml-fil" in chooser.text
    assert "<html" not in chooser.text  # a fragment for htmx
    plain = client.get("/settings/recipients/new")
    assert "<html" in plain.text  # a whole page without JavaScript


def test_several_recipients_at_once_in_the_order_added(app, client, admin, nmbrs_sandbox):
    add_paxml(client, "Bokföring")
    add_single_company_nmbrs(client)
    page = client.get("/settings/").text
    assert page.index("Bokföring") < page.index("Nmbrs – Grannbolaget AB")
    assert "Aldrig synkad" in page
    assert "Fortnox Lön" in page and "ISO-8859-1" in page


def test_pen_replaces_paxml_with_nmbrs_after_naming_what_does_not_carry_over(
    app, client, admin, nmbrs_sandbox
):
    add_paxml(client)
    [old] = active(app)
    with app.app_context():
        db.session.add_all(
            [
                PayItemSetting(recipient_id=old.id, item=PayItem.OUTLAY.value, included=False),
                PayItemSetting(
                    recipient_id=old.id,
                    item=PayItem.MILEAGE_OWN_CAR_TAX_FREE.value,
                    included=True,
                    wage_code="711",
                ),
            ]
        )
        db.session.commit()
    menu = client.get(f"/settings/recipients/{old.id}/menu")
    assert "Ersätt med" in menu.text
    confirm = client.get(f"/settings/recipients/{old.id}/replace/nmbrs")
    assert "Följer inte med" in confirm.text
    assert "Valda lönearter för 1 värden" in confirm.text
    response = add_single_company_nmbrs(client, replace=old.id)
    assert response.status_code == 302
    [new] = active(app)
    with app.app_context():
        old_row = db.session.get(ReportRecipient, old.id)
        assert old_row.status == RecipientStatus.REPLACED
        assert old_row.replaced_by_id == new.id
        assert new.position == old.position
        carried = {
            s.item: (s.included, s.wage_code)
            for s in db.session.scalars(
                db.select(PayItemSetting).where(PayItemSetting.recipient_id == new.id)
            )
        }
        assert carried[PayItem.OUTLAY.value] == (False, None)  # the choice follows
        assert carried[PayItem.MILEAGE_OWN_CAR_TAX_FREE.value] == (True, None)  # wage type not
        actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert "recipient.replaced" in actions
    page = client.get("/settings/").text
    assert "Fortnox-fil" not in page


def test_remove_asks_first_then_keeps_the_history(app, client, admin):
    add_paxml(client)
    [recipient] = active(app)
    ask = client.get(f"/settings/recipients/{recipient.id}/remove")
    assert "Ta bort Fortnox-fil?" in ask.text
    assert active(app) != []
    client.post(f"/settings/recipients/{recipient.id}/remove")
    assert active(app) == []
    with app.app_context():
        assert db.session.get(ReportRecipient, recipient.id).status == RecipientStatus.REMOVED
    assert client.get(f"/settings/recipients/{recipient.id}").status_code == 404


def test_paxml_needs_a_name(app, client, admin):
    response = client.post(
        "/settings/recipients/new/paxml",
        data={"display_name": "", "encoding": "UTF-8"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "field-error" in response.text
    assert active(app) == []


def test_unknown_kind_is_404(client, admin):
    add_paxml(client)
    assert client.get("/settings/recipients/1/replace/excel").status_code in (404,)

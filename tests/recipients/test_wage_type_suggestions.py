"""Suggested wage types from the names Nmbrs gives them (the sandbox's demo wage model)."""

from sandbox.data import WAGE_TYPES
from webapp.models import WageType
from webapp.payitems import PayItem
from webapp.services.wage_type_suggestions import suggest


def demo_wage_types() -> list[WageType]:
    # Both wage models repeat some codes; the client keeps the first, and so do we.
    first = {}
    for code, text, _ in WAGE_TYPES:
        first.setdefault(code, text)
    return [WageType(code=str(code), description=text) for code, text in first.items()]


def test_every_value_gets_the_wage_type_its_name_describes():
    names = {str(code): text for code, text, _ in WAGE_TYPES}
    suggestions = suggest(demo_wage_types())
    assert names[suggestions[PayItem.MILEAGE_OWN_CAR_TAX_FREE]] == (
        "Milersättning egen bil skattefri"
    )
    assert names[suggestions[PayItem.MILEAGE_ELECTRIC_CAR_TAX_FREE]] == (
        "Milersättning förmånsbil el skattefri"
    )
    assert "el" not in names[suggestions[PayItem.MILEAGE_COMPANY_CAR_TAX_FREE]].split()
    assert names[suggestions[PayItem.DOMESTIC_HALF_DAY_TAXABLE]] == (
        "Traktamente inrikes halvdag skattepliktig"
    )
    assert "utrikes" in names[suggestions[PayItem.FOREIGN_FULL_DAY_TAX_FREE]]
    assert names[suggestions[PayItem.OUTLAY]] == "Utlägg"


def test_nothing_is_guessed_when_no_name_fits():
    suggestions = suggest([WageType(code="1000", description="Månadslön")])
    assert suggestions == {}


def test_the_dialog_shows_suggestions_but_saves_only_what_the_admin_saves(
    app, client, admin, nmbrs_sandbox
):
    from webapp.extensions import db
    from webapp.models import PayItemSetting

    from .helpers import active, add_single_company_nmbrs

    add_single_company_nmbrs(client)
    [recipient] = active(app)
    with app.app_context():
        for w in demo_wage_types():
            w.recipient_id, w.nmbrs_id = recipient.id, int(w.code)
            db.session.add(w)
        db.session.commit()
    dialog = client.get(f"/settings/recipients/{recipient.id}/advanced").text
    assert "Brygga har föreslagit lönearter" in dialog
    assert '<option value="5100" selected>' in dialog
    with app.app_context():
        assert db.session.scalars(db.select(PayItemSetting)).all() == []


def test_kostforman_and_taxable_vehicles_get_their_wage_types():
    wage_types = [
        WageType(code="7100", description="Kostförmån frukost"),
        WageType(code="7101", description="Kostförmån lunch"),
        WageType(code="7102", description="Kostförmån utrikes lunch"),
        WageType(code="7200", description="Milersättning motorcykel skattepliktig"),
        WageType(code="7201", description="Milersättning förmånsbil skattepliktig"),
    ]
    suggestions = suggest(wage_types)
    assert suggestions[PayItem.DOMESTIC_MEAL_BENEFIT_BREAKFAST] == "7100"
    assert suggestions[PayItem.DOMESTIC_MEAL_BENEFIT_LUNCH] == "7101"
    assert suggestions[PayItem.FOREIGN_MEAL_BENEFIT_LUNCH] == "7102"
    assert suggestions[PayItem.MILEAGE_MOTORCYCLE_TAXABLE] == "7200"
    assert PayItem.MILEAGE_MOPED_TAXABLE not in suggestions

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


def _suggested_names(names: list[str]) -> dict[PayItem, str]:
    wage_types = [WageType(code=str(7000 + i), description=n) for i, n in enumerate(names)]
    by_code = {w.code: w.description for w in wage_types}
    return {item: by_code[code] for item, code in suggest(wage_types).items()}


def test_names_without_the_vehicle_or_glued_together_are_suggested_too():
    """Issue 12, item 11: an account Brygga had never seen names its wage types plainly."""
    suggested = _suggested_names(
        [
            "Milersättning skattefri",
            "Milersättning skattepliktig",
            "Milersättning förmånsbil skattefri",
            "Nattraktamente",
            "Heldagstraktamente skattefritt",
            "Traktamente heldag skattepliktigt",
            "Halvdagstraktamente",
            "Utlandstraktamente heldag",
        ]
    )
    assert suggested == {
        PayItem.MILEAGE_OWN_CAR_TAX_FREE: "Milersättning skattefri",
        PayItem.MILEAGE_OWN_CAR_TAXABLE: "Milersättning skattepliktig",
        PayItem.MILEAGE_COMPANY_CAR_TAX_FREE: "Milersättning förmånsbil skattefri",
        PayItem.DOMESTIC_NIGHT_TAX_FREE: "Nattraktamente",
        PayItem.DOMESTIC_FULL_DAY_TAX_FREE: "Heldagstraktamente skattefritt",
        PayItem.DOMESTIC_FULL_DAY_TAXABLE: "Traktamente heldag skattepliktigt",
        PayItem.DOMESTIC_HALF_DAY_TAX_FREE: "Halvdagstraktamente",
        PayItem.FOREIGN_FULL_DAY_TAX_FREE: "Utlandstraktamente heldag",
    }


def test_the_most_specific_name_wins_and_no_wage_type_serves_two_values_by_accident():
    suggested = _suggested_names(
        [
            "Milersättning",
            "Milersättning egen bil skattefri",
            "Måltidsavdrag frukost lunch middag",
            "Traktamente heldag och halvdag skattefri",
        ]
    )
    assert suggested[PayItem.MILEAGE_OWN_CAR_TAX_FREE] == "Milersättning egen bil skattefri"
    meals = [
        PayItem.DOMESTIC_MEAL_REDUCTION_BREAKFAST,
        PayItem.DOMESTIC_MEAL_REDUCTION_LUNCH,
        PayItem.DOMESTIC_MEAL_REDUCTION_DINNER,
    ]
    assert [suggested.get(item) for item in meals].count("Måltidsavdrag frukost lunch middag") == 1
    # A name for two kinds of day fits neither clearly.
    assert "Traktamente heldag och halvdag skattefri" not in suggested.values()
    # Across the sandbox's wage model, only the declared sharing repeats a wage type.
    codes = suggest(demo_wage_types())
    shared = {code for code in codes.values() if list(codes.values()).count(code) > 1}
    assert {item for item, code in codes.items() if code in shared} == {
        PayItem.MILEAGE_COMPANY_CAR_TAXABLE,
        PayItem.MILEAGE_ELECTRIC_CAR_TAXABLE,
    }


def test_the_summary_counts_a_value_without_wage_type_as_not_sent(
    app, client, admin, nmbrs_sandbox
):
    """The recipient view once said "27 av 27 värden skickas" beside "14 saknar löneart och
    skickas inte"."""
    from webapp.extensions import db

    from .helpers import active, add_single_company_nmbrs

    add_single_company_nmbrs(client)
    [recipient] = active(app)
    with app.app_context():
        db.session.add(
            WageType(recipient_id=recipient.id, nmbrs_id=5500, code="5500", description="Utlägg")
        )
        db.session.commit()
    form = {f"include-{item.value}": "on" for item in PayItem}
    form["wage-outlay"] = "5500"
    assert client.post(f"/settings/recipients/{recipient.id}/advanced", data=form).status_code in (
        200,
        302,
    )
    page = client.get(f"/settings/recipients/{recipient.id}").text
    assert "1 av 36 värden skickas." in page
    assert "35 saknar löneart och skickas inte förrän en väljs" in page


def test_opening_every_choice_shows_each_value_with_its_wage_type_or_why_it_is_not_sent(
    app, client, admin, nmbrs_sandbox
):
    """The recipient view's "Visa alla val" fetches the table when opened."""
    from webapp.extensions import db

    from .helpers import active, add_single_company_nmbrs

    add_single_company_nmbrs(client)
    [recipient] = active(app)
    with app.app_context():
        db.session.add(
            WageType(recipient_id=recipient.id, nmbrs_id=5500, code="5500", description="Utlägg")
        )
        db.session.commit()
    form = {
        f"include-{item.value}": "on" for item in PayItem if item != PayItem.MILEAGE_MOPED_TAXABLE
    }
    form["wage-outlay"] = "5500"
    client.post(f"/settings/recipients/{recipient.id}/advanced", data=form)
    view = client.get(f"/settings/recipients/{recipient.id}").text
    url = f"/settings/recipients/{recipient.id}/advanced/choices"
    assert f'hx-get="{url}"' in view
    choices = client.get(url, headers={"HX-Request": "true"}).text
    outlay = choices[choices.index('line-label">Utlägg</th>') :].split("</tr>")[0]
    assert "5500" in outlay
    moped = choices[choices.index('line-label">Moped</th>') :].split("</tr>")[0]
    assert "skickas inte" in moped
    car = choices[choices.index('line-label">Egen bil</th>') :].split("</tr>")[0]
    assert "ingen löneart vald" in car

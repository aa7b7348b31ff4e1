"""The preview shows every line that will be sent and every line that will not, with why."""

from __future__ import annotations

import re

from tests.reports.helpers import login, text_of
from tests.sync.helpers import start_sync, work
from tests.transfers.helpers import (
    WAGE_CODES,
    approved_report,
    choose_wage_types,
    company_id,
    connect_nmbrs,
    staff,
    stored,
)
from webapp.models import Role
from webapp.payitems import PayItem


def preview(client, rid, reports, **params):
    query = "&".join(f"report_id={r}" for r in reports)
    extra = "".join(f"&{k}={v}" for k, v in params.items())
    return text_of(client.get(f"/transfers/preview?recipient_id={rid}&{query}{extra}"))


def reasons(page: str) -> list[str]:
    return re.findall(r'data-reason="(\w+)"', page)


def test_every_line_not_sent_is_listed_with_its_reason(app, people, nmbrs_sandbox, fast):
    s = staff(app, people)
    people.user(Role.EMPLOYEE, email="nora@testbolaget.se", name="Nora Nyanställd")
    nora = login(app, "nora@testbolaget.se")
    rid = connect_nmbrs(app, s.admin)
    # No wage type for outlays, and the taxable mileage part left out on purpose.
    codes = {k: v for k, v in WAGE_CODES.items() if k != PayItem.OUTLAY}
    choose_wage_types(app, rid, codes, excluded=(PayItem.MILEAGE_OWN_CAR_TAXABLE,))
    mapped = approved_report(s, "maria", km="300", outlay="100", cc="KS-100")
    s.nora = nora
    unmapped = approved_report(s, "nora", km="100", outlay="", title="Nora reser")
    # The company pays 30 kr/mil: 5 kr/mil of it is taxable.
    s.admin.post("/reports/policy", data={"valid_from": "2026-01-01", "own_car": "30"})
    policy_report = approved_report(s, "maria", km="100", outlay="", title="Med policy")

    page = preview(s.admin, rid, [mapped, unmapped, policy_report])
    # 30 mil × 25 kr for Maria's report, 10 mil × 25 kr tax-free of the 30 kr/mil report.
    assert "Skickas (2 rader, 1 000,00 kr)" in page and "Varav kostförmån" not in page
    assert sorted(reasons(page)) == sorted(["no_wage_type", "no_employee", "not_included"]), (
        reasons(page)
    )
    assert "Ingen löneart är vald för det här värdet i Avancerade inställningar." in page
    assert "Den anställda är inte kopplad till någon anställd i Nmbrs." in page
    assert "Skickas inte enligt Avancerade inställningar." in page
    assert "Kostnadsstället KS-100 finns inte i Nmbrs" not in page  # its line is not sent anyway


def test_an_archived_wage_type_and_an_unknown_cost_center_are_named(
    app, people, nmbrs_sandbox, fast
):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    report = approved_report(s, "maria", km="300", outlay="100", cc="KS-100")
    nmbrs_sandbox.state.remove_wage_type(company_id(nmbrs_sandbox), 5100)
    start_sync(s.admin, rid)
    work(app)
    page = preview(s.admin, rid, [report])
    assert reasons(page) == ["wage_type_archived"]
    assert "Lönearten är arkiverad i Nmbrs. 5100 Milersättning egen bil skattefri" in page
    assert "Kostnadsstället KS-100 finns inte i Nmbrs; raden skickas utan kostnadsställe." in page


def test_a_past_period_is_locked_until_the_admin_confirms_it(app, people, nmbrs_sandbox, fast):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    report = approved_report(s, "maria", km="300", outlay="")
    page = preview(s.admin, rid, [report], year=2026, period=10)
    assert "Nmbrs aktuella period är 2026-11." in page
    assert reasons(page) == ["period_locked"]
    assert "Perioden är låst" in page and "Jag bekräftar" in page
    assert "Skickas (0 rader" in page
    confirmed = preview(s.admin, rid, [report], year=2026, period=10, confirm_past="y")
    assert reasons(confirmed) == [] and "Skickas (1 rader, 750,00 kr)" in confirmed
    assert 'name="confirm_past" value="y">' in confirmed  # carried to Skicka


def test_when_nmbrs_is_down_at_the_preview_it_says_so_and_that_nothing_was_sent(
    app, people, nmbrs_sandbox, fast
):
    """Issue 12, item 15: the preview once said "Inget har skickats som inte redan
    bekräftats…", a sending error's words, while nothing was being sent."""
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    report = approved_report(s, "maria", km="300", outlay="")
    nmbrs_sandbox.state.set_failure("html503")
    page = preview(s.admin, rid, [report])
    assert (
        "Nmbrs kunde inte nås just nu, så Brygga kunde inte läsa den aktuella löneperioden. "
        "Inget har skickats." in page
    )
    assert "som inte redan bekräftats" not in page
    assert stored(nmbrs_sandbox) == []


def test_a_line_the_approver_rejected_is_neither_shown_nor_sent(app, people, nmbrs_sandbox, fast):
    from webapp.extensions import db
    from webapp.models import ExpenseLine, LineKind

    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    report = approved_report(s, "maria", km="300", outlay="100")
    with app.app_context():
        outlay = db.session.scalars(
            db.select(ExpenseLine).where(
                ExpenseLine.report_id == report, ExpenseLine.kind == LineKind.OUTLAY
            )
        ).one()
        outlay.rejected = True
        db.session.commit()
    page = preview(s.admin, rid, [report])
    assert "Skickas (1 rader, 750,00 kr)" in page, page
    assert reasons(page) == []


def test_the_collector_paused_for_a_large_plan_is_left_as_it_was_found():
    import gc

    import pytest

    from webapp.services.transfer.plan import collector_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("a plan that fails half-way")
    assert gc.isenabled()  # back on, also after an error
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # someone else had it off: still off
    finally:
        gc.enable()

from datetime import date

from webapp.extensions import db
from webapp.models import AuditEvent, ReportStatus
from webapp.services import tax_years

from .helpers import (
    PDF,
    add_mileage,
    add_outlay,
    add_trip,
    company,
    login,
    new_report,
    report_row,
    text_of,
)


def test_employee_files_mileage_at_the_companys_rate_and_sees_the_split(app, people):
    staff = company(people)
    admin = login(app, staff["admin"])
    response = admin.post("/reports/policy", data={"valid_from": "2026-01-01", "own_car": "30"})
    assert response.status_code == 302

    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    assert add_mileage(maria, report_id).status_code == 302
    page = text_of(maria.get(f"/reports/{report_id}"))
    # 30 mil at 30 kr: 750 kr tax-free (25 kr/mil) and 150 kr taxable.
    assert "Skattefritt <strong>750,00 kr</strong>" in page
    assert "Skattepliktigt <strong>150,00 kr</strong>" in page
    assert "Milersättning egen bil, skattepliktig" in page


def test_full_day_with_free_lunch_shows_300_minus_105(app, people):
    staff = company(people)
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    response = add_trip(maria, report_id, meals=[("2026-03-03", "lunch")])
    assert response.status_code == 302
    page = text_of(maria.get(f"/reports/{report_id}"))
    assert "−105,00 kr" in page  # the lunch reduction as its own pay line
    assert "195,00 kr" in page  # the day's tax-free amount
    assert "Skattefritt <strong>795,00 kr</strong>" in page  # 3 × 300 − 105


def test_outlay_keeps_its_receipt_and_cost_center(app, people):
    staff = company(people)
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    assert add_outlay(maria, report_id, content=PDF, filename="../../tåg.pdf").status_code == 302
    page = text_of(maria.get(f"/reports/{report_id}"))
    assert "1 234,50 kr" in page
    assert "kostnadsställe KS-100" in page
    line_id = report_row(app, report_id).lines[0].id
    receipt = maria.get(f"/reports/{report_id}/lines/{line_id}/receipt")
    assert receipt.status_code == 200
    assert receipt.data == PDF
    assert receipt.mimetype == "application/pdf"
    assert receipt.headers["Cache-Control"] == "no-store"  # not kept in the browser's cache
    # The name without its path, in UTF-8 for the browser.
    assert "filename*=UTF-8''t%C3%A5g.pdf" in receipt.headers["Content-Disposition"]
    # The code used is offered for the next line.
    assert '<option value="KS-100">' in maria.get(f"/reports/{report_id}").text


def _nothing_saved(app, report_id):
    assert report_row(app, report_id).lines == []


def test_a_fake_receipt_is_refused_and_nothing_saved(app, people):
    maria = login(app, company(people)["maria"])
    report_id = new_report(maria)
    response = add_outlay(maria, report_id, content=b"MZ\x90\x00 not an image", filename="k.jpg")
    assert response.status_code == 422
    assert "Kvittot måste vara en JPEG-, PNG- eller PDF-fil." in response.text
    _nothing_saved(app, report_id)


def test_an_oversize_receipt_is_refused(app, people):
    maria = login(app, company(people)["maria"])
    report_id = new_report(maria)
    big = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024)
    response = add_outlay(maria, report_id, content=big, filename="stor.pdf")
    assert response.status_code == 422
    assert "Kvittot är större än 10 MB." in response.text
    _nothing_saved(app, report_id)


def test_an_outlay_needs_a_receipt(app, people):
    maria = login(app, company(people)["maria"])
    report_id = new_report(maria)
    response = add_outlay(maria, report_id, content=None)
    assert "Bifoga kvittot" in response.text
    _nothing_saved(app, report_id)


def test_bad_trips_and_distances_get_clear_messages(app, people):
    maria = login(app, company(people)["maria"])
    report_id = new_report(maria)
    cases = [
        (add_mileage(maria, report_id, km="-30"), "Ange en körsträcka större än 0 km."),
        (add_mileage(maria, report_id, km="tre"), "Ange ett tal, till exempel 1 234,50."),
        (
            add_trip(maria, report_id, return_date="2026-03-01"),
            "Hemkomsten måste vara efter avresan.",
        ),
        (
            add_trip(maria, report_id, departure_date="2025-01-01", return_date="2026-02-04"),
            "En resa kan vara högst 366 dagar per rad.",
        ),
        (add_trip(maria, report_id, country="XX"), "Okänt land: XX."),
    ]
    for response, message in cases:
        assert response.status_code == 422
        assert message in response.text
    _nothing_saved(app, report_id)


def test_a_foreign_trip_in_a_year_without_a_table_says_so_until_imported(app, people):
    staff = company(people)
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    response = add_trip(maria, report_id, country="NO")
    assert "normalbelopp för utlandstraktamente 2026 saknas" in response.text
    _nothing_saved(app, report_id)

    admin = login(app, staff["admin"])
    page = admin.get("/reports/foreign-tables")
    assert "Saknas: utrikes traktamente kan inte beräknas för 2026." in page.text
    csv = (
        "country_sv,iso_code,amount_sek,see_also\nNorge,NO,1054,\nÖvriga länder och områden,,500,\n"
    )
    import io

    response = admin.post(
        "/reports/foreign-tables",
        data={"year": "2026", "table": (io.BytesIO(csv.encode()), "norm.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200  # first what was read, nothing saved yet
    assert "1 länder med belopp." in response.text
    assert "Saknas: utrikes traktamente kan inte beräknas för 2026." in response.text
    response = admin.post(
        "/reports/foreign-tables", data={"year": "2026", "text": csv, "action": "save"}
    )
    assert response.status_code == 302
    assert "Importerad" in admin.get("/reports/foreign-tables").text

    assert add_trip(maria, report_id, country="NO").status_code == 302
    page = text_of(maria.get(f"/reports/{report_id}"))
    assert "Normalbelopp NO 2026: 1 054,00 kr per dag." in page
    assert "Skattefritt <strong>3 162,00 kr</strong>" in page  # 3 full days, lodging paid


def test_a_foreign_day_in_denmark_2024(app, people):
    maria = login(app, company(people)["maria"])
    report_id = new_report(maria)
    response = add_trip(
        maria,
        report_id,
        country="DK",
        departure_date="2024-05-02",
        return_date="2024-05-03",
    )
    assert response.status_code == 302
    page = text_of(maria.get(f"/reports/{report_id}"))
    assert "Normalbelopp DK 2024: 1 274,00 kr per dag." in page
    assert "Skattefritt <strong>2 548,00 kr</strong>" in page


def test_a_broken_foreign_table_is_refused(app, people):
    admin = login(app, company(people)["admin"])
    import io

    garbage = b"Det h\xc3\xa4r \xc3\xa4r ingen tabell\nbara text\n"
    response = admin.post(
        "/reports/foreign-tables",
        data={"year": "2025", "table": (io.BytesIO(garbage), "x.csv")},
        content_type="multipart/form-data",
    )
    assert "0 länder med belopp." in response.text
    assert "Rader som inte förstods (2)" in response.text
    assert "Spara tabellen" not in response.text
    response = admin.post(
        "/reports/foreign-tables",
        data={"year": "2025", "text": garbage.decode(), "action": "save"},
    )
    assert response.status_code == 422
    assert "Brygga kunde inte läsa några länder med belopp ur texten." in response.text
    assert "Importerad" not in admin.get("/reports/foreign-tables").text


def test_submit_withdraw_submit_approve_and_ready_to_send(app, people):
    staff = company(people)
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    add_mileage(maria, report_id)
    maria.post(f"/reports/{report_id}/submit")
    assert report_row(app, report_id).status == ReportStatus.SUBMITTED
    # Submitted: no more changes until withdrawn.
    response = add_mileage(maria, report_id)
    assert "Dra tillbaka den först" in response.text
    maria.post(f"/reports/{report_id}/withdraw")
    assert report_row(app, report_id).status == ReportStatus.DRAFT
    maria.post(f"/reports/{report_id}/submit")

    approver = login(app, staff["approver"])
    queue = approver.get("/reports/approvals")
    assert "Kundbesök Göteborg" in queue.text and "Maria Anställd" in queue.text
    response = approver.post(f"/reports/{report_id}/approve")
    assert response.status_code == 302
    assert report_row(app, report_id).status == ReportStatus.APPROVED
    assert "Kundbesök Göteborg" not in approver.get("/reports/approvals").text

    # Approved: the employee can no longer withdraw it.
    maria.post(f"/reports/{report_id}/withdraw")
    assert report_row(app, report_id).status == ReportStatus.APPROVED

    admin = login(app, staff["admin"])
    ready = text_of(admin.get("/reports/ready"))
    assert "Kundbesök Göteborg" in ready and "750,00 kr" in ready

    with app.app_context():
        actions = db.session.scalars(
            db.select(AuditEvent.action)
            .where(AuditEvent.action.like("report.%"))
            .order_by(AuditEvent.id)
        ).all()
    assert actions == [
        "report.created",
        "report.line_added",
        "report.submitted",
        "report.withdrawn",
        "report.submitted",
        "report.approved",
    ]


def test_rejected_report_shows_the_reason_and_can_be_fixed_and_resubmitted(app, people):
    staff = company(people)
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    add_mileage(maria, report_id)
    maria.post(f"/reports/{report_id}/submit")

    approver = login(app, staff["approver"])
    empty = approver.post(f"/reports/{report_id}/reject", data={"reason": "  "})
    assert empty.status_code == 302
    assert report_row(app, report_id).status == ReportStatus.SUBMITTED
    approver.post(f"/reports/{report_id}/reject", data={"reason": "Fel datum på resan."})

    page = maria.get(f"/reports/{report_id}")
    assert "Återskickad: Fel datum på resan." in page.text
    assert add_mileage(maria, report_id, date="2026-03-03").status_code == 302
    maria.post(f"/reports/{report_id}/submit")
    assert report_row(app, report_id).status == ReportStatus.SUBMITTED


def test_rejected_line_no_longer_counts_and_its_reason_is_shown(app, people):
    staff = company(people)
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    add_mileage(maria, report_id)
    add_mileage(maria, report_id, km="100", purpose="Privat ärende?")
    maria.post(f"/reports/{report_id}/submit")
    line_id = report_row(app, report_id).lines[1].id

    approver = login(app, staff["approver"])
    approver.post(
        f"/reports/{report_id}/lines/{line_id}/reject", data={"reason": "Inte i tjänsten."}
    )
    approver.post(f"/reports/{report_id}/approve")
    report = report_row(app, report_id)
    assert report.status == ReportStatus.APPROVED
    assert report.total == 750  # only the first line: 30 mil × 25 kr
    page = text_of(maria.get(f"/reports/{report_id}"))
    assert "Avvisad: Inte i tjänsten." in page


def test_a_report_with_every_line_rejected_cannot_be_approved(app, people):
    staff = company(people)
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    add_mileage(maria, report_id)
    maria.post(f"/reports/{report_id}/submit")
    line_id = report_row(app, report_id).lines[0].id
    approver = login(app, staff["approver"])
    approver.post(f"/reports/{report_id}/lines/{line_id}/reject", data={"reason": "Nej."})
    response = approver.post(f"/reports/{report_id}/approve", follow_redirects=True)
    assert "Alla rader är avvisade" in response.text
    assert report_row(app, report_id).status == ReportStatus.SUBMITTED


def test_an_empty_report_cannot_be_submitted(app, people):
    maria = login(app, company(people)["maria"])
    report_id = new_report(maria)
    response = maria.post(f"/reports/{report_id}/submit", follow_redirects=True)
    assert "Lägg till minst en rad" in response.text
    assert report_row(app, report_id).status == ReportStatus.DRAFT


def test_employee_deletes_a_line_of_a_draft(app, people):
    maria = login(app, company(people)["maria"])
    report_id = new_report(maria)
    add_mileage(maria, report_id)
    line_id = report_row(app, report_id).lines[0].id
    maria.post(f"/reports/{report_id}/lines/{line_id}/delete")
    assert report_row(app, report_id).lines == []


def test_htmx_add_line_swaps_the_report_and_shows_errors_with_200(app, people):
    maria = login(app, company(people)["maria"])
    report_id = new_report(maria)
    maria.environ_base["HTTP_HX_REQUEST"] = "true"
    ok = add_mileage(maria, report_id)
    assert ok.status_code == 200
    assert ok.text.lstrip().startswith('<div id="report">')
    assert "Raden är sparad." in ok.text
    bad = add_mileage(maria, report_id, km="-5")
    assert bad.status_code == 200
    assert "Ange en körsträcka större än 0 km." in bad.text
    assert len(report_row(app, report_id).lines) == 1


def test_trip_days_fragment_lists_the_days_for_meals(app, people):
    maria = login(app, company(people)["maria"])
    report_id = new_report(maria)
    response = maria.get(
        f"/reports/{report_id}/trip-days",
        query_string={"trip-departure_date": "2026-03-02", "trip-return_date": "2026-03-04"},
    )
    assert response.text.count("<select") == 9  # what each meal was, per day
    assert 'name="trip-meal-2026-03-03-lunch"' in response.text


def test_admin_policy_and_the_settings_fragment(app, people, monkeypatch):
    monkeypatch.setattr(tax_years, "today", lambda: date(2026, 6, 1))
    staff = company(people)
    admin = login(app, staff["admin"])
    fragment = admin.get("/reports/policy/summary")
    assert "Skatteverkets skattefria belopp betalas ut." in fragment.text
    # This year's table is missing (older years are not nagged about).
    assert "Utlandstraktamente saknas för: 2026." in fragment.text
    bad = admin.post("/reports/policy", data={"valid_from": "2026-01-01", "full_day": "-1"})
    assert bad.status_code == 422
    assert "Beloppen måste vara mellan 0 och 100 000 kr." in bad.text
    response = admin.post(
        "/reports/policy",
        data={"valid_from": "2026-01-01", "full_day": "350", "one_day": "120"},
    )
    assert response.status_code == 302
    assert (
        "Egna ersättningsnivåer gäller från 2026-01-01."
        in admin.get("/reports/policy/summary").text
    )

    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    add_trip(maria, report_id, return_date="2026-03-03")  # two full days at 350
    add_trip(maria, report_id, return_date="2026-03-02", stayed_overnight="no")  # one day
    page = text_of(maria.get(f"/reports/{report_id}"))
    assert "Skattefritt <strong>600,00 kr</strong>" in page
    assert "Skattepliktigt <strong>220,00 kr</strong>" in page  # 2 × 50 + 120
    assert "Endagstraktamente inrikes, skattepliktigt" in page


def test_without_javascript_the_meal_grid_comes_from_a_button(app, people):
    maria = login(app, company(people)["maria"])
    report_id = new_report(maria)
    response = maria.post(
        f"/reports/{report_id}/lines/per_diem",
        data={
            "trip-departure_date": "2026-03-02",
            "trip-return_date": "2026-03-03",
            "action": "days",
        },
    )
    assert response.status_code == 200
    assert 'name="trip-meal-2026-03-03-dinner"' in response.text
    assert report_row(app, report_id).lines == []

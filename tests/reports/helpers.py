"""Helpers for the report tests: people, logins and the forms as a browser posts them."""

from __future__ import annotations

import io
import re

from tests.support import PASSWORD
from webapp.extensions import db
from webapp.models import ExpenseReport, Role

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def login(app, email):
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, "login failed"
    return client


def company(people, org="Testbolaget AB"):
    """An admin, an approver and two employees of one organization, logged in on own clients."""
    domain = org.split()[0].lower()
    return {
        "admin": people.user(Role.ADMIN, org=org, email=f"admin@{domain}.se", name="Anna Admin"),
        "approver": people.user(
            Role.APPROVER, org=org, email=f"attest@{domain}.se", name="Erik Attest"
        ),
        "maria": people.user(
            Role.EMPLOYEE, org=org, email=f"maria@{domain}.se", name="Maria Anställd"
        ),
        "johan": people.user(
            Role.EMPLOYEE, org=org, email=f"johan@{domain}.se", name="Johan Anställd"
        ),
    }


def new_report(client, title="Kundbesök Göteborg"):
    response = client.post("/reports/new", data={"title": title})
    assert response.status_code == 302, response.text
    return int(re.search(r"/reports/(\d+)$", response.headers["Location"]).group(1))


def add_mileage(client, report_id, **fields):
    data = {
        "mileage-date": "2026-03-02",
        "mileage-from_place": "Stockholm",
        "mileage-to_place": "Uppsala",
        "mileage-purpose": "Kundmöte",
        "mileage-km": "300",
        "mileage-vehicle": "own_car",
        "mileage-employee_paid_fuel": "y",
    }
    data.update({f"mileage-{k}": v for k, v in fields.items()})
    return client.post(f"/reports/{report_id}/lines/mileage", data=data)


def add_outlay(client, report_id, content=PNG, filename="kvitto.png", **fields):
    data = {
        "outlay-date": "2026-03-02",
        "outlay-description": "Tågbiljett",
        "outlay-category": "Resor",
        "outlay-amount": "1 234,50",
        "outlay-vat": "74,07",
        "outlay-cost_center": "KS-100",
    }
    data.update({f"outlay-{k}": v for k, v in fields.items()})
    if content is not None:
        data["outlay-receipt"] = (io.BytesIO(content), filename)
    return client.post(
        f"/reports/{report_id}/lines/outlay", data=data, content_type="multipart/form-data"
    )


def add_trip(client, report_id, meals=(), **fields):
    data = {
        "trip-purpose": "Mässa",
        "trip-destination": "Malmö",
        "trip-country": "SE",
        "trip-departure_date": "2026-03-02",
        "trip-departure_time": "07:00",
        "trip-return_date": "2026-03-04",
        "trip-return_time": "20:00",
        "trip-far_from_home": "y",
        "trip-lodging_paid_by_employer": "y",
        "trip-stayed_overnight": "yes",
    }
    for key, value in fields.items():
        if value is None:
            data.pop(f"trip-{key}", None)
        else:
            data[f"trip-{key}"] = value
    for day, meal in meals:
        data[f"trip-meal-{day}-{meal}"] = "1"
    return client.post(f"/reports/{report_id}/lines/per_diem", data=data)


def report_row(app, report_id) -> ExpenseReport:
    with app.app_context():
        report = db.session.get(ExpenseReport, report_id)
        report.lines  # noqa: B018  (load while the session is open)
        db.session.expunge_all()
        return report


def text_of(response) -> str:
    """The page's text with the non-breaking spaces of amounts made plain."""
    return response.get_data(as_text=True).replace("\u00a0", " ")

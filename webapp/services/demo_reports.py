"""Demo expense reports for the demo organization (called from `demo.seed()`)."""

from __future__ import annotations

import base64
from datetime import date, datetime
from decimal import Decimal

from webapp.extensions import db
from webapp.models import ExpenseReport, Organization, Role, User
from webapp.services import expense_reports as service
from webapp.services.per_diem import DayMeals, MealProvision
from webapp.services.rates import VehicleKind
from webapp.services.receipts import CheckedReceipt

# A 1×1 white PNG: a receipt that passes the content check.
DEMO_RECEIPT_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC"
)


def seed_reports(org_name: str, people: list[tuple]) -> list[str]:
    """Create a few reports for the demo `people` (email, name, role, number) unless the
    organization `org_name` already has some."""
    org = db.session.scalar(db.select(Organization).where(Organization.name == org_name))
    if org is None:
        return []
    has_reports = db.session.scalar(
        db.select(ExpenseReport.id).where(ExpenseReport.organization_id == org.id).limit(1)
    )
    if has_reports:
        return []
    # Whoever the demo people are: the first two employees and the first approver.
    found = {role: [User.by_email(e) for e, _, r, _ in people if r == role] for role in Role}
    employees = [u for u in found[Role.EMPLOYEE] if u is not None]
    approvers = [u for u in found[Role.APPROVER] if u is not None]
    if len(employees) < 2 or not approvers:
        return []
    first, second, approver = employees[0], employees[1], approvers[0]
    receipt = CheckedReceipt("hotell.png", "image/png", DEMO_RECEIPT_PNG)

    # Approved: waits in "Redo att skickas".
    approved = service.create_report(first, "Kundbesök Uppsala, oktober")
    service.add_mileage(
        approved,
        first,
        service.MileageInput(
            date(2026, 10, 6), "Stockholm", "Uppsala", "Kundmöte", Decimal(142), VehicleKind.OWN_CAR
        ),
    )
    service.add_outlay(
        approved,
        first,
        service.OutlayInput(
            date(2026, 10, 6), "Parkering", "Resor", Decimal(120), Decimal(24), "KS-100", receipt
        ),
    )
    service.submit(approved, first)
    service.approve(approved, approver)

    # Submitted: waits in "Att attestera".
    trip = service.create_report(first, "Mässa i Malmö, november")
    service.add_per_diem(
        trip,
        first,
        service.PerDiemInput(
            purpose="Mässa",
            destination="Malmö",
            country_code="SE",
            departs_at=datetime(2026, 11, 2, 7, 10),
            returns_at=datetime(2026, 11, 4, 18, 30),
            lodging_paid_by_employer=True,
            meals={
                date(2026, 11, 3): DayMeals(
                    breakfast=MealProvision.WITH_ROOM, lunch=MealProvision.BUSINESS
                )
            },
        ),
    )
    service.add_outlay(
        trip,
        first,
        service.OutlayInput(
            date(2026, 11, 2), "Taxi till mässan", "Resor", Decimal("289.00"), Decimal("17.34"),
            "KS-100", receipt,
        ),
    )  # fmt: skip
    service.submit(trip, first)

    # A draft: a company-car journey not yet submitted.
    draft = service.create_report(second, "Leverantörsbesök")
    service.add_mileage(
        draft,
        second,
        service.MileageInput(
            date(2026, 11, 10), "Västerås", "Örebro", "Leverantörsmöte", Decimal(110),
            VehicleKind.COMPANY_CAR,
        ),
    )  # fmt: skip
    db.session.flush()
    return ["Demo reports: 1 approved, 1 waiting for approval, 1 draft"]

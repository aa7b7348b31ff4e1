"""The demo organization that `make dev` starts with."""

from __future__ import annotations

from webapp.extensions import db
from webapp.models import Role, User
from webapp.services import accounts, demo_reports

DEMO_ORG = "Fjällviks Bygg AB"
DEMO_PASSWORD = "brygga-demo-2026"
# The same people, with the same employee numbers, as the sandbox's demo company in Nmbrs, so
# that matching employees after the first sync finds them. One person has no number on purpose.
DEMO_PEOPLE = [
    ("admin@demo.se", "Axel Lindström", Role.ADMIN, "1001"),
    ("attest@demo.se", "Kristina Wallin", Role.APPROVER, "1002"),
    ("goran@demo.se", "Göran Lindqvist", Role.EMPLOYEE, "1003"),
    ("ebba@demo.se", "Ebba Forsberg", Role.EMPLOYEE, "1004"),
    ("nyanstalld@demo.se", "Nora Nyström", Role.EMPLOYEE, None),
]


def seed() -> list[str]:
    """Create the demo organization and people when missing; return lines to print."""
    org = accounts.get_or_create_organization(DEMO_ORG)
    for email, name, role, number in DEMO_PEOPLE:
        if User.by_email(email) is None:
            accounts.create_user(org, email, DEMO_PASSWORD, name, role, employee_number=number)
    db.session.flush()
    demo_reports.seed_reports(DEMO_ORG, DEMO_PEOPLE)
    return [
        f"Demo login: {email} / {DEMO_PASSWORD} ({role.value})" for email, _, role, _ in DEMO_PEOPLE
    ]

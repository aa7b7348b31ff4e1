"""The demo organization that `make dev` starts with."""

from __future__ import annotations

from webapp.extensions import db
from webapp.models import Role, User
from webapp.services import accounts

DEMO_ORG = "Demo AB"
DEMO_PASSWORD = "brygga-demo-2026"
# Employee numbers match employees of the sandbox's demo company, so mapping has something to find.
DEMO_PEOPLE = [
    ("admin@demo.se", "Anna Lindqvist", Role.ADMIN, "1001"),
    ("attest@demo.se", "Erik Johansson", Role.APPROVER, "1002"),
    ("maria@demo.se", "Maria Andersson", Role.EMPLOYEE, "1003"),
    ("johan@demo.se", "Johan Karlsson", Role.EMPLOYEE, "1004"),
]


def seed() -> list[str]:
    """Create the demo organization and people when missing; return lines to print."""
    org = accounts.get_or_create_organization(DEMO_ORG)
    for email, name, role, number in DEMO_PEOPLE:
        if User.by_email(email) is None:
            accounts.create_user(org, email, DEMO_PASSWORD, name, role, employee_number=number)
    db.session.flush()
    return [
        f"Demo login: {email} / {DEMO_PASSWORD} ({role.value})" for email, _, role, _ in DEMO_PEOPLE
    ]

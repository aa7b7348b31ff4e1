"""Small steps the recipient tests share."""

from __future__ import annotations

import re

from sandbox.data import DEMO_TOKEN, DEMO_USERNAME, OTHER_TOKEN, OTHER_USERNAME
from webapp.extensions import db
from webapp.models import RecipientStatus, ReportRecipient

__all__ = ["DEMO_TOKEN", "DEMO_USERNAME", "OTHER_TOKEN", "OTHER_USERNAME"]


def add_single_company_nmbrs(client, replace: int | None = None):
    """The neighbouring customer's key sees one company: saved in one step."""
    url = "/settings/recipients/new/nmbrs" + (f"?replace={replace}" if replace else "")
    return client.post(
        url, data={"username": OTHER_USERNAME, "token": OTHER_TOKEN, "environment": "se"}
    )


def add_demo_nmbrs(client, company_index: int = 0):
    """The demo key sees two companies: the second step picks one."""
    first = client.post(
        "/settings/recipients/new/nmbrs",
        data={"username": DEMO_USERNAME, "token": DEMO_TOKEN, "environment": "se"},
    )
    assert first.status_code == 200, first.text
    ref = re.search(r'name="ref"[^>]*value="([^"]+)"', first.text).group(1)
    company_ids = re.findall(r'name="company_id"[^>]*value="(\d+)"', first.text)
    return client.post(
        "/settings/recipients/new/nmbrs/company",
        data={"ref": ref, "company_id": company_ids[company_index]},
    )


def active(app) -> list[ReportRecipient]:
    with app.app_context():
        return list(
            db.session.scalars(
                db.select(ReportRecipient).where(ReportRecipient.status == RecipientStatus.ACTIVE)
            )
        )

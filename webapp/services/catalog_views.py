"""What the recipient view lists of the synced catalogues: counts, filtered tables."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_

from webapp.extensions import db
from webapp.models import (
    CostCenter,
    CostUnit,
    Department,
    PayrollEmployee,
    ReportRecipient,
    WageType,
)


@dataclass(frozen=True)
class Tab:
    model: type
    title: object
    code_label: object


TABS: dict[str, Tab] = {
    "wage_types": Tab(WageType, _l("Lönearter"), _l("Kod")),
    "cost_units": Tab(CostUnit, _l("Kostnadsenheter"), _l("Kod")),
    "cost_centers": Tab(CostCenter, _l("Kostnadsställen"), _l("Kod")),
    "departments": Tab(Department, _l("Avdelningar"), _l("Kod")),
    "employees": Tab(PayrollEmployee, _l("Anställda"), _l("Anställningsnr")),
}
MAX_ROWS = 500


def tab_or_default(tab: str | None) -> str:
    return tab if tab in TABS else "wage_types"


def counts(recipient: ReportRecipient) -> dict[str, int]:
    """Active items per tab (archived ones are listed but not counted)."""
    result = {}
    for key, tab in TABS.items():
        result[key] = db.session.scalar(
            db.select(func.count())
            .select_from(tab.model)
            .where(tab.model.recipient_id == recipient.id, tab.model.archived.is_(False))
        )
    return result


def table(recipient: ReportRecipient, tab: str, query: str = "") -> list:
    """Items of one catalogue, active first, filtered on code or description."""
    model = TABS[tab].model
    stmt = db.select(model).where(model.recipient_id == recipient.id)
    query = query.strip()
    if query:
        pattern = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(func.lower(model.code).like(pattern), func.lower(model.description).like(pattern))
        )
    # Length first: numeric codes ("9" before "10") sort as a payroll admin expects.
    stmt = stmt.order_by(model.archived, func.length(model.code), model.code).limit(MAX_ROWS)
    return list(db.session.scalars(stmt))

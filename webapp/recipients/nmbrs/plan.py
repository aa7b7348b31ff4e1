"""Nmbrs in the preview: each line's Nmbrs employee, wage type and cost center, or why not."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import CostCenter, PayrollEmployee, ReportRecipient, WageType
from webapp.nmbrs import PayrollPeriod
from webapp.recipients.nmbrs.access import (
    client_for,
    connection_of,
    remote_company_id,
    remote_id,
)


def current_period(recipient: ReportRecipient) -> PayrollPeriod:
    """The Nmbrs company's current payroll period (raises NmbrsError)."""
    connection = connection_of(recipient)
    client = client_for(connection)
    try:
        return client.current_period(remote_company_id(connection))
    finally:
        client.close()


class NmbrsPlanner:
    """Plans lines for one Nmbrs recipient from its synced catalogues (read once)."""

    def __init__(
        self,
        recipient: ReportRecipient,
        period: PayrollPeriod | None,
        current: PayrollPeriod | None,
        unprotected_confirmed: bool,
    ) -> None:
        self.connection = connection_of(recipient)
        # A period before Nmbrs' current one is locked unless the admin confirmed it.
        self.locked = bool(period and current and period < current and not unprotected_confirmed)
        self.employees: dict[int, PayrollEmployee] = {}
        self.wage_types: dict[str, WageType] = {}
        self.cost_centers: dict[str, CostCenter] = {}
        for pe in db.session.scalars(
            select(PayrollEmployee)
            .where(
                PayrollEmployee.recipient_id == recipient.id, PayrollEmployee.user_id.is_not(None)
            )
            .order_by(PayrollEmployee.archived, PayrollEmployee.id)
        ):
            if not pe.archived and pe.user_id is not None:
                self.employees.setdefault(pe.user_id, pe)
        for wt in db.session.scalars(select(WageType).where(WageType.recipient_id == recipient.id)):
            if wt.code not in self.wage_types or not wt.archived:
                self.wage_types[wt.code] = wt
        for cc in db.session.scalars(
            select(CostCenter).where(
                CostCenter.recipient_id == recipient.id, CostCenter.archived.is_(False)
            )
        ):
            self.cost_centers.setdefault(cc.code, cc)

    def plan(self, p, setting) -> None:
        connection, wage_types = self.connection, self.wage_types
        pe = self.employees.get(p.employee.id)
        if pe is not None:
            p.employee_ref = _as_text(remote_id(connection, pe))
            p.employee_number = pe.code
            p.employee_label = f"{pe.code} {pe.description}".strip()
        if p.cost_center_code:
            cc = self.cost_centers.get(p.cost_center_code)
            if cc is None:
                p.note = _(
                    "Kostnadsstället %(code)s finns inte i Nmbrs; raden skickas utan "
                    "kostnadsställe.",
                    code=p.cost_center_code,
                )
            else:
                p.cost_center_ref = _as_text(remote_id(connection, cc))
                p.cost_center_label = cc.label
        p.wage_code = setting.wage_code
        if setting.wage_code:
            wt = wage_types.get(setting.wage_code)
            p.wage_label = wt.label if wt else setting.wage_code
        if not setting.included:
            p.reason = "not_included"
        elif p.part.amount == 0:
            p.reason = "zero"
        elif pe is None or p.employee_ref is None:
            p.reason = "no_employee"
        elif not setting.wage_code:
            p.reason = "no_wage_type"
        elif setting.wage_code not in wage_types:
            p.reason, p.detail = "wage_type_missing", setting.wage_code
        elif wage_types[setting.wage_code].archived:
            p.reason, p.detail = "wage_type_archived", wage_types[setting.wage_code].label
        elif not setting.wage_code.isdigit():
            p.reason = "wage_type_not_numeric"


def _as_text(value) -> str | None:
    return None if value is None else str(value)

"""Nmbrs in the preview: each line's Nmbrs employee, wage type and cost center, or why not."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import Row, select

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
        # The mapped employees as plain rows (what `_plan_employee` reads): 500 ORM objects
        # cost more to load, before the first line of a transfer can be planned (measured).
        self.employees: dict[int, Row] = {}
        self.wage_types: dict[str, WageType] = {}
        self.cost_centers: dict[str, CostCenter] = {}
        # What `plan` worked out per employee, cost center and setting.
        self._employee: dict[int, tuple[bool, str | None, str | None, str]] = {}
        self._cost_center: dict[str, tuple[str | None, str | None, str]] = {}
        self._wage: dict[tuple[str | None, bool], tuple[str | None, str, str | None, str]] = {}
        for pe in db.session.connection().execute(
            select(
                PayrollEmployee.user_id,
                PayrollEmployee.archived,
                PayrollEmployee.code,
                PayrollEmployee.description,
                PayrollEmployee.nmbrs_id,
                PayrollEmployee.rest_id,
            )
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
        # What a line gets depends on its employee, its cost center and its pay item's setting:
        # each is worked out once (10,000 lines are a few hundred of each).
        employee = self._employee.get(p.user_id)
        if employee is None:
            employee = self._employee[p.user_id] = self._plan_employee(p.user_id)
        found, ref, number, label = employee
        if found:
            p.employee_ref, p.employee_number, p.employee_label = ref, number, label
        if p.cost_center_code:
            cost_center = self._cost_center.get(p.cost_center_code)
            if cost_center is None:
                cost_center = self._cost_center[p.cost_center_code] = self._plan_cost_center(
                    p.cost_center_code
                )
            p.note, p.cost_center_ref, p.cost_center_label = cost_center
        wage = self._wage.get((setting.wage_code, setting.included))
        if wage is None:
            wage = self._wage[(setting.wage_code, setting.included)] = self._plan_wage(setting)
        p.wage_code, p.wage_label, reason, detail = wage
        if not setting.included:
            p.reason = "not_included"
        elif p.part.amount == 0:
            p.reason = "zero"
        elif ref is None:
            p.reason = "no_employee"
        elif reason is not None:
            p.reason, p.detail = reason, detail

    def _plan_employee(self, user_id: int) -> tuple[bool, str | None, str | None, str]:
        """Whether the person is mapped to a Nmbrs employee, and its id (None: unknown to the
        connection's API), number and label."""
        pe = self.employees.get(user_id)
        if pe is None:
            return False, None, None, ""
        ref = _as_text(remote_id(self.connection, pe))
        return True, ref, pe.code, f"{pe.code} {pe.description}".strip()

    def _plan_cost_center(self, code: str) -> tuple[str | None, str | None, str]:
        """The note, Nmbrs id and label of a line's cost center."""
        cc = self.cost_centers.get(code)
        if cc is None:
            note = _(
                "Kostnadsstället %(code)s finns inte i Nmbrs; raden skickas utan kostnadsställe.",
                code=code,
            )
            return note, None, ""
        return None, _as_text(remote_id(self.connection, cc)), cc.label

    def _plan_wage(self, setting) -> tuple[str | None, str, str | None, str]:
        """The pay item's wage code and label, and why its lines cannot go (None: they can)."""
        code, wage_types = setting.wage_code, self.wage_types
        wt = wage_types.get(code) if code else None
        label = (wt.label if wt else code) if code else ""
        if not code:
            return code, label, "no_wage_type", ""
        if wt is None:
            return code, label, "wage_type_missing", code
        if wt.archived:
            return code, label, "wage_type_archived", wt.label
        if not code.isdigit():
            return code, label, "wage_type_not_numeric", ""
        return code, label, None, ""


def _as_text(value) -> str | None:
    return None if value is None else str(value)

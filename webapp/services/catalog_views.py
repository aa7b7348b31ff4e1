"""What the recipient view lists of the synced catalogues: counts, filtered tables."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import CompoundSelect, Select, String, bindparam, func, literal, or_, union_all

from webapp.extensions import db
from webapp.kept import Kept
from webapp.models import (
    CostCenter,
    CostUnit,
    Department,
    PayrollEmployee,
    ReportRecipient,
    WageType,
)
from webapp.models.base import table_of


@dataclass(frozen=True)
class Tab:
    model: Any
    title: object
    code_label: object


TABS: dict[str, Tab] = {
    "wage_types": Tab(WageType, _l("Lönearter"), _l("Kod")),
    "cost_units": Tab(CostUnit, _l("Kostnadsenheter"), _l("Kod")),
    "cost_centers": Tab(CostCenter, _l("Kostnadsställen"), _l("Kod")),
    "departments": Tab(Department, _l("Avdelningar"), _l("Kod")),
    "employees": Tab(PayrollEmployee, _l("Anställda"), _l("Anställningsnr")),
}
# One screenful and then some; the filter box finds the rest (large accounts have thousands).
MAX_ROWS = 100


def tab_or_default(tab: str | None) -> str:
    return tab if tab in TABS else "wage_types"


# Both queries below read the catalogue tables with Core, by the id of a recipient the caller
# loaded through the tenant guard (its organization checked): the guard's criteria on an ORM
# query would add an EXISTS on report_recipient for every catalogue row (2,000 employees: 2,000
# probes, most of a recipient view's database time), to prove what the recipient id already says.
# Each is built once, with the recipient (and the filter) as bound values: SQLAlchemy keeps a
# statement's cache key with it, so a page view pays neither for building nor for walking them.


@functools.cache
def _counts_statement() -> CompoundSelect:
    parts = []
    for key, tab in TABS.items():
        table = table_of(tab.model)
        parts.append(
            db.select(literal(key).label("tab"), func.count().label("n"))
            .select_from(table)
            .where(table.c.recipient_id == bindparam("recipient_id"), table.c.archived.is_(False))
        )
    return union_all(*parts)


def version(recipient: ReportRecipient) -> tuple | None:
    """What the catalogue tables of a recipient are at, for what is kept of them: only a sync
    writes them (`sync.catalogue.apply`: added, changed and archived rows), and it sets the
    recipient's `last_synced_at` in the same transaction. None before the first sync (nothing
    is kept then). The employees' mapping to people changes without a sync: `version` covers
    the catalogue rows and their counts, not whom an employee is mapped to."""
    if recipient.last_synced_at is None:
        return None
    return (recipient.id, recipient.last_synced_at)


_COUNTS: Kept[dict[str, int]] = Kept(512)


def counts(recipient: ReportRecipient) -> dict[str, int]:
    """Active items per tab (archived ones are listed but not counted), in one query, kept
    until the next sync."""

    def count() -> dict[str, int]:
        rows = db.session.execute(_counts_statement(), {"recipient_id": recipient.id})
        found = dict(rows.tuples().all())
        return {key: found.get(key, 0) for key in TABS}

    key = version(recipient)
    return count() if key is None else dict(_COUNTS.get(key, count))


@functools.cache
def _table_statement(tab: str, filtered: bool) -> Select:
    model = TABS[tab].model
    c = table_of(model).c
    columns = [c.id, c.code, c.description, c.archived]
    if model is PayrollEmployee:
        columns += [c.user_id, c.mapping_source]
    stmt = db.select(*columns).where(c.recipient_id == bindparam("recipient_id"))
    if filtered:
        pattern = bindparam("pattern", type_=String())
        stmt = stmt.where(
            or_(func.lower(c.code).like(pattern), func.lower(c.description).like(pattern))
        )
    # Length first: numeric codes ("9" before "10") sort as a payroll admin expects.
    return stmt.order_by(c.archived, func.length(c.code), c.code).limit(MAX_ROWS)


def table(recipient: ReportRecipient, tab: str, query: str = "") -> list:
    """Items of one catalogue, active first, filtered on code or description: plain rows with
    the columns the table shows (ORM objects per page view cost more than the query)."""
    query = query.strip()
    params: dict[str, object] = {"recipient_id": recipient.id}
    if query:
        params["pattern"] = f"%{query.lower()}%"
    return list(db.session.execute(_table_statement(tab, bool(query)), params))


@dataclass(frozen=True)
class PersonChoice:
    """One person in the employees tab's select: the template renders the `<option>`s."""

    id: int
    label: str


def person_choices(users) -> list[PersonChoice]:
    """The people an Nmbrs employee can be mapped to, labelled as the select shows them."""
    return [
        PersonChoice(u.id, f"{u.name} ({u.employee_number})" if u.employee_number else u.name)
        for u in users
    ]

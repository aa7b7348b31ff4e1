"""Benchmark: what the tenant guard adds to a query (webapp.tenancy).

Three organizations on SQLite, each with a recipient of 2,000 payroll employees and 300 reports
of 10 lines. Times the same queries — each with its own explicit `organization_id` filter, as
the code has always written them — once with every organization in scope (no guard: the cost
before it) and once scoped to the organization (the guard checks the statement, and adds its
criteria for every owned model the statement does not already keep to the organization), rep
by rep side by side. Prints medians and their ratio; goals: at most 1.5 for a small query by
id (the per-statement cost) and 1.3 for reading 2,000 rows through two parents. Also shown:
lookups by primary key (`session.get`, no filter of their own: the criteria go on).

    .venv/bin/python bench/tenant_guard.py [--reps 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import verdict  # noqa: E402

SMALL_QUERIES = 2_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(BRYGGA_ENV="test", BRYGGA_INSTANCE_PATH=tmp)
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        return run(args.reps)


def run(reps: int) -> int:
    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import (
        ExpenseLine,
        ExpenseReport,
        LineKind,
        PayrollEmployee,
        RecipientKind,
        ReportRecipient,
        Role,
    )
    from webapp.services import accounts
    from webapp.tenancy import all_organizations, tenant

    app = create_app()
    with app.app_context(), all_organizations():
        upgrade(directory=str(ROOT / "migrations"))
        orgs = []
        for n in range(3):
            org = accounts.get_or_create_organization(f"Bolag {n} AB")
            admin = accounts.create_user(
                org, f"admin{n}@bench.se", "bench-lösenord-2026", "Admin", Role.ADMIN
            )
            recipient = ReportRecipient(
                organization_id=org.id, kind=RecipientKind.PAXML, display_name="Lön"
            )
            db.session.add(recipient)
            db.session.flush()
            db.session.execute(
                insert(PayrollEmployee.__table__),
                [
                    {"recipient_id": recipient.id, "code": str(i), "description": f"P {i}",
                     "archived": False, "updated_at": date(2026, 12, 1)}
                    for i in range(2_000)
                ],
            )  # fmt: skip
            report_ids = []
            for r in range(300):
                report = ExpenseReport(organization_id=org.id, employee_id=admin.id, title=f"R{r}")
                db.session.add(report)
                db.session.flush()
                report_ids.append(report.id)
            db.session.execute(
                insert(ExpenseLine.__table__),
                [
                    {"report_id": rid, "kind": LineKind.OUTLAY.value, "date": date(2026, 11, 1),
                     "description": "Tåg", "amount_ore": 10_000, "created_at": date(2026, 11, 1)}
                    for rid in report_ids for _ in range(10)
                ],
            )  # fmt: skip
            orgs.append((org.id, recipient.id, report_ids))
        db.session.commit()

    org_id, recipient_id, report_ids = orgs[1]

    def small_queries() -> None:
        for i in range(SMALL_QUERIES):
            db.session.scalar(
                select(ExpenseReport).where(
                    ExpenseReport.id == report_ids[i % len(report_ids)],
                    ExpenseReport.organization_id == org_id,
                )
            )

    def lookups() -> None:
        for i in range(SMALL_QUERIES):
            db.session.get(ExpenseReport, report_ids[i % len(report_ids)])
            db.session.expunge_all()  # a query each time, not the identity map

    def big_read() -> None:
        rows = db.session.scalars(
            select(PayrollEmployee).where(PayrollEmployee.recipient_id == recipient_id)
        ).all()
        assert len(rows) == 2_000
        lines = db.session.scalars(
            select(ExpenseLine)
            .join(ExpenseLine.report)
            .where(ExpenseReport.organization_id == org_id)
        ).all()
        assert len(lines) == 3_000

    def once(fn: Callable[[], None], scope) -> float:
        with app.app_context(), scope():
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            db.session.remove()
        return elapsed

    ok = True
    for label, fn, goal in (
        (f"{SMALL_QUERIES} queries by id", small_queries, 1.5),
        ("2,000 employees + 3,000 lines", big_read, 1.3),
        (f"{SMALL_QUERIES} lookups by primary key (information)", lookups, None),
    ):
        once(fn, all_organizations)  # warm the statement cache for both
        once(fn, lambda: tenant(org_id))
        # Side by side, rep by rep: the other processes on the machine weigh on both alike.
        pairs = [
            (once(fn, all_organizations), once(fn, lambda: tenant(org_id))) for _ in range(reps)
        ]
        bare = statistics.median(b for b, _ in pairs)
        guarded = statistics.median(g for _, g in pairs)
        ratio = guarded / bare
        met = goal is None or ratio <= goal
        ok &= met
        print(
            f"{label}: without the guard {bare * 1000:.1f} ms, with the guard "
            f"{guarded * 1000:.1f} ms, ratio {ratio:.2f}"
            + ("" if goal is None else f" (goal ≤ {goal}) {verdict(met)}")
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

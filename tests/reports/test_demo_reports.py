from webapp.extensions import db
from webapp.models import ExpenseReport, ReportStatus
from webapp.services import demo, demo_reports
from webapp.services import expense_reports as service


def test_demo_reports_fill_each_queue_once(app_ctx):
    demo.seed()  # seeds the people and their reports
    assert (
        demo_reports.seed_reports(demo.DEMO_ORG, demo.DEMO_PEOPLE) == []
    )  # a second run adds nothing
    db.session.commit()
    statuses = sorted(r.status.value for r in db.session.scalars(db.select(ExpenseReport)))
    assert statuses == ["approved", "draft", "submitted"]
    approved = db.session.scalar(
        db.select(ExpenseReport).where(ExpenseReport.status == ReportStatus.APPROVED)
    )
    # What the transfer (issue 7) will read: each line with its pay parts.
    parts = [part for _, line_parts in service.transfer_parts(approved) for part in line_parts]
    assert sum(part.amount for part in parts) == approved.total

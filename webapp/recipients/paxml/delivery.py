"""PAXml in the preview and as a transfer: each line's employee number and pay code, the file
made at once (validated against the schema), and its downloads."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import LineStatus, ReportRecipient, Transfer, TransferLine, User
from webapp.models.base import utcnow
from webapp.models.sync import aware
from webapp.models.transfer import LIVE_LINE_STATUSES
from webapp.payitems import INFO
from webapp.recipients.paxml import file as paxml
from webapp.services import audit
from webapp.services.transfer.ledger import finish


class PaxmlPlanner:
    """Plans lines for a PAXml file: no catalogues, no period."""

    locked = False

    def plan(self, p, setting) -> None:
        p.employee_number = (p.employee.employee_number or "").strip() or None
        if p.employee_number:
            p.employee_label = f"{p.employee_number} {p.employee.name}"
        p.wage_code = setting.wage_code or None
        p.wage_label = setting.wage_code or INFO[p.part.item].paxml_code
        if p.cost_center_code:
            if len(p.cost_center_code) > paxml.MAX_DIMENSION_ID:
                p.note = _(
                    "Kostnadsstället %(code)s är längre än 10 tecken, som PAXml tillåter; raden "
                    "skickas utan kostnadsställe.",
                    code=p.cost_center_code,
                )
            else:
                p.cost_center_label = p.cost_center_code
        if not setting.included:
            p.reason = "not_included"
        elif p.part.amount == 0:
            p.reason = "zero"
        elif not p.employee_number:
            p.reason = "no_employee_number"


def encoding_for(recipient: ReportRecipient) -> str:
    encoding = (recipient.paxml.encoding if recipient.paxml else None) or "UTF-8"
    return encoding.upper() if encoding.upper() in paxml.ENCODINGS else "UTF-8"


def paxml_lines(transfer_id: int) -> list[paxml.PaxmlLine]:
    return [
        paxml.PaxmlLine(
            employee_number=line.employee_number or "",
            paxml_code=line.paxml_code or "",
            wage_code=line.wage_code,
            day=line.line_date,
            quantity=line.quantity_value,
            unit_price=line.unit_price,
            amount=line.amount,
            report_number=str(line.report_id),
            cost_center=line.cost_center_code,
        )
        for line in db.session.scalars(
            select(TransferLine)
            .where(
                TransferLine.transfer_id == transfer_id,
                TransferLine.status.in_(LIVE_LINE_STATUSES),
            )
            .order_by(TransferLine.id)
        )
    ]


def build_file(transfer: Transfer, recipient: ReportRecipient, reexport_on=None) -> bytes:
    db.session.flush()
    return paxml.build(
        paxml_lines(transfer.id),
        encoding=transfer.file_encoding or encoding_for(recipient),
        company_name=recipient.organization.name,
        created_at=aware(transfer.created_at or utcnow()).replace(tzinfo=None),
        reexport_on=reexport_on,
    )


def download(transfer: Transfer, user: User | None) -> tuple[bytes, str, bool]:
    """The PAXml file of a transfer: (bytes, file name, is_reexport). The first download marks
    the reports sent; every later one is a re-export, marked `<nyexport>` in the header."""
    now = utcnow()
    first = transfer.export_count == 0
    name = transfer.file_name or f"brygga-{transfer.id}.xml"
    if first:
        data = transfer.file_data or b""
        paxml.validate(data)
        for line in transfer.lines:
            if line.status == LineStatus.PENDING:
                line.status = LineStatus.SENT
                line.sent_at = now
        finish(transfer)
        transfer.first_exported_at = now
    else:
        data = build_file(transfer, transfer.recipient, reexport_on=now.date())
        name = name.replace(".xml", f"-omexport-{transfer.export_count}.xml")
    transfer.export_count += 1
    transfer.last_exported_at = now
    audit.record(
        "transfer.file_downloaded" if first else "transfer.file_reexported",
        actor=user,
        organization_id=transfer.organization_id,
        obj=transfer,
        export=transfer.export_count,
    )
    db.session.commit()
    return data, name, not first


def prepare(transfer: Transfer, recipient: ReportRecipient) -> None:
    transfer.file_encoding = encoding_for(recipient)
    transfer.file_name = f"brygga-{transfer.id}.xml"
    transfer.file_data = build_file(transfer, recipient)

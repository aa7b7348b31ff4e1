"""Kassaboken: a payroll system that exists only in the tests, plugged in through the recipient
seam (webapp.recipients) from this folder alone, to prove that adding a payroll system means
adding a folder. It is API-based like Nmbrs: a worker sends the lines, exactly once, and undo
takes them back. Its "API" is `REMOTE`, which keys every line it gets by Brygga's line id (an
idempotency key), as a real API with idempotent writes would."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, render_template, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.models import LineStatus, ReportRecipient, Transfer, User
from webapp.permissions import admin_required
from webapp.recipients import register as register_kind
from webapp.responses import finish
from webapp.services import recipients as recipients_service
from webapp.services.errors import NotFound
from webapp.services.transfer.ledger import lines_with, update_lines

KEY = "kassaboken"
TEMPLATES = str(Path(__file__).resolve().parent / "templates")

# What Kassaboken holds, per recipient: Brygga's line id -> (employee number, code, öre).
REMOTE: dict[int, dict[int, tuple[str, str, int]]] = {}


class Crash(Exception):
    """The worker dies (a test arms `crash_after_send`)."""


crash_after_send = {"armed": False}


class Planner:
    locked = False

    def plan(self, p, setting) -> None:
        p.employee_number = (p.employee.employee_number or "").strip() or None
        p.employee_ref = p.employee_number
        p.wage_code = setting.wage_code or p.part.item.value
        p.wage_label = p.wage_code
        if not setting.included:
            p.reason = "not_included"
        elif p.part.amount == 0:
            p.reason = "zero"
        elif not p.employee_number:
            p.reason = "no_employee_number"


class Kassaboken:
    key = KEY
    name = "Kassaboken"
    description = "Lönesystemet Kassaboken (bara i testerna)."
    setup_endpoint = "kassaboken.add"
    needs_period = False
    sends_in_worker = True
    has_catalogues = False

    def planner(self, recipient, period, current, unprotected_confirmed):
        return Planner()

    def current_period(self, recipient: ReportRecipient):
        return None

    def prepare(self, transfer: Transfer, recipient: ReportRecipient) -> None:
        pass

    def deliver(self, transfer: Transfer) -> None:
        """Each open line once: Kassaboken keys lines by Brygga's line id, so a line sent
        before a crash is found there, not sent again."""
        remote = REMOTE.setdefault(transfer.recipient_id, {})
        lines = lines_with(transfer.id, LineStatus.SENDING) + lines_with(
            transfer.id, LineStatus.PENDING
        )
        update_lines([{"_id": line.id} for line in lines], status=LineStatus.SENDING.value)
        db.session.commit()
        for line in lines:
            remote.setdefault(line.id, (line.employee_ref, line.wage_code, line.amount_ore))
        if crash_after_send["armed"]:
            crash_after_send["armed"] = False
            raise Crash("the worker died after Kassaboken stored the lines")
        update_lines(
            [{"_id": line.id, "component_id": str(line.id)} for line in lines],
            status=LineStatus.SENT.value,
        )
        db.session.commit()

    def warm_up(self, nobody: int) -> None:
        """Nothing: its delivery is a dict in this process."""

    def download(self, transfer: Transfer, user: User | None):
        raise NotFound

    def check_undo(self, transfer: Transfer) -> None:
        pass

    def take_back(self, transfer: Transfer) -> None:
        remote = REMOTE.setdefault(transfer.recipient_id, {})
        for line in transfer.lines:
            if line.status == LineStatus.SENT:
                remote.pop(line.id, None)

    def catalogues(self, recipient: ReportRecipient):
        return None

    def hourly(self, now: datetime) -> None:
        pass

    def needs_admin(self, recipient: ReportRecipient) -> bool:
        return False

    def lost_on_replace(self, old: ReportRecipient) -> list[str]:
        return []

    def page_context(self, recipient: ReportRecipient) -> dict[str, Any]:
        return {"remote_lines": len(REMOTE.get(recipient.id, {}))}

    def form_action_origins(self, recipient: ReportRecipient) -> list[str]:
        return []


bp = Blueprint(KEY, __name__, url_prefix="/settings")


@bp.route("/recipients/new/kassaboken", methods=["GET", "POST"])
@admin_required
def add():
    if request.method == "POST":
        name = (request.form.get("display_name") or "").strip() or "Kassaboken"
        recipient = recipients_service.new_recipient(current_user, KEY, name, None)
        db.session.commit()
        return finish(url_for("settings.index"), f"{recipient.display_name} är tillagd.")
    return render_template("kassaboken/dialog.html")


def register(app: Flask) -> None:
    register_kind(app, Kassaboken(), TEMPLATES)
    app.register_blueprint(bp)

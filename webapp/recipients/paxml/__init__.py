"""PAXml as a recipient kind: a PAXml 2.0 file for a payroll program that imports files
(Fortnox Lön, Crona, Kontek …). Everything PAXml-only lives in this folder: the setup dialog
(`views`, `forms`), the preview and the file (`delivery`) and the file format (`file`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l

from webapp.models import RecipientKind, ReportRecipient, Transfer, User
from webapp.nmbrs import PayrollPeriod
from webapp.recipients import register as register_kind
from webapp.recipients.paxml import delivery

TEMPLATES = str(Path(__file__).resolve().parent / "templates")


class PaxmlKind:
    key = RecipientKind.PAXML.value
    name = _l("PAXml-fil")
    description = _l("En lönefil enligt PAXml-standarden (Fortnox Lön, Crona, Kontek med flera).")
    setup_endpoint = "paxml.add"
    needs_period = False
    sends_in_worker = False
    has_catalogues = False

    def planner(self, recipient, period, current, unprotected_confirmed):
        return delivery.PaxmlPlanner()

    def current_period(self, recipient: ReportRecipient) -> PayrollPeriod | None:
        return None

    def prepare(self, transfer: Transfer, recipient: ReportRecipient) -> None:
        """The file is made at once, validated, and waits for its first download."""
        delivery.prepare(transfer, recipient)

    def deliver(self, transfer: Transfer) -> None:
        raise NotImplementedError("a PAXml file is downloaded, not sent")

    def download(self, transfer: Transfer, user: User | None) -> tuple[bytes, str, bool]:
        return delivery.download(transfer, user)

    def warm_up(self, nobody: int) -> None:
        """Nothing: no worker sends a file."""

    def check_undo(self, transfer: Transfer) -> None:
        """A file can always be taken back here (the payroll program is the admin's to fix)."""

    def take_back(self, transfer: Transfer) -> None:
        """Nothing to delete anywhere: the lines only leave with the file."""

    def catalogues(self, recipient: ReportRecipient) -> None:
        return None

    def hourly(self, now: datetime) -> None:
        """Nothing to keep alive."""

    def needs_admin(self, recipient: ReportRecipient) -> bool:
        return False

    def lost_on_replace(self, old: ReportRecipient) -> list[str]:
        return []

    def page_context(self, recipient: ReportRecipient) -> dict[str, Any]:
        return {}

    def form_action_origins(self, recipient: ReportRecipient) -> list[str]:
        return []


def register(app: Flask) -> None:
    from webapp.recipients.paxml.views import bp

    register_kind(app, PaxmlKind(), TEMPLATES)
    app.register_blueprint(bp)

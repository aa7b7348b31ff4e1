"""Nmbrs as a recipient kind: the payroll system reached over its API (SOAP with an API key
until 1 March 2027, REST with an OAuth consent). Everything Nmbrs-only lives in this folder:
its setup dialogs (`views`, `forms`, `setup`, `connect`), access and tokens (`access`,
`keepalive`), the preview (`plan`), the exactly-once delivery and undo (`delivery`), the
catalogues for the sync (`catalogue`) and the SOAP→REST move (`move`, deleted with SOAP)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp.models import RecipientKind, ReportRecipient, Transfer, User
from webapp.nmbrs import NmbrsError, NmbrsUnavailable, PayrollPeriod
from webapp.recipients import (
    DeliveryFailed,
    DeliveryStopped,
    DeliveryUnreachable,
    RemoteProblem,
)
from webapp.recipients import register as register_kind
from webapp.recipients.nmbrs import access, delivery, move, warm
from webapp.recipients.nmbrs.catalogue import NmbrsCatalogues
from webapp.recipients.nmbrs.keepalive import report_retired_keys, schedule_keepalives
from webapp.recipients.nmbrs.plan import NmbrsPlanner, current_period
from webapp.recipients.nmbrs.setup import lost_on_replace, needs_admin
from webapp.services.errors import NotFound
from webapp.services.transfer.texts import TransferError

TEMPLATES = str(Path(__file__).resolve().parent / "templates")


class NmbrsKind:
    key = RecipientKind.NMBRS.value
    name = "Nmbrs"
    description = _l("Lönesystemet Nmbrs, via Nmbrs API med en API-nyckel.")
    setup_endpoint = "nmbrs.add"
    needs_period = True
    sends_in_worker = True
    has_catalogues = True

    # --- the preview ---------------------------------------------------------------------

    def planner(self, recipient, period, current, unprotected_confirmed):
        return NmbrsPlanner(recipient, period, current, unprotected_confirmed)

    def current_period(self, recipient: ReportRecipient) -> PayrollPeriod | None:
        try:
            return current_period(recipient)
        except NmbrsUnavailable as exc:
            raise RemoteProblem(exc.user_message, unreachable=True) from exc
        except NmbrsError as exc:
            raise RemoteProblem(exc.user_message) from exc

    # --- delivery ------------------------------------------------------------------------

    def prepare(self, transfer: Transfer, recipient: ReportRecipient) -> None:
        """Nothing to make up front: the worker sends the lines."""

    def deliver(self, transfer: Transfer) -> None:
        try:
            delivery.send(transfer)
        except delivery.TransferStop as stop:
            error = stop.error
            code = f"nmbrs_{error.code}" if error.code else "nmbrs"
            raise DeliveryStopped(code, error.user_message) from stop
        except NmbrsUnavailable as exc:
            raise DeliveryUnreachable(exc.user_message) from exc
        except NmbrsError as exc:
            code = f"nmbrs_{exc.code}" if exc.code else "nmbrs"
            raise DeliveryFailed(code, exc.user_message) from exc

    def warm_up(self, nobody: int) -> None:
        """The send's statements, compiled before the worker forks (they find nothing)."""
        warm.warm_up(nobody)

    def download(self, transfer: Transfer, user: User | None) -> tuple[bytes, str, bool]:
        raise NotFound

    # --- undo ----------------------------------------------------------------------------

    def check_undo(self, transfer: Transfer) -> None:
        """Nmbrs lines can be deleted only while their period is open."""
        assert transfer.period_year is not None and transfer.period_number is not None
        period = PayrollPeriod(transfer.period_year, transfer.period_number)
        try:
            current = self.current_period(transfer.recipient)
        except RemoteProblem as exc:
            raise TransferError(
                _("Brygga kunde inte läsa perioden i Nmbrs: %(why)s", why=exc.user_message)
            ) from exc
        if current is not None and period < current:
            raise TransferError(
                _(
                    "Perioden %(period)s är inte längre öppen i Nmbrs (aktuell period är "
                    "%(current)s), så överföringen kan inte ångras här. Rätta i Nmbrs.",
                    period=transfer.period_label,
                    current=f"{current.year}-{current.period:02d}",
                )
            )

    def take_back(self, transfer: Transfer) -> None:
        try:
            delivery.take_back(transfer)
        except NmbrsError as exc:
            raise DeliveryFailed("undo_incomplete", exc.user_message) from exc

    # --- catalogues, the clock and what needs an admin -----------------------------------

    def catalogues(self, recipient: ReportRecipient):
        return NmbrsCatalogues(recipient) if recipient.nmbrs is not None else None

    def hourly(self, now: datetime) -> None:
        schedule_keepalives(now)
        report_retired_keys(now)

    def needs_admin(self, recipient: ReportRecipient) -> bool:
        return needs_admin(recipient.nmbrs)

    def lost_on_replace(self, old: ReportRecipient) -> list[str]:
        return lost_on_replace(old)

    # --- the pages -----------------------------------------------------------------------

    def page_context(self, recipient: ReportRecipient) -> dict[str, Any]:
        return {
            "soap_warning": move.soap_warning(recipient),
            "soap_retired": move.soap_retired(recipient),
            "needs_reconnect": move.needs_reconnect(recipient.nmbrs),
            "rest_available": access.rest_configured(),
        }

    def form_action_origins(self, recipient: ReportRecipient) -> list[str]:
        return [access.identity_origin()] if access.rest_configured() else []


def register(app: Flask) -> None:
    from webapp.recipients.nmbrs.views import bp  # views import the app's services: load last

    register_kind(app, NmbrsKind(), TEMPLATES)
    app.register_blueprint(bp)

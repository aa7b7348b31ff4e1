"""Nmbrs retires its SOAP API, and with it the API key, on 1 March 2027 (`SOAP_SHUTDOWN`, the
one place that date is kept). From that day a recipient still on the key is neither synced nor
sent to: choosing its client raises `SoapKeyRetired` (the pages show its message with the
button to connect with Nmbrs login), the clock skips it (`setup.needs_admin`), and its admins
get one e-mail (`keepalive.report_retired_keys`). Deleted with SOAP."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import (
    NmbrsApi,
    NmbrsConnection,
    Organization,
    RecipientKind,
    RecipientStatus,
    ReportRecipient,
)
from webapp.nmbrs import NmbrsError

# From this day every SOAP recipient shows the warning; from the next the key no longer works.
SOAP_WARNING_FROM = date(2026, 12, 1)
SOAP_SHUTDOWN = date(2027, 3, 1)
RETIRED_CODE = "soap_retired"  # the failed run's error code, and the e-mail's problem
_STOCKHOLM = ZoneInfo("Europe/Stockholm")


def today() -> date:
    """Today in Stockholm: the one clock of the sunset (tests replace it to live on any day)."""
    return datetime.now(_STOCKHOLM).date()


def retired_message() -> str:
    return _("Nmbrs har stängt API-nyckeln — anslut med inloggning")


class SoapKeyRetired(NmbrsError):
    """The connection still uses the SOAP API key, which Nmbrs closed on 1 March 2027: only
    connecting with Nmbrs login (REST) helps. An NmbrsError, so every page that shows one says
    what to do."""

    def __init__(self) -> None:
        super().__init__(
            f"Nmbrs retired SOAP on {SOAP_SHUTDOWN.isoformat()}: this connection still uses "
            "its API key",
            user_message=retired_message(),
        )


def on_soap(connection: NmbrsConnection | None) -> bool:
    return connection is not None and connection.api != NmbrsApi.REST


def retired(connection: NmbrsConnection | None, on: date | None = None) -> bool:
    """Whether this connection's API key no longer works (on SOAP on or after the shutdown)."""
    return on_soap(connection) and (on or today()) >= SOAP_SHUTDOWN


def retired_on(moment: datetime) -> bool:
    """Whether the API key is closed at this moment (the clock's time, in Stockholm)."""
    return moment.astimezone(_STOCKHOLM).date() >= SOAP_SHUTDOWN


def check(connection: NmbrsConnection, on: date | None = None) -> None:
    """Raise SoapKeyRetired for a connection Nmbrs no longer answers on its API key."""
    if retired(connection, on):
        raise SoapKeyRetired()


def warned(connection: NmbrsConnection | None, on: date | None = None) -> bool:
    """Whether the connection gets "Nmbrs stänger API-nyckeln 1 mars 2027" (before the day)."""
    day = on or today()
    return on_soap(connection) and SOAP_WARNING_FROM <= day < SOAP_SHUTDOWN


def organizations_on_soap() -> list[tuple[str, int]]:
    """(organization name, recipients) of every organization with an active Nmbrs recipient
    still on the SOAP key, for operators to reach before (or after) the shutdown."""
    rows = db.session.execute(
        select(Organization.name, func.count(ReportRecipient.id))
        .join(ReportRecipient, ReportRecipient.organization_id == Organization.id)
        .join(NmbrsConnection, NmbrsConnection.recipient_id == ReportRecipient.id)
        .where(
            ReportRecipient.kind == RecipientKind.NMBRS,
            ReportRecipient.status == RecipientStatus.ACTIVE,
            NmbrsConnection.api != NmbrsApi.REST,
        )
        .group_by(Organization.name)
        .order_by(Organization.name)
    ).all()
    return [(name, count) for name, count in rows]

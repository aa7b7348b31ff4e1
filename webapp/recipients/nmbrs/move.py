"""Moving an Nmbrs recipient from the SOAP API key to REST with an OAuth consent (issue 8).

Nmbrs retires SOAP on 1 March 2027. The admin clicks *Anslut med Nmbrs-inloggning*, approves
Brygga in Nmbrs, and lands back here:

    consent_url = nmbrs_move.start(recipient, user, redirect_uri)  # state + PKCE parked server-side
    ...                                                          # Nmbrs redirects back
    nmbrs_move.finish(user, pending_ref, request.args)           # tokens stored, api = REST

`finish` finds the connection's company over REST (by debtor and company number, read from the
SOAP side while the key still works, else by name), stores the tokens encrypted, switches the
connection to REST, audits it and starts a sync; that sync maps every synced item from its SOAP
id to its REST GUID (`webapp.services.sync.catalogue.diff`). Nothing changes when any step
fails. The same flow reconnects a REST recipient whose consent expired or was revoked.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import cast
from urllib.parse import urlencode

from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import (
    CostCenter,
    LineStatus,
    NmbrsApi,
    NmbrsConnection,
    PayrollEmployee,
    RecipientKind,
    ReportRecipient,
    Transfer,
    User,
)
from webapp.models.transfer import LIVE_LINE_STATUSES
from webapp.nmbrs import (
    Company,
    Debtor,
    MemoryTokenStore,
    NmbrsError,
    NmbrsPermissionError,
    PayrollApi,
    WageComponent,
)
from webapp.queue import redis_connection
from webapp.recipients.nmbrs import sunset
from webapp.recipients.nmbrs.access import (
    CONSENT_OK,
    CONSENT_PROBLEMS,
    connection_of,
    consent_expiry,
    encode_tokens,
    oauth_client,
    remote_company_id,
    rest_client_for,
    soap_client_for,
)
from webapp.services import audit
from webapp.services.transfer.ledger import LINE, update_lines
from webapp.services.transfer.texts import SKIP_REASONS

log = logging.getLogger(__name__)

PENDING_TTL_SECONDS = 15 * 60  # the admin has this long on Nmbrs' consent page


def soap_warning(recipient: ReportRecipient, on: date | None = None) -> bool:
    """Whether the recipient gets "Nmbrs stänger API-nyckeln 1 mars 2027" today (from December
    2026 until the shutdown; from then `soap_retired`)."""
    return recipient.kind == RecipientKind.NMBRS and sunset.warned(recipient.nmbrs, on)


def soap_retired(recipient: ReportRecipient, on: date | None = None) -> bool:
    """Whether the recipient's API key no longer works: "Nmbrs har stängt API-nyckeln"."""
    return recipient.kind == RecipientKind.NMBRS and sunset.retired(recipient.nmbrs, on)


def needs_reconnect(connection: NmbrsConnection | None) -> bool:
    """A REST connection whose consent expired or was revoked: only a new consent helps."""
    return (
        connection is not None
        and connection.api == NmbrsApi.REST
        and connection.consent_status in CONSENT_PROBLEMS
    )


class MoveError(Exception):
    """The move could not be completed; `user_message` is the Swedish text for the admin."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


@dataclass(frozen=True)
class Pending:
    organization_id: int
    user_id: int
    recipient_id: int
    state: str
    code_verifier: str
    redirect_uri: str


def _key(ref: str) -> str:
    return f"pending-nmbrs-consent:{ref}"


def start(recipient: ReportRecipient, user: User, redirect_uri: str) -> tuple[str, str]:
    """Start a consent for `recipient`: returns (Nmbrs' consent URL, a reference for the
    session). The state and the PKCE verifier stay in Redis, never in the browser."""
    if recipient.kind != RecipientKind.NMBRS or recipient.nmbrs is None:
        raise MoveError(_("Bara Nmbrs-mottagare kan anslutas med Nmbrs-inloggning."))
    oauth = oauth_client(redirect_uri)
    consent = oauth.start()
    pending = Pending(
        recipient.organization_id,
        user.id,
        recipient.id,
        consent.state,
        consent.code_verifier,
        redirect_uri,
    )
    ref = secrets.token_urlsafe(24)
    try:
        redis_connection().set(_key(ref), json.dumps(pending.__dict__), ex=PENDING_TTL_SECONDS)
    except RedisError:
        raise MoveError(
            _("Brygga kunde inte påbörja anslutningen just nu. Försök igen om en stund.")
        ) from None
    # Suggest the Nmbrs user of the API key: the one who can see the company.
    hint = urlencode({"login_hint": recipient.nmbrs.username})
    return f"{consent.url}&{hint}", ref


def take_pending(ref: str | None, organization_id: int) -> Pending | None:
    """The parked consent (single use), or None when it expired or is another organization's."""
    if not ref:
        return None
    try:
        pipe = redis_connection().pipeline()
        pipe.get(_key(ref))
        pipe.delete(_key(ref))
        raw, _deleted = pipe.execute()
    except RedisError:
        return None
    if raw is None:
        return None
    pending = Pending(**json.loads(raw))
    return pending if pending.organization_id == organization_id else None


def finish(actor: User, recipient: ReportRecipient, pending: Pending, args) -> None:
    """The callback: check the state, exchange the code, find the company over REST, then
    store everything and switch the connection to REST (added to the session; the caller
    commits). Raises MoveError (nothing changed) with the admin's message."""
    connection = connection_of(recipient)
    oauth = oauth_client(pending.redirect_uri)
    try:
        tokens = oauth.finish(args, state=pending.state, code_verifier=pending.code_verifier)
    except NmbrsError as exc:
        log.info("nmbrs consent for recipient %s failed: %s", recipient.id, exc)
        raise MoveError(exc.user_message) from None
    store = MemoryTokenStore(oauth, tokens)
    try:
        with rest_client_for(connection, tokens=store) as nmbrs:
            debtor_id, company_id, company_name = _find_company(connection, cast(PayrollApi, nmbrs))
    except NmbrsError as exc:
        log.info("nmbrs consent for recipient %s: company lookup failed: %s", recipient.id, exc)
        raise MoveError(exc.user_message) from None
    tokens = store.load()  # a refresh during the lookup rotated them
    previous = connection.api
    connection.api = NmbrsApi.REST
    connection.oauth_tokens = encode_tokens(tokens)
    connection.consent_expires_at = consent_expiry(tokens)
    connection.consent_status = CONSENT_OK
    connection.rest_debtor_id = debtor_id
    connection.rest_company_id = company_id
    audit.record(
        "recipient.nmbrs_rest_connected",
        actor=actor,
        organization_id=recipient.organization_id,
        obj=recipient,
        previous_api=str(previous.value if previous else "soap"),
        company=company_name or connection.company_name,
        rest_company_id=company_id,
    )
    db.session.flush()


def _soap_numbers(connection: NmbrsConnection) -> tuple[str | None, str | None]:
    """(debtor number, company number) of the connection's company, read over SOAP while the
    API key still works; (None, None) when it does not (after March 2027, a reset key)."""
    if connection.api == NmbrsApi.REST or not connection.token_encrypted:
        return None, None
    try:
        with soap_client_for(connection) as soap:
            company = next(
                (c for c in soap.companies(connection.debtor_id) if c.id == connection.company_id),
                None,
            )
            debtor = None
            if connection.debtor_id is not None:
                debtor = next((d for d in soap.debtors() if d.id == connection.debtor_id), None)
    except NmbrsError as exc:
        log.info("nmbrs consent: SOAP lookup of the company number failed: %s", exc)
        return None, None
    return (
        str(debtor.number) if debtor is not None and debtor.number is not None else None,
        str(company.number) if company is not None else None,
    )


def _find_company(connection: NmbrsConnection, nmbrs: PayrollApi) -> tuple[str, str, str | None]:
    """(debtor GUID, company GUID, name) of the connection's company as the consenting Nmbrs
    user sees it over REST. Matched by company number within the debtor with the same number;
    by name only when SOAP can no longer say the numbers. Raises MoveError."""
    name = connection.company_name or ""
    visible: list[tuple[Debtor, Company]] = []
    for debtor in nmbrs.debtors():
        try:
            visible += [(debtor, c) for c in nmbrs.companies(debtor.id)]
        except NmbrsPermissionError:
            continue  # 40306: this user has no access to that debtor's companies
    if connection.rest_company_id:
        # Reconnecting: the company is known; the new consent must reach it.
        found = [(d, c) for d, c in visible if c.id == connection.rest_company_id]
    else:
        debtor_number, company_number = _soap_numbers(connection)
        if company_number is not None:
            found = [
                (d, c)
                for d, c in visible
                if str(c.number) == company_number
                and (debtor_number is None or str(d.number) == debtor_number)
            ]
        else:
            found = [(d, c) for d, c in visible if (c.name or "").strip() == name.strip()]
    if not found:
        raise MoveError(
            _(
                "Nmbrs-användaren som godkände anslutningen ser inte företaget %(name)s. Anslut "
                "igen och logga in i Nmbrs som en användare med tillgång till företaget. "
                "Ingenting ändrades.",
                name=name,
            )
        )
    if len(found) > 1:
        raise MoveError(
            _(
                "Företaget %(name)s gick inte att skilja från andra företag i Nmbrs. Kontakta "
                "Bryggas support. Ingenting ändrades.",
                name=name,
            )
        )
    debtor, company = found[0]
    return str(debtor.id), str(company.id), company.name


# --- a transfer's lines across the move ---------------------------------------------------------


def carry_over_lines(transfer: Transfer, connection, client: PayrollApi) -> None:
    """Give the transfer's live lines recorded over SOAP (int ids) the REST ids of the same
    items, on a connection that has moved to REST. Employees and cost centers: by the mapping
    sync's `rest_id`. A sent line's component: by reading the employee's components back over
    REST (SOAP and REST ids of a component are unrelated): the one with the line's comment, or,
    if Nmbrs gives no comments, with its code and value, owned by no other line; none when it
    is gone. Lines still "sending" lose their SOAP baseline and are settled by comment, code
    and value. Commits."""
    rows = db.session.execute(
        select(
            LINE.c.id,
            LINE.c.employee_ref,
            LINE.c.cost_center_ref,
            LINE.c.status,
            LINE.c.wage_code,
            LINE.c.amount_ore,
            LINE.c.comment,
        )
        .where(
            LINE.c.transfer_id == transfer.id,
            LINE.c.status.in_([s.value for s in LIVE_LINE_STATUSES]),
            LINE.c.employee_ref.is_not(None),
        )
        .order_by(LINE.c.id)
    ).all()
    rows = [r for r in rows if r.employee_ref.isdigit()]
    if not rows:
        return
    recipient_id = transfer.recipient_id

    def rest_ids(model, soap_ids) -> dict[str, str]:
        ids = sorted({int(i) for i in soap_ids if i and i.isdigit()})
        if not ids:
            return {}
        found = db.session.execute(
            select(model.nmbrs_id, model.rest_id).where(
                model.recipient_id == recipient_id,
                model.nmbrs_id.in_(ids),
                model.rest_id.is_not(None),
            )
        )
        return {str(nmbrs_id): rest for nmbrs_id, rest in found}

    employees = rest_ids(PayrollEmployee, [r.employee_ref for r in rows])
    cost_centers = rest_ids(CostCenter, [r.cost_center_ref for r in rows])
    if any(r.employee_ref not in employees for r in rows):
        raise NmbrsError(
            f"transfer {transfer.id}: an employee has no REST id",
            user_message=str(SKIP_REASONS["no_employee"]),
        )
    assert transfer.period_year is not None and transfer.period_number is not None
    components: dict[str, list[WageComponent]] = {}
    for ref in {employees[r.employee_ref] for r in rows if r.status == LineStatus.SENT.value}:
        components[ref] = client.wage_components(
            ref,
            year=transfer.period_year,
            period=transfer.period_number,
            company_id=remote_company_id(connection),
        )
    owned = set(
        db.session.scalars(
            select(LINE.c.component_id).where(
                LINE.c.employee_ref.in_(list(components) or [""]),
                LINE.c.status == LineStatus.SENT.value,
                LINE.c.component_id.is_not(None),
            )
        )
    )
    updates = []
    for r in rows:
        ref = employees[r.employee_ref]
        values = {
            "_id": r.id,
            "employee_ref": ref,
            "cost_center_ref": cost_centers.get(r.cost_center_ref) if r.cost_center_ref else None,
            "component_id": None,
            "baseline": None,
        }
        if r.status == LineStatus.SENT.value:
            amount = (Decimal(r.amount_ore) / 100).quantize(Decimal("0.01"))
            candidates = [
                c
                for c in components[ref]
                if str(c.id) not in owned and c.code == int(r.wage_code) and c.value == amount
            ]
            found = next((c for c in candidates if c.comment == r.comment), None)
            if found is None and candidates and all(c.comment is None for c in candidates):
                found = candidates[0]
            if found is not None:
                owned.add(str(found.id))
                values["component_id"] = str(found.id)
        updates.append(values)
    update_lines(updates)
    db.session.commit()
    log.info("transfer %s: %d lines carried over from SOAP to REST", transfer.id, len(updates))


# --- undo --------------------------------------------------------------------------------------

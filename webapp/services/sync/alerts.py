"""Telling the admins: one e-mail per problem when a nightly sync fails or Nmbrs rejects the
key or the consent, not again until the problem changes or a sync succeeds."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ReportRecipient, Role, SyncAlert, SyncRun, SyncStatus, SyncTrigger, User
from webapp.models.base import utcnow
from webapp.models.sync import aware
from webapp.services import mail
from webapp.services.sync.texts import error_text


def _fingerprint(run: SyncRun) -> str | None:
    """Which problem a failed run is, for "one e-mail per problem"; None: no e-mail."""
    connection = run.recipient.nmbrs
    if run.error_code == "key_rejected" and connection is not None:
        # A new key saved in the dialog is a new problem if Nmbrs rejects it too.
        changed = aware(connection.key_changed_at).isoformat() if connection.key_changed_at else ""
        return f"key_rejected:{changed}"
    if run.error_code == "soap_retired":
        return "soap_retired"  # the API key is closed for good: one e-mail
    if run.error_code == "consent_expired" and connection is not None:
        # A new consent is a new problem if it stops working too.
        until = connection.consent_expires_at
        return f"consent_expired:{aware(until).isoformat() if until else ''}"
    if run.trigger == SyncTrigger.NIGHTLY:
        return f"failed:{run.error_code}"
    return None


def notify_admins(run: SyncRun) -> bool:
    """E-mail the organization's admins about a failed nightly sync or a rejected key — once
    per problem: not again until the problem changes or a sync succeeds."""
    fingerprint = _fingerprint(run)
    if fingerprint is None:
        return False
    recipient = run.recipient
    alert = db.session.scalar(select(SyncAlert).where(SyncAlert.recipient_id == recipient.id))
    if alert is not None and alert.fingerprint == fingerprint:
        return False
    admins = db.session.scalars(
        select(User.email).where(
            User.organization_id == recipient.organization_id, User.role == Role.ADMIN
        )
    ).all()
    subject, body = _mail_text(run)
    if not mail.send(list(admins), subject, body):
        return False  # not recorded: the next failure tries again
    if alert is None:
        db.session.add(SyncAlert(recipient_id=recipient.id, fingerprint=fingerprint))
    else:
        alert.fingerprint = fingerprint
        alert.notified_at = utcnow()
    db.session.commit()
    return True


def _mail_text(run: SyncRun) -> tuple[str, str]:
    recipient = run.recipient
    link = current_app.config["PUBLIC_URL"].rstrip("/") + f"/settings/recipients/{recipient.id}"
    if run.error_code == "soap_retired":
        subject = _(
            "Brygga: Nmbrs har stängt API-nyckeln för %(name)s", name=recipient.display_name
        )
        what = _(
            "Nmbrs har stängt sitt gamla API och API-nyckeln som Brygga använder för %(name)s, "
            "så Brygga kan inte hämta lönearter och anställda eller skicka godkända utlägg till "
            "lön.",
            name=recipient.display_name,
        )
        todo = _(
            "Gör så här: öppna mottagaren i Brygga och klicka på Anslut med Nmbrs-inloggning. "
            "Lönearter, val och kopplingar följer med."
        )
    elif run.error_code == "consent_expired":
        subject = _(
            "Brygga: anslutningen till Nmbrs har gått ut för %(name)s", name=recipient.display_name
        )
        what = _(
            "Godkännandet som ger Brygga tillgång till Nmbrs för %(name)s har gått ut eller "
            "återkallats, så Brygga kan inte hämta lönearter och anställda eller skicka godkända "
            "utlägg till lön.",
            name=recipient.display_name,
        )
        todo = _(
            "Gör så här: öppna mottagaren i Brygga och klicka på Anslut igen med "
            "Nmbrs-inloggning. Inställningar och kopplingar finns kvar."
        )
    elif run.error_code == "key_rejected":
        subject = _("Brygga: Nmbrs nekade API-nyckeln för %(name)s", name=recipient.display_name)
        what = _(
            "Nmbrs nekade Bryggas API-nyckel för %(name)s, så Brygga kan inte hämta lönearter "
            "och anställda eller skicka godkända utlägg till lön.",
            name=recipient.display_name,
        )
        todo = _(
            "Gör så här: skapa en ny API-nyckel i Nmbrs (Användarprofil → API-token) och ange "
            "den i Brygga under Inställningar → %(name)s → Byt API-nyckel.",
            name=recipient.display_name,
        )
    else:
        subject = _(
            "Brygga: nattens synk med Nmbrs misslyckades för %(name)s", name=recipient.display_name
        )
        what = _(
            "Nattens hämtning av data från Nmbrs för %(name)s misslyckades: %(reason)s",
            name=recipient.display_name,
            reason=error_text(run),
        )
        todo = _(
            "Ingenting ändrades i Brygga. Brygga försöker igen nästa natt; du kan också "
            "klicka på Hämta senaste data från Nmbrs när Nmbrs fungerar igen."
        )
    body = "\n\n".join(
        [
            what,
            todo,
            _("Öppna mottagaren i Brygga: %(link)s", link=link),
            _("Du får det här meddelandet en gång per problem."),
        ]
    )
    return subject, body + "\n"


def record_consent_problem(recipient: ReportRecipient, message: str) -> SyncRun:
    """A consent found dead outside a sync (the keep-alive): a failed run in the history, and
    the admins' once-per-problem e-mail."""
    return record_problem(recipient, "consent_expired", message)


def record_problem(recipient: ReportRecipient, code: str, message: str) -> SyncRun:
    """A problem the clock found outside a sync (a dead consent, a closed API key): a failed
    run in the history, and the admins' once-per-problem e-mail."""
    run = SyncRun(
        recipient_id=recipient.id,
        trigger=SyncTrigger.NIGHTLY,
        status=SyncStatus.FAILED,
        error_code=code,
        error_message=message,
        finished_at=utcnow(),
    )
    db.session.add(run)
    db.session.commit()
    notify_admins(run)
    return run

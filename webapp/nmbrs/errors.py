"""Typed Nmbrs errors, the same for both APIs.

Every error carries the Nmbrs code (when Nmbrs gave one), a technical ``message`` for logs and a
``user_message`` in Swedish written for a payroll admin. Neither ever contains a secret.

Which reply becomes which error is decided per API, in one place each: ``soap/faults.py``
(four-digit SOAP codes) and ``rest/errors.py`` (HTTP status and the five-digit REST codes).
"""

from __future__ import annotations

_GENERIC_MESSAGE = (
    "Nmbrs svarade med ett fel som Brygga inte känner igen. Försök igen om en stund; "
    "kvarstår felet, kontakta Bryggas support."
)


class NmbrsError(Exception):
    """Base class of every error the Nmbrs client raises.

    ``code`` is the Nmbrs error code (four digits over SOAP, five over REST), or ``None`` when
    the failure did not come with one (network trouble, a reply that is not SOAP or JSON).
    ``message`` is technical and safe to log; ``user_message`` is the Swedish text to show a
    payroll admin.
    """

    default_user_message = _GENERIC_MESSAGE

    def __init__(self, message: str, code: int | None = None, *, user_message: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.user_message = user_message or self.default_user_message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code is not None else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class NmbrsAuthError(NmbrsError):
    """Nmbrs rejected the credentials: the SOAP e-mail, token or domain (1001, e.g. after the
    token was reset), or the REST bearer token or subscription key (HTTP 401)."""

    default_user_message = (
        "Nmbrs godkände inte API-nyckeln eller e-postadressen. Ange en ny API-nyckel "
        "(Nmbrs: Användarprofil → API-token)."
    )


class NmbrsPermissionError(NmbrsError):
    """The Nmbrs user lacks a right: API template (1002), debtor/company (1003, 2004),
    subscription (1004) or employee (2003) over SOAP; HTTP 403 over REST."""

    default_user_message = (
        "Nmbrs-användaren saknar behörighet för det här. Be Nmbrs-administratören ge "
        "API-användaren rätt behörighet."
    )


class NmbrsValidationError(NmbrsError):
    """Nmbrs refused the data that was sent (SOAP 2xxx, REST 400/404): wage code, period,
    cost center, …"""

    default_user_message = (
        "Nmbrs godtog inte uppgifterna. Kontrollera löneart, period och kostnadsställe och "
        "försök igen."
    )


class NmbrsUnavailable(NmbrsError):
    """Nmbrs could not be reached or answered with an outage page; worth retrying later."""

    default_user_message = (
        "Nmbrs svarar inte just nu. Inget har skickats som inte redan bekräftats; "
        "försök igen om en stund."
    )


class NmbrsProtocolError(NmbrsError):
    """The reply was not what Brygga expects (not XML or JSON, wrong shape, DTD or entities)."""

    default_user_message = (
        "Svaret från Nmbrs gick inte att tolka. Försök igen om en stund; kvarstår felet, "
        "kontakta Bryggas support."
    )


class NmbrsConsentExpired(NmbrsAuthError):
    """REST/OAuth: the admin's consent no longer works (refresh token expired, revoked, or
    already used by someone else, which makes Nmbrs revoke the whole grant). Only a new consent
    ("Anslut med Nmbrs-inloggning") helps; retrying never does."""

    default_user_message = (
        "Anslutningen till Nmbrs har gått ut eller återkallats. Anslut igen med "
        "Nmbrs-inloggning (Inställningar → Mottagare → Anslut med Nmbrs-inloggning); "
        "inget har skickats sedan anslutningen slutade fungera."
    )


class NmbrsConsentError(NmbrsAuthError):
    """REST/OAuth: the consent flow itself failed (denied, state mismatch, code expired)."""

    default_user_message = (
        "Anslutningen till Nmbrs blev inte klar. Börja om med Anslut med Nmbrs-inloggning "
        "och godkänn i Nmbrs."
    )


class NmbrsRateLimited(NmbrsUnavailable):
    """REST 42908: too many calls right now. ``retry_after`` is Nmbrs' hint in seconds."""

    default_user_message = (
        "Nmbrs tar emot för många anrop just nu. Brygga försöker igen automatiskt; "
        "vänta en stund och försök sedan igen."
    )

    def __init__(self, message: str, code: int | None = None, *, retry_after: float | None = None):
        super().__init__(message, code)
        self.retry_after = retry_after


class NmbrsQuotaExceeded(NmbrsError):
    """REST 42909: the subscription's call quota is used up. Not retried: more calls only
    make it worse until the quota period resets."""

    default_user_message = (
        "Brygga har använt alla anrop som Nmbrs-abonnemanget tillåter för den här perioden. "
        "Försök igen senare; kvarstår felet, kontakta Bryggas support."
    )


class NmbrsIncompleteList(NmbrsUnavailable):
    """REST: a list came back with another number of records than Nmbrs said it has
    (``totalRecords``), or the count changed while it was read page by page.

    Never turned into a shorter list: a sync that used it would archive what is missing. It is
    ``NmbrsUnavailable`` because the usual cause, a list that changed while it was read,
    passes; a sync that raises it changes nothing and is tried again later.
    """

    default_user_message = (
        "Nmbrs skickade inte hela listan. Inget har ändrats i Brygga; försök igen om en stund. "
        "Kvarstår felet, kontakta Bryggas support."
    )


def shorten(text: object, limit: int = 300) -> str:
    """One line of at most ``limit`` characters: .NET faults and error details can carry whole
    stack traces; logs and messages stay readable."""
    value = " ".join(str(text or "").split())
    return value if len(value) <= limit else value[: limit - 3] + "..."

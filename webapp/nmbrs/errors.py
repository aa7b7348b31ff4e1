"""Typed Nmbrs errors, and the one place that maps an Nmbrs fault to one of them.

Every error carries the Nmbrs code (when Nmbrs gave one), a technical ``message`` for logs and a
``user_message`` in Swedish written for a payroll admin. Neither ever contains the API token.
"""

from __future__ import annotations

import re

# Nmbrs puts its own code in the fault string, e.g. "... ---> 1001: Invalid Authentication".
_CODE_PATTERN = re.compile(r"(\d{4}):")

_GENERIC_MESSAGE = (
    "Nmbrs svarade med ett fel som Brygga inte känner igen. Försök igen om en stund; "
    "kvarstår felet, kontakta Bryggas support."
)


class NmbrsError(Exception):
    """Base class of every error the Nmbrs client raises.

    ``code`` is the four-digit Nmbrs error code, or ``None`` when the failure did not come with
    one (network trouble, a reply that is not SOAP). ``message`` is technical and safe to log;
    ``user_message`` is the Swedish text to show a payroll admin.
    """

    default_user_message = _GENERIC_MESSAGE

    def __init__(self, message: str, code: int | None = None, *, user_message: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.user_message = user_message or _USER_MESSAGES.get(code) or self.default_user_message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code is not None else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class NmbrsAuthError(NmbrsError):
    """Nmbrs rejected the e-mail, token or domain (1001), e.g. after the token was reset."""

    default_user_message = (
        "Nmbrs godkände inte API-nyckeln eller e-postadressen. Ange en ny API-nyckel "
        "(Nmbrs: Användarprofil → API-token)."
    )


class NmbrsPermissionError(NmbrsError):
    """The Nmbrs user lacks a right: API template (1002), debtor/company (1003, 2004),
    subscription (1004) or employee (2003)."""

    default_user_message = (
        "Nmbrs-användaren saknar behörighet för det här. Be Nmbrs-administratören ge "
        "API-användaren rätt behörighet."
    )


class NmbrsValidationError(NmbrsError):
    """Nmbrs refused the data that was sent (2xxx): wage code, period, cost center, …"""

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
    """The reply was not the SOAP Brygga expects (not XML, wrong shape, DTD or entities)."""

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


# Swedish messages per Nmbrs code, in the admin's words: what happened and what to do.
_USER_MESSAGES: dict[int | None, str] = {
    1001: NmbrsAuthError.default_user_message,
    1002: (
        "API-användaren i Nmbrs saknar behörighet för den här funktionen. Be Nmbrs-"
        "administratören lägga till rätten i användarens mall."
    ),
    1003: (
        "API-användaren i Nmbrs har inte tillgång till den här kunden eller det här "
        "företaget. Be Nmbrs-administratören ge tillgång."
    ),
    1004: "Nmbrs-kontot saknar ett giltigt abonnemang för API:t. Kontakta Nmbrs.",
    2002: (
        "Lönearten finns inte i Nmbrs. Hämta lönearterna på nytt och välj en löneart som finns."
    ),
    2003: (
        "API-användaren i Nmbrs har inte behörighet till den anställda. Kontrollera att den "
        "anställda tillhör rätt företag."
    ),
    2004: "API-användaren i Nmbrs har inte behörighet till företaget.",
    2006: "Perioden är ogiltig i Nmbrs. Kontrollera år och period.",
    2011: (
        "Perioden är låst i Nmbrs eftersom den redan har passerat. Välj aktuell period eller "
        "be löneadministratören öppna perioden."
    ),
    2012: (
        "Arbetsgivardeklarationen för perioden är redan skickad, så Nmbrs tar inte emot fler "
        "belopp för den. Välj en senare period."
    ),
    2037: (
        "Kostnadsstället finns inte i Nmbrs. Hämta kostnadsställena på nytt och välj ett som finns."
    ),
    2038: (
        "Kostnadsstället finns inte i Nmbrs. Hämta kostnadsställena på nytt och välj ett som finns."
    ),
    9999: (
        "Nmbrs rapporterade ett okänt fel. Det händer bland annat när perioden är låst. "
        "Kontrollera perioden och försök igen senare."
    ),
}

_PERMISSION_CODES = {1002, 1003, 1004, 2003, 2004}


def error_for_code(code: int | None, message: str) -> NmbrsError:
    """Return the typed error for an Nmbrs error code (the single code → class mapping)."""
    if code == 1001:
        return NmbrsAuthError(message, code)
    if code in _PERMISSION_CODES:
        return NmbrsPermissionError(message, code)
    if code is not None and 2000 <= code < 3000:
        return NmbrsValidationError(message, code)
    # 9999 stays a plain NmbrsError: Nmbrs also reports protected periods with it, so it is
    # neither safely retryable (NmbrsUnavailable) nor certainly the caller's data.
    return NmbrsError(message, code)


def error_from_fault(faultcode: str, faultstring: str) -> NmbrsError:
    """Map a SOAP fault to a typed error, reading the Nmbrs code from the fault string."""
    match = _CODE_PATTERN.search(faultstring)
    if match:
        # Keep "2011: Protected Period ..." and drop the .NET exception preamble before it.
        return error_for_code(int(match.group(1)), _short_fault(faultstring[match.start() :]))
    if faultcode.endswith("Client"):
        # A soap:Client fault without a code means our request was malformed or unknown.
        return NmbrsProtocolError(f"Nmbrs rejected the request: {_short_fault(faultstring)}")
    return NmbrsError(f"Nmbrs fault without a code: {_short_fault(faultstring)}")


def _short_fault(faultstring: str) -> str:
    # .NET fault strings can carry whole stack traces; keep logs and messages readable.
    text = " ".join(faultstring.split())
    return text if len(text) <= 300 else text[:297] + "..."


# --- REST -----------------------------------------------------------------------------------

_REST_USER_MESSAGES: dict[int, str] = {
    40306: (
        "Nmbrs-användaren som godkände anslutningen har inte tillgång till den här kunden "
        "(debtor). Be Nmbrs-administratören ge tillgång, eller anslut med en annan användare."
    ),
}

_REST_AUTH_MESSAGE = (
    "Nmbrs godkände inte Bryggas inloggning. Anslut igen med Nmbrs-inloggning "
    "(Inställningar → Mottagare)."
)
_REST_PERMISSION_MESSAGE = (
    "Nmbrs-användaren som godkände anslutningen saknar behörighet för det här. Be Nmbrs-"
    "administratören ge användaren rätt behörighet, eller anslut med en annan användare."
)


def error_from_rest(
    status: int, body: object, *, retry_after: float | None = None, what: str = ""
) -> NmbrsError:
    """Map a REST error reply to a typed error (the single REST status/code → class mapping).

    ``body`` is the decoded JSON (``{type, httpStatus, code, title, detail, invalid-params}``)
    or ``None`` when the reply was not JSON. Codes are Nmbrs' five-digit REST codes: 401xx
    token, 403xx access, 42908 too many calls, 42909 quota used up.
    """
    info = body if isinstance(body, dict) else {}
    code = info.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    parts = [str(info.get(k)) for k in ("title", "detail") if info.get(k)]
    for item in info.get("invalid-params") or ():
        if isinstance(item, dict):
            parts.append(f"{item.get('name')}: {item.get('reason')}")
    if not parts and isinstance(info.get("message"), str):
        parts.append(info["message"])  # API-gateway shape: {"statusCode", "message"}
    message = _short_fault(f"{what}HTTP {status}" + (": " + "; ".join(parts) if parts else ""))
    family = code // 100 if code is not None else None
    if code == 42909:
        return NmbrsQuotaExceeded(message, code)
    if code == 42908 or status == 429:
        return NmbrsRateLimited(message, code, retry_after=retry_after)
    if family == 401 or status == 401:
        return NmbrsAuthError(message, code, user_message=_REST_AUTH_MESSAGE)
    if family == 403 or status == 403:
        user_message = _REST_USER_MESSAGES.get(code or 0, _REST_PERMISSION_MESSAGE)
        return NmbrsPermissionError(message, code, user_message=user_message)
    if status >= 500 or (body is None and status in (408, 425)):
        return NmbrsUnavailable(message, code)
    if body is None:
        return NmbrsProtocolError(message, code)
    if 400 <= status < 500:
        return NmbrsValidationError(message, code)
    return NmbrsProtocolError(message, code)

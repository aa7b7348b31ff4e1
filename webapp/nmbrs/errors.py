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

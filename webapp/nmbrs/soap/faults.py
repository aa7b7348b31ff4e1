"""The one place that maps a SOAP fault, and the four-digit Nmbrs code in it, to a typed error."""

from __future__ import annotations

import re

from ..errors import (
    NmbrsAuthError,
    NmbrsError,
    NmbrsPermissionError,
    NmbrsProtocolError,
    NmbrsValidationError,
    shorten,
)

# Nmbrs puts its own code in the fault string, e.g. "... ---> 1001: Invalid Authentication".
_CODE_PATTERN = re.compile(r"(\d{4}):")

_COST_CENTER_MISSING = (
    "Kostnadsstället finns inte i Nmbrs. Hämta kostnadsställena på nytt och välj ett som finns."
)

# Swedish messages per Nmbrs code, in the admin's words: what happened and what to do.
USER_MESSAGES: dict[int, str] = {
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
    2037: _COST_CENTER_MISSING,
    2038: _COST_CENTER_MISSING,
    9999: (
        "Nmbrs rapporterade ett okänt fel. Det händer bland annat när perioden är låst. "
        "Kontrollera perioden och försök igen senare."
    ),
}

_PERMISSION_CODES = {1002, 1003, 1004, 2003, 2004}


def error_for_code(code: int | None, message: str) -> NmbrsError:
    """Return the typed error for a SOAP error code (the single code → class mapping)."""
    user_message = USER_MESSAGES.get(code) if code is not None else None
    if code == 1001:
        return NmbrsAuthError(message, code, user_message=user_message)
    if code in _PERMISSION_CODES:
        return NmbrsPermissionError(message, code, user_message=user_message)
    if code is not None and 2000 <= code < 3000:
        return NmbrsValidationError(message, code, user_message=user_message)
    # 9999 stays a plain NmbrsError: Nmbrs also reports protected periods with it, so it is
    # neither safely retryable (NmbrsUnavailable) nor certainly the caller's data.
    return NmbrsError(message, code, user_message=user_message)


def error_from_fault(faultcode: str, faultstring: str) -> NmbrsError:
    """Map a SOAP fault to a typed error, reading the Nmbrs code from the fault string."""
    match = _CODE_PATTERN.search(faultstring)
    if match:
        # Keep "2011: Protected Period ..." and drop the .NET exception preamble before it.
        return error_for_code(int(match.group(1)), shorten(faultstring[match.start() :]))
    if faultcode.endswith("Client"):
        # A soap:Client fault without a code means our request was malformed or unknown.
        return NmbrsProtocolError(f"Nmbrs rejected the request: {shorten(faultstring)}")
    return NmbrsError(f"Nmbrs fault without a code: {shorten(faultstring)}")

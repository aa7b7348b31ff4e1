"""The one place that maps a REST error reply to a typed error.

By HTTP status first: 401 → ``NmbrsAuthError``, 403 → ``NmbrsPermissionError``, 429 →
``NmbrsRateLimited``, 5xx → ``NmbrsUnavailable``, other 4xx → ``NmbrsValidationError``. The
five-digit code refines only with what Nmbrs' OpenAPI description lists (its
``components/responses`` examples): 42909 is a used-up quota, and the listed codes choose the
admin's message. A code the description does not list is read by its status alone, so an
unknown code can never turn an error into a retry or a success.
"""

from __future__ import annotations

from ..errors import (
    NmbrsAuthError,
    NmbrsError,
    NmbrsPermissionError,
    NmbrsProtocolError,
    NmbrsQuotaExceeded,
    NmbrsRateLimited,
    NmbrsUnavailable,
    NmbrsValidationError,
    shorten,
)

# Every code Nmbrs' OpenAPI description lists, with its title there.
SPEC_CODES: dict[int, str] = {
    40033: "Parameter_Invalid",
    40101: "Missing_Token",
    40102: "Invalid_Token",
    40303: "Unauthorized_AccessData",
    40304: "Invalid_Subscription",
    40401: "Not_Found",
    40404: "Invalid_Company",
    42908: "Too_Many_Calls",
    42909: "Quota_Exceeded",
    50001: "Unkown",  # sic
    50201: "Bad_Gateway",
    50301: "Service_Unavailable",
}

_AUTH_MESSAGE = (
    "Nmbrs godkände inte Bryggas inloggning. Anslut igen med Nmbrs-inloggning "
    "(Inställningar → Mottagare)."
)
_PERMISSION_MESSAGE = (
    "Nmbrs-användaren som godkände anslutningen saknar behörighet för det här. Be Nmbrs-"
    "administratören ge användaren rätt behörighet, eller anslut med en annan användare."
)

# The admin's message for a listed code, where it says more than its status does.
USER_MESSAGES: dict[int, str] = {
    40303: (
        "Nmbrs-användaren som godkände anslutningen har inte tillgång till den här kunden "
        "eller det här företaget. Be Nmbrs-administratören ge tillgång (behörigheter per "
        "kund och företag i användarens mall), eller anslut med en annan användare."
    ),
    40304: (
        "Nmbrs-miljön saknar ett giltigt abonnemang och är avstängd. Kontakta Nmbrs; inget "
        "kan hämtas eller skickas förrän abonnemanget gäller igen."
    ),
    40404: (
        "Företaget finns inte i Nmbrs, eller så når anslutningen det inte längre. Kontrollera "
        "företaget i Nmbrs och anslut igen med Nmbrs-inloggning."
    ),
}


def error_from_rest(
    status: int, body: object, *, retry_after: float | None = None, what: str = ""
) -> NmbrsError:
    """Map a REST error reply to a typed error (the single REST status/code → class mapping).

    ``body`` is the decoded JSON (``{type, httpStatus, code, title, detail, invalid-params}``,
    or the API gateway's ``{statusCode, message}``) or ``None`` when the reply was not JSON.
    """
    info = body if isinstance(body, dict) else {}
    raw_code = info.get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    parts = [str(info.get(k)) for k in ("title", "detail") if info.get(k)]
    for item in info.get("invalid-params") or ():
        if isinstance(item, dict):
            parts.append(f"{item.get('name')}: {item.get('reason')}")
    if not parts and isinstance(info.get("message"), str):
        parts.append(info["message"])  # API-gateway shape: {"statusCode", "message"}
    message = shorten(f"{what}HTTP {status}" + (": " + "; ".join(parts) if parts else ""))
    listed = code if code in SPEC_CODES else None
    user_message = USER_MESSAGES.get(listed) if listed is not None else None
    if status == 429:
        if listed == 42909:
            return NmbrsQuotaExceeded(message, code)
        return NmbrsRateLimited(message, code, retry_after=retry_after)
    if status == 401:
        return NmbrsAuthError(message, code, user_message=user_message or _AUTH_MESSAGE)
    if status == 403:
        return NmbrsPermissionError(message, code, user_message=user_message or _PERMISSION_MESSAGE)
    if status >= 500 or (body is None and status in (408, 425)):
        return NmbrsUnavailable(message, code)
    if body is None:
        return NmbrsProtocolError(message, code)
    if 400 <= status < 500:
        return NmbrsValidationError(message, code, user_message=user_message)
    return NmbrsProtocolError(message, code)

"""Checking an Nmbrs API key before it is saved, and remembering it between dialog steps.

When the key sees several companies the admin picks one in a second step. The key must not
travel back to the browser for that step, so it waits in Redis, encrypted, for 15 minutes.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import asdict, dataclass, field

from flask_babel import gettext as _
from redis.exceptions import RedisError

from webapp import crypto
from webapp.nmbrs import Company, NmbrsError
from webapp.queue import redis_connection
from webapp.recipients.nmbrs.access import client_for_credentials

log = logging.getLogger(__name__)
PENDING_TTL_SECONDS = 15 * 60


class ConnectError(Exception):
    """The key could not be confirmed; `user_message` says why, in the admin's words."""

    def __init__(self, user_message: str, code: int | None = None) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.code = code


@dataclass
class CheckedKey:
    username: str
    environment: str
    domain: str | None
    companies: list[dict]  # {"id", "number", "name", "debtor_id"}
    token: str = field(repr=False)  # in memory only; parked in Redis encrypted (remember)
    token_last4: str


def check_key(username: str, token: str, environment: str) -> CheckedKey:
    """Ask Nmbrs whether the e-mail and token work and which companies they see.

    Raises ConnectError with a Swedish message on a wrong key, an unreachable Nmbrs, or a key
    that sees no company. Never logs the token.
    """
    try:
        with client_for_credentials(username, token, environment) as client:
            env = client.verify()
            domain = env.subdomain or env.domain
            debtors = client.debtors()
            companies: list[dict] = []
            for debtor in debtors:
                debtor_id = int(debtor.id)  # SOAP's ids are ints
                companies.extend(_company(c, debtor_id) for c in client.companies(debtor_id))
            if not debtors:
                companies = [_company(c, None) for c in client.companies()]
    except NmbrsError as exc:
        log.info("nmbrs key check failed: %s %s", type(exc).__name__, exc.code)
        raise ConnectError(exc.user_message, exc.code) from None
    if not companies:
        raise ConnectError(
            "Nmbrs-användaren ser inget företag. Be Nmbrs-administratören ge API-användaren "
            "tillgång till företaget ni betalar löner genom."
        )
    return CheckedKey(
        username=username,
        environment=environment,
        domain=domain,
        companies=sorted(companies, key=lambda c: (c["name"] or "", c["id"])),
        token=token,
        token_last4=token[-4:],
    )


def _company(company: Company, debtor_id: int | None) -> dict:
    return {
        "id": company.id,
        "number": company.number,
        "name": company.name or f"#{company.number}",
        "debtor_id": debtor_id,
    }


def remember(checked: CheckedKey, organization_id: int) -> str:
    """Park a checked key while the admin chooses a company; returns an opaque reference."""
    ref = secrets.token_urlsafe(24)
    payload = {"organization_id": organization_id, **asdict(checked)}
    payload["token"] = crypto.encrypt(checked.token, _parked(ref, organization_id))
    try:
        redis_connection().set(f"pending-nmbrs:{ref}", json.dumps(payload), ex=PENDING_TTL_SECONDS)
    except RedisError:
        log.warning("could not park a checked nmbrs key: redis unavailable")
        raise ConnectError(_queue_unavailable()) from None
    return ref


def _queue_unavailable() -> str:
    return _(
        "Kön för bakgrundsjobb svarar inte just nu, så Brygga kan inte hålla nyckeln medan du "
        "väljer företag. Ingenting sparades; försök igen om en liten stund."
    )


def recall(ref: str, organization_id: int) -> CheckedKey | None:
    """The parked key for this organization, or None when it expired or is someone else's.
    Raises ConnectError when Redis does not answer."""
    try:
        raw = redis_connection().get(f"pending-nmbrs:{ref}")
    except RedisError:
        log.warning("could not read a parked nmbrs key: redis unavailable")
        raise ConnectError(_queue_unavailable()) from None
    if raw is None:
        return None
    payload = json.loads(raw)
    if payload.pop("organization_id") != organization_id:
        return None
    try:
        payload["token"] = crypto.decrypt(payload["token"], _parked(ref, organization_id))
    except crypto.SecretUnreadable:
        return None
    return CheckedKey(**payload)


def _parked(ref: str, organization_id: int) -> crypto.Place:
    # Bound to the step's reference and organization, like a secret in the database.
    return crypto.Place("redis", "pending-nmbrs", ref, organization_id)


def forget(ref: str) -> None:
    try:
        redis_connection().delete(f"pending-nmbrs:{ref}")
    except RedisError:
        log.warning("could not delete a pending nmbrs key")

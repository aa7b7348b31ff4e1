"""Building Nmbrs clients from the app's settings: the only place that decrypts a token."""

from __future__ import annotations

from flask import current_app

from webapp import crypto
from webapp.models import NmbrsConnection
from webapp.nmbrs import Credentials, NmbrsClient, Timeouts

# What the dialog offers; the host behind each is fixed in the client, never typed by a user.
ENVIRONMENT_LABELS = {"se": "Sverige", "nl": "Nederländerna", "sandbox": "Nmbrs sandbox"}


def client_for_credentials(
    username: str, token: str, environment: str, domain: str | None = None
) -> NmbrsClient:
    cfg = current_app.config
    return NmbrsClient(
        Credentials(username, token, domain or None),
        environment=environment,
        base_url=cfg.get("NMBRS_BASE_URL"),
        timeouts=Timeouts(
            connect=cfg.get("NMBRS_CONNECT_TIMEOUT", 5.0),
            read=cfg.get("NMBRS_READ_TIMEOUT", 60.0),
            total=cfg.get("NMBRS_TOTAL_TIMEOUT", 300.0),
        ),
    )


def client_for(connection: NmbrsConnection) -> NmbrsClient:
    """A client for a stored connection (decrypts its token in memory only)."""
    return client_for_credentials(
        connection.username,
        crypto.decrypt(connection.token_encrypted),
        connection.environment,
        connection.domain,
    )

"""Building Nmbrs clients from the app's settings: the only place that decrypts a token.

`client_for(connection)` returns a `PayrollApi`: the SOAP client for a connection with an API
key, the REST client for one that moved to REST with an OAuth consent. Callers never ask which.
REST tokens live encrypted, bound to their row, in `NmbrsConnection.oauth_tokens`;
`ConnectionTokenStore` refreshes them at most once per rotation across every process (a Redis
lock per connection, the new pair committed on a connection of its own before the lock is
released).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from flask import current_app
from redis import Redis
from redis.exceptions import LockError, RedisError
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from webapp import crypto
from webapp.models import NmbrsApi, NmbrsConnection
from webapp.models.base import table_of
from webapp.nmbrs import (
    IDENTITY_URL,
    REST_BASE_URL,
    Credentials,
    NmbrsClient,
    NmbrsConsentExpired,
    NmbrsError,
    NmbrsOAuth,
    NmbrsRestClient,
    NmbrsUnavailable,
    PayrollApi,
    RestTransport,
    RetryPolicy,
    SerialisedTokenStore,
    SoapTransport,
    Timeouts,
    Tokens,
    resolve_base_url,
)
from webapp.recipients.nmbrs import sunset
from webapp.services.rate_limit import RateLimiter, configured_limiter

if TYPE_CHECKING:
    from webapp.models import ReportRecipient

log = logging.getLogger(__name__)

# consent_status values of a REST connection.
CONSENT_OK = "ok"
CONSENT_EXPIRED = "expired"
CONSENT_REVOKED = "revoked"
CONSENT_PROBLEMS = (CONSENT_EXPIRED, CONSENT_REVOKED)

# What the dialog offers; the host behind each is fixed in the client, never typed by a user.
ENVIRONMENT_LABELS = {"se": "Sverige", "nl": "Nederländerna", "sandbox": "Nmbrs sandbox"}


class RateLimitedTransport(SoapTransport):
    """SOAP transport whose every HTTP request (retries too) waits for the shared bucket."""

    def __init__(self, base_url: str, limiter: RateLimiter, **kwargs) -> None:
        super().__init__(base_url, **kwargs)
        self.limiter = limiter

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        self.limiter.acquire()
        return super()._post(url, body, headers)


def client_for_credentials(
    username: str,
    token: str,
    environment: str,
    domain: str | None = None,
    *,
    rate_limited: bool = False,
    pool_size: int = 8,
) -> NmbrsClient:
    """A client for these credentials. `rate_limited` clients share their Nmbrs account's Redis
    bucket (`NMBRS_RATE_LIMIT` calls/s across all processes) under the fleet's ceiling: syncs
    and transfers use it, so many workers together stay under Nmbrs' fair-use limit."""
    cfg = current_app.config
    timeouts = Timeouts(
        connect=cfg.get("NMBRS_CONNECT_TIMEOUT", 5.0),
        read=cfg.get("NMBRS_READ_TIMEOUT", 60.0),
        total=cfg.get("NMBRS_TOTAL_TIMEOUT", 300.0),
    )
    retry = RetryPolicy(
        attempts=cfg.get("NMBRS_RETRY_ATTEMPTS", 3), backoff=cfg.get("NMBRS_RETRY_BACKOFF", 0.5)
    )
    transport = None
    if rate_limited:
        base_url = resolve_base_url(environment, cfg.get("NMBRS_BASE_URL"))
        limiter = configured_limiter(base_url, username)
        transport = RateLimitedTransport(
            base_url, limiter, timeouts=timeouts, retry=retry, pool_size=pool_size
        )
    return NmbrsClient(
        Credentials(username, token, domain or None),
        environment=environment,
        base_url=cfg.get("NMBRS_BASE_URL"),
        timeouts=timeouts,
        retry=retry,
        transport=transport,
        pool_size=pool_size,
    )


def client_for(
    connection: NmbrsConnection, *, rate_limited: bool = False, pool_size: int = 8
) -> PayrollApi:
    """A client for a stored connection: SOAP with its API key, or REST with its consent
    (decrypts the secret in memory only). `rate_limited` clients share their account's bucket.
    Raises SoapKeyRetired for a connection still on the API key after Nmbrs closed it."""
    # Both clients answer PayrollApi; SOAP's take only its int ids, which a SOAP connection's
    # stored ids are, so the narrower signatures are safe here.
    if connection.api == NmbrsApi.REST:
        return cast(
            PayrollApi, rest_client_for(connection, rate_limited=rate_limited, pool_size=pool_size)
        )
    sunset.check(connection)
    return cast(
        PayrollApi, soap_client_for(connection, rate_limited=rate_limited, pool_size=pool_size)
    )


def connection_of(recipient: ReportRecipient) -> NmbrsConnection:
    """The Nmbrs recipient's connection (every Nmbrs recipient has one)."""
    if recipient.nmbrs is None:
        raise NmbrsError(f"recipient {recipient.id} has no Nmbrs connection")
    return recipient.nmbrs


def soap_client_for(
    connection: NmbrsConnection, *, rate_limited: bool = False, pool_size: int = 8
) -> NmbrsClient:
    """The SOAP client of a connection's API key, whichever API the connection uses now."""
    if not connection.token_encrypted:
        raise NmbrsUnavailable("this connection has no SOAP API key")
    return client_for_credentials(
        connection.username,
        connection.token,
        connection.environment,
        connection.domain,
        rate_limited=rate_limited,
        pool_size=pool_size,
    )


# --- REST ----------------------------------------------------------------------------------------


def _timeouts_and_retry() -> tuple[Timeouts, RetryPolicy]:
    cfg = current_app.config
    return (
        Timeouts(
            connect=cfg.get("NMBRS_CONNECT_TIMEOUT", 5.0),
            read=cfg.get("NMBRS_READ_TIMEOUT", 60.0),
            total=cfg.get("NMBRS_TOTAL_TIMEOUT", 300.0),
        ),
        RetryPolicy(
            attempts=cfg.get("NMBRS_RETRY_ATTEMPTS", 3),
            backoff=cfg.get("NMBRS_RETRY_BACKOFF", 0.5),
        ),
    )


def oauth_client(redirect_uri: str = "") -> NmbrsOAuth:
    """The deployment's OAuth registration at Nmbrs (one client for every customer)."""
    cfg = current_app.config
    if not cfg.get("NMBRS_OAUTH_CLIENT_ID") or not cfg.get("NMBRS_OAUTH_CLIENT_SECRET"):
        raise RuntimeError("NMBRS_OAUTH_CLIENT_ID and NMBRS_OAUTH_CLIENT_SECRET are not set")
    timeouts, _ = _timeouts_and_retry()
    return NmbrsOAuth(
        cfg["NMBRS_OAUTH_CLIENT_ID"],
        cfg["NMBRS_OAUTH_CLIENT_SECRET"],
        redirect_uri=redirect_uri,
        identity_url=cfg.get("NMBRS_IDENTITY_URL") or None,
        timeouts=Timeouts(connect=timeouts.connect, read=min(timeouts.read, 30.0)),
    )


def rest_configured() -> bool:
    """Whether this deployment can offer "Anslut med Nmbrs-inloggning" at all."""
    cfg = current_app.config
    return bool(
        cfg.get("NMBRS_OAUTH_CLIENT_ID")
        and cfg.get("NMBRS_OAUTH_CLIENT_SECRET")
        and cfg.get("NMBRS_SUBSCRIPTION_KEY")
    )


def identity_origin() -> str:
    """The scheme and host of Nmbrs' OAuth server (for the CSP of the page that links there)."""
    from urllib.parse import urlsplit

    parts = urlsplit(current_app.config.get("NMBRS_IDENTITY_URL") or IDENTITY_URL)
    return f"{parts.scheme}://{parts.netloc}"


def rest_base_url() -> str | None:
    """Where the REST API is: `NMBRS_BASE_URL` (the sandbox serves both APIs) or Nmbrs."""
    return current_app.config.get("NMBRS_BASE_URL") or None


def encode_tokens(tokens: Tokens) -> str:
    """The token pair as the JSON that `NmbrsConnection.oauth_tokens` stores encrypted."""
    return json.dumps(tokens.to_dict())


def decode_tokens(plaintext: str) -> Tokens:
    return Tokens.from_dict(json.loads(plaintext))


def consent_expiry(tokens: Tokens) -> datetime | None:
    at = tokens.consent_expires_at
    return datetime.fromtimestamp(at, UTC) if at else None


class ConnectionTokenStore(SerialisedTokenStore):
    """One connection's OAuth tokens in the database, refreshed under a Redis lock.

    Built inside an app context, then safe in any thread (the sync's pool calls Nmbrs from
    threads without one): it holds the engine and the Redis client, never `db.session`. Reads
    and the save after a refresh use short connections of their own, so a refresh commits the
    new (single-use) refresh token at once and never commits, or waits for, the caller's
    unit of work.
    """

    LOCK_TIMEOUT = 60  # > the token call's timeouts: the lock outlives a slow refresh
    LOCK_WAIT = 45  # how long a second worker waits for the first one's refresh

    def __init__(self, connection_id: int, oauth: NmbrsOAuth, engine: Engine, redis: Redis):
        super().__init__(oauth)
        self.connection_id = connection_id
        self.engine = engine
        self.redis = redis
        # The app's keys and the secret's place, so that threads without an app context can
        # decrypt and encrypt.
        self._keyring = crypto.keyring()
        self._place = _tokens_place(engine, connection_id)
        self._cached: Tokens | None = None

    def __repr__(self) -> str:
        return f"ConnectionTokenStore(connection_id={self.connection_id})"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        lock = self.redis.lock(
            f"nmbrs:oauth-refresh:{self.connection_id}",
            timeout=self.LOCK_TIMEOUT,
            blocking_timeout=self.LOCK_WAIT,
        )
        try:
            acquired = lock.acquire()
        except RedisError as exc:
            raise NmbrsUnavailable(f"token lock unavailable: {type(exc).__name__}") from None
        if not acquired:
            # Another worker is still refreshing: try later rather than burn a refresh token.
            raise NmbrsUnavailable("another worker is refreshing the Nmbrs tokens")
        try:
            yield
        finally:
            with contextlib.suppress(LockError, RedisError):
                lock.release()

    def load(self) -> Tokens:
        table = table_of(NmbrsConnection)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.oauth_tokens_encrypted, table.c.consent_status).where(
                    table.c.id == self.connection_id
                )
            ).one_or_none()
        if row is None or not row.oauth_tokens_encrypted:
            raise NmbrsConsentExpired("no OAuth tokens stored for this connection")
        if row.consent_status in CONSENT_PROBLEMS:
            raise NmbrsConsentExpired(f"consent is marked {row.consent_status}")
        tokens = decode_tokens(self._keyring.decrypt(row.oauth_tokens_encrypted, self._place))
        self._cached = tokens
        return tokens

    def current(self) -> Tokens:
        # Every REST call asks; the database is read once per client and after each refresh
        # (refresh() always re-reads under the lock, so a stale cache costs nothing).
        return self._cached or self.load()

    def save(self, tokens: Tokens) -> None:
        table = table_of(NmbrsConnection)
        with self.engine.begin() as conn:  # committed here, before the lock is released
            conn.execute(
                update(table)
                .where(table.c.id == self.connection_id)
                .values(
                    oauth_tokens_encrypted=self._keyring.encrypt(
                        encode_tokens(tokens), self._place
                    ),
                    consent_expires_at=consent_expiry(tokens),
                    consent_status=CONSENT_OK,
                )
            )
        self._cached = tokens
        log.info("nmbrs connection %s: OAuth tokens refreshed", self.connection_id)

    def consent_expired(self, error: NmbrsConsentExpired) -> None:
        mark_consent_problem(self.engine, self.connection_id)
        self._cached = None

    def refresh_now(self) -> Tokens:
        """Refresh even though the access token still works (the idle keep-alive)."""
        return self.refresh(self.load())


def _tokens_place(engine: Engine, connection_id: int) -> crypto.Place:
    """Where a connection's OAuth tokens live (read without the ORM session: see above)."""
    from webapp.models import ReportRecipient

    connections, recipients = table_of(NmbrsConnection), table_of(ReportRecipient)
    with engine.connect() as conn:
        organization_id = conn.execute(
            select(recipients.c.organization_id)
            .join(connections, connections.c.recipient_id == recipients.c.id)
            .where(connections.c.id == connection_id)
        ).scalar_one_or_none()
    return crypto.Place(
        connections.name, connections.c.oauth_tokens_encrypted.name, connection_id, organization_id
    )


def mark_consent_problem(engine: Engine, connection_id: int) -> str:
    """Mark a connection whose refresh was refused: "expired" when the refresh token had
    run out, else "revoked". Committed on a connection of its own. Returns the status."""
    table = table_of(NmbrsConnection)
    with engine.begin() as conn:
        expires_at = conn.execute(
            select(table.c.consent_expires_at).where(table.c.id == connection_id)
        ).scalar_one_or_none()
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        status = (
            CONSENT_EXPIRED
            if expires_at is not None and expires_at <= datetime.now(UTC)
            else CONSENT_REVOKED
        )
        conn.execute(update(table).where(table.c.id == connection_id).values(consent_status=status))
    log.warning("nmbrs connection %s: consent %s; the admin must reconnect", connection_id, status)
    return status


class RateLimitedRestTransport(RestTransport):
    """REST transport whose every HTTP request (retries too) waits for the shared bucket."""

    def __init__(self, base_url: str | None, tokens, subscription_key: str, *, limiter, **kw):
        super().__init__(base_url, tokens, subscription_key, **kw)
        self.limiter = limiter

    def _send(self, method, url, data, tokens):
        self.limiter.acquire()
        return super()._send(method, url, data, tokens)


def token_store_for(connection_id: int) -> ConnectionTokenStore:
    from webapp.extensions import db
    from webapp.queue import redis_connection

    return ConnectionTokenStore(connection_id, oauth_client(), db.engine, redis_connection())


def rest_client_for(
    connection: NmbrsConnection,
    *,
    rate_limited: bool = False,
    pool_size: int = 8,
    tokens=None,
) -> NmbrsRestClient:
    """The REST client of a connection (or of `tokens`, any `TokenSource`, e.g. during the
    consent callback before anything is stored)."""
    cfg = current_app.config
    timeouts, retry = _timeouts_and_retry()
    store = tokens if tokens is not None else token_store_for(connection.id)
    base_url = rest_base_url()
    transport = None
    if rate_limited:
        # The Nmbrs account behind a consent is its debtor (the login that gave it may change).
        account = connection.rest_debtor_id or connection.username
        limiter = configured_limiter(base_url or REST_BASE_URL, account)
        transport = RateLimitedRestTransport(
            base_url,
            store,
            cfg["NMBRS_SUBSCRIPTION_KEY"],
            limiter=limiter,
            timeouts=timeouts,
            retry=retry,
            pool_size=pool_size,
        )
    return NmbrsRestClient(
        store,
        subscription_key=cfg.get("NMBRS_SUBSCRIPTION_KEY") or "",
        base_url=base_url,
        timeouts=timeouts,
        retry=retry,
        transport=transport,
        pool_size=pool_size,
    )


def remote_company_id(connection: NmbrsConnection):
    """The company's id in the API the connection uses (int over SOAP, GUID over REST)."""
    return connection.rest_company_id if connection.api == NmbrsApi.REST else connection.company_id


def remote_debtor_id(connection: NmbrsConnection):
    """The debtor's id in the API the connection uses."""
    return connection.rest_debtor_id if connection.api == NmbrsApi.REST else connection.debtor_id


def remote_id(connection: NmbrsConnection, item) -> object:
    """A synced item's id (employee, cost center, cost unit …) in the API the connection uses:
    `nmbrs_id` over SOAP, `rest_id` over REST. None when the item is unknown to that API."""
    return item.rest_id if connection.api == NmbrsApi.REST else item.nmbrs_id

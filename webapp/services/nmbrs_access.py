"""Building Nmbrs clients from the app's settings: the only place that decrypts a token."""

from __future__ import annotations

from flask import current_app

from webapp import crypto
from webapp.models import NmbrsConnection
from webapp.nmbrs import Credentials, NmbrsClient, RetryPolicy, SoapTransport, Timeouts
from webapp.nmbrs.client import resolve_base_url
from webapp.services.rate_limit import RateLimiter, host_key

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
    """A client for these credentials. `rate_limited` clients share the host's Redis bucket
    (`NMBRS_RATE_LIMIT` calls/s across all processes): syncs use it, so many workers together
    stay under Nmbrs' fair-use limit."""
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
        from webapp.queue import redis_connection

        base_url = resolve_base_url(environment, cfg.get("NMBRS_BASE_URL"))
        limiter = RateLimiter(
            redis_connection(), host_key(base_url), rate=cfg.get("NMBRS_RATE_LIMIT", 100)
        )
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
) -> NmbrsClient:
    """A client for a stored connection (decrypts its token in memory only)."""
    return client_for_credentials(
        connection.username,
        crypto.decrypt(connection.token_encrypted),
        connection.environment,
        connection.domain,
        rate_limited=rate_limited,
        pool_size=pool_size,
    )

"""Configuration read from the environment, with safe defaults for a laptop."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from webapp.services.receipts import MAX_RECEIPT_BYTES

DEV_ENVIRONMENTS = {"dev", "test"}
# The largest request body: a receipt and the form fields around it (MAX_CONTENT_LENGTH).
MAX_REQUEST_BYTES = MAX_RECEIPT_BYTES + 1024 * 1024


def normalise_database_url(url: str) -> str:
    """Accept the URL forms a PaaS writes and point PostgreSQL at psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Config:
    """Settings for one app instance; `from_env` is the only place that reads os.environ."""

    def __init__(self, instance_path: str, environ: dict[str, str] | None = None) -> None:
        env = dict(os.environ if environ is None else environ)
        self.BRYGGA_ENV = env.get("BRYGGA_ENV", "production")
        is_dev = self.BRYGGA_ENV in DEV_ENVIRONMENTS
        default_db = "sqlite:///" + str(Path(instance_path) / "brygga.sqlite3")
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(env.get("DATABASE_URL", default_db))
        # (On PostgreSQL, webapp/pool.py checks pooled connections without the ping's round trip.)
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.REDIS_URL = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        self.SECRET_KEY = env.get("SECRET_KEY") or ("dev-only-not-secret" if is_dev else None)
        self.BRYGGA_ENCRYPTION_KEYS = env.get("BRYGGA_ENCRYPTION_KEYS", "")
        self.NMBRS_BASE_URL = env.get("NMBRS_BASE_URL") or None
        # Nmbrs REST (OAuth): the deployment's one app registration, used for every customer.
        self.NMBRS_OAUTH_CLIENT_ID = env.get("NMBRS_OAUTH_CLIENT_ID") or None
        self.NMBRS_OAUTH_CLIENT_SECRET = env.get("NMBRS_OAUTH_CLIENT_SECRET") or None
        self.NMBRS_SUBSCRIPTION_KEY = env.get("NMBRS_SUBSCRIPTION_KEY") or None
        self.NMBRS_IDENTITY_URL = env.get("NMBRS_IDENTITY_URL") or None  # unset: Nmbrs' own
        self.LOG_LEVEL = env.get("LOG_LEVEL", "INFO").upper()
        self.PUBLIC_URL = env.get("PUBLIC_URL", "http://127.0.0.1:5000")
        self.SMTP_HOST = env.get("SMTP_HOST") or None  # unset: e-mails are logged, not sent
        self.SMTP_PORT = int(env.get("SMTP_PORT", "587"))
        self.SMTP_USERNAME = env.get("SMTP_USERNAME") or None
        self.SMTP_PASSWORD = env.get("SMTP_PASSWORD") or None
        self.SMTP_USE_TLS = env.get("SMTP_USE_TLS", "true").lower() in ("1", "true", "yes")
        self.MAIL_FROM = env.get("MAIL_FROM", "Brygga <noreply@brygga.se>")
        # Calls/s to Nmbrs, counted across all workers: per Nmbrs account (its fair use), with
        # bursts of a few calls, and for the whole fleet on one Nmbrs host (0: no ceiling).
        self.NMBRS_RATE_LIMIT = float(env.get("NMBRS_RATE_LIMIT", "100"))
        self.NMBRS_RATE_BURST = int(env.get("NMBRS_RATE_BURST", "5"))
        self.NMBRS_FLEET_RATE_LIMIT = float(env.get("NMBRS_FLEET_RATE_LIMIT", "1000"))
        # How late (s) a call may arrive after its slot, on a busy machine, and still keep
        # every one-second window within the limits: more is safer and slower.
        self.NMBRS_RATE_JITTER = float(env.get("NMBRS_RATE_JITTER", "0.15"))
        # Syncs: RQ job timeout sized for the largest accounts, retries of an unreachable Nmbrs,
        # and when a run whose worker stopped beating is declared dead.
        self.SYNC_JOB_TIMEOUT = 3600
        self.SYNC_RETRY_INTERVALS = [60, 300, 900]
        self.SYNC_HEARTBEAT_SECONDS = 2.0
        self.SYNC_DEAD_AFTER_SECONDS = 120
        self.SYNC_NIGHTLY_SPREAD_SECONDS = 3 * 3600
        # A transfer's worker sends while the request still records the lines; a request silent
        # this long between its parts has died, and what it recorded goes without the rest.
        self.TRANSFER_RECORDING_STALL_SECONDS = 120.0
        # Nightly syncs due within this many seconds of each other share a job, up to this
        # many to a job, so many at a time (a job per sync paid a fork and a cold start each).
        self.SYNC_NIGHTLY_BATCH = int(env.get("SYNC_NIGHTLY_BATCH", "16"))
        self.SYNC_NIGHTLY_BATCH_THREADS = int(env.get("SYNC_NIGHTLY_BATCH_THREADS", "4"))
        self.SYNC_NIGHTLY_BATCH_WINDOW_SECONDS = 5.0
        # Behind a PaaS router: how many proxies in front of Brygga set X-Forwarded-For and
        # X-Forwarded-Proto (0: none; the client's address is the peer's).
        self.TRUSTED_PROXY_HOPS = int(env.get("TRUSTED_PROXY_HOPS", "0"))
        # Guessing (webapp.services.login_limits): attempts without delay per account and
        # client, per account over all unknown clients, per client over all accounts; the
        # account's hard ceiling; how long a counter is remembered after the last attempt.
        self.LOGIN_ATTEMPTS_PER_ACCOUNT = int(env.get("LOGIN_ATTEMPTS_PER_ACCOUNT", "5"))
        self.LOGIN_ATTEMPTS_PER_ACCOUNT_ALL_CLIENTS = int(
            env.get("LOGIN_ATTEMPTS_PER_ACCOUNT_ALL_CLIENTS", "20")
        )
        self.LOGIN_ACCOUNT_CEILING = int(env.get("LOGIN_ACCOUNT_CEILING", "100"))
        self.LOGIN_ATTEMPTS_PER_IP = int(env.get("LOGIN_ATTEMPTS_PER_IP", "30"))
        self.LOGIN_ATTEMPT_WINDOW_SECONDS = int(env.get("LOGIN_ATTEMPT_WINDOW_SECONDS", "3600"))
        # Sessions end on the server after this long without a request, and this long after
        # the login whatever happens.
        self.SESSION_IDLE_MINUTES = int(env.get("SESSION_IDLE_MINUTES", "30"))
        self.SESSION_MAX_HOURS = int(env.get("SESSION_MAX_HOURS", "12"))
        # The browser may forget the cookie no later than the server forgets the session.
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=self.SESSION_MAX_HOURS)
        self.INVITATION_VALID_HOURS = int(env.get("INVITATION_VALID_HOURS", "72"))
        self.PASSWORD_RESET_VALID_MINUTES = int(env.get("PASSWORD_RESET_VALID_MINUTES", "30"))

        # Anything larger is refused (413) from its Content-Length, before a byte of the body
        # is read; a file just over the receipt limit still gets the receipt form's message.
        self.MAX_CONTENT_LENGTH = MAX_REQUEST_BYTES

        # The cookie is written when the session changes, not re-signed on every request: its
        # expiry from the login is already the server's limit (SESSION_MAX_HOURS), and a page
        # polled every second should not rewrite it every second.
        self.SESSION_REFRESH_EACH_REQUEST = False
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = not is_dev
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SECURE = not is_dev
        self.WTF_CSRF_TIME_LIMIT = None  # tied to the session instead: long forms must not expire
        self.BABEL_DEFAULT_LOCALE = "sv"
        self.BABEL_DEFAULT_TIMEZONE = "Europe/Stockholm"
        self.LANGUAGES = ["sv", "en"]

    @property
    def is_dev(self) -> bool:
        return self.BRYGGA_ENV in DEV_ENVIRONMENTS

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if k.isupper()}

"""OAuth 2.0 for the Nmbrs REST API: consent URL, code exchange, refresh, and token stores.

Knows nothing of Flask or the database. The protocol work is Authlib's
(``authlib.integrations.requests_client.OAuth2Session``); this module adds Nmbrs' endpoints and
scopes, typed errors, and the one rule that makes Nmbrs' refresh tokens hard: they are
**single use and rotated on every refresh**. Two workers refreshing with the same refresh token
kill the connection (the second gets ``invalid_grant``, and the server may revoke the whole
grant). So refreshes go through a ``TokenStore`` that serialises them per connection; see
``SerialisedTokenStore``.

The consent flow, as the app's views use it::

    oauth = NmbrsOAuth(client_id, client_secret, redirect_uri=url_for(..., _external=True),
                       identity_url=config["NMBRS_IDENTITY_URL"] or None)
    consent = oauth.start()                    # keep consent.state + consent.code_verifier
    session["nmbrs_consent"] = consent.pending()   # in the server-side session
    return redirect(consent.url)
    ...                                        # callback view
    tokens = oauth.finish(request.args, **session.pop("nmbrs_consent"))
    store_encrypted(tokens)                    # Tokens.to_dict() / Tokens.from_dict()
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from ..errors import (
    NmbrsConsentError,
    NmbrsConsentExpired,
    NmbrsError,
    NmbrsProtocolError,
    NmbrsUnavailable,
)
from ..http import Timeouts

log = logging.getLogger("webapp.nmbrs.oauth")

IDENTITY_URL = "https://identityservice.nmbrs.com"
AUTHORIZE_PATH = "/connect/authorize"
TOKEN_PATH = "/connect/token"

# What Brygga reads and writes. ``offline_access`` brings the refresh token; ``openid`` is left
# out on purpose (Brygga needs no identity token, and Nmbrs' guidance is not to ask for it).
SCOPES: tuple[str, ...] = (
    "offline_access",
    "company.info.read",
    "company.payrollsettings.read",
    "employee.orgstructure.read",
    "employee.info.read",
    "employee.payment",
)

# An access token is refreshed this long before it expires at most (an hour's token: two minutes
# before), and never earlier than REFRESH_SHARE of its lifetime before: a token that lives two
# minutes is refreshed in its last 30 seconds, not before every call.
REFRESH_MARGIN = 120.0
REFRESH_SHARE = 0.25

# Nmbrs says refresh tokens live about 30 days; used for ``Tokens.consent_expires_at`` when the
# token response does not say (IdentityServer normally does not).
REFRESH_TOKEN_LIFETIME = 30 * 24 * 3600


@dataclass(frozen=True)
class Tokens:
    """An access/refresh token pair and when they expire (epoch seconds).

    Neither token appears in ``repr``. ``obtained_at`` is when this pair was issued; the refresh
    token is assumed to live ``REFRESH_TOKEN_LIFETIME`` from then (``consent_expires_at``)
    unless Nmbrs says otherwise.
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    obtained_at: float = 0.0
    refresh_expires_at: float | None = None
    scope: str | None = None
    token_type: str = "Bearer"

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        """True when the access token is expired or will be within ``seconds``."""
        return (time.time() if now is None else now) + seconds >= self.expires_at

    def refresh_margin(self, max_margin: float = REFRESH_MARGIN) -> float:
        """How long before expiry this token is refreshed: ``REFRESH_SHARE`` of its lifetime,
        at most ``max_margin`` (the whole margin when the lifetime is unknown)."""
        lifetime = self.expires_at - self.obtained_at if self.obtained_at else None
        if lifetime is None or lifetime <= 0:
            return max_margin
        return min(max_margin, lifetime * REFRESH_SHARE)

    def needs_refresh(
        self, now: float | None = None, *, max_margin: float = REFRESH_MARGIN
    ) -> bool:
        """True when the access token is expired or within its refresh margin. A 401 from
        Nmbrs refreshes too (see ``RestTransport``), so the margin only has to cover the
        usual case, not clock skew."""
        return self.expires_within(self.refresh_margin(max_margin), now)

    @property
    def consent_expires_at(self) -> float | None:
        """When the refresh token (and so the connection, if idle) stops working."""
        if self.refresh_token is None:
            return None
        if self.refresh_expires_at is not None:
            return self.refresh_expires_at
        return self.obtained_at + REFRESH_TOKEN_LIFETIME if self.obtained_at else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the app to encrypt and store (both tokens are secrets)."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "obtained_at": self.obtained_at,
            "refresh_expires_at": self.refresh_expires_at,
            "scope": self.scope,
            "token_type": self.token_type,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tokens:
        """The inverse of ``to_dict``."""
        return cls(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            expires_at=float(data["expires_at"]),
            obtained_at=float(data.get("obtained_at") or 0.0),
            refresh_expires_at=(
                None
                if data.get("refresh_expires_at") is None
                else float(data["refresh_expires_at"])
            ),
            scope=data.get("scope"),
            token_type=data.get("token_type") or "Bearer",
        )


@dataclass(frozen=True)
class Consent:
    """A started consent: where to send the admin, and what the callback must check.

    Keep ``state`` and ``code_verifier`` server-side (the session) until the callback.
    """

    url: str
    state: str
    code_verifier: str = field(repr=False)

    def pending(self) -> dict[str, str]:
        """What to keep until the callback: keyword arguments of ``NmbrsOAuth.finish``."""
        return {"state": self.state, "code_verifier": self.code_verifier}


@runtime_checkable
class TokenSource(Protocol):
    """Where the REST client gets its tokens: the app's per-connection token store.

    ``current()`` returns the stored pair. ``refresh(stale)`` returns a pair newer than
    ``stale``, refreshing at most once per rotation across all workers (see
    ``SerialisedTokenStore``). Both may raise ``NmbrsConsentExpired``.
    """

    def current(self) -> Tokens: ...

    def refresh(self, stale: Tokens) -> Tokens: ...


# The name the brief and the app use; the same protocol.
TokenStore = TokenSource


class NmbrsOAuth:
    """Nmbrs' OAuth endpoints for one app registration (client id + secret, many customers).

    ``identity_url`` overrides ``https://identityservice.nmbrs.com`` (the sandbox serves
    ``/connect/authorize`` and ``/connect/token`` itself). ``token_auth`` is how the client
    authenticates at the token endpoint: ``client_secret_post`` (id and secret in the form,
    as Nmbrs' examples do) or ``client_secret_basic``.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        redirect_uri: str,
        identity_url: str | None = None,
        scopes: tuple[str, ...] | list[str] = SCOPES,
        timeouts: Timeouts | None = None,
        token_auth: str = "client_secret_post",
        clock: Callable[[], float] = time.time,
    ):
        if "openid" in scopes:
            raise ValueError("Brygga does not ask Nmbrs for 'openid'")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.identity_url = (identity_url or IDENTITY_URL).rstrip("/")
        self.scopes = tuple(scopes)
        self.timeouts = timeouts or Timeouts(connect=5.0, read=30.0)
        self.token_auth = token_auth
        self._clock = clock

    def __repr__(self) -> str:
        return f"NmbrsOAuth(client_id={self.client_id!r}, identity_url={self.identity_url!r})"

    @property
    def authorize_url(self) -> str:
        return self.identity_url + AUTHORIZE_PATH

    @property
    def token_url(self) -> str:
        return self.identity_url + TOKEN_PATH

    def _session(self, **kwargs: Any) -> OAuth2Session:
        return OAuth2Session(
            self.client_id,
            self._client_secret,
            token_endpoint_auth_method=self.token_auth,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            **kwargs,
        )

    # --- consent ------------------------------------------------------------------------

    def start(self, *, state: str | None = None, code_verifier: str | None = None) -> Consent:
        """Build the consent URL with a fresh ``state`` and a PKCE S256 ``code_verifier``."""
        state = state or generate_token(32)
        code_verifier = code_verifier or generate_token(64)
        with self._session(scope=" ".join(self.scopes)) as session:
            url, _ = session.create_authorization_url(
                self.authorize_url, state=state, code_verifier=code_verifier
            )
        return Consent(url, state, code_verifier)

    def finish(self, callback_args: Mapping[str, str], *, state: str, code_verifier: str) -> Tokens:
        """Handle the redirect back from Nmbrs: check ``state``, then exchange the code.

        ``callback_args`` are the callback's query arguments (``request.args``). Raises
        ``NmbrsConsentError`` when the admin declined, the state does not match, or the code was
        refused; ``NmbrsUnavailable`` when Nmbrs could not be reached.
        """
        returned_state = callback_args.get("state") or ""
        if not state or not _same(returned_state, state):
            raise NmbrsConsentError("OAuth callback: state does not match the started consent")
        error = callback_args.get("error")
        if error:
            if error == "access_denied":
                raise NmbrsConsentError(
                    "OAuth callback: the user declined",
                    user_message=(
                        "Anslutningen avbröts i Nmbrs och inget godkändes. Börja om och välj "
                        "Godkänn i Nmbrs för att ansluta."
                    ),
                )
            raise NmbrsConsentError(f"OAuth callback error: {_short(error)}")
        code = callback_args.get("code")
        if not code:
            raise NmbrsConsentError("OAuth callback without a code")
        return self.exchange(code, code_verifier=code_verifier)

    def exchange(self, code: str, *, code_verifier: str | None) -> Tokens:
        """Exchange an authorization code for tokens (``grant_type=authorization_code``)."""
        extra = {"code_verifier": code_verifier} if code_verifier else {}
        token = self._token_call(
            "authorization_code",
            lambda s: s.fetch_token(
                self.token_url,
                grant_type="authorization_code",
                code=code,
                redirect_uri=self.redirect_uri,
                timeout=(self.timeouts.connect, self.timeouts.read),
                **extra,
            ),
        )
        tokens = self._tokens(token)
        if not tokens.refresh_token:
            raise NmbrsConsentError(
                "token response without a refresh token (offline_access not granted?)",
                user_message=(
                    "Nmbrs gav inte Brygga rätt att hålla anslutningen öppen. Anslut igen och "
                    "godkänn alla behörigheter som Nmbrs frågar om."
                ),
            )
        return tokens

    def refresh(self, refresh_token: str) -> Tokens:
        """Trade a refresh token for a new pair (``grant_type=refresh_token``).

        The old refresh token is dead afterwards, so the caller must save the result before
        anything else uses it. ``invalid_grant`` (expired, revoked, already used) raises
        ``NmbrsConsentExpired``. Call this through a ``TokenStore``, never directly from
        parallel workers.
        """
        token = self._token_call(
            "refresh_token",
            lambda s: s.refresh_token(
                self.token_url,
                refresh_token=refresh_token,
                timeout=(self.timeouts.connect, self.timeouts.read),
            ),
        )
        return self._tokens(token)

    # --- helpers -----------------------------------------------------------------------------

    def _token_call(self, grant: str, call: Callable[[OAuth2Session], Mapping[str, Any]]) -> dict:
        started = time.monotonic()
        try:
            with self._session() as session:
                token = dict(call(session))
        except OAuthError as exc:
            error = exc.error or "error"
            log.info("nmbrs oauth %s refused: %s", grant, error)
            if error == "invalid_grant":
                if grant == "refresh_token":
                    raise NmbrsConsentExpired(
                        f"refresh refused: invalid_grant ({_short(exc.description)})"
                    ) from None
                raise NmbrsConsentError(
                    f"code refused: invalid_grant ({_short(exc.description)})",
                    user_message=(
                        "Godkännandet i Nmbrs hann gå ut eller har redan använts. Börja om med "
                        "Anslut med Nmbrs-inloggning."
                    ),
                ) from None
            if error in ("invalid_client", "unauthorized_client"):
                # The deployment's client id/secret are wrong: nothing the admin can fix.
                raise NmbrsError(
                    f"token endpoint: {error}",
                    user_message=(
                        "Bryggas registrering hos Nmbrs godkändes inte. Kontakta Bryggas support."
                    ),
                ) from None
            raise NmbrsConsentError(
                f"token endpoint: {error} ({_short(exc.description)})"
            ) from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status >= 500 or status == 429:
                raise NmbrsUnavailable(f"token endpoint answered HTTP {status}") from None
            raise NmbrsProtocolError(f"token endpoint answered HTTP {status}") from None
        except requests.Timeout:
            raise NmbrsUnavailable("token endpoint did not answer in time") from None
        except requests.RequestException as exc:
            raise NmbrsUnavailable(
                f"could not reach the token endpoint: {type(exc).__name__}"
            ) from None
        except ValueError:
            raise NmbrsProtocolError("token endpoint reply is not a JSON object") from None
        log.info("nmbrs oauth %s ok in %.0f ms", grant, (time.monotonic() - started) * 1000)
        return token

    def _tokens(self, token: Mapping[str, Any]) -> Tokens:
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise NmbrsProtocolError("token response without an access_token")
        if str(token.get("token_type", "Bearer")).lower() != "bearer":
            raise NmbrsProtocolError("token response is not a Bearer token")
        now = self._clock()
        try:
            expires_in = float(token.get("expires_in") or 3600)
            refresh_in = token.get("refresh_token_expires_in")
            refresh_expires_at = None if refresh_in is None else now + float(refresh_in)
        except (TypeError, ValueError):
            raise NmbrsProtocolError("token response with a bad expires_in") from None
        refresh = token.get("refresh_token")
        return Tokens(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            expires_at=now + expires_in,
            obtained_at=now,
            refresh_expires_at=refresh_expires_at,
            scope=token.get("scope"),
        )


# --- serialised refresh -------------------------------------------------------------------------


class SerialisedTokenStore(ABC):
    """A ``TokenSource`` that refreshes at most once per rotation across all workers.

    Subclasses provide three hooks; the algorithm is here, once:

    ``refresh(stale)``:
      1. take the per-connection lock (``locked()``);
      2. re-read the stored pair (``load()``); if its refresh token differs from
         ``stale.refresh_token``, another worker already refreshed: use the stored pair;
      3. else call ``oauth.refresh(stale.refresh_token)`` and **save the new pair**
         (``save()``, committed) before releasing the lock;
      4. on ``NmbrsConsentExpired`` call ``consent_expired(error)`` (mark the recipient) and
         re-raise.

    The app's version (the second step of issue 8) is about fifteen lines::

        class ConnectionTokenStore(SerialisedTokenStore):
            def __init__(self, connection_id, oauth, redis):
                super().__init__(oauth)
                self.connection_id, self.redis = connection_id, redis

            def locked(self):
                # Held across the HTTP refresh: timeout > token call timeout, blocking_timeout
                # bounded so a stuck worker cannot stall the others for long.
                return self.redis.lock(f"nmbrs:oauth-refresh:{self.connection_id}",
                                       timeout=60, blocking_timeout=45)

            def load(self):
                # A fresh read (new session / populate_existing), never the identity map.
                row = db.session.get(NmbrsConnection, self.connection_id,
                                     populate_existing=True)
                return Tokens.from_dict(json.loads(crypto.decrypt(row.oauth_tokens_encrypted)))

            def save(self, tokens):
                row = db.session.get(NmbrsConnection, self.connection_id)
                row.oauth_tokens_encrypted = crypto.encrypt(json.dumps(tokens.to_dict()))
                row.consent_expires_at = tokens.consent_expires_at
                db.session.commit()           # committed before the lock is released

            def consent_expired(self, error):
                mark_recipient_needs_reconnect(self.connection_id)

    If the lock cannot be taken in time, raise ``NmbrsUnavailable`` from ``locked()``: the
    job is retried later and no refresh token is burnt.
    """

    def __init__(self, oauth: NmbrsOAuth):
        self.oauth = oauth

    @abstractmethod
    def locked(self) -> AbstractContextManager[object]:
        """A per-connection lock shared by every worker (Redis in the app)."""

    @abstractmethod
    def load(self) -> Tokens:
        """Read the stored pair, bypassing any cache."""

    @abstractmethod
    def save(self, tokens: Tokens) -> None:
        """Store (and commit) a new pair; called while the lock is held."""

    def consent_expired(self, error: NmbrsConsentExpired) -> None:  # noqa: B027 - optional hook
        """Called once when a refresh is refused for good (mark the recipient)."""

    def current(self) -> Tokens:
        """The stored pair."""
        return self.load()

    def refresh(self, stale: Tokens) -> Tokens:
        """A pair newer than ``stale``; at most one refresh call per rotation (see class)."""
        with self.locked():
            stored = self.load()
            if stored.refresh_token != stale.refresh_token:
                log.debug("nmbrs oauth: another worker refreshed already")
                return stored
            if not stored.refresh_token:
                raise NmbrsConsentExpired("no refresh token stored")
            try:
                fresh = self.oauth.refresh(stored.refresh_token)
            except NmbrsConsentExpired as exc:
                self.consent_expired(exc)
                raise
            if fresh.refresh_token is None:
                # Nmbrs rotates; if a reply ever omits the token, the old one may still work.
                fresh = Tokens(**{**fresh.to_dict(), "refresh_token": stored.refresh_token})
            self.save(fresh)
            return fresh


class MemoryTokenStore(SerialisedTokenStore):
    """The reference ``TokenStore``: one pair in memory, a ``threading.Lock`` per store.

    Right for tests, scripts and a single process. Threads that share one instance behave
    like workers sharing one database row and one Redis lock.
    """

    def __init__(self, oauth: NmbrsOAuth, tokens: Tokens):
        super().__init__(oauth)
        self._tokens = tokens
        self._lock = threading.Lock()
        self.refreshes = 0  # refresh calls this store made (for tests)
        self.expired: NmbrsConsentExpired | None = None

    def __repr__(self) -> str:
        return f"MemoryTokenStore(client_id={self.oauth.client_id!r}, tokens={self._tokens!r})"

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield

    def load(self) -> Tokens:
        return self._tokens

    def save(self, tokens: Tokens) -> None:
        self.refreshes += 1
        self._tokens = tokens

    def consent_expired(self, error: NmbrsConsentExpired) -> None:
        self.expired = error


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def _short(text: object) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= 200 else value[:197] + "..."

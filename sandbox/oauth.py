"""A small OAuth 2.0 authorization server standing in for ``identityservice.nmbrs.com``.

``/connect/authorize`` shows a consent page ("Godkänn" / "Neka") and redirects back with
``code`` and ``state``; ``/connect/token`` does ``authorization_code`` (client secret, optional
PKCE S256) and ``refresh_token`` with rotation: a refresh token works once; presenting a used
one answers ``invalid_grant`` and revokes the whole grant, as IdentityServer-style servers do.

Test shortcut: add ``sandbox_auto=allow`` (or ``deny``) and ``login_hint=<e-mail>`` to the
authorize URL to skip the page.

Control (``POST /_sandbox/oauth/<method>`` with a JSON body): ``set_token_lifetimes``,
``revoke_consent``, ``expire_consent``, ``advance_clock``, ``issue_tokens``, ``stats``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from .data import DEMO_USERNAME

DEMO_CLIENT_ID = "brygga-sandbox"
DEMO_CLIENT_SECRET = "sandbox-secret-2f8e6c1a9d4b7e30"
# Shown for completeness; the subscription key is checked by the REST side.
DEMO_SUBSCRIPTION_KEY = "6b0e3f2a9c8d47e1b5a2c3d4e5f60718"

# The scopes Nmbrs' OpenAPI description declares, plus the OpenID ones a real server accepts.
KNOWN_SCOPES = frozenset(
    {
        "offline_access",
        "openid",
        "profile",
        "company.info",
        "company.info.read",
        "company.payrollsettings.read",
        "company.leave.read",
        "company.document.read",
        "employee.orgstructure",
        "employee.orgstructure.read",
        "employee.info",
        "employee.info.read",
        "employee.payment",
        "employee.payment.read",
        "employee.employment",
        "employee.employment.read",
        "employee.leave",
        "employee.leave.read",
        "employee.bankaccount",
        "employee.bankaccount.read",
        "employee.payrollsettings",
        "employee.payrollsettings.read",
        "employee.document",
        "employee.document.read",
        "document.read",
        "user.info.read",
        "debtor.info.read",
    }
)

# What Brygga asks for (the sandbox does not import the app; tests check both agree).
BRYGGA_SCOPES = (
    "offline_access",
    "company.info.read",
    "company.payrollsettings.read",
    "employee.orgstructure.read",
    "employee.info.read",
    "employee.payment",
)

_SCOPE_TEXT = {
    "company.info.read": "Läsa företagsuppgifter",
    "company.payrollsettings.read": "Läsa lönearter, kostnadsställen och kostnadsenheter",
    "employee.orgstructure.read": "Läsa avdelningar",
    "employee.info.read": "Läsa anställda",
    "employee.payment": "Läsa och skicka rörliga lönedelar",
    "offline_access": "Hålla anslutningen öppen när du inte är inloggad",
}


@dataclass
class Grant:
    """One user's consent for one client: every token issued from it dies with it."""

    id: str
    username: str
    client_id: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    username: str
    challenge: str | None
    expires_at: float
    used: bool = False
    grant_id: str | None = None


@dataclass
class AccessToken:
    grant_id: str
    expires_at: float
    scopes: tuple[str, ...]


@dataclass
class RefreshToken:
    grant_id: str
    expires_at: float
    used: bool = False


@dataclass
class OAuthServer:
    """Clients, codes, grants and tokens, with the knobs tests turn."""

    CONTROL_METHODS = frozenset(
        {
            "set_token_lifetimes",
            "revoke_consent",
            "expire_consent",
            "advance_clock",
            "issue_tokens",
            "stats",
        }
    )

    clients: dict[str, str] = field(default_factory=lambda: {DEMO_CLIENT_ID: DEMO_CLIENT_SECRET})
    access_lifetime: float = 3600.0
    refresh_lifetime: float = 30 * 24 * 3600.0
    code_lifetime: float = 300.0
    clock_offset: float = 0.0
    grants: dict[str, Grant] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    token_calls: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    last_authorize: dict[str, str] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def now(self) -> float:
        return time.time() + self.clock_offset

    # --- control -------------------------------------------------------------------------

    def set_token_lifetimes(
        self, access: float | None = None, refresh: float | None = None, code: float | None = None
    ) -> dict:
        """Seconds newly issued access tokens / refresh tokens / codes live."""
        with self.lock:
            if access is not None:
                self.access_lifetime = float(access)
            if refresh is not None:
                self.refresh_lifetime = float(refresh)
            if code is not None:
                self.code_lifetime = float(code)
            return {"access": self.access_lifetime, "refresh": self.refresh_lifetime}

    def revoke_consent(self, username: str | None = None) -> dict:
        """Revoke grants (all, or one user's): access tokens stop at once, refresh fails."""
        with self.lock:
            hit = [g for g in self.grants.values() if username in (None, g.username)]
            for grant in hit:
                grant.revoked = True
            return {"revoked": len(hit)}

    def expire_consent(self, username: str | None = None) -> dict:
        """Let refresh tokens run out (as after 30 idle days); access tokens live on."""
        with self.lock:
            hit = 0
            for token in self.refresh_tokens.values():
                grant = self.grants[token.grant_id]
                if username in (None, grant.username):
                    token.expires_at = self.now() - 1
                    hit += 1
            return {"expired": hit}

    def advance_clock(self, seconds: float) -> dict:
        """Move the server's clock forward (tokens expire without waiting)."""
        with self.lock:
            self.clock_offset += float(seconds)
            return {"clock_offset": self.clock_offset}

    def issue_tokens(
        self,
        username: str = DEMO_USERNAME,
        scopes: list[str] | None = None,
        client_id: str = DEMO_CLIENT_ID,
    ) -> dict:
        """Mint a token pair without the consent page (for client tests)."""
        with self.lock:
            grant = self._new_grant(username.lower(), client_id, tuple(scopes or BRYGGA_SCOPES))
            return self._issue(grant)

    def stats(self) -> dict:
        """Token endpoint calls per grant type, refusals, and live grants."""
        with self.lock:
            return {
                "token_calls": dict(self.token_calls),
                "refused": dict(self.refused),
                "grants": [
                    {"username": g.username, "scopes": list(g.scopes), "revoked": g.revoked}
                    for g in self.grants.values()
                ],
                "last_authorize": dict(self.last_authorize),
            }

    # --- tokens --------------------------------------------------------------------------

    def _issue(self, grant: Grant) -> dict:
        access = "sbx_at_" + secrets.token_urlsafe(24)
        self.access_tokens[access] = AccessToken(
            grant.id, self.now() + self.access_lifetime, grant.scopes
        )
        reply = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.access_lifetime),
            "scope": " ".join(grant.scopes),
        }
        if "offline_access" in grant.scopes:
            refresh = "sbx_rt_" + secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = RefreshToken(
                grant.id, self.now() + self.refresh_lifetime
            )
            reply["refresh_token"] = refresh
        return reply

    def _new_grant(self, username: str, client_id: str, scopes: tuple[str, ...]) -> Grant:
        grant = Grant("g" + secrets.token_hex(8), username, client_id, scopes)
        self.grants[grant.id] = grant
        return grant

    def bearer(self, token: str) -> tuple[str | None, tuple[str, ...], str]:
        """(username, scopes, problem) for a bearer token; problem is "" when it is valid."""
        with self.lock:
            found = self.access_tokens.get(token)
            if found is None:
                return None, (), "unknown"
            grant = self.grants[found.grant_id]
            if grant.revoked:
                return None, (), "revoked"
            if found.expires_at <= self.now():
                return None, (), "expired"
            return grant.username, found.scopes, ""

    # --- HTTP ----------------------------------------------------------------------------

    def handle(self, request: Request, accounts: list[str]) -> Response:
        """Serve ``/connect/authorize`` and ``/connect/token``."""
        if request.path == "/connect/authorize" and request.method in ("GET", "POST"):
            return self._authorize(request, accounts)
        if request.path == "/connect/token" and request.method == "POST":
            return self._token(request)
        return Response("Not Found", status=404, content_type="text/plain")

    def _authorize(self, request: Request, accounts: list[str]) -> Response:
        args = request.values
        client_id = args.get("client_id", "")
        redirect_uri = args.get("redirect_uri", "")
        state = args.get("state")
        if client_id not in self.clients:
            return _page("Okänd klient", "client_id är inte registrerad i sandlådan.", 400)
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            return _page("Ogiltig redirect_uri", "redirect_uri måste vara en http(s)-adress.", 400)
        with self.lock:
            self.last_authorize = {k: args.get(k, "") for k in args}

        def back(**params: str) -> Response:
            if state is not None:
                params["state"] = state
            sep = "&" if parts.query else "?"
            return Response(
                status=302, headers={"Location": redirect_uri + sep + urlencode(params)}
            )

        if args.get("response_type") != "code":
            return back(error="unsupported_response_type")
        scopes = tuple(args.get("scope", "").split())
        if not scopes or any(s not in KNOWN_SCOPES for s in scopes):
            return back(error="invalid_scope")
        challenge = args.get("code_challenge")
        method = args.get("code_challenge_method", "plain" if challenge else "")
        if challenge and method != "S256":
            return back(error="invalid_request", error_description="only S256 PKCE")

        decision = args.get("sandbox_auto") or (
            args.get("decision") if request.method == "POST" else None
        )
        if decision is None:
            return _consent_page(args, scopes, accounts)
        if decision != "allow":
            return back(error="access_denied")
        username = (args.get("username") or args.get("login_hint") or DEMO_USERNAME).lower()
        if username not in accounts:
            return _page("Okänd användare", "Välj en av sandlådans användare.", 400)
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = Code(
                code,
                client_id,
                redirect_uri,
                scopes,
                username,
                challenge,
                self.now() + self.code_lifetime,
            )
        return back(code=code)

    def _token(self, request: Request) -> Response:
        form = request.form
        client_id, secret = _client_credentials(request)
        with self.lock:
            grant_type = form.get("grant_type", "")
            self.token_calls[grant_type] = self.token_calls.get(grant_type, 0) + 1
            if client_id not in self.clients or not secrets.compare_digest(
                self.clients[client_id].encode(), (secret or "").encode()
            ):
                return self._refuse("invalid_client", 401)
            if grant_type == "authorization_code":
                return self._code_grant(form, client_id)
            if grant_type == "refresh_token":
                return self._refresh_grant(form, client_id)
            return self._refuse("unsupported_grant_type")

    def _code_grant(self, form, client_id: str) -> Response:
        code = self.codes.get(form.get("code", ""))
        if code is None or code.client_id != client_id:
            return self._refuse("invalid_grant", description="unknown code")
        if code.used:
            # A code used twice: revoke what the first use issued (RFC 6749 §4.1.2).
            if code.grant_id:
                self.grants[code.grant_id].revoked = True
            return self._refuse("invalid_grant", description="code already used")
        if code.expires_at <= self.now():
            return self._refuse("invalid_grant", description="code expired")
        if form.get("redirect_uri", "") != code.redirect_uri:
            return self._refuse("invalid_grant", description="redirect_uri differs")
        verifier = form.get("code_verifier")
        if code.challenge is not None and (not verifier or _s256(verifier) != code.challenge):
            return self._refuse("invalid_grant", description="PKCE verification failed")
        code.used = True
        grant = self._new_grant(code.username, client_id, code.scopes)
        code.grant_id = grant.id
        return _json(self._issue(grant))

    def _refresh_grant(self, form, client_id: str) -> Response:
        token = self.refresh_tokens.get(form.get("refresh_token", ""))
        if token is None:
            return self._refuse("invalid_grant", description="unknown refresh token")
        grant = self.grants[token.grant_id]
        if grant.client_id != client_id:
            return self._refuse("invalid_grant", description="refresh token of another client")
        if token.used:
            grant.revoked = True  # reuse means theft or a race: kill the whole grant
            return self._refuse("invalid_grant", description="refresh token already used")
        if grant.revoked:
            return self._refuse("invalid_grant", description="consent revoked")
        if token.expires_at <= self.now():
            return self._refuse("invalid_grant", description="refresh token expired")
        token.used = True
        return _json(self._issue(grant))

    def _refuse(self, error: str, status: int = 400, description: str = "") -> Response:
        self.refused[error] = self.refused.get(error, 0) + 1
        body = {"error": error}
        if description:
            body["error_description"] = description
        return _json(body, status)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _client_credentials(request: Request) -> tuple[str, str | None]:
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return auth.username or "", auth.password
    return request.form.get("client_id", ""), request.form.get("client_secret")


def _json(data: object, status: int = 200) -> Response:
    return Response(
        json.dumps(data),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _page(title: str, text: str, status: int = 200) -> Response:
    return Response(
        f"<!DOCTYPE html><html lang='sv'><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title></head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
        "</body></html>",
        status=status,
        content_type="text/html; charset=utf-8",
    )


def _consent_page(args, scopes: tuple[str, ...], accounts: list[str]) -> Response:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in args.items(multi=True)
        if k not in ("decision", "username")
    )
    options = "".join(
        f'<option value="{html.escape(a)}"{" selected" if a == DEMO_USERNAME else ""}>'
        f"{html.escape(a)}</option>"
        for a in accounts
    )
    items = "".join(f"<li>{html.escape(_SCOPE_TEXT.get(s, s))}</li>" for s in scopes)
    body = (
        "<!DOCTYPE html><html lang='sv'><head><meta charset='utf-8'>"
        "<title>Nmbrs sandlåda – godkänn åtkomst</title></head><body>"
        "<h1>Nmbrs sandlåda</h1>"
        f"<p><strong>{html.escape(args.get('client_id', ''))}</strong> vill få åtkomst till:</p>"
        f"<ul>{items}</ul>"
        '<form method="post" action="/connect/authorize">'
        f"{hidden}"
        f'<label>Logga in som <select name="username">{options}</select></label> '
        '<button type="submit" name="decision" value="allow">Godkänn</button> '
        '<button type="submit" name="decision" value="deny">Neka</button>'
        "</form></body></html>"
    )
    return Response(body, content_type="text/html; charset=utf-8")

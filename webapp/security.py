"""What every request goes through: the organization it may see (the tenant guard), the second
factor its user's organization requires, and the security headers of the response.

The Content-Security-Policy allows no inline script and no eval: Brygga's only scripts are the
vendored htmx and static/app.js, and htmx is configured (meta htmx-config in base.html) not to
inject its indicator styles or evaluate attributes.
"""

from __future__ import annotations

from contextvars import Token

from flask import Flask, Response, abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp import polls, reading, tenancy
from webapp.extensions import htmx

# Answered without loading the user (the health check must not need the session's database).
NO_USER_ENDPOINTS = {"static", "main.healthz"}

# Where a user whose organization requires a second factor may go before setting one up.
ENROLMENT_ENDPOINTS = {
    "account.mfa_setup",
    "account.mfa_start",
    "account.mfa_confirm",
    "auth.logout",
    "main.set_language",
    "main.healthz",
    "static",
}

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
)


def register_request_scope(app: Flask) -> None:
    @app.before_request
    def read_only_pages_without_a_transaction() -> None:
        reading.begin_request()

    @app.before_request
    def answer_a_running_syncs_poll_at_once() -> Response | None:
        return polls.answer()

    @app.before_request
    def state_the_organization() -> None:
        # The logged-in user's organization; anonymous visitors see no organization's rows.
        # (Loading the user reads it across organizations: webapp.auth.loading.)
        user = current_user if request.endpoint not in NO_USER_ENDPOINTS else None
        organization_id = user.organization_id if user and user.is_authenticated else None
        g.tenant_token = tenancy.enter(tenancy.Scope(organization_id))

    @app.before_request
    def require_second_factor() -> Response | None:
        if request.endpoint in ENROLMENT_ENDPOINTS or not current_user.is_authenticated:
            return None
        if current_user.must_use_mfa and not current_user.mfa_enabled:
            flash(
                _("Din organisation kräver tvåstegsverifiering. Ställ in den för att fortsätta."),
                "info",
            )
            target = url_for("account.mfa_setup")
            if htmx:
                response = Response("", 204)
                response.headers["HX-Redirect"] = target
                return response
            return redirect(target)  # type: ignore[return-value]
        return None

    @app.teardown_request
    def forget_the_organization(error: BaseException | None) -> None:
        token: Token[tenancy.Scope | None] | None = g.pop("tenant_token", None)
        if token is not None:
            tenancy.leave(token)


def register(app: Flask) -> None:
    is_dev = app.config["BRYGGA_ENV"] in ("dev", "test")

    @app.before_request
    def refuse_oversize_bodies() -> None:
        # Before anything reads the body (CSRF, forms, the login limit): an anonymous client
        # announcing gigabytes is answered at once, and nothing is spooled to disk.
        limit = app.config["MAX_CONTENT_LENGTH"]
        if limit is not None and (request.content_length or 0) > limit:
            abort(413)

    @app.after_request
    def set_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        if not is_dev:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        # Everything but the static files may carry personal data or payroll figures: pages,
        # the personal-data export, receipts, PAXml files. Never keep any of it in a cache
        # (send_file's own "no-cache" would still let a browser store a receipt on disk).
        if request.endpoint != "static":
            headers["Cache-Control"] = "no-store"
        return response

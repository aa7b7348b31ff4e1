"""Logging in (password, then the second factor when the person uses one) and out; choosing a
password through an invitation; resetting a forgotten one."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from webapp import tenancy
from webapp.auth import devices
from webapp.auth.forms import ChoosePasswordForm, CodeForm, ForgotPasswordForm, LoginForm
from webapp.extensions import db
from webapp.models import TokenPurpose, User
from webapp.services import accounts, audit, login_limits, mfa, sessions

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

MFA_PENDING_SECONDS = 300  # between a correct password and the code


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after login would help phishing.
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("main.index")


def _complete_login(user: User, *, mfa_used: bool, next_url: str | None) -> Response:
    with tenancy.tenant(user.organization_id):
        session.clear()  # a fresh session at login: no fixation
        token = sessions.start(
            user,
            ip=devices.client_address(),
            user_agent=request.user_agent.string,
            mfa_used=mfa_used,
        )
        login_user(user)
        session["sid"] = token
        session.permanent = True  # the cookie lasts as long as the server lets it count
        audit.record("auth.login", actor=user, organization_id=user.organization_id, mfa=mfa_used)
        db.session.commit()
    log.info("user %s logged in", user.id)
    response = redirect(_safe_next(next_url))
    devices.remember_device(response, user.id)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm(email=request.args.get("email", ""))
    status = 200
    if form.validate_on_submit():
        email = User.normalise_email(form.email.data)
        user = User.by_email(email)
        device = devices.known_device(user.id) if user is not None else None
        client = devices.client_address()
        decision = login_limits.reserve_login(email, client, device)
        if not decision.allowed:
            log.info("login throttled")
            flash(login_limits.wait_message(decision), "error")
            status = 429
        elif user is not None and user.check_password(form.password.data):
            login_limits.login_succeeded(email, client, device)
            next_url = request.args.get("next")
            if user.mfa_enabled:
                session.clear()
                session["mfa_pending"] = {"user_id": user.id, "at": time.time(), "next": next_url}
                return redirect(url_for("auth.login_code"))
            return _complete_login(user, mfa_used=False, next_url=next_url)
        else:
            if user is None:
                User.check_no_password(form.password.data)  # as slow as for a known e-mail
            log.info("failed login")
            flash(_("Fel e-postadress eller lösenord."), "error")
            status = 401
    return render_template("auth/login.html", form=form), status


def _pending_user() -> tuple[User | None, str | None]:
    pending = session.get("mfa_pending") or {}
    if not pending or time.time() - float(pending.get("at", 0)) > MFA_PENDING_SECONDS:
        return None, None
    with tenancy.all_organizations():
        user = db.session.get(User, int(pending["user_id"]))
    return user, pending.get("next")


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    """The second step for a person with a second factor: a code, or a recovery code."""
    user, next_url = _pending_user()
    if user is None or not user.mfa_enabled:
        session.pop("mfa_pending", None)
        flash(_("Logga in med e-post och lösenord först."), "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        decision = login_limits.reserve_code(user.id)
        if not decision.allowed:
            flash(login_limits.wait_message(decision), "error")
            status = 429
        else:
            with tenancy.tenant(user.organization_id):
                accepted = mfa.verify(user, form.code.data)
                db.session.commit()  # a used recovery code stays used
            if accepted:
                login_limits.code_succeeded(user.id)
                return _complete_login(user, mfa_used=True, next_url=next_url)
            log.info("wrong second-factor code")
            flash(_("Koden stämmer inte eller är redan använd."), "error")
            status = 401
    return render_template("auth/code.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    user = current_user._get_current_object()
    live = g.get("user_session")
    if live is not None:
        sessions.end(live, "logout")
    audit.record("auth.logout", actor=user, organization_id=user.organization_id)
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("Du är utloggad."), "info")
    return redirect(url_for("auth.login"))


# --- invitations and forgotten passwords ---------------------------------------------------------


def _choose_password(token: str, purpose: TokenPurpose) -> tuple[str, int] | Response:
    try:
        link = accounts.find_link(token, purpose)
    except accounts.LinkInvalid as exc:
        return render_template(
            "auth/choose_password.html", purpose=purpose.value, invalid=str(exc), form=None
        ), 410
    form = ChoosePasswordForm()
    error = None
    if form.validate_on_submit():
        with tenancy.tenant(link.organization_id):
            try:
                if purpose == TokenPurpose.INVITATION:
                    user = accounts.accept_invitation(link, form.password.data)
                else:
                    user = accounts.reset_password(link, form.password.data)
            except accounts.AccountError as exc:
                db.session.rollback()
                error = str(exc)
            else:
                db.session.commit()
                if purpose == TokenPurpose.PASSWORD_RESET:
                    login_limits.account_recovered(user.email)
                    flash(_("Lösenordet är bytt. Logga in med det nya lösenordet."), "success")
                else:
                    flash(_("Välkommen! Logga in med ditt nya lösenord."), "success")
                return redirect(url_for("auth.login", email=user.email))
    with tenancy.tenant(link.organization_id):
        return render_template(
            "auth/choose_password.html",
            purpose=purpose.value,
            form=form,
            error=error,
            person=link.user,
            invalid=None,
        ), (200 if error is None else 422)


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    return _choose_password(token, TokenPurpose.INVITATION)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    status = 200
    if form.validate_on_submit():
        email = User.normalise_email(form.email.data)
        decision = login_limits.reserve_reset_request(email, devices.client_address())
        if not decision.allowed:
            flash(login_limits.wait_message(decision), "error")
            status = 429
        elif not accounts.request_password_reset(email):
            flash(_("Brygga kan inte skicka e-post just nu. Försök igen om en stund."), "error")
            status = 503
        else:
            # The same answer whether or not the address is someone's.
            flash(
                _(
                    "Om adressen hör till ett konto i Brygga har vi skickat en länk dit. "
                    "Länken gäller i %(minutes)d minuter.",
                    minutes=accounts.reset_minutes(),
                ),
                "info",
            )
            return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    return _choose_password(token, TokenPurpose.PASSWORD_RESET)

"""Logging in and out."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.auth.forms import LoginForm
from webapp.extensions import db
from webapp.models import User
from webapp.services import audit, login_limits

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

# A fixed hash to compare against when the e-mail is unknown, so both cases take as long.
_DUMMY_HASH = generate_password_hash("brygga-timing-equaliser")


def load_user(user_id: str) -> User | None:
    uid, _, version = user_id.partition(":")
    if not uid.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(uid))
    if user is None or user.session_version != int(version):
        return None
    return user


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after login would help phishing.
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("main.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        email = User.normalise_email(form.email.data)
        ip = request.remote_addr or "unknown"
        if login_limits.is_blocked(email, ip):
            log.info("login blocked by rate limit")
            flash(_("För många inloggningsförsök. Vänta en stund och försök igen."), "error")
            status = 429
        else:
            user = User.by_email(email)
            if user is not None and user.check_password(form.password.data):
                login_limits.clear(email)
                session.clear()  # a fresh session at login: no fixation
                login_user(user)
                audit.record("auth.login", actor=user, organization_id=user.organization_id)
                db.session.commit()
                log.info("user %s logged in", user.id)
                return redirect(_safe_next(request.args.get("next")))
            if user is None:
                check_password_hash(_DUMMY_HASH, form.password.data)
            login_limits.record_failure(email, ip)
            log.info("failed login")
            flash(_("Fel e-postadress eller lösenord."), "error")
            status = 401
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    user = current_user._get_current_object()
    # Bumping the version invalidates every cookie issued for this user, not just this one.
    user.session_version += 1
    audit.record("auth.logout", actor=user, organization_id=user.organization_id)
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("Du är utloggad."), "info")
    return redirect(url_for("auth.login"))

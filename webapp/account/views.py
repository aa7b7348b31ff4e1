"""Mitt konto: one's own password, second factor and sessions."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from webapp.account.forms import ChangePasswordForm, ConfirmCodeForm, TurnOffMfaForm
from webapp.extensions import db
from webapp.models import User
from webapp.services import accounts, audit, login_limits, mfa, sessions

bp = Blueprint("account", __name__, url_prefix="/account")


def _me() -> User:
    return current_user._get_current_object()


@bp.route("/")
@login_required
def index():
    user = _me()
    return render_template(
        "account/index.html",
        sessions=sessions.active(user),
        current_session_id=g.user_session.id,
        recovery_codes_left=mfa.unused_recovery_codes(user) if user.mfa_enabled else 0,
        off_form=TurnOffMfaForm(),
    )


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    user = _me()
    form = ChangePasswordForm()
    error, status = None, 200
    if form.validate_on_submit():
        decision = login_limits.reserve_password_check(user.id)
        if not decision.allowed:
            error, status = login_limits.wait_message(decision), 429
        else:
            try:
                ended = accounts.change_password(
                    user, form.current.data, form.password.data, keep_session_id=g.user_session.id
                )
            except accounts.AccountError as exc:
                db.session.rollback()
                error, status = str(exc), 422
            else:
                db.session.commit()
                login_limits.password_check_succeeded(user.id)
                flash(
                    _(
                        "Lösenordet är bytt. Inloggningar på andra ställen har avslutats (%(n)d).",
                        n=ended,
                    ),
                    "success",
                )
                return redirect(url_for("account.index"))
    return render_template("account/password.html", form=form, error=error), status


@bp.route("/mfa")
@login_required
def mfa_setup():
    """Tvåstegsverifiering: start, or scan the QR code and confirm with a first code."""
    user = _me()
    if user.mfa_enabled:
        return redirect(url_for("account.index"))
    qr = secret = None
    if user.totp_secret:
        uri = mfa.provisioning_uri(user)
        qr, secret = mfa.qr_code(uri), user.totp_secret
    return render_template(
        "account/mfa_setup.html", qr=qr, secret=secret, form=ConfirmCodeForm(), error=None
    )


@bp.route("/mfa/start", methods=["POST"])
@login_required
def mfa_start():
    user = _me()
    if user.mfa_enabled:
        return redirect(url_for("account.index"))
    mfa.begin_enrolment(user)
    db.session.commit()
    return redirect(url_for("account.mfa_setup"))


@bp.route("/mfa/confirm", methods=["POST"])
@login_required
def mfa_confirm():
    user = _me()
    if user.mfa_enabled or not user.totp_secret:
        return redirect(url_for("account.mfa_setup"))
    form = ConfirmCodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        decision = login_limits.reserve_code(user.id)
        if not decision.allowed:
            error, status = login_limits.wait_message(decision), 429
        else:
            try:
                codes = mfa.confirm_enrolment(user, form.code.data)
            except mfa.MfaError as exc:
                db.session.rollback()
                error, status = str(exc), 422
            else:
                # This login has now shown the second factor; logins made with the password
                # alone end.
                g.user_session.mfa_used = True
                sessions.end_all(user, "mfa_enabled", keep=g.user_session.id)
                db.session.commit()
                login_limits.code_succeeded(user.id)
                return render_template("account/recovery_codes.html", codes=codes, first=True)
    uri = mfa.provisioning_uri(user)
    return render_template(
        "account/mfa_setup.html",
        qr=mfa.qr_code(uri),
        secret=user.totp_secret,
        form=form,
        error=error,
    ), status


@bp.route("/mfa/recovery-codes", methods=["POST"])
@login_required
def recovery_codes():
    user = _me()
    if not user.mfa_enabled:
        return redirect(url_for("account.mfa_setup"))
    codes = mfa.renew_recovery_codes(user)
    db.session.commit()
    return render_template("account/recovery_codes.html", codes=codes, first=False)


@bp.route("/mfa/off", methods=["POST"])
@login_required
def mfa_off():
    user = _me()
    form = TurnOffMfaForm()
    if not user.mfa_enabled or not form.validate_on_submit():
        return redirect(url_for("account.index"))
    decision = login_limits.reserve_password_check(user.id)
    if not decision.allowed:
        flash(login_limits.wait_message(decision), "error")
    elif not user.check_password(form.password.data):
        flash(_("Lösenordet stämmer inte. Tvåstegsverifieringen är kvar."), "error")
    else:
        login_limits.password_check_succeeded(user.id)
        try:
            mfa.turn_off(user, actor=user)
        except mfa.MfaError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("Tvåstegsverifieringen är avstängd."), "success")
    return redirect(url_for("account.index"))


@bp.route("/sessions/<int:session_id>/end", methods=["POST"])
@login_required
def end_session(session_id: int):
    user = _me()
    row = sessions.get(user, session_id)
    if row is None:
        abort(404)
    if row.id == g.user_session.id:
        return redirect(url_for("auth.logout"), code=307)  # this one: an ordinary logout
    sessions.end(row, "ended_by_user")
    audit.record("auth.session_ended", actor=user, organization_id=user.organization_id, obj=row)
    db.session.commit()
    flash(_("Inloggningen är avslutad."), "success")
    return redirect(url_for("account.index"))


@bp.route("/sessions/end-all", methods=["POST"])
@login_required
def end_all_sessions():
    """Logga ut överallt: every session of the user ends, this one too."""
    user = _me()
    ended = sessions.end_all(user, "everywhere")
    audit.record(
        "auth.sessions_ended", actor=user, organization_id=user.organization_id, count=ended
    )
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("Du är utloggad överallt (%(n)d inloggningar).", n=ended), "info")
    return redirect(url_for("auth.login"))

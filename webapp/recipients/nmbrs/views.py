"""Nmbrs' own pages under Inställningar: adding an Nmbrs recipient (API key, then the company),
a new API key, and connecting with Nmbrs-inloggning (REST, OAuth consent). Admins only."""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.extensions import db, htmx
from webapp.models import ReportRecipient, SyncTrigger
from webapp.permissions import admin_required
from webapp.recipients.nmbrs import access, connect, move, setup
from webapp.recipients.nmbrs.forms import CompanyForm, NmbrsKeyForm
from webapp.responses import finish, render_dialog
from webapp.services import recipients as recipients_service
from webapp.services import sync as sync_service

bp = Blueprint("nmbrs", __name__, url_prefix="/settings")


def _org_id() -> int:
    return current_user.organization_id


def _recipient(recipient_id: int) -> ReportRecipient:
    recipient = recipients_service.get_active(_org_id(), recipient_id)
    if recipient.nmbrs is None:
        abort(404)
    return recipient


def _replacing() -> ReportRecipient | None:
    replace_id = request.args.get("replace", type=int)
    return recipients_service.get_active(_org_id(), replace_id) if replace_id else None


@bp.route("/recipients/new/nmbrs", methods=["GET", "POST"])
@admin_required
def add():
    replacing = _replacing()
    form = NmbrsKeyForm()
    error = None
    if form.validate_on_submit():
        try:
            checked = connect.check_key(
                form.username.data.strip(), form.token.data.strip(), form.environment.data
            )
            # Several companies: the key waits in Redis while the admin chooses one.
            ref = connect.remember(checked, _org_id()) if len(checked.companies) > 1 else None
        except connect.ConnectError as exc:
            error = exc.user_message
        else:
            if ref is None:
                recipient = setup.add_nmbrs(
                    current_user, checked, checked.companies[0]["id"], replacing
                )
                db.session.commit()
                return finish(
                    url_for("settings.index"),
                    _("%(name)s är tillagd som rapportmottagare.", name=recipient.display_name),
                )
            company_form = CompanyForm(ref=ref)
            company_form.company_id.choices = _company_choices(checked)
            return render_dialog("nmbrs/company.html", form=company_form, replacing=replacing)
    return render_dialog(
        "nmbrs/dialog.html", form=form, error=error, replacing=replacing, recipient=None
    )


def _company_choices(checked: connect.CheckedKey) -> list[tuple[int, str]]:
    return [(c["id"], f"{c['name']} ({c['number']})") for c in checked.companies]


@bp.route("/recipients/new/nmbrs/company", methods=["POST"])
@admin_required
def choose_company():
    replacing = _replacing()
    form = CompanyForm()
    try:
        checked = connect.recall(form.ref.data or "", _org_id())
        error = None if checked else _("Det tog för lång tid. Ange API-nyckeln igen.")
    except connect.ConnectError as exc:
        checked, error = None, exc.user_message
    if checked is None:
        form = NmbrsKeyForm(formdata=None)
        return render_dialog(
            "nmbrs/dialog.html",
            form=form,
            error=error,
            replacing=replacing,
            recipient=None,
        )
    form.company_id.choices = _company_choices(checked)
    if not form.validate_on_submit():
        return render_dialog("nmbrs/company.html", form=form, replacing=replacing)
    recipient = setup.add_nmbrs(current_user, checked, form.company_id.data, replacing)
    db.session.commit()
    connect.forget(form.ref.data)
    return finish(
        url_for("settings.index"),
        _("%(name)s är tillagd som rapportmottagare.", name=recipient.display_name),
    )


@bp.route("/recipients/<int:recipient_id>/key", methods=["GET", "POST"])
@admin_required
def replace_key(recipient_id: int):
    recipient = _recipient(recipient_id)
    connection = access.connection_of(recipient)
    form = NmbrsKeyForm(
        data=None
        if request.method == "POST"
        else {"username": connection.username, "environment": connection.environment}
    )
    error = None
    if form.validate_on_submit():
        try:
            checked = connect.check_key(
                form.username.data.strip(), form.token.data.strip(), form.environment.data
            )
            setup.replace_nmbrs_key(current_user, recipient, checked)
        except connect.ConnectError as exc:
            error = exc.user_message
        except ValueError as exc:
            error = str(exc)
        else:
            db.session.commit()
            back = "settings.recipient_view" if request.args.get("back") == "view" else None
            return finish(
                url_for(back, recipient_id=recipient.id) if back else url_for("settings.index"),
                _("Den nya API-nyckeln är sparad."),
            )
    return render_dialog(
        "nmbrs/dialog.html", form=form, error=error, replacing=None, recipient=recipient
    )


# --- moving to Nmbrs REST (OAuth consent) ----------------------------------------------------

_CONSENT_SESSION_KEY = "nmbrs_consent"


@bp.route("/recipients/<int:recipient_id>/nmbrs/connect", methods=["POST"])
@admin_required
def connect_rest(recipient_id: int):
    """Anslut med Nmbrs-inloggning: off to Nmbrs' consent page (a full-page redirect)."""
    recipient = _recipient(recipient_id)
    if not access.rest_configured():
        abort(404)
    back = url_for("settings.recipient_view", recipient_id=recipient.id)
    try:
        url, ref = move.start(recipient, current_user, url_for("nmbrs.callback", _external=True))
    except move.MoveError as exc:
        flash(exc.user_message, "error")
        return redirect(back)
    session[_CONSENT_SESSION_KEY] = ref
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)


@bp.route("/nmbrs/callback")
@admin_required
def callback():
    """Where Nmbrs sends the admin back: state checked, code exchanged, tokens stored."""
    pending = move.take_pending(session.pop(_CONSENT_SESSION_KEY, None), _org_id())
    if pending is None:
        flash(
            _(
                "Anslutningen till Nmbrs kunde inte slutföras: den påbörjades inte här eller tog "
                "för lång tid. Börja om med Anslut med Nmbrs-inloggning. Ingenting ändrades."
            ),
            "error",
        )
        return redirect(url_for("settings.index"))
    recipient = _recipient(pending.recipient_id)
    back = url_for("settings.recipient_view", recipient_id=recipient.id)
    try:
        move.finish(current_user, recipient, pending, request.args)
    except move.MoveError as exc:
        db.session.rollback()
        flash(exc.user_message, "error")
        return redirect(back)
    db.session.commit()
    # The first REST sync maps every synced item from its SOAP id to its REST id.
    sync_service.request_sync(recipient, trigger=SyncTrigger.MANUAL, user=current_user)
    flash(
        _(
            "%(name)s är ansluten med Nmbrs-inloggning (REST). Brygga hämtar nu lönearter, "
            "kostnadsställen och anställda på nytt och behåller dina val och kopplingar.",
            name=recipient.display_name,
        ),
        "success",
    )
    return redirect(back)


# --- syncing from Nmbrs ----------------------------------------------------------------------

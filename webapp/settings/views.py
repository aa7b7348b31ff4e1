"""Inställningar: the organization's settings and its report recipients. Admins only."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from webapp.extensions import db, htmx
from webapp.models import PayrollEmployee, RecipientKind, ReportRecipient, SyncTrigger, User
from webapp.permissions import admin_required
from webapp.responses import finish, render_dialog
from webapp.security import CSP
from webapp.services import (
    advanced_settings,
    catalog_views,
    employee_mapping,
    nmbrs_access,
    nmbrs_connect,
    nmbrs_move,
)
from webapp.services import recipients as recipients_service
from webapp.services import sync as sync_service
from webapp.settings.forms import CompanyForm, NmbrsKeyForm, PaxmlForm

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _org_id() -> int:
    return current_user.organization_id


def _recipient(recipient_id: int) -> ReportRecipient:
    return recipients_service.get_active(_org_id(), recipient_id)


def _replacing() -> ReportRecipient | None:
    replace_id = request.args.get("replace", type=int)
    return _recipient(replace_id) if replace_id else None


def _box_context() -> dict:
    recipients = recipients_service.active_recipients(_org_id())
    return {
        "recipients": recipients,
        "recipient_problems": {r.id: recipients_service.wage_type_problems(r) for r in recipients},
        "soap_warnings": {r.id for r in recipients if nmbrs_move.soap_warning(r)},
    }


@bp.route("/")
@admin_required
def index():
    return render_template(
        "settings/index.html", organization=current_user.organization, **_box_context()
    )


# --- adding and replacing --------------------------------------------------------------------


@bp.route("/recipients/new")
@admin_required
def choose_kind():
    return render_dialog(
        "recipients/kind_chooser.html", kinds=recipients_service.KINDS, replacing=_replacing()
    )


@bp.route("/recipients/<int:recipient_id>/replace/<kind>")
@admin_required
def confirm_replace(recipient_id: int, kind: str):
    recipient = _recipient(recipient_id)
    new_kind = _kind(kind)
    return render_dialog(
        "recipients/replace_confirm.html",
        recipient=recipient,
        kind=recipients_service.KINDS[new_kind],
        carry=recipients_service.carry_over_report(recipient, new_kind),
    )


def _kind(kind: str) -> RecipientKind:
    try:
        return RecipientKind(kind)
    except ValueError:
        abort(404)


@bp.route("/recipients/new/nmbrs", methods=["GET", "POST"])
@admin_required
def add_nmbrs():
    replacing = _replacing()
    form = NmbrsKeyForm()
    error = None
    if form.validate_on_submit():
        try:
            checked = nmbrs_connect.check_key(
                form.username.data.strip(), form.token.data.strip(), form.environment.data
            )
            # Several companies: the key waits in Redis while the admin chooses one.
            ref = nmbrs_connect.remember(checked, _org_id()) if len(checked.companies) > 1 else None
        except nmbrs_connect.ConnectError as exc:
            error = exc.user_message
        else:
            if ref is None:
                recipient = recipients_service.add_nmbrs(
                    current_user, checked, checked.companies[0]["id"], replacing
                )
                db.session.commit()
                return finish(
                    url_for("settings.index"),
                    _("%(name)s är tillagd som rapportmottagare.", name=recipient.display_name),
                )
            company_form = CompanyForm(ref=ref)
            company_form.company_id.choices = _company_choices(checked)
            return render_dialog(
                "recipients/nmbrs_company.html", form=company_form, replacing=replacing
            )
    return render_dialog(
        "recipients/nmbrs_dialog.html", form=form, error=error, replacing=replacing, recipient=None
    )


def _company_choices(checked: nmbrs_connect.CheckedKey) -> list[tuple[int, str]]:
    return [(c["id"], f"{c['name']} ({c['number']})") for c in checked.companies]


@bp.route("/recipients/new/nmbrs/company", methods=["POST"])
@admin_required
def choose_company():
    replacing = _replacing()
    form = CompanyForm()
    try:
        checked = nmbrs_connect.recall(form.ref.data or "", _org_id())
        error = None if checked else _("Det tog för lång tid. Ange API-nyckeln igen.")
    except nmbrs_connect.ConnectError as exc:
        checked, error = None, exc.user_message
    if checked is None:
        form = NmbrsKeyForm(formdata=None)
        return render_dialog(
            "recipients/nmbrs_dialog.html",
            form=form,
            error=error,
            replacing=replacing,
            recipient=None,
        )
    form.company_id.choices = _company_choices(checked)
    if not form.validate_on_submit():
        return render_dialog("recipients/nmbrs_company.html", form=form, replacing=replacing)
    recipient = recipients_service.add_nmbrs(current_user, checked, form.company_id.data, replacing)
    db.session.commit()
    nmbrs_connect.forget(form.ref.data)
    return finish(
        url_for("settings.index"),
        _("%(name)s är tillagd som rapportmottagare.", name=recipient.display_name),
    )


@bp.route("/recipients/new/paxml", methods=["GET", "POST"])
@admin_required
def add_paxml():
    replacing = _replacing()
    form = PaxmlForm()
    if form.validate_on_submit():
        recipient = recipients_service.add_paxml(
            current_user,
            form.display_name.data.strip(),
            (form.program_name.data or "").strip(),
            form.encoding.data,
            replacing,
        )
        db.session.commit()
        return finish(
            url_for("settings.index"),
            _("%(name)s är tillagd som rapportmottagare.", name=recipient.display_name),
        )
    return render_dialog("recipients/paxml_dialog.html", form=form, replacing=replacing)


# --- one recipient ---------------------------------------------------------------------------


@bp.route("/recipients/<int:recipient_id>/menu")
@admin_required
def recipient_menu(recipient_id: int):
    return render_dialog(
        "recipients/pen_menu.html",
        recipient=_recipient(recipient_id),
        kinds=recipients_service.KINDS,
    )


@bp.route("/recipients/<int:recipient_id>/key", methods=["GET", "POST"])
@admin_required
def replace_key(recipient_id: int):
    recipient = _recipient(recipient_id)
    if recipient.kind != RecipientKind.NMBRS:
        abort(404)
    form = NmbrsKeyForm(
        data=None
        if request.method == "POST"
        else {"username": recipient.nmbrs.username, "environment": recipient.nmbrs.environment}
    )
    error = None
    if form.validate_on_submit():
        try:
            checked = nmbrs_connect.check_key(
                form.username.data.strip(), form.token.data.strip(), form.environment.data
            )
            recipients_service.replace_nmbrs_key(current_user, recipient, checked)
        except nmbrs_connect.ConnectError as exc:
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
        "recipients/nmbrs_dialog.html", form=form, error=error, replacing=None, recipient=recipient
    )


@bp.route("/recipients/<int:recipient_id>/remove", methods=["GET", "POST"])
@admin_required
def remove_recipient(recipient_id: int):
    recipient = _recipient(recipient_id)
    if request.method == "POST":
        recipients_service.remove(current_user, recipient)
        db.session.commit()
        return finish(
            url_for("settings.index"), _("%(name)s är borttagen.", name=recipient.display_name)
        )
    return render_dialog("recipients/remove_confirm.html", recipient=recipient)


@bp.route("/recipients/<int:recipient_id>")
@admin_required
def recipient_view(recipient_id: int):
    recipient = _recipient(recipient_id)
    tab = catalog_views.tab_or_default(request.args.get("tab"))
    page = render_template(
        "settings/recipient.html",
        tabs=catalog_views.TABS,
        counts=catalog_views.counts(recipient),
        query=request.args.get("q", ""),
        **_catalog_context(recipient, tab),
        problems=recipients_service.wage_type_problems(recipient),
        **_advanced_context(advanced_settings.rows(recipient)),
        **(sync_service.view_context(recipient) if recipient.kind == RecipientKind.NMBRS else {}),
        soap_warning=nmbrs_move.soap_warning(recipient),
        needs_reconnect=nmbrs_move.needs_reconnect(recipient.nmbrs),
        rest_available=nmbrs_access.rest_configured(),
    )
    response = make_response(page)
    if recipient.kind == RecipientKind.NMBRS and nmbrs_access.rest_configured():
        # *Anslut med Nmbrs-inloggning* is a form whose answer redirects to Nmbrs' consent
        # page; CSP's form-action covers that redirect, so this page allows Nmbrs' origin.
        response.headers["Content-Security-Policy"] = CSP.replace(
            "form-action 'self'", f"form-action 'self' {nmbrs_access.identity_origin()}"
        )
    return response


# --- moving to Nmbrs REST (OAuth consent) ----------------------------------------------------

_CONSENT_SESSION_KEY = "nmbrs_consent"


@bp.route("/recipients/<int:recipient_id>/nmbrs/connect", methods=["POST"])
@admin_required
def nmbrs_connect_rest(recipient_id: int):
    """Anslut med Nmbrs-inloggning: off to Nmbrs' consent page (a full-page redirect)."""
    recipient = _recipient(recipient_id)
    if recipient.kind != RecipientKind.NMBRS or not nmbrs_access.rest_configured():
        abort(404)
    back = url_for("settings.recipient_view", recipient_id=recipient.id)
    try:
        url, ref = nmbrs_move.start(
            recipient, current_user, url_for("settings.nmbrs_callback", _external=True)
        )
    except nmbrs_move.MoveError as exc:
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
def nmbrs_callback():
    """Where Nmbrs sends the admin back: state checked, code exchanged, tokens stored."""
    pending = nmbrs_move.take_pending(session.pop(_CONSENT_SESSION_KEY, None), _org_id())
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
        nmbrs_move.finish(current_user, recipient, pending, request.args)
    except nmbrs_move.MoveError as exc:
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


@bp.route("/recipients/<int:recipient_id>/sync", methods=["POST"])
@admin_required
def start_sync(recipient_id: int):
    recipient = _recipient(recipient_id)
    if recipient.kind != RecipientKind.NMBRS:
        abort(404)
    try:
        run = sync_service.request_sync(recipient, trigger=SyncTrigger.MANUAL, user=current_user)
    except sync_service.QueueUnavailable as exc:
        if htmx:
            return render_template("recipients/queue_unavailable.html", message=exc.user_message)
        flash(str(exc.user_message), "error")
        return redirect(url_for("settings.recipient_view", recipient_id=recipient.id))
    if htmx:
        return render_template(
            "recipients/sync_status.html", recipient=recipient, view=sync_service.describe(run)
        )
    return redirect(url_for("settings.recipient_view", recipient_id=recipient.id))


@bp.route("/recipients/<int:recipient_id>/sync/<int:run_id>")
@admin_required
def sync_progress(recipient_id: int, run_id: int):
    recipient = _recipient(recipient_id)
    run = sync_service.progress(recipient, run_id)
    if run is None:
        abort(404)
    response = make_response(
        render_template(
            "recipients/sync_status.html", recipient=recipient, view=sync_service.describe(run)
        )
    )
    if not run.is_active:
        # Polling stops here; the page then refreshes the history, badge and catalogues.
        response.headers["HX-Trigger"] = "sync-finished"
    return response


@bp.route("/recipients/<int:recipient_id>/catalog/<tab>")
@admin_required
def catalog(recipient_id: int, tab: str):
    recipient = _recipient(recipient_id)
    if tab not in catalog_views.TABS:
        abort(404)
    return render_template("recipients/catalog_table.html", **_catalog_context(recipient, tab))


def _catalog_context(recipient: ReportRecipient, tab: str) -> dict:
    context = {
        "recipient": recipient,
        "tab": tab,
        "table": catalog_views.table(recipient, tab, request.args.get("q", "")),
        "max_rows": catalog_views.MAX_ROWS,
    }
    if tab == "employees":
        users = db.session.scalars(
            db.select(User)
            .where(User.organization_id == recipient.organization_id)
            .order_by(User.name)
        ).all()
        context["mapping_options"] = catalog_views.UserOptions(users)
        context["unmatched_users"] = employee_mapping.unmatched_users(recipient)
    return context


@bp.route("/recipients/<int:recipient_id>/advanced", methods=["GET", "POST"])
@admin_required
def advanced(recipient_id: int):
    recipient = _recipient(recipient_id)
    if request.method == "POST":
        parsed = advanced_settings.parse(request.form, recipient)
        if advanced_settings.save(current_user, recipient, parsed):
            db.session.commit()
            return finish(
                url_for("settings.recipient_view", recipient_id=recipient.id),
                _("Avancerade inställningar är sparade."),
            )
        rows = parsed
    else:
        rows = advanced_settings.with_suggestions(recipient, advanced_settings.rows(recipient))
    return render_dialog(
        "recipients/advanced_dialog.html",
        recipient=recipient,
        wage_types=advanced_settings.wage_type_choices(recipient),
        has_errors=any(r.error for r in rows),
        **_advanced_context(rows),
    )


def _advanced_context(rows: list[advanced_settings.Row]) -> dict:
    return {
        "layout": advanced_settings.LAYOUT,
        "group_titles": advanced_settings.GROUP_TITLES,
        "choices": advanced_settings.by_item(rows),
        "advanced_summary": advanced_settings.summary(rows),
    }


@bp.route("/recipients/<int:recipient_id>/employees/<int:employee_id>", methods=["POST"])
@admin_required
def map_employee(recipient_id: int, employee_id: int):
    recipient = _recipient(recipient_id)
    employee = db.session.get(PayrollEmployee, employee_id)
    if employee is None or employee.recipient_id != recipient.id:
        abort(404)
    user_id = request.form.get("user_id", type=int)
    user = None
    if user_id:
        user = db.session.get(User, user_id)
        if user is None or user.organization_id != recipient.organization_id:
            abort(404)
    employee_mapping.set_manual(current_user, recipient, employee, user)
    db.session.commit()
    return finish(
        url_for("settings.recipient_view", recipient_id=recipient.id, tab="employees"),
        _("Kopplingen är sparad."),
    )

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
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from webapp import polls
from webapp.extensions import db, htmx
from webapp.kept import Kept
from webapp.models import (
    PayrollEmployee,
    ReportRecipient,
    SyncRun,
    SyncStatus,
    SyncTrigger,
    User,
)
from webapp.permissions import admin_required
from webapp.reading import reads_only
from webapp.recipients import Kind, all_kinds, kind_for, kind_of
from webapp.responses import finish, render_dialog
from webapp.security import CSP
from webapp.services import advanced_settings, catalog_views, employee_mapping
from webapp.services import recipients as recipients_service
from webapp.services import sync as sync_service

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _org_id() -> int:
    return current_user.organization_id


def _recipient(recipient_id: int, *, with_pay_item_settings: bool = False) -> ReportRecipient:
    return recipients_service.get_active(
        _org_id(), recipient_id, with_pay_item_settings=with_pay_item_settings
    )


def _replacing() -> ReportRecipient | None:
    replace_id = request.args.get("replace", type=int)
    return _recipient(replace_id) if replace_id else None


def _box_context() -> dict:
    recipients = recipients_service.active_recipients(_org_id())
    return {
        "recipients": recipients,
        "recipient_problems": {r.id: recipients_service.wage_type_problems(r) for r in recipients},
    }


@bp.route("/")
@reads_only
@admin_required
def index():
    from webapp.services import tax_years

    notice = tax_years.next_year_missing(current_user.organization_id, tax_years.today())
    return render_template(
        "settings/index.html",
        organization=current_user.organization,
        year_notice=notice,
        **_box_context(),
    )


# --- adding and replacing --------------------------------------------------------------------


@bp.route("/recipients/new")
@admin_required
def choose_kind():
    return render_dialog("recipients/kind_chooser.html", kinds=all_kinds(), replacing=_replacing())


@bp.route("/recipients/<int:recipient_id>/replace/<kind>")
@admin_required
def confirm_replace(recipient_id: int, kind: str):
    recipient = _recipient(recipient_id)
    return render_dialog(
        "recipients/replace_confirm.html",
        recipient=recipient,
        kind=_kind(kind),
        carry=recipients_service.carry_over_report(recipient),
    )


def _kind(key: str) -> Kind:
    try:
        return kind_for(key)
    except KeyError:
        abort(404)


# --- one recipient ---------------------------------------------------------------------------


@bp.route("/recipients/<int:recipient_id>/menu")
@admin_required
def recipient_menu(recipient_id: int):
    return render_dialog(
        "recipients/pen_menu.html",
        recipient=_recipient(recipient_id),
        kinds=all_kinds(),
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
@reads_only
@admin_required
def recipient_view(recipient_id: int):
    recipient = _recipient(recipient_id, with_pay_item_settings=True)
    kind = kind_of(recipient)
    tab = catalog_views.tab_or_default(request.args.get("tab"))
    page = render_template(
        "settings/recipient.html",
        recipient=recipient,
        tab=tab,
        catalogs=_catalogs(recipient, tab) if kind.has_catalogues else None,
        problems=recipients_service.wage_type_problems(recipient),
        advanced_summary=advanced_settings.summary(recipient, advanced_settings.rows(recipient)),
        **(sync_service.view_context(recipient) if kind.has_catalogues else {}),
        **kind.page_context(recipient),
        kind=kind,
    )
    response = make_response(page)
    origins = kind.form_action_origins(recipient)
    if origins:
        # A form whose answer redirects to the payroll system (Nmbrs' consent page): CSP's
        # form-action covers that redirect, so this page allows that origin.
        response.headers["Content-Security-Policy"] = CSP.replace(
            "form-action 'self'", "form-action 'self' " + " ".join(origins)
        )
    return response


# --- syncing catalogues ----------------------------------------------------------------------


@bp.route("/recipients/<int:recipient_id>/sync", methods=["POST"])
@admin_required
def start_sync(recipient_id: int):
    recipient = _recipient(recipient_id)
    if not kind_of(recipient).has_catalogues:
        abort(404)
    try:
        run = sync_service.request_sync(recipient, trigger=SyncTrigger.MANUAL, user=current_user)
    except sync_service.QueueUnavailable as exc:
        if htmx:
            return render_template("recipients/queue_unavailable.html", message=exc.user_message)
        flash(str(exc.user_message), "error")
        return redirect(url_for("settings.recipient_view", recipient_id=recipient.id))
    if htmx:
        return _sync_status(recipient, run)
    return redirect(url_for("settings.recipient_view", recipient_id=recipient.id))


@bp.route("/recipients/<int:recipient_id>/sync/<int:run_id>")
@admin_required
def sync_progress(recipient_id: int, run_id: int):
    found = sync_service.progress_of(_org_id(), recipient_id, run_id)
    if found is None:
        abort(404)
    recipient, run = found
    return polls.fragment_response(_progress_fragment(recipient, run), active=run.is_active)


def _progress_fragment(recipient: ReportRecipient, run: SyncRun) -> str:
    if run.status not in polls.KEPT:
        return _sync_status(recipient, run)
    # Kept for the polls after this one, which webapp/polls.py answers without the view.
    key = polls.fragment_key(recipient.id, run)
    if run.status == SyncStatus.RUNNING:  # the poll's own rendering, kept alike
        return polls.FRAGMENTS.get(key, lambda: polls.progress_fragment(recipient.id, run))
    return polls.FRAGMENTS.get(key, lambda: _sync_status(recipient, run))


def _sync_status(recipient: ReportRecipient, run: SyncRun) -> str:
    return render_template(
        "recipients/sync_status.html", recipient=recipient, view=sync_service.describe(run)
    )


@bp.route("/recipients/<int:recipient_id>/catalog/<tab>")
@admin_required
def catalog(recipient_id: int, tab: str):
    recipient = _recipient(recipient_id)
    if tab not in catalog_views.TABS:
        abort(404)
    return _catalog_table(recipient, tab)


def _catalog_table(recipient: ReportRecipient, tab: str) -> Markup:
    context = _catalog_context(recipient, tab)
    return Markup(render_template("recipients/catalog_table.html", **context))


# The catalogues' section of the recipient view as it first shows a tab (no filter), kept per
# recipient, sync, tab and language: the counts and the rows change only with a sync
# (`catalog_views.version`). Not the employees' tab: whom each is mapped to changes without a
# sync, and its forms carry the session's token.
_SECTIONS: Kept[Markup] = Kept(256)


def _catalogs(recipient: ReportRecipient, tab: str) -> Markup:
    def render() -> Markup:
        section = render_template(
            "recipients/catalogs.html",
            recipient=recipient,
            tab=tab,
            tabs=catalog_views.TABS,
            counts=catalog_views.counts(recipient),
            query=request.args.get("q", ""),
            catalog_table=_catalog_table(recipient, tab),
        )
        return Markup(section)

    version = catalog_views.version(recipient)
    if version is None or tab == "employees" or request.args.get("q"):
        return render()
    return _SECTIONS.get((*version, tab, str(get_locale()), request.script_root), render)


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
        context["people"] = catalog_views.person_choices(users)
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


@bp.route("/recipients/<int:recipient_id>/advanced/choices")
@admin_required
def advanced_choices(recipient_id: int):
    """The table of every choice, for the recipient view's "Visa alla val" once opened."""
    recipient = _recipient(recipient_id, with_pay_item_settings=True)
    rows = advanced_settings.rows(recipient)
    return render_template(
        "recipients/advanced_choices.html",
        recipient=recipient,
        **_advanced_context(rows),
    )


def _advanced_context(rows: list[advanced_settings.Row]) -> dict:
    """The table of every choice: the dialog's, and the view's once "Visa alla val" is opened."""
    return {
        "layout": advanced_settings.LAYOUT,
        "group_titles": advanced_settings.GROUP_TITLES,
        "choices": advanced_settings.by_item(rows),
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

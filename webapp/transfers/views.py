"""Skicka till lön: Redo att skickas, the preview, the transfer with its live progress, the
history per recipient, undo and the PAXml download. Admins only."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from webapp.extensions import htmx
from webapp.permissions import admin_required
from webapp.recipients import RemoteProblem, kind_of
from webapp.responses import finish, render_dialog
from webapp.services import recipients as recipients_service
from webapp.services import transfer as service
from webapp.transfers.forms import ChooseForm, SendForm

bp = Blueprint("transfers", __name__, url_prefix="/transfers")


def _org_id() -> int:
    return current_user.organization_id


def _report_ids() -> list[int]:
    ids = []
    for value in request.values.getlist("report_id"):
        try:
            ids.append(int(value))
        except ValueError:
            abort(400)
    return ids


@bp.record_once
def _old_address(state) -> None:
    """Redo att skickas was once at /reports/ready (issue 7): that address shows it too."""
    state.app.add_url_rule("/reports/ready", endpoint="reports.ready", view_func=ready)


@bp.route("/")
@admin_required
def ready():
    form = ChooseForm(request.args)
    until = form.until.data if form.until.validate(form) else None
    reports = service.waiting_reports(_org_id(), until)
    recipients = recipients_service.active_recipients(_org_id())
    return render_template(
        "transfers/ready.html",
        form=form,
        reports=reports,
        recipients=recipients,
        until=until,
        transfers=[service.describe(t, with_results=False) for t in service.recent(_org_id())],
    )


def _period(form: ChooseForm, recipient, problems: list[str]):
    """(chosen period, Nmbrs' current period): the form's, defaulting to the current one."""
    if not kind_of(recipient).needs_period:
        return None, None
    current = None
    try:
        current = service.current_period(recipient)
    except RemoteProblem as exc:
        if exc.unreachable:
            # Nothing is being sent at the preview: say so, not a sending error's words.
            problems.append(
                _(
                    "%(system)s kunde inte nås just nu, så Brygga kunde inte läsa den aktuella "
                    "löneperioden. Inget har skickats. Försök igen om en stund, eller välj "
                    "period själv.",
                    system=kind_of(recipient).name,
                )
            )
        else:
            problems.append(
                _(
                    "Brygga kunde inte läsa Nmbrs aktuella löneperiod: %(why)s",
                    why=exc.user_message,
                )
            )
    if form.year.data and form.period.data:
        return service.PayrollPeriod(form.year.data, form.period.data), current
    return current, current


@bp.route("/preview")
@admin_required
def preview():
    form = ChooseForm(request.args)
    if not form.validate() or form.recipient_id.data is None:
        flash(_("Välj mottagare och minst en rapport."), "error")
        return redirect(url_for("transfers.ready"))
    recipient = recipients_service.get_active(_org_id(), form.recipient_id.data)
    reports = service.reports_by_ids(_org_id(), _report_ids())
    if not reports:
        flash(_("Välj minst en rapport."), "error")
        return redirect(url_for("transfers.ready", recipient_id=recipient.id))
    problems: list[str] = []
    period, current = _period(form, recipient, problems)
    if period is not None:
        form.year.data, form.period.data = period.year, period.period
    plan = service.preview(
        recipient,
        reports,
        period,
        current=current,
        unprotected_confirmed=bool(form.confirm_past.data),
    )
    return render_template(
        "transfers/preview.html",
        form=form,
        send_form=SendForm(formdata=None, obj=form),
        plan=plan,
        recipient=recipient,
        problems=problems,
        running=service.active_transfer(recipient.id),
    )


@bp.route("/send", methods=["POST"])
@admin_required
def send():
    form = SendForm()
    if not form.validate() or form.recipient_id.data is None:
        abort(400)
    recipient = recipients_service.get_active(_org_id(), form.recipient_id.data)
    reports = service.reports_by_ids(_org_id(), _report_ids())
    back = url_for(
        "transfers.preview",
        recipient_id=recipient.id,
        report_id=[r.id for r in reports],
        year=form.year.data,
        period=form.period.data,
    )
    period = current = None
    if kind_of(recipient).needs_period:
        if not (form.year.data and form.period.data):
            flash(_("Välj löneperiod."), "error")
            return redirect(back)
        period = service.PayrollPeriod(form.year.data, form.period.data)
        current = _period(form, recipient, [])[1]
    try:
        transfer = service.request_transfer(
            recipient,
            reports,
            user=current_user,
            period=period,
            current=current,
            unprotected_confirmed=bool(form.confirm_past.data),
        )
    except service.QueueUnavailable as exc:
        flash(exc.user_message, "error")
        return redirect(back)
    except service.TransferError as exc:
        flash(exc.user_message, "error")
        if exc.transfer is not None:
            return redirect(url_for("transfers.show", transfer_id=exc.transfer.id))
        return redirect(back)
    return redirect(url_for("transfers.show", transfer_id=transfer.id))


@bp.route("/<int:transfer_id>")
@admin_required
def show(transfer_id: int):
    transfer = service.progress(_org_id(), transfer_id)
    return render_template(
        "transfers/show.html",
        view=service.describe(transfer),
        benefit=service.benefit_amount(transfer.id),
    )


@bp.route("/<int:transfer_id>/progress")
@admin_required
def progress(transfer_id: int):
    transfer = service.progress(_org_id(), transfer_id)
    if not htmx:
        return redirect(url_for("transfers.show", transfer_id=transfer.id))
    return render_template("transfers/status.html", view=service.describe(transfer))


@bp.route("/<int:transfer_id>/retry", methods=["POST"])
@admin_required
def retry(transfer_id: int):
    transfer = service.get_transfer(_org_id(), transfer_id)
    try:
        service.retry(transfer, current_user)
    except (service.TransferError, service.QueueUnavailable) as exc:
        flash(exc.user_message, "error")
    return redirect(url_for("transfers.show", transfer_id=transfer.id))


@bp.route("/<int:transfer_id>/lines/<int:line_id>/resolve", methods=["POST"])
@admin_required
def resolve(transfer_id: int, line_id: int):
    """An osäker line, decided by a person who looked in the payroll system."""
    transfer = service.get_transfer(_org_id(), transfer_id)
    answer = request.form.get("answer")
    if answer not in ("found", "missing"):
        flash(_("Välj om raden finns i Nmbrs eller inte."), "error")
    else:
        try:
            service.resolve_uncertain(transfer, line_id, found=answer == "found", user=current_user)
        except service.TransferError as exc:
            flash(exc.user_message, "error")
    return redirect(url_for("transfers.show", transfer_id=transfer.id))


@bp.route("/<int:transfer_id>/undo", methods=["GET", "POST"])
@admin_required
def undo(transfer_id: int):
    """*Ångra*: first a confirmation naming what is taken back (GET, or a POST without it),
    then the undo itself."""
    transfer = service.get_transfer(_org_id(), transfer_id)
    back = url_for("transfers.show", transfer_id=transfer.id)
    if not service.can_undo(transfer):
        flash(_("Den här överföringen kan inte ångras."), "error")
        return redirect(back)
    if request.method == "GET" or request.form.get("confirmed") != "yes":
        return render_dialog(
            "transfers/undo_confirm.html",
            transfer=transfer,
            undo=service.undo_summary(transfer),
            system=kind_of(transfer).name,
            takes_back=kind_of(transfer).sends_in_worker,  # deletes the lines in the system
        )
    try:
        service.request_undo(transfer, current_user)
    except (service.TransferError, service.QueueUnavailable) as exc:
        flash(exc.user_message, "error")
    else:
        if not transfer.is_active:  # taken back at once (a file); a worker's undo shows itself
            flash(
                _("Överföringen är ångrad; rapporterna är tillbaka i Redo att skickas."),
                "success",
            )
    if htmx:
        return finish(back)
    return redirect(back)


@bp.route("/<int:transfer_id>/file", methods=["POST"])
@admin_required
def download(transfer_id: int):
    transfer = service.get_transfer(_org_id(), transfer_id)
    data, name, _reexport = service.download(transfer, current_user)
    encoding = transfer.file_encoding or "UTF-8"
    return Response(
        data,
        mimetype="application/xml",
        headers={
            "Content-Type": f"application/xml; charset={encoding}",
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )


@bp.route("/recipients/<int:recipient_id>")
@admin_required
def history(recipient_id: int):
    recipient = service.get_recipient(_org_id(), recipient_id)
    transfers = service.history(recipient.id, limit=100)
    return render_template(
        "transfers/history.html",
        recipient=recipient,
        transfers=[service.describe(t, with_results=False) for t in transfers],
    )

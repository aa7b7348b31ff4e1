"""Utlägg: the employee's reports, the approvers' queue, and the admin's allowance policy.

Every form posts and redirects without JavaScript; with htmx, adding a line swaps the report
fragment in place (errors re-render it with 200, because htmx 2 does not swap 4xx).
"""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from webapp.extensions import db, htmx
from webapp.models import LineKind
from webapp.permissions import admin_required, approver_required
from webapp.reports.forms import (
    MAX_EXTRA_LEGS,
    ForeignTableForm,
    LegError,
    MileageForm,
    OutlayForm,
    PerDiemForm,
    PolicyForm,
    ReasonForm,
    ReportForm,
    YearValuesForm,
    parse_legs,
    parse_meals,
    trip_days,
)
from webapp.services import expense_reports as service
from webapp.services import tax_years
from webapp.services.rates import VehicleKind, country_name, meal_reductions
from webapp.services.receipts import ReceiptError, read_receipt

bp = Blueprint("reports", __name__, url_prefix="/reports")

LINE_FORMS: dict[LineKind, tuple[type[FlaskForm], str]] = {
    LineKind.OUTLAY: (OutlayForm, "outlay"),
    LineKind.MILEAGE: (MileageForm, "mileage"),
    LineKind.PER_DIEM: (PerDiemForm, "trip"),
}


def _user():
    return current_user._get_current_object()


def _new_form(kind: LineKind, **kwargs):
    form_class, prefix = LINE_FORMS[kind]
    if kind == LineKind.PER_DIEM:
        kwargs["countries"] = service.countries(current_user.organization_id)
    return form_class(prefix=prefix, **kwargs)


def _line_forms(**overrides):
    forms = {kind: _new_form(kind, formdata=None) for kind in LINE_FORMS}
    forms[LineKind.OUTLAY].cost_center.data = service.default_cost_center(_user())
    forms.update(overrides)
    return forms


def _report_context(report, forms=None, open_kind=None, error=None):
    forms = forms or _line_forms()
    trip = forms[LineKind.PER_DIEM]
    return {
        "report": report,
        "forms": forms,
        "open_kind": open_kind,
        "error": error,
        "days": trip_days(trip.departure_date.data, trip.return_date.data),
        "meals": parse_meals(trip, request.form) if request.method == "POST" else {},
        "cost_centers": service.cost_center_choices(report.organization_id),
        "warning": _entry_warning(report, forms[LineKind.OUTLAY].cost_center.data),
        "reason_form": ReasonForm(formdata=None),
        "is_owner": report.employee_id == current_user.id,
        "country_name": country_name,
        "leg_rows": _leg_rows(),
        "leg_countries": trip.country.choices,
    }


def _leg_rows() -> list[dict[str, str]]:
    """The further-country rows of the trip form, as posted (empty rows when not)."""
    form = request.form if request.method == "POST" else {}
    return [
        {
            part: (form.get(f"trip-leg-{n}-{part}") or "")[:20]
            for part in ("country", "date", "time")
        }
        | {"n": str(n)}
        for n in range(1, MAX_EXTRA_LEGS + 1)
    ]


def _render_report(report, status=200, **context):
    if htmx and request.method == "POST":
        return render_template("reports/_report.html", **_report_context(report, **context))
    return render_template("reports/report.html", **_report_context(report, **context)), status


# --- the employee -----------------------------------------------------------------------------


@bp.route("/")
@login_required
def mine():
    return render_template(
        "reports/mine.html", reports=service.my_reports(_user()), form=ReportForm(formdata=None)
    )


@bp.route("/new", methods=["POST"])
@login_required
def create():
    form = ReportForm()
    if not form.validate():
        return render_template(
            "reports/mine.html", reports=service.my_reports(_user()), form=form
        ), (200 if htmx else 422)
    report = service.create_report(_user(), form.title.data)
    db.session.commit()
    return redirect(url_for("reports.show", report_id=report.id))


@bp.route("/<int:report_id>")
@login_required
def show(report_id: int):
    return _render_report(service.get_report(_user(), report_id))


@bp.route("/<int:report_id>/lines/<kind>", methods=["POST"])
@login_required
def add_line(report_id: int, kind: str):
    report = service.get_report(_user(), report_id)
    try:
        line_kind = LineKind(kind)
    except ValueError:
        abort(404)
    form = _new_form(line_kind)
    forms = _line_forms(**{line_kind: form})
    if request.form.get("action") == "days":  # no JavaScript: show the meal grid, save nothing
        return _render_report(report, forms=forms, open_kind=line_kind)
    if not form.validate():
        return _render_report(report, 200 if htmx else 422, forms=forms, open_kind=line_kind)
    try:
        _save_line(report, line_kind, form)
    except (service.ReportError, ReceiptError, LegError) as error:
        db.session.rollback()
        return _render_report(
            report, 200 if htmx else 422, forms=forms, open_kind=line_kind, error=str(error)
        )
    db.session.commit()
    flash(_("Raden är sparad."), "success")
    if line_kind == LineKind.OUTLAY and (
        code := service.unknown_cost_center(report.organization_id, form.cost_center.data)
    ):
        flash(_cost_center_warning(code), "error")
    if htmx:
        return render_template("reports/_report.html", **_report_context(report))
    return redirect(url_for("reports.show", report_id=report.id))


def _save_line(report, kind: LineKind, form) -> None:
    user = _user()
    if kind == LineKind.OUTLAY:
        upload = form.receipt.data
        receipt = read_receipt(upload.filename, upload.stream) if upload else None
        outlay = service.OutlayInput(
            date=form.date.data,
            description=form.description.data,
            category=form.category.data,
            amount=form.amount.data,
            vat=form.vat.data or Decimal(0),
            cost_center_code=form.cost_center.data,
            receipt=receipt,
        )
        service.add_outlay(report, user, outlay)
    elif kind == LineKind.MILEAGE:
        mileage = service.MileageInput(
            date=form.date.data,
            from_place=form.from_place.data,
            to_place=form.to_place.data,
            purpose=form.purpose.data,
            km=form.km.data,
            vehicle=VehicleKind(form.vehicle.data),
            employee_paid_fuel=form.employee_paid_fuel.data,
        )
        service.add_mileage(report, user, mileage)
    else:
        per_diem = service.PerDiemInput(
            purpose=form.purpose.data,
            destination=form.destination.data,
            country_code=form.country.data,
            departs_at=form.departs_at(),
            returns_at=form.returns_at(),
            far_from_home=form.far_from_home.data,
            lodging_paid_by_employer=form.lodging_paid_by_employer.data,
            assignment_start=form.assignment_start.data,
            meals=parse_meals(form, request.form),
            stayed_overnight=form.stayed_overnight.data == "yes",
            legs=parse_legs(form, request.form),
        )
        service.add_per_diem(report, user, per_diem)


@bp.route("/<int:report_id>/trip-days")
@login_required
def trip_meals(report_id: int):
    """The meal grid for the trip's days, fetched by htmx when the dates change."""
    report = service.get_report(_user(), report_id)
    form = PerDiemForm(prefix="trip", formdata=request.args)
    form.validate()  # parses the dates; errors are shown when the line is saved
    return render_template(
        "reports/_trip_days.html",
        report=report,
        form=form,
        days=trip_days(form.departure_date.data, form.return_date.data),
        meals={},
    )


@bp.route("/<int:report_id>/cost-center")
@login_required
def cost_center_hint(report_id: int):
    """A warning under the outlay's cost center field, fetched by htmx as the employee types."""
    report = service.get_report(_user(), report_id)
    warning = _entry_warning(report, request.args.get("outlay-cost_center"))
    return render_template("reports/_cost_center_hint.html", warning=warning)


def _entry_warning(report, code: str | None) -> str | None:
    code = service.unknown_cost_center(report.organization_id, code)
    return _cost_center_warning(code) if code else None


def _cost_center_warning(code: str) -> str:
    return _(
        "Kostnadsstället %(code)s finns inte i Nmbrs. Välj ett ur listan, annars skickas raden "
        "utan kostnadsställe.",
        code=code,
    )


@bp.route("/<int:report_id>/lines/<int:line_id>/delete", methods=["POST"])
@login_required
def delete_line(report_id: int, line_id: int):
    report = service.get_report(_user(), report_id)
    line = service.get_line(report, line_id)
    return _act(
        report, lambda: service.delete_line(report, _user(), line), _("Raden är borttagen.")
    )


@bp.route("/<int:report_id>/lines/<int:line_id>/receipt")
@login_required
def receipt(report_id: int, line_id: int):
    report = service.get_report(_user(), report_id)
    line = service.get_line(report, line_id)
    if line.receipt is None:
        abort(404)
    response = send_file(
        BytesIO(line.receipt.data),
        mimetype=line.receipt.content_type,
        download_name=line.receipt.filename,
        as_attachment=True,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/<int:report_id>/submit", methods=["POST"])
@login_required
def submit(report_id: int):
    report = service.get_report(_user(), report_id)
    return _act(report, lambda: service.submit(report, _user()), _("Rapporten är inskickad."))


@bp.route("/<int:report_id>/withdraw", methods=["POST"])
@login_required
def withdraw(report_id: int):
    report = service.get_report(_user(), report_id)
    message = _("Rapporten är tillbakadragen och kan ändras igen.")
    return _act(report, lambda: service.withdraw(report, _user()), message)


def _act(report, change, message: str, target: str | None = None):
    """Run a workflow step, commit, flash what happened and go back (errors too)."""
    try:
        change()
    except service.ReportError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(target or url_for("reports.show", report_id=report.id))


# --- the approver ------------------------------------------------------------------------------


@bp.route("/approvals")
@approver_required
def approvals():
    return render_template("reports/approvals.html", reports=service.reports_to_approve(_user()))


@bp.route("/<int:report_id>/approve", methods=["POST"])
@approver_required
def approve(report_id: int):
    report = service.get_report(_user(), report_id)
    return _act(
        report,
        lambda: service.approve(report, _user()),
        _("Rapporten är attesterad."),
        url_for("reports.approvals"),
    )


@bp.route("/<int:report_id>/reject", methods=["POST"])
@approver_required
def reject(report_id: int):
    report = service.get_report(_user(), report_id)
    reason = request.form.get("reason", "")
    return _act(
        report,
        lambda: service.reject(report, _user(), reason),
        _("Rapporten är skickad tillbaka till den anställde."),
        url_for("reports.approvals"),
    )


@bp.route("/<int:report_id>/lines/<int:line_id>/reject", methods=["POST"])
@approver_required
def reject_line(report_id: int, line_id: int):
    report = service.get_report(_user(), report_id)
    line = service.get_line(report, line_id)
    reason = request.form.get("reason", "")
    return _act(
        report, lambda: service.reject_line(report, _user(), line, reason), _("Raden är avvisad.")
    )


# --- the admin: policy and foreign tables ------------------------------------------------------


@bp.route("/policy", methods=["GET", "POST"])
@admin_required
def policy():
    form = PolicyForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            percent = form.foreign_percent.data
            data = service.PolicyInput(
                valid_from=form.valid_from.data,
                own_car=form.own_car.data,
                company_car=form.company_car.data,
                electric_company_car=form.electric_company_car.data,
                motorcycle=form.motorcycle.data,
                moped=form.moped.data,
                other_vehicle=form.other_vehicle.data,
                full_day=form.full_day.data,
                half_day=form.half_day.data,
                night=form.night.data,
                one_day=form.one_day.data or 0,
                foreign_percent=100 if percent is None else int(percent),
            )
            try:
                service.save_policy(_user(), data)
            except service.ReportError as error:
                db.session.rollback()
                flash(str(error), "error")
                status = 422
            else:
                db.session.commit()
                flash(_("Ersättningsnivåerna är sparade."), "success")
                return redirect(url_for("reports.policy"))
        else:
            status = 422
    return render_template(
        "reports/policy.html", form=form, policies=service.policies(current_user.organization_id)
    ), status


@bp.route("/policy/summary")
@admin_required
def policy_summary():
    """A fragment for the Settings page (`hx-get`): the policy in force today."""
    org = current_user.organization_id
    today = tax_years.today()
    return render_template(
        "reports/_policy_summary.html",
        policy=service.policy_on(org, today),
        missing_tables=tax_years.current_tables_missing(org, today),
    )


def _table_text(form) -> str:
    upload = form.table.data
    if upload and getattr(upload, "filename", ""):
        raw = upload.stream.read(tax_years.MAX_TABLE_CHARS * 2)
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return raw.decode("cp1252", errors="replace")  # Excel's Swedish CSV
    return form.text.data or ""


@bp.route("/foreign-tables", methods=["GET", "POST"])
@admin_required
def foreign_tables():
    """Import Skatteverket's table: read it, show what was read, save on confirmation."""
    org = current_user.organization_id
    today = tax_years.today()
    form = ForeignTableForm()
    form.year.choices = [(y, str(y)) for y in tax_years.importable_years(org, today)]
    preview = None
    status = 200
    if request.method == "POST":
        text = _table_text(form)
        if not form.validate() or not text.strip():
            flash(_("Välj år och klistra in tabellen eller välj en fil."), "error")
            status = 422
        elif request.form.get("action") == "save":
            try:
                tax_years.import_table(_user(), form.year.data, text, today)
            except tax_years.TaxYearError as error:
                db.session.rollback()
                flash(str(error), "error")
                status = 422
            else:
                db.session.commit()
                flash(_("Tabellen för %(year)d är sparad.", year=form.year.data), "success")
                return redirect(url_for("reports.foreign_tables"))
        else:
            try:
                preview = tax_years.read_table(org, form.year.data, text)
            except tax_years.TaxYearError as error:
                flash(str(error), "error")
                status = 422
            else:
                form.text.data = text
    return render_template(
        "reports/foreign_tables.html",
        form=form,
        preview=preview,
        statuses=tax_years.year_statuses(org, today),
    ), status


def _year_input(form) -> tax_years.YearValuesInput:
    return tax_years.YearValuesInput(
        year=form.year.data,
        price_base_amount=form.price_base_amount.data,
        own_car=form.own_car.data,
        company_car=form.company_car.data,
        electric_company_car=form.electric_company_car.data,
        benefit_whole_day=form.benefit_whole_day.data,
        benefit_lunch_or_dinner=form.benefit_lunch_or_dinner.data,
        benefit_breakfast=form.benefit_breakfast.data,
    )


@bp.route("/years", methods=["GET", "POST"])
@admin_required
def years():
    """A year's values: enter them, see the amounts that follow, confirm."""
    org = current_user.organization_id
    today = tax_years.today()
    form = YearValuesForm()
    preview = None
    status = 200
    if request.method == "GET":
        form.year.data = today.year + 1
        chosen = request.args.get("year", type=int)
        row = tax_years.entered_values(org, chosen) if chosen else None
        if row is not None:
            values = tax_years.values_input(row)
            form.process(data=values.__dict__)
    elif not form.validate():
        status = 422
    else:
        data = _year_input(form)
        try:
            if request.form.get("action") == "confirm":
                tax_years.save_values(org, data, today, actor=_user())
            else:
                preview = tax_years.check_values(data, today)
        except tax_years.TaxYearError as error:
            db.session.rollback()
            flash(str(error), "error")
            status = 422
        else:
            if preview is None:
                db.session.commit()
                flash(_("Värdena för %(year)d gäller nu i Brygga.", year=data.year), "success")
                return redirect(url_for("reports.years"))
    return render_template(
        "reports/years.html",
        form=form,
        preview=preview,
        reductions=meal_reductions(preview.domestic) if preview else None,
        statuses=tax_years.year_statuses(org, today),
        notice=tax_years.next_year_missing(org, today),
    ), status

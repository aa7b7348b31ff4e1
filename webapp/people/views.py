"""Personer: the organization's people, their roles and employee numbers; data protection."""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.extensions import db
from webapp.models import Role
from webapp.people.forms import NewPersonForm, PersonForm
from webapp.permissions import admin_required
from webapp.services import accounts, audit, data_protection, people

bp = Blueprint("people", __name__, url_prefix="/people")


@bp.route("/", methods=["GET", "POST"])
@admin_required
def index():
    form = NewPersonForm()
    error = None
    if form.validate_on_submit():
        try:
            user = people.add(
                current_user,
                form.name.data.strip(),
                form.email.data,
                Role(form.role.data),
                (form.employee_number.data or "").strip(),
                form.password.data,
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            db.session.commit()
            flash(_("%(name)s är tillagd.", name=user.name), "success")
            return redirect(url_for("people.index"))
    return render_template(
        "people/index.html",
        people=people.in_organization(current_user.organization_id),
        form=form,
        error=error,
    )


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@admin_required
def edit(user_id: int):
    user = people.get(current_user.organization_id, user_id)
    form = PersonForm(obj=user)  # the posted values win when the form is submitted
    error = None
    if form.validate_on_submit():
        try:
            people.update(
                current_user,
                user,
                form.name.data.strip(),
                form.email.data,
                Role(form.role.data),
                (form.employee_number.data or "").strip(),
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            db.session.commit()
            flash(_("Ändringarna är sparade."), "success")
            return redirect(url_for("people.index"))
    return render_template("people/edit.html", person=user, form=form, error=error)


@bp.route("/<int:user_id>/export")
@admin_required
def export(user_id: int):
    user = people.get(current_user.organization_id, user_id)
    data = data_protection.export(user)
    audit.record(
        "employee.exported", actor=current_user, organization_id=user.organization_id, obj=user
    )
    db.session.commit()
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="personuppgifter-{user.id}.json"'},
    )


@bp.route("/<int:user_id>/erase", methods=["POST"])
@admin_required
def erase(user_id: int):
    user = people.get(current_user.organization_id, user_id)
    try:
        data_protection.erase(current_user, user)
    except data_protection.ErasureRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for("people.edit", user_id=user.id))
    db.session.commit()
    flash(_("Personuppgifterna är raderade. Bokföringsuppgifterna sparas i sju år."), "success")
    return redirect(url_for("people.index"))

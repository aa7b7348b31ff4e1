"""Personer: the organization's people, their roles and employee numbers; data protection."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.extensions import db
from webapp.models import Role, User
from webapp.people.forms import NewPersonForm, PersonForm, SecurityForm
from webapp.permissions import admin_required
from webapp.services import accounts, audit, data_protection, mfa, people

bp = Blueprint("people", __name__, url_prefix="/people")


@bp.route("/", methods=["GET", "POST"])
@admin_required
def index():
    form = NewPersonForm()
    error = None
    if form.validate_on_submit():
        try:
            user, mailed = people.invite(
                current_user,
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
            _flash_invitation(user, mailed)
            return redirect(url_for("people.index"))
    return render_template(
        "people/index.html",
        people=people.in_organization(current_user.organization_id),
        form=form,
        error=error,
        security=SecurityForm(mfa_required=current_user.organization.mfa_required),
    )


def _flash_invitation(user: User, mailed: bool) -> None:
    if mailed:
        flash(
            _("En inbjudan är skickad till %(email)s. Länken gäller i %(hours)d timmar.",
              email=user.email, hours=current_app.config["INVITATION_VALID_HOURS"]),
            "success",
        )  # fmt: skip
    else:
        flash(
            _("%(name)s är tillagd, men e-postet med inbjudan kunde inte skickas. Skicka "
              "inbjudan igen från personens sida.", name=user.name),
            "error",
        )  # fmt: skip


@bp.route("/security", methods=["POST"])
@admin_required
def security():
    form = SecurityForm()
    if form.validate_on_submit():
        people.set_mfa_required(current_user, bool(form.mfa_required.data))
        db.session.commit()
        flash(
            _("Administratörer och attestanter måste nu logga in med tvåstegsverifiering.")
            if form.mfa_required.data
            else _("Tvåstegsverifiering är frivillig."),
            "success",
        )
    return redirect(url_for("people.index"))


@bp.route("/<int:user_id>/invite", methods=["POST"])
@admin_required
def resend_invitation(user_id: int):
    user = people.get(current_user.organization_id, user_id)
    try:
        mailed = accounts.resend_invitation(current_user, user)
    except accounts.AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        _flash_invitation(user, mailed)
    return redirect(url_for("people.edit", user_id=user.id))


@bp.route("/<int:user_id>/mfa-reset", methods=["POST"])
@admin_required
def reset_mfa(user_id: int):
    """For a person who lost both the phone and the recovery codes."""
    user = people.get(current_user.organization_id, user_id)
    if user.id == current_user.id or not user.mfa_enabled:
        return redirect(url_for("people.edit", user_id=user.id))
    mfa.turn_off(user, actor=current_user)
    db.session.commit()
    flash(
        _("Tvåstegsverifieringen för %(name)s är återställd. Personen är utloggad och får "
          "ställa in den igen.", name=user.name),
        "success",
    )  # fmt: skip
    return redirect(url_for("people.edit", user_id=user.id))


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
    return render_template(
        "people/edit.html",
        person=user,
        form=form,
        error=error,
        invitation=None if user.has_password else accounts.pending_invitation(user),
    )


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

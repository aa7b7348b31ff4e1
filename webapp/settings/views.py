"""Inställningar: the organization's settings, admins only."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from webapp.permissions import admin_required

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.route("/")
@admin_required
def index():
    return render_template("settings/index.html", organization=current_user.organization)

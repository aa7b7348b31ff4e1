"""Händelselogg: who changed what, for the organization's admins."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template, request
from flask_login import current_user

from webapp.permissions import admin_required
from webapp.services import audit_log

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _date(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


@bp.route("/")
@admin_required
def index():
    filters = audit_log.Filters(
        action=request.args.get("action") or None,
        actor_id=request.args.get("actor", type=int),
        since=_date("since"),
        until=_date("until"),
        page=request.args.get("page", 1, type=int),
    )
    org_id = current_user.organization_id
    events, has_next = audit_log.search(org_id, filters)
    return render_template(
        "audit/index.html",
        events=events,
        has_next=has_next,
        filters=filters,
        actions=audit_log.actions_in_use(org_id),
        people=audit_log.people(org_id),
        label=audit_log.label,
    )

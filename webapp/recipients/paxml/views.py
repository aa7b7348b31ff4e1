"""The PAXml setup dialog under Inställningar: a recipient that gets a PAXml file. Admins only."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.extensions import db
from webapp.models import RecipientKind, User
from webapp.models import ReportRecipient as Recipient
from webapp.models.recipient import PaxmlSettings
from webapp.permissions import admin_required
from webapp.recipients.paxml.forms import PaxmlForm
from webapp.responses import finish, render_dialog
from webapp.services import recipients as recipients_service

bp = Blueprint("paxml", __name__, url_prefix="/settings")


def add_paxml(
    actor: User,
    display_name: str,
    program_name: str | None,
    encoding: str,
    replacing: Recipient | None = None,
) -> Recipient:
    """A recipient that gets PAXml files; the caller commits."""
    recipient = recipients_service.new_recipient(
        actor, RecipientKind.PAXML, display_name, replacing
    )
    recipient.paxml = PaxmlSettings(program_name=program_name or None, encoding=encoding)
    return recipient


@bp.route("/recipients/new/paxml", methods=["GET", "POST"])
@admin_required
def add():
    replace_id = request.args.get("replace", type=int)
    organization_id = current_user.organization_id
    replacing = recipients_service.get_active(organization_id, replace_id) if replace_id else None
    form = PaxmlForm()
    if form.validate_on_submit():
        recipient = add_paxml(
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
    return render_dialog("paxml/dialog.html", form=form, replacing=replacing)

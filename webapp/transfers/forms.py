"""The forms of Skicka till lön."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField
from wtforms.validators import DataRequired, NumberRange, Optional


class _TransferFields:
    """Recipient and period (the report ids are a list: `request.values.getlist`)."""

    recipient_id = IntegerField(_l("Mottagare"), validators=[DataRequired()])
    year = IntegerField(_l("År"), validators=[Optional(), NumberRange(2000, 2100)])
    period = IntegerField(_l("Period"), validators=[Optional(), NumberRange(1, 53)])
    until = DateField(_l("Attesterade till och med"), validators=[Optional()])
    confirm_past = BooleanField(_l("Skicka till en passerad period"))


class ChooseForm(_TransferFields, FlaskForm):
    """What to preview (a GET form: it changes nothing, so no CSRF token)."""

    class Meta:
        csrf = False


class SendForm(_TransferFields, FlaskForm):
    """Skicka: the same fields, posted with the CSRF token."""

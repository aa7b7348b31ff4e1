"""The forms of Nmbrs' setup dialogs."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, RadioField, SelectField
from wtforms.validators import DataRequired, Email, Length

from webapp.recipients.nmbrs.access import ENVIRONMENT_LABELS


class NmbrsKeyForm(FlaskForm):
    username = EmailField(
        _l("E-postadress du loggar in i Nmbrs med"),
        validators=[
            DataRequired(_l("Ange e-postadressen.")),
            Email(_l("Ogiltig e-postadress.")),
            Length(max=254),
        ],
    )
    token = PasswordField(
        _l("API-nyckel"),
        validators=[DataRequired(_l("Klistra in API-nyckeln från Nmbrs.")), Length(min=8, max=200)],
    )
    environment = SelectField(
        _l("Nmbrs-miljö"), choices=list(ENVIRONMENT_LABELS.items()), default="se"
    )


class CompanyForm(FlaskForm):
    ref = HiddenField(validators=[DataRequired()])
    company_id = RadioField(
        _l("Företag"), coerce=int, validators=[DataRequired(_l("Välj företag."))]
    )

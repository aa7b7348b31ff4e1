from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from webapp.services.nmbrs_access import ENVIRONMENT_LABELS
from webapp.services.recipients import PAXML_ENCODINGS


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


class PaxmlForm(FlaskForm):
    display_name = StringField(
        _l("Namn i listan"), validators=[DataRequired(), Length(max=200)], default="PAXml-fil"
    )
    program_name = StringField(
        _l("Lönesystem som läser filen"), validators=[Optional(), Length(max=100)]
    )
    encoding = SelectField(
        _l("Teckenkodning"), choices=[(e, e) for e in PAXML_ENCODINGS], default="UTF-8"
    )

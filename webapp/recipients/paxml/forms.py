"""The form of the PAXml setup dialog."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from webapp.recipients.paxml.file import ENCODINGS


class PaxmlForm(FlaskForm):
    display_name = StringField(
        _l("Namn i listan"), validators=[DataRequired(), Length(max=200)], default="PAXml-fil"
    )
    program_name = StringField(
        _l("Lönesystem som läser filen"), validators=[Optional(), Length(max=100)]
    )
    encoding = SelectField(
        _l("Teckenkodning"), choices=[(e, e) for e in ENCODINGS], default="UTF-8"
    )

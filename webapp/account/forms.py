from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class ChangePasswordForm(FlaskForm):
    current = PasswordField(_l("Nuvarande lösenord"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(
        _l("Nytt lösenord (minst 10 tecken)"), validators=[DataRequired(), Length(max=200)]
    )
    confirm = PasswordField(
        _l("Upprepa det nya lösenordet"),
        validators=[
            DataRequired(),
            EqualTo("password", message=_l("Lösenorden är inte likadana.")),
        ],
    )


class ConfirmCodeForm(FlaskForm):
    code = StringField(_l("Sexsiffrig kod från appen"), validators=[DataRequired(), Length(max=20)])


class TurnOffMfaForm(FlaskForm):
    password = PasswordField(_l("Ditt lösenord"), validators=[DataRequired(), Length(max=200)])

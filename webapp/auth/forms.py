from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField(_l("E-post"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Lösenord"), validators=[DataRequired(), Length(max=200)])


class CodeForm(FlaskForm):
    code = StringField(
        _l("Kod från autentiseringsappen eller en reservkod"),
        validators=[DataRequired(), Length(max=20)],
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-post"), validators=[DataRequired(), Email(), Length(max=254)])


class ChoosePasswordForm(FlaskForm):
    password = PasswordField(
        _l("Nytt lösenord (minst 10 tecken)"), validators=[DataRequired(), Length(max=200)]
    )
    confirm = PasswordField(
        _l("Upprepa lösenordet"),
        validators=[
            DataRequired(),
            EqualTo("password", message=_l("Lösenorden är inte likadana.")),
        ],
    )

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from webapp.models import Role

ROLE_CHOICES = [
    (Role.EMPLOYEE.value, _l("Anställd")),
    (Role.APPROVER.value, _l("Attestant")),
    (Role.ADMIN.value, _l("Administratör")),
]


class PersonForm(FlaskForm):
    name = StringField(_l("Namn"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("E-post"), validators=[DataRequired(), Email(), Length(max=254)])
    employee_number = StringField(
        _l("Anställningsnummer (som i lönesystemet)"), validators=[Optional(), Length(max=50)]
    )
    role = SelectField(_l("Roll"), choices=ROLE_CHOICES, default=Role.EMPLOYEE.value)


class NewPersonForm(PersonForm):
    password = PasswordField(
        _l("Första lösenord (minst 10 tecken)"), validators=[DataRequired(), Length(max=200)]
    )

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField
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
    """A new person chooses their own password through the e-mailed invitation."""


class SecurityForm(FlaskForm):
    mfa_required = BooleanField(_l("Kräv tvåstegsverifiering för administratörer och attestanter"))

"""The forms of the expense report pages."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields import Field
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import TextInput

from webapp.services.per_diem import DayMeals, MealProvision
from webapp.services.rates import DOMESTIC, Meal, VehicleKind, country_choices

CATEGORIES = [
    ("Resor", _l("Resor")),
    ("Logi", _l("Logi")),
    ("Måltider", _l("Måltider")),
    ("Representation", _l("Representation")),
    ("Kontorsmaterial", _l("Kontorsmaterial")),
    ("Programvara", _l("Programvara")),
    ("Övrigt", _l("Övrigt")),
]
VEHICLES = [
    (VehicleKind.OWN_CAR.value, _l("Egen bil")),
    (VehicleKind.COMPANY_CAR.value, _l("Förmånsbil")),
    (VehicleKind.ELECTRIC_COMPANY_CAR.value, _l("Elförmånsbil")),
    (VehicleKind.MOTORCYCLE.value, _l("Motorcykel (skattepliktig)")),
    (VehicleKind.MOPED.value, _l("Moped (skattepliktig)")),
    (VehicleKind.OTHER_VEHICLE.value, _l("Annat fordon (skattepliktig)")),
]
# What a provided meal was: the employee answers per meal (kostförmån and meal reduction).
MEAL_PROVISIONS = [
    ("", _l("Ingen")),
    (MealProvision.FREE.value, _l("Fri måltid")),
    (MealProvision.WITH_ROOM.value, _l("Frukost som ingick i logipriset")),
    (MealProvision.TICKET.value, _l("Ingick i biljetten")),
    (MealProvision.BUSINESS.value, _l("Representation eller konferens")),
]


class AmountField(Field):
    """A Swedish amount: `1 234,50` as well as `1234.50`. Empty is None."""

    widget = TextInput()

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(self.data).replace(".", ",")

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        if not valuelist or not valuelist[0].strip():
            return
        text = valuelist[0].strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
        text = text.removesuffix("kr")
        try:
            self.data = Decimal(text)
        except InvalidOperation:
            raise ValueError(_l("Ange ett tal, till exempel 1 234,50.")) from None
        if not self.data.is_finite():
            self.data = None
            raise ValueError(_l("Ange ett tal, till exempel 1 234,50."))


REQUIRED = _l("Fyll i fältet.")


class ReportForm(FlaskForm):
    title = StringField(
        _l("Namn på rapporten"), validators=[DataRequired(REQUIRED), Length(max=200)]
    )


class OutlayForm(FlaskForm):
    date = DateField(_l("Datum"), validators=[InputRequired(REQUIRED)])
    description = StringField(
        _l("Beskrivning"), validators=[DataRequired(REQUIRED), Length(max=300)]
    )
    category = SelectField(_l("Kategori"), choices=CATEGORIES)
    amount = AmountField(_l("Belopp inkl. moms (kr)"), validators=[InputRequired(REQUIRED)])
    vat = AmountField(_l("Varav moms (kr)"), validators=[Optional()])
    cost_center = StringField(_l("Kostnadsställe"), validators=[Optional(), Length(max=50)])
    receipt = FileField(_l("Kvitto (JPEG, PNG eller PDF, högst 10 MB)"))


class MileageForm(FlaskForm):
    date = DateField(_l("Datum"), validators=[InputRequired(REQUIRED)])
    from_place = StringField(_l("Från"), validators=[DataRequired(REQUIRED), Length(max=200)])
    to_place = StringField(_l("Till"), validators=[DataRequired(REQUIRED), Length(max=200)])
    purpose = StringField(_l("Syfte"), validators=[DataRequired(REQUIRED), Length(max=300)])
    km = AmountField(_l("Kilometer"), validators=[InputRequired(REQUIRED)])
    vehicle = SelectField(_l("Fordon"), choices=VEHICLES)
    employee_paid_fuel = BooleanField(
        _l("Jag betalade drivmedlet eller laddningen (förmånsbil)"), default=True
    )


def trip_country_choices(countries: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    return [(DOMESTIC, "Sverige")] + (countries if countries is not None else country_choices())


MAX_EXTRA_LEGS = 3
OVERNIGHT_CHOICES = [("yes", _l("Ja")), ("no", _l("Nej, jag sov hemma"))]


class PerDiemForm(FlaskForm):
    purpose = StringField(_l("Syfte"), validators=[DataRequired(REQUIRED), Length(max=300)])
    destination = StringField(_l("Ort"), validators=[DataRequired(REQUIRED), Length(max=200)])
    country = SelectField(_l("Land"), default=DOMESTIC, validate_choice=False)
    departure_date = DateField(_l("Avresedag"), validators=[InputRequired(REQUIRED)])
    departure_time = TimeField(_l("Avresetid"), validators=[InputRequired(REQUIRED)])
    return_date = DateField(_l("Hemkomstdag"), validators=[InputRequired(REQUIRED)])
    return_time = TimeField(_l("Hemkomsttid"), validators=[InputRequired(REQUIRED)])
    far_from_home = BooleanField(
        _l("Resmålet ligger mer än 50 km från både bostaden och arbetsplatsen"), default=True
    )
    lodging_paid_by_employer = BooleanField(_l("Arbetsgivaren betalar logi"))
    stayed_overnight = RadioField(
        _l("Övernattade du under resan (inte i din bostad)?"),
        choices=OVERNIGHT_CHOICES,
        validators=[InputRequired(_l("Svara om du övernattade."))],
    )
    assignment_start = DateField(
        _l("Arbetet på orten började (vid resor längre än 3 månader)"), validators=[Optional()]
    )

    def __init__(self, *args, countries: list[tuple[str, str]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.country.choices = trip_country_choices(countries)

    def departs_at(self) -> datetime | None:
        if self.departure_date.data and self.departure_time.data:
            return datetime.combine(self.departure_date.data, self.departure_time.data)
        return None

    def returns_at(self) -> datetime | None:
        if self.return_date.data and self.return_time.data:
            return datetime.combine(self.return_date.data, self.return_time.data)
        return None


MAX_MEAL_DAYS = 93  # the meal grid shows at most this many days; longer trips enter no meals


def trip_days(first: date | None, last: date | None) -> list[date]:
    """The days to ask about meals for, when the dates make sense."""
    if not first or not last or last < first or (last - first).days >= MAX_MEAL_DAYS:
        return []
    return [date.fromordinal(first.toordinal() + i) for i in range((last - first).days + 1)]


def meal_field_name(form: PerDiemForm, day: date, meal: Meal) -> str:
    return f"{form._prefix}meal-{day.isoformat()}-{meal.value}"


def _provision(value: str | None) -> MealProvision | None:
    if not value:
        return None
    if value in ("1", "on", "y"):  # a plain check box: a free meal
        return MealProvision.FREE
    try:
        return MealProvision(value)
    except ValueError:
        return None


def parse_meals(form: PerDiemForm, formdata) -> dict[date, DayMeals]:
    """What each provided meal was (`trip-meal-2026-03-02-lunch` = `free`), per trip day."""
    days = trip_days(form.departure_date.data, form.return_date.data)
    return {
        day: DayMeals(
            **{m.value: _provision(formdata.get(meal_field_name(form, day, m))) for m in Meal}
        )
        for day in days
    }


class LegError(ValueError):
    """A further country of the trip that is filled in only in part."""


def parse_legs(form: PerDiemForm, formdata) -> list[tuple[str, datetime]]:
    """The trip's further countries (`trip-leg-1-country`, `-date`, `-time`), in order."""
    legs = []
    for n in range(1, MAX_EXTRA_LEGS + 1):
        prefix = f"{form._prefix}leg-{n}-"
        country = (formdata.get(prefix + "country") or "").strip().upper()
        day = (formdata.get(prefix + "date") or "").strip()
        at = (formdata.get(prefix + "time") or "").strip()
        if not (country or day or at):
            continue
        if not (country and day and at):
            raise LegError(_l("Ange land, datum och tid för varje land på resan."))
        try:
            legs.append((country, datetime.fromisoformat(f"{day}T{at}")))
        except ValueError:
            raise LegError(_l("Ange land, datum och tid för varje land på resan.")) from None
    return legs


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Anledning"), validators=[DataRequired(REQUIRED), Length(max=1000)])


class PolicyForm(FlaskForm):
    valid_from = DateField(_l("Gäller från"), validators=[InputRequired(REQUIRED)])
    own_car = AmountField(_l("Egen bil, kr per mil"), validators=[Optional()])
    company_car = AmountField(_l("Förmånsbil, kr per mil"), validators=[Optional()])
    electric_company_car = AmountField(_l("Elförmånsbil, kr per mil"), validators=[Optional()])
    motorcycle = AmountField(_l("Motorcykel, kr per mil (skattepliktig)"), validators=[Optional()])
    moped = AmountField(_l("Moped, kr per mil (skattepliktig)"), validators=[Optional()])
    other_vehicle = AmountField(
        _l("Annat fordon, kr per mil (skattepliktig)"), validators=[Optional()]
    )
    full_day = AmountField(_l("Traktamente heldag inrikes, kr"), validators=[Optional()])
    half_day = AmountField(_l("Traktamente halvdag inrikes, kr"), validators=[Optional()])
    night = AmountField(_l("Nattraktamente inrikes, kr"), validators=[Optional()])
    one_day = AmountField(_l("Endagsförrättning (skattepliktig), kr"), validators=[Optional()])
    foreign_percent = AmountField(
        _l("Utlandstraktamente, procent av normalbeloppet"),
        validators=[Optional(), NumberRange(min=0, max=500)],
    )


class ForeignTableForm(FlaskForm):
    year = SelectField(_l("År"), coerce=int)
    text = TextAreaField(
        _l("Klistra in Skatteverkets tabell (land, landskod, belopp)"),
        validators=[Optional(), Length(max=200_000)],
    )
    table = FileField(_l("eller välj en fil (text eller CSV med ; eller ,)"))


class YearValuesForm(FlaskForm):
    year = IntegerField(_l("Inkomstår"), validators=[InputRequired(REQUIRED)])
    price_base_amount = IntegerField(_l("Prisbasbelopp (kr)"), validators=[InputRequired(REQUIRED)])
    own_car = AmountField(
        _l("Milersättning egen bil, kr per mil"), validators=[InputRequired(REQUIRED)]
    )
    company_car = AmountField(
        _l("Milersättning förmånsbil (ej el), kr per mil"), validators=[InputRequired(REQUIRED)]
    )
    electric_company_car = AmountField(
        _l("Milersättning elförmånsbil, kr per mil"), validators=[InputRequired(REQUIRED)]
    )
    benefit_whole_day = AmountField(
        _l("Kostförmån hel dag (frukost, lunch och middag), kr"),
        validators=[InputRequired(REQUIRED)],
    )
    benefit_lunch_or_dinner = AmountField(
        _l("Kostförmån lunch eller middag, kr"), validators=[InputRequired(REQUIRED)]
    )
    benefit_breakfast = AmountField(
        _l("Kostförmån frukost, kr"), validators=[InputRequired(REQUIRED)]
    )

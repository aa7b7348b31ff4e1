"""tax years: a year's values entered by an admin (prisbasbelopp, mileage, kostförmån), the
reminder the clock sends once, trips with legs, an asked overnight stay, what each meal was and
a trip id shared by the parts of a trip over New Year; rates for motorcycle, moped and other
vehicles (issue 14).

Existing per-diem lines keep their frozen calculation; they get what the new columns say about
them: an overnight stay when they span two dates (as the old calculation assumed) and one leg in
their country.

Revision ID: 0011_tax_years
Revises: 0010_in_doubt
Create Date: 2026-12-04 17:05:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_tax_years"
down_revision = "0010_in_doubt"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "tax_year_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("price_base_amount", sa.Integer(), nullable=False),
        sa.Column("own_car_ore_per_mil", sa.BigInteger(), nullable=False),
        sa.Column("company_car_ore_per_mil", sa.BigInteger(), nullable=False),
        sa.Column("electric_company_car_ore_per_mil", sa.BigInteger(), nullable=False),
        sa.Column("benefit_whole_day_ore", sa.BigInteger(), nullable=False),
        sa.Column("benefit_lunch_or_dinner_ore", sa.BigInteger(), nullable=False),
        sa.Column("benefit_breakfast_ore", sa.BigInteger(), nullable=False),
        sa.Column("confirmed_by_id", sa.Integer(), nullable=True),
        sa.Column("confirmed_by_operator", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["confirmed_by_id"], ["user.id"], name=op.f("fk_tax_year_values_confirmed_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_tax_year_values_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_year_values")),
        sa.UniqueConstraint(
            "organization_id", "year", name=op.f("uq_tax_year_values_organization_id")
        ),
    )
    with op.batch_alter_table("tax_year_values", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tax_year_values_organization_id"), ["organization_id"], unique=False
        )
    op.create_table(
        "tax_year_reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_tax_year_reminder_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_year_reminder")),
        sa.UniqueConstraint(
            "organization_id", "year", name=op.f("uq_tax_year_reminder_organization_id")
        ),
    )
    with op.batch_alter_table("tax_year_reminder", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tax_year_reminder_organization_id"), ["organization_id"], unique=False
        )
    with op.batch_alter_table("allowance_policy", schema=None) as batch_op:
        batch_op.add_column(sa.Column("motorcycle_ore_per_mil", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("moped_ore_per_mil", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("other_vehicle_ore_per_mil", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("expense_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stayed_overnight", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("legs", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("meal_kinds", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("trip_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_expense_line_trip_id"), ["trip_id"], unique=False)

    # Existing trips: what the old calculation assumed, said in the new columns.
    bind = op.get_bind()
    line = sa.table(
        "expense_line",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("country_code", sa.String),
        sa.column("departs_at", sa.DateTime),
        sa.column("returns_at", sa.DateTime),
        sa.column("stayed_overnight", sa.Boolean),
        sa.column("legs", sa.JSON),
    )
    rows = bind.execute(
        sa.select(line.c.id, line.c.country_code, line.c.departs_at, line.c.returns_at).where(
            line.c.kind == "per_diem"
        )
    ).all()
    for id_, country, departs_at, returns_at in rows:
        if departs_at is None or returns_at is None:
            continue
        leg = {
            "country": country or "SE",
            "from": departs_at.isoformat(timespec="minutes"),
            "to": returns_at.isoformat(timespec="minutes"),
        }
        bind.execute(
            line.update()
            .where(line.c.id == id_)
            .values(stayed_overnight=departs_at.date() != returns_at.date(), legs=[leg])
        )


def downgrade():
    with op.batch_alter_table("expense_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_expense_line_trip_id"))
        batch_op.drop_column("trip_id")
        batch_op.drop_column("meal_kinds")
        batch_op.drop_column("legs")
        batch_op.drop_column("stayed_overnight")
    with op.batch_alter_table("allowance_policy", schema=None) as batch_op:
        batch_op.drop_column("other_vehicle_ore_per_mil")
        batch_op.drop_column("moped_ore_per_mil")
        batch_op.drop_column("motorcycle_ore_per_mil")
    with op.batch_alter_table("tax_year_reminder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tax_year_reminder_organization_id"))
    op.drop_table("tax_year_reminder")
    with op.batch_alter_table("tax_year_values", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tax_year_values_organization_id"))
    op.drop_table("tax_year_values")

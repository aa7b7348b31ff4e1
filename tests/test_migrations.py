from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from webapp.extensions import db
from webapp.tenancy import all_organizations


def test_models_match_the_migrations(app):
    # The `app` fixture upgraded an empty database to head; nothing may differ from the models.
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_downgrade_to_empty_and_back(app):
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        downgrade(revision="base")
        assert db.inspect(db.engine).get_table_names() in ([], ["alembic_version"])
        upgrade()
        assert "user" in db.inspect(db.engine).get_table_names()


def test_existing_trips_keep_their_data_through_the_tax_years_migration(app):
    """Issue 14: reports saved before trips had legs and an asked overnight stay keep their
    frozen calculation, and the new columns say what the old calculation assumed."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from webapp.models import ExpenseLine
    from webapp.services.pay_parts import parts_of

    with app.app_context():
        downgrade(revision="0010_in_doubt")
        with db.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO organization (id, name, created_at, mfa_required) "
                     "VALUES (901, 'Gamla AB', CURRENT_TIMESTAMP, false)")
            )  # fmt: skip
            conn.execute(
                text(
                    'INSERT INTO "user" (id, organization_id, email, name, role, '
                    "session_version, created_at) VALUES (901, 901, 'gammal@gamla.se', "
                    "'Gammal', 'employee', 1, CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO expense_report (id, organization_id, employee_id, title, "
                    "status, created_at) VALUES (901, 901, 901, 'Malmö', 'approved', "
                    "CURRENT_TIMESTAMP)"
                )
            )
            for id_, returns in ((901, "2026-03-04 20:00:00"), (902, "2026-03-02 22:00:00")):
                conn.execute(
                    text(
                        "INSERT INTO expense_line (id, report_id, kind, date, description, "
                        "departs_at, returns_at, destination, country_code, far_from_home, "
                        "lodging_paid_by_employer, meals, parts, tax_free_ore, taxable_ore, "
                        "rule_year, calculation, rejected, created_at) VALUES (:id, 901, "
                        "'per_diem', '2026-03-02', 'Mässa', '2026-03-02 07:00:00', :returns, "
                        "'Malmö', 'SE', true, false, :meals, :parts, 79500, 0, 2026, '{}', "
                        "false, CURRENT_TIMESTAMP)"
                    ),
                    {
                        "id": id_,
                        "returns": returns,
                        "meals": '{"2026-03-03": ["lunch"]}',
                        "parts": '[{"item": "per_diem.domestic.full_day.tax_free", '
                        '"quantity": "3", "unit_price": "300.00", "amount": "900.00", '
                        '"note": ""}]',
                    },
                )
        upgrade()
        with all_organizations():
            trip, one_day = db.session.scalars(
                db.select(ExpenseLine).order_by(ExpenseLine.id)
            ).all()
            assert (trip.tax_free_ore, trip.rule_year, trip.description) == (79500, 2026, "Mässa")
            assert trip.meals == {"2026-03-03": ["lunch"]}
            assert parts_of(trip)[0].amount == 900
            assert trip.stayed_overnight is True and one_day.stayed_overnight is False
            assert trip.legs == [
                {"country": "SE", "from": "2026-03-02T07:00", "to": "2026-03-04T20:00"}
            ]
            assert trip.meal_kinds is None and trip.trip_id is None
            db.session.remove()

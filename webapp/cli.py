"""Flask CLI commands: `flask --app webapp create-admin | seed-demo | rotate-encryption-key |
purge-expired | tax-year | nmbrs-soap-organizations`. Each works across organizations and says so
(`all_organizations`, see webapp.tenancy): a command that forgot would meet the tenant guard's
TenantNotStated."""

from __future__ import annotations

from decimal import Decimal

import click
from flask import Flask

from webapp.extensions import db
from webapp.services import accounts
from webapp.tenancy import all_organizations


def register(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.option("--email", required=True)
    @click.option("--password", required=True)
    @click.option("--org", "org_name", required=True, help="Organization; created when missing.")
    @click.option("--name", default=None, help="The admin's name (defaults to the e-mail).")
    def create_admin(email: str, password: str, org_name: str, name: str | None) -> None:
        """Create an admin (and the organization when it does not exist)."""
        with all_organizations():
            try:
                user = accounts.create_admin(email, password, org_name, name)
            except accounts.AccountError as exc:
                raise click.ClickException(str(exc)) from exc
            db.session.commit()
            click.echo(f"Admin {user.email} in {user.organization.name} created.")

    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """Create the demo organization and its people (idempotent)."""
        from webapp.services import demo

        with all_organizations():
            lines = demo.seed()
            db.session.commit()
        for line in lines:
            click.echo(line)

    @app.cli.command("rotate-encryption-key")
    @click.option(
        "--only-legacy",
        is_flag=True,
        help="Only convert secrets stored before AES-GCM (the release step runs this).",
    )
    def rotate_encryption_key(only_legacy: bool) -> None:
        """Re-encrypt every stored secret with the first key of BRYGGA_ENCRYPTION_KEYS, bound
        to its table, column, row and organization."""
        from webapp.services import secrets

        with all_organizations():
            count = secrets.reencrypt_all(only_legacy=only_legacy)
            db.session.commit()
        what = "old-format " if only_legacy else ""
        click.echo(f"Re-encrypted {count} stored {what}secret(s) with the newest key.")

    @app.cli.command("purge-expired")
    def purge_expired() -> None:
        """Remove what the seven-year bookkeeping retention no longer requires us to keep."""
        from datetime import date

        from webapp.services import data_protection

        with all_organizations():
            removed = data_protection.purge_expired(date.today())
            db.session.commit()
        click.echo(
            f"Removed {removed['receipts']} receipt file(s) and "
            f"{removed['login_events']} login event(s) older than "
            f"{data_protection.retention_cutoff(date.today())}; "
            f"{removed['sessions']} session(s) and {removed['links']} e-mailed link(s) older "
            f"than {data_protection.SESSION_DAYS} days."
        )

    @app.cli.group("tax-year")
    def tax_year() -> None:
        """A payroll year's values: prisbasbelopp, mileage, kostförmån and the foreign table."""

    @tax_year.command("set")
    @click.option("--year", type=int, required=True)
    @click.option("--prisbasbelopp", "price_base_amount", type=int, required=True)
    @click.option("--own-car", type=Decimal, required=True, help="Egen bil, kr per mil.")
    @click.option("--company-car", type=Decimal, required=True, help="Förmånsbil, kr per mil.")
    @click.option("--electric-company-car", type=Decimal, required=True, help="Elförmånsbil.")
    @click.option("--benefit-day", type=Decimal, required=True, help="Kostförmån hel dag.")
    @click.option("--benefit-lunch", type=Decimal, required=True, help="Lunch eller middag.")
    @click.option("--benefit-breakfast", type=Decimal, required=True, help="Frukost.")
    @click.option("--org", "org_name", default=None, help="One organization (default: all).")
    @click.option("--yes", is_flag=True, help="Confirm without asking.")
    def tax_year_set(
        year: int,
        price_base_amount: int,
        own_car: Decimal,
        company_car: Decimal,
        electric_company_car: Decimal,
        benefit_day: Decimal,
        benefit_lunch: Decimal,
        benefit_breakfast: Decimal,
        org_name: str | None,
        yes: bool,
    ) -> None:
        """Enter a year's values: shows the amounts that follow, asks, then applies them."""
        from webapp.models import Organization
        from webapp.services import tax_years
        from webapp.services.rates import meal_reductions

        data = tax_years.YearValuesInput(
            year, price_base_amount, own_car, company_car, electric_company_car,
            benefit_day, benefit_lunch, benefit_breakfast,
        )  # fmt: skip
        today = tax_years.today()
        try:
            rules = tax_years.check_values(data, today)
        except tax_years.TaxYearError as exc:
            raise click.ClickException(str(exc)) from exc
        dom = rules.domestic
        meals = meal_reductions(dom)
        click.echo(f"{year}: prisbasbelopp {price_base_amount} kr gives")
        click.echo(
            f"  full day {dom.full_day}, half day {dom.half_day}, night {dom.night}, "
            f"after 3 months {dom.after_3_months}, after 2 years {dom.after_2_years}"
        )
        click.echo(
            f"  meal reductions: breakfast {meals['breakfast']}, lunch or dinner "
            f"{meals['lunch_or_dinner']}, lunch and dinner {meals['lunch_and_dinner']}, "
            f"all three {meals['all_three']}"
        )
        click.echo(
            f"  mileage per mil: own car {own_car}, company car {company_car}, electric "
            f"company car {electric_company_car}; kostförmån: day {benefit_day}, lunch or "
            f"dinner {benefit_lunch}, breakfast {benefit_breakfast}"
        )
        with all_organizations():
            query = db.select(Organization).order_by(Organization.id)
            if org_name:
                query = query.where(Organization.name == org_name)
            organizations = list(db.session.scalars(query))
            if not organizations:
                raise click.ClickException(f"No organization {org_name!r}.")
            names = ", ".join(o.name for o in organizations)
            if not yes and not click.confirm(f"Apply these values for {year} to: {names}?"):
                click.echo("Nothing changed.")
                return
            for organization in organizations:
                tax_years.save_values(organization.id, data, today)
            db.session.commit()
        click.echo(f"Values for {year} apply to {len(organizations)} organization(s).")

    @tax_year.command("import-table")
    @click.option("--year", type=int, required=True)
    @click.option("--org", "org_name", required=True, help="The organization.")
    @click.option("--yes", is_flag=True, help="Save without asking.")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    def tax_year_import_table(year: int, org_name: str, yes: bool, path: str) -> None:
        """Import Skatteverket's foreign per-diem table (text or CSV) for an organization:
        shows what was read, asks, then saves it."""
        from pathlib import Path

        from webapp.models import Organization, Role, User
        from webapp.services import tax_years

        raw = Path(path).read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
        with all_organizations():
            organization = db.session.scalar(
                db.select(Organization).where(Organization.name == org_name)
            )
            if organization is None:
                raise click.ClickException(f"No organization {org_name!r}.")
            admin = db.session.scalar(
                db.select(User)
                .where(User.organization_id == organization.id, User.role == Role.ADMIN)
                .order_by(User.id)
                .limit(1)
            )
            if admin is None:
                raise click.ClickException(f"{org_name} has no admin to import as.")
            preview = tax_years.read_table(organization.id, year, text)
            click.echo(f"{preview.count} countries with amounts for {year}.")
            for change in preview.changes:
                click.echo(f"  {change.name}: {change.before} -> {change.after}")
            for number, line in preview.reading.not_understood:
                click.echo(f"  not understood (line {number}): {line}")
            if not yes and not click.confirm("Save this table?"):
                click.echo("Nothing changed.")
                return
            try:
                tax_years.import_table(admin, year, text, tax_years.today())
            except tax_years.TaxYearError as exc:
                raise click.ClickException(str(exc)) from exc
            db.session.commit()
        click.echo(f"Table for {year} saved.")

    @app.cli.command("nmbrs-soap-organizations")
    def nmbrs_soap_organizations() -> None:
        """How many organizations still reach Nmbrs with the SOAP API key (closed by Nmbrs on
        1 March 2027), and which: reach them so they connect with Nmbrs login."""
        from webapp.recipients.nmbrs import sunset

        with all_organizations():
            found = sunset.organizations_on_soap()
        when = sunset.SOAP_SHUTDOWN.isoformat()
        closed = "closed" if sunset.today() >= sunset.SOAP_SHUTDOWN else "closes"
        click.echo(
            f"{len(found)} organization(s) still on the Nmbrs SOAP API key "
            f"({sum(n for _, n in found)} recipient(s)); Nmbrs {closed} it on {when}."
        )
        for name, count in found:
            click.echo(f"  {name}: {count} recipient(s)")

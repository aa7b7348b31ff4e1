"""Flask CLI commands: `flask --app webapp create-admin | seed-demo | rotate-encryption-key |
purge-expired`. Each works across organizations and says so (`all_organizations`, see
webapp.tenancy): a command that forgot would meet the tenant guard's TenantNotStated."""

from __future__ import annotations

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

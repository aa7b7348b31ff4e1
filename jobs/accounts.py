"""RQ entry point for account e-mails. Thin: build the app, call the accounts service."""

from __future__ import annotations

from jobs.context import job_app


def send_password_reset(email: str) -> str:
    """Mail a reset link when `email` is someone's (enqueued by the "forgot password" form).
    The service states the organization once it has found whose the address is."""
    from webapp.extensions import db
    from webapp.services import accounts

    with job_app().app_context():
        try:
            accounts.send_password_reset(email)
            return "done"  # the same whether or not the address is someone's
        finally:
            db.session.remove()

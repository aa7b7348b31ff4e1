"""Who a request's user is: Flask-Login's user loader, and its variant for the sync progress
poll, which every open tab sends once a second.

The poll's variant reads the session, its user and organization, the recipient and the run in
one statement outside a transaction (one database round trip for the whole request, where the
loader and the view took four). It only ever accepts what the loader would: when the session
does not plainly count, is due to be marked as seen, or the run is to be reaped first, it
leaves the request to the loader and the view, which decide and write as for any request.
"""

from __future__ import annotations

from flask import current_app, flash, g, request, session
from flask_babel import gettext as _

from webapp import tenancy
from webapp.extensions import db
from webapp.models import ReportRecipient, SyncRun, User, UserSession
from webapp.models.base import utcnow
from webapp.services import sessions, sync

POLL_ENDPOINT = "settings.sync_progress"


def _parsed(user_id: str | None) -> tuple[int, int] | None:
    """The user's id and session version from Flask-Login's "<id>:<version>"."""
    uid, _sep, version = (user_id or "").partition(":")
    return (int(uid), int(version)) if uid.isdigit() and version.isdigit() else None


def load_user(user_id: str) -> User | None:
    """Flask-Login's loader: the user of a session that still counts on the server."""
    parsed = _parsed(user_id)
    if parsed is None:
        return None
    with tenancy.all_organizations():  # whose the user is, is what we are finding out
        live, reason = sessions.current(parsed[0], session.get("sid"))
    if live is None or live.user.session_version != parsed[1]:
        session.clear()
        if reason in ("idle", "expired"):
            flash(_("Du har loggats ut eftersom sessionen gick ut. Logga in igen."), "info")
        return None
    g.user_session = live
    return live.user


def load_poll() -> None:
    """For a progress poll: the user and the run at once (see the module docstring). Runs
    before anything asks for `current_user`; the view takes the run with `polled_progress`."""
    if request.endpoint != POLL_ENDPOINT or request.method != "GET" or not request.view_args:
        return
    parsed = _parsed(session.get("_user_id"))
    token = session.get("sid")
    # Flask-Login's session protection marks a session whose browser changed: the loader's path.
    identifier = current_app.login_manager._session_identifier_generator()  # type: ignore[attr-defined]
    if parsed is None or not token or session.get("_id") != identifier:
        return
    args = request.view_args
    with tenancy.all_organizations():
        # Reads only: no BEGIN and ROLLBACK around the one statement.
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        found = sync.polled(parsed[0], token, args["recipient_id"], args["run_id"])
    if found is None or not _as_the_loader_would(found[0], parsed[1]) or not sync.settled(found[2]):
        db.session.close()  # the usual path begins afresh, in a transaction
        return
    row, recipient, run = found
    g.user_session = row
    g._login_user = row.user  # where Flask-Login keeps the request's user
    g.polled_progress = (recipient, run)


def _as_the_loader_would(row: UserSession, version: int) -> bool:
    """Whether `load_user` would accept the session with nothing to write (see `current`)."""
    reason, seen = sessions.standing(row, utcnow())
    return reason is None and not seen and row.user.session_version == version


def polled_progress() -> tuple[ReportRecipient, SyncRun] | None:
    """The recipient and run `load_poll` found for this request, if it did."""
    found: tuple[ReportRecipient, SyncRun] | None = g.pop("polled_progress", None)
    return found

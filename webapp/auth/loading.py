"""Who a request's user is: Flask-Login's user loader. (Most polls of a sync's progress never
need it: webapp/polls.py answers them when there is nothing to decide or write.)"""

from __future__ import annotations

from flask import flash, g, session
from flask_babel import gettext as _

from webapp import tenancy
from webapp.models import User
from webapp.services import sessions


def parsed_user_id(user_id: str | None) -> tuple[int, int] | None:
    """The user's id and session version from Flask-Login's "<id>:<version>"."""
    uid, _sep, version = (user_id or "").partition(":")
    return (int(uid), int(version)) if uid.isdigit() and version.isdigit() else None


def load_user(user_id: str) -> User | None:
    """Flask-Login's loader: the user of a session that still counts on the server."""
    parsed = parsed_user_id(user_id)
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

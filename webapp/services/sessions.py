"""Sessions on the server: one `UserSession` row per login, which ends on logout, after
SESSION_IDLE_MINUTES without a request, SESSION_MAX_HOURS after the login, or when the user
ends it ("log out everywhere", a changed or reset password). A stolen cookie stops working
when its row does, not only when the browser forgets it."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.sql import Executable

from webapp.extensions import db
from webapp.models import User, UserSession
from webapp.models.base import rowcount, table_of, utcnow
from webapp.models.sync import aware

log = logging.getLogger(__name__)

# last_seen_at is written at most this often: a page with many htmx polls costs no writes.
TOUCH_EVERY = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(user: User, *, ip: str | None, user_agent: str | None, mfa_used: bool) -> str:
    """A new session for `user`; returns the token for the browser's cookie. Caller commits."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            organization_id=user.organization_id,
            user_id=user.id,
            token_hash=_hash(token),
            ip_address=(ip or "")[:45] or None,
            user_agent=(user_agent or "")[:200] or None,
            mfa_used=mfa_used,
        )
    )
    return token


def _limits() -> tuple[timedelta, timedelta]:
    cfg = current_app.config
    return timedelta(minutes=cfg["SESSION_IDLE_MINUTES"]), timedelta(hours=cfg["SESSION_MAX_HOURS"])


class Lifetime(Protocol):
    """What says whether a session still counts: a `UserSession`, or the columns a progress
    poll reads of it."""

    @property
    def ended_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def last_seen_at(self) -> datetime: ...


def expiry_reason(row: Lifetime, now: datetime) -> str | None:
    """ "idle" or "expired" when the session has run out, else None."""
    idle, absolute = _limits()
    if now - aware(row.created_at) >= absolute:
        return "expired"
    if now - aware(row.last_seen_at) >= idle:
        return "idle"
    return None


# Which row a cookie names: its token's hash and its user, bound by `cookie_params`. (The
# statements using it are built once: building one anew per request took longer than its
# round trip to the database.) Of the table's columns: the progress poll's Core statement uses
# it too (`sync.polled`).
OF_COOKIE = and_(
    table_of(UserSession).c.token_hash == bindparam("cookie_token_hash"),
    table_of(UserSession).c.user_id == bindparam("cookie_user_id"),
)
_CURRENT = (
    select(UserSession)
    .where(OF_COOKIE)
    .options(joinedload(UserSession.user).joinedload(User.organization))
)


def cookie_params(user_id: int, token: str) -> dict[str, Any]:
    return {"cookie_token_hash": _hash(token), "cookie_user_id": user_id}


def standing(row: Lifetime, now: datetime) -> tuple[str | None, bool]:
    """Why the session no longer counts ("ended", "idle", "expired"), None while it does; and
    whether this request is due to be written down as its last sign of life."""
    if row.ended_at is not None:
        return "ended", False
    reason = expiry_reason(row, now)
    if reason is not None:
        return reason, False
    return None, now - aware(row.last_seen_at) >= TOUCH_EVERY


def current(user_id: int, token: str | None) -> tuple[UserSession | None, str | None]:
    """The live session of user `user_id` for the cookie's `token` (its user and organization
    loaded with it, in one query), refreshed as seen now; or None and why it does not count
    ("ended", "idle", "expired", None for no such session)."""
    if not token:
        return None, None
    row = db.session.scalar(_CURRENT, cookie_params(user_id, token))
    if row is None:
        return None, None
    now = utcnow()
    reason, seen = standing(row, now)
    table = table_of(UserSession)
    if reason in ("idle", "expired"):
        _write(table.update().where(table.c.id == row.id).values(ended_at=now, end_reason=reason))
    elif seen:
        touch(row.id, now)
    return (row, None) if reason is None else (None, reason)


def touch(session_id: int, now: datetime) -> None:
    """Write down a request as the session's last sign of life (due every TOUCH_EVERY)."""
    table = table_of(UserSession)
    _write(table.update().where(table.c.id == session_id).values(last_seen_at=now))


def _write(statement: Executable) -> None:
    # On a connection of its own: a page that only reads still keeps its session alive, and
    # the view's own unit of work is neither committed nor waited for.
    with db.engine.begin() as conn:
        conn.execute(statement)


def end(row: UserSession, reason: str) -> None:
    """End one session. Caller commits."""
    if row.ended_at is None:
        row.ended_at = utcnow()
        row.end_reason = reason


def end_all(user: User, reason: str, keep: int | None = None) -> int:
    """End every live session of `user` (except `keep`); returns how many. Caller commits."""
    stmt = (
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    return rowcount(db.session.execute(stmt))


def active(user: User) -> list[UserSession]:
    """The user's sessions that still count, newest first."""
    now = utcnow()
    rows = db.session.scalars(
        db.select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    return [row for row in rows if expiry_reason(row, now) is None]


def get(user: User, session_id: int) -> UserSession | None:
    row = db.session.get(UserSession, session_id)
    return row if row is not None and row.user_id == user.id else None

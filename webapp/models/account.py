"""What keeps a person's login safe: server-side sessions, e-mailed one-time links, and the
recovery codes of the second factor. Tokens and codes are stored only as SHA-256 hashes."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import Model
from webapp.models.base import string_enum, utcnow
from webapp.models.organization import User


class UserSession(Model):
    """One login in one browser. The browser's signed cookie holds a random token; this row
    holds its hash and decides whether the session still counts (idle and absolute limits,
    logout, "log out everywhere", a changed password)."""

    __tenant__ = "organization_id"  # the tenant guard filters on it (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # logout, everywhere, password_changed, password_reset, idle, expired, mfa_reset, erased
    end_reason: Mapped[str | None] = mapped_column(String(30))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    mfa_used: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship()


class TokenPurpose(enum.StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"


class AccountToken(Model):
    """A single-use, time-limited link e-mailed to a person: an invitation to choose a
    password, or a password reset."""

    __tenant__ = "organization_id"  # the tenant guard filters on it (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(string_enum(TokenPurpose))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class RecoveryCode(Model):
    """A one-time code that stands in for the authenticator app when the phone is lost."""

    __tenant__ = "user"  # owned through its user (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()

"""Organizations and the people who log in to them."""

from __future__ import annotations

import enum
import functools
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, String, Text, false, func
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp import tenancy
from webapp.extensions import Model, db
from webapp.models.base import TimestampMixin, string_enum
from webapp.models.sealed import Sealed


@functools.cache
def _unusable_hash() -> str:
    # Compared against when a user has no password yet, so that both cases take as long.
    return generate_password_hash("brygga: no password chosen yet")


class Role(enum.StrEnum):
    ADMIN = "admin"
    APPROVER = "approver"
    EMPLOYEE = "employee"


class Organization(TimestampMixin, Model):
    __tenant__ = "id"  # the tenant guard filters on it (webapp.tenancy)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Admins and approvers must use a second factor (TOTP) to log in.
    mfa_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    users: Mapped[list[User]] = relationship(back_populates="organization")

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.name!r}>"


class User(UserMixin, TimestampMixin, Model):
    __tenant__ = "organization_id"  # the tenant guard filters on it (webapp.tenancy)
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # None until the invited person has chosen a password: no login works without one.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    employee_number: Mapped[str | None] = mapped_column(String(50))
    role: Mapped[Role] = mapped_column(string_enum(Role), default=Role.EMPLOYEE)
    # Changes on password change and logout, so old session cookies stop working.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # The second factor (TOTP, RFC 6238): the secret, bound to this row (webapp.models.sealed);
    # enabled once a first code confirmed it; the last time step used, so a code is used once.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(Text, info={"encrypted": True})
    totp_enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    totp_secret = Sealed("totp_secret_encrypted")

    organization: Mapped[Organization] = relationship(back_populates="users")

    @staticmethod
    def normalise_email(email: str) -> str:
        return email.strip().lower()

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        if self.password_hash is None:
            return self.check_no_password(password)
        return check_password_hash(self.password_hash, password)

    @staticmethod
    def check_no_password(password: str) -> bool:
        """False, after as long as a real check takes (no account, or no password yet)."""
        check_password_hash(_unusable_hash(), password)
        return False

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @property
    def mfa_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def must_use_mfa(self) -> bool:
        """The organization requires a second factor of admins and approvers."""
        return self.organization.mfa_required and self.can_approve

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_approve(self) -> bool:
        return self.role in (Role.ADMIN, Role.APPROVER)

    @classmethod
    def by_email(cls, email: str) -> User | None:
        """The user with this e-mail in any organization (addresses are unique across all)."""
        with tenancy.all_organizations():
            return db.session.scalar(
                db.select(cls).where(func.lower(cls.email) == cls.normalise_email(email))
            )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r} {self.role}>"

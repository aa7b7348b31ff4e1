"""Organizations and the people who log in to them."""

from __future__ import annotations

import enum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.models.base import TimestampMixin, string_enum


class Role(enum.StrEnum):
    ADMIN = "admin"
    APPROVER = "approver"
    EMPLOYEE = "employee"


class Organization(TimestampMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)

    users: Mapped[list[User]] = relationship(back_populates="organization")

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.name!r}>"


class User(UserMixin, TimestampMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    employee_number: Mapped[str | None] = mapped_column(String(50))
    role: Mapped[Role] = mapped_column(string_enum(Role), default=Role.EMPLOYEE)
    # Changes on password change and logout, so old session cookies stop working.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")

    organization: Mapped[Organization] = relationship(back_populates="users")

    @staticmethod
    def normalise_email(email: str) -> str:
        return email.strip().lower()

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

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
        return db.session.scalar(
            db.select(cls).where(func.lower(cls.email) == cls.normalise_email(email))
        )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r} {self.role}>"

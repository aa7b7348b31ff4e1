"""What Brygga keeps of a payroll program's catalogues, synced from Nmbrs.

Rows are never deleted: an item that disappears from Nmbrs is archived, because settings,
mappings and sent transfers point at it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from webapp.extensions import Model
from webapp.models.base import utcnow
from webapp.models.organization import User
from webapp.models.recipient import ReportRecipient


class CatalogItem:
    __tenant__ = "recipient"  # owned through its recipient (webapp.tenancy)
    id: Mapped[int] = mapped_column(primary_key=True)
    # The SOAP id (for wage types: the wage code). None for an item first seen over REST.
    nmbrs_id: Mapped[int | None] = mapped_column(Integer)
    # The item's GUID in Nmbrs' REST API, once the recipient has moved to REST (for wage types,
    # which REST also keys by code: the code as text).
    rest_id: Mapped[str | None] = mapped_column(String(36))
    code: Mapped[str] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(String(300), default="")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @declared_attr
    def recipient_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("report_recipient.id"), index=True)

    @declared_attr
    def recipient(cls) -> Mapped[ReportRecipient]:
        return relationship()

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return (
            UniqueConstraint("recipient_id", "nmbrs_id"),
            UniqueConstraint(
                "recipient_id",
                "rest_id",
                name=f"uq_{cls.__tablename__}_rest_id",  # type: ignore[attr-defined]
            ),
        )

    @property
    def label(self) -> str:
        return f"{self.code} {self.description}".strip()


class WageType(CatalogItem, Model):
    """Löneart."""


class CostUnit(CatalogItem, Model):
    """Kostnadsenhet."""


class CostCenter(CatalogItem, Model):
    """Kostnadsställe."""


class Department(CatalogItem, Model):
    """Avdelning (belongs to the Nmbrs debtor)."""


class PayrollEmployee(CatalogItem, Model):
    """An employee in Nmbrs; `code` is the employee number. Mapped to a Brygga user."""

    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # "auto" when matched on employee number, "manual" when an admin chose; manual wins.
    mapping_source: Mapped[str | None] = mapped_column(String(10))

    user: Mapped[User | None] = relationship()

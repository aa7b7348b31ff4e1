"""Who did what to which object, and when. Never holds a secret."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import Model
from webapp.models.base import utcnow
from webapp.models.organization import Organization, User


class AuditEvent(Model):
    __tenant__ = "organization_id"  # the tenant guard filters on it (webapp.tenancy)
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # e.g. "recipient.created", "nmbrs.key_replaced", "auth.login"
    action: Mapped[str] = mapped_column(String(80))
    object_type: Mapped[str | None] = mapped_column(String(80))
    object_id: Mapped[str | None] = mapped_column(String(80))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    organization: Mapped[Organization | None] = relationship()
    actor: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_audit_event_org_created", "organization_id", "created_at"),)

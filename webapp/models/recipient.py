"""Report recipients (rapportmottagare): where approved expense reports are sent."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import Model
from webapp.models.base import TimestampMixin, string_enum, utcnow
from webapp.models.organization import Organization, User
from webapp.models.sealed import Sealed


class RecipientKind(enum.StrEnum):
    """The keys of the kinds Brygga ships with. A recipient stores its kind's key as text: any
    registered kind (webapp.recipients) may be stored, with no change here."""

    NMBRS = "nmbrs"
    PAXML = "paxml"


class RecipientStatus(enum.StrEnum):
    ACTIVE = "active"
    REPLACED = "replaced"
    REMOVED = "removed"


class KeyStatus(enum.StrEnum):
    OK = "ok"
    REJECTED = "rejected"


class NmbrsApi(enum.StrEnum):
    """Which Nmbrs API a connection talks to: the SOAP API key, or REST with OAuth consent."""

    SOAP = "soap"
    REST = "rest"


class ReportRecipient(TimestampMixin, Model):
    __tenant__ = "organization_id"  # the tenant guard filters on it (webapp.tenancy)
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # the key of its kind (webapp.recipients)
    display_name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[RecipientStatus] = mapped_column(
        string_enum(RecipientStatus), default=RecipientStatus.ACTIVE
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # History: a replaced recipient points at the one that took its place.
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("report_recipient.id"))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Per catalogue, a hash of what the last successful sync fetched (and the item count): a
    # catalogue whose content did not change is not diffed again. "employees" also covers the
    # organization's employee numbers, on which the matching depends.
    catalogue_hashes: Mapped[dict | None] = mapped_column(JSON)

    organization: Mapped[Organization] = relationship()
    created_by: Mapped[User | None] = relationship()
    replaced_by: Mapped[ReportRecipient | None] = relationship(remote_side=[id])
    nmbrs: Mapped[NmbrsConnection | None] = relationship(
        back_populates="recipient", uselist=False, cascade="all, delete-orphan"
    )
    paxml: Mapped[PaxmlSettings | None] = relationship(
        back_populates="recipient", uselist=False, cascade="all, delete-orphan"
    )
    pay_item_settings: Mapped[list[PayItemSetting]] = relationship(
        back_populates="recipient", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:
        return self.status == RecipientStatus.ACTIVE


class NmbrsConnection(Model):
    """How Brygga reaches one Nmbrs account. Its secrets are stored encrypted and bound to this
    row (`token`, `oauth_tokens`: see webapp.models.sealed), never in plaintext."""

    __tenant__ = "recipient"  # owned through its recipient (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("report_recipient.id"), unique=True)
    environment: Mapped[str] = mapped_column(String(20))  # se, nl, sandbox
    username: Mapped[str] = mapped_column(String(254))  # the Nmbrs login e-mail
    # The SOAP API key. Kept after a move to REST until Nmbrs retires SOAP (1 March 2027).
    token_encrypted: Mapped[str | None] = mapped_column(Text, info={"encrypted": True})
    token_last4: Mapped[str | None] = mapped_column(String(4))
    domain: Mapped[str | None] = mapped_column(String(100))
    debtor_id: Mapped[int | None] = mapped_column(Integer)
    company_id: Mapped[int | None] = mapped_column(Integer)
    company_name: Mapped[str | None] = mapped_column(String(200))
    key_status: Mapped[KeyStatus] = mapped_column(string_enum(KeyStatus), default=KeyStatus.OK)
    key_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    key_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    api: Mapped[NmbrsApi] = mapped_column(
        string_enum(NmbrsApi), default=NmbrsApi.SOAP, server_default=NmbrsApi.SOAP.value
    )
    # REST: the OAuth token pair as encrypted JSON, and the GUIDs of the debtor and company.
    oauth_tokens_encrypted: Mapped[str | None] = mapped_column(Text, info={"encrypted": True})
    token = Sealed("token_encrypted")  # the SOAP API key, in plaintext for the code
    oauth_tokens = Sealed("oauth_tokens_encrypted")  # the OAuth token pair as JSON
    consent_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consent_status: Mapped[str | None] = mapped_column(String(20))  # ok, expired, revoked
    rest_debtor_id: Mapped[str | None] = mapped_column(String(36))
    rest_company_id: Mapped[str | None] = mapped_column(String(36))

    recipient: Mapped[ReportRecipient] = relationship(back_populates="nmbrs")

    @property
    def masked_token(self) -> str:
        return "••••" + (self.token_last4 or "")


class PaxmlSettings(Model):
    """A file-based recipient: a PAXml 2.0 file the admin imports into the payroll program."""

    __tenant__ = "recipient"  # owned through its recipient (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("report_recipient.id"), unique=True)
    program_name: Mapped[str | None] = mapped_column(String(100))  # Fortnox Lön, Crona, …
    encoding: Mapped[str] = mapped_column(String(20), default="UTF-8")

    recipient: Mapped[ReportRecipient] = relationship(back_populates="paxml")


class PayItemSetting(Model):
    """Avancerade inställningar: is this kind of value sent, and on which wage type?

    For Nmbrs `wage_code` is a synced wage type's code; for PAXml it is the receiver's own
    löneart, and empty means the standard PAXml lönekod.
    """

    __tenant__ = "recipient"  # owned through its recipient (webapp.tenancy)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("report_recipient.id"), index=True)
    item: Mapped[str] = mapped_column(String(60))  # a webapp.payitems.PayItem value
    included: Mapped[bool] = mapped_column(Boolean, default=True)
    wage_code: Mapped[str | None] = mapped_column(String(50))

    recipient: Mapped[ReportRecipient] = relationship(back_populates="pay_item_settings")

    __table_args__ = (UniqueConstraint("recipient_id", "item"),)

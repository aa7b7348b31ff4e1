"""All models, imported here so that Alembic and the app see every table."""

from webapp.models.account import AccountToken, RecoveryCode, TokenPurpose, UserSession
from webapp.models.audit import AuditEvent
from webapp.models.catalog import (
    CostCenter,
    CostUnit,
    Department,
    PayrollEmployee,
    WageType,
)
from webapp.models.expense import (
    AllowancePolicy,
    ExpenseLine,
    ExpenseReport,
    ForeignPerDiemTable,
    LineKind,
    Receipt,
    ReportStatus,
    TaxYearReminder,
    TaxYearValues,
)
from webapp.models.organization import Organization, Role, User
from webapp.models.recipient import (
    KeyStatus,
    NmbrsApi,
    NmbrsConnection,
    PaxmlSettings,
    PayItemSetting,
    RecipientKind,
    RecipientStatus,
    ReportRecipient,
)
from webapp.models.sync import SyncAlert, SyncRun, SyncStatus, SyncTrigger
from webapp.models.transfer import (
    LineStatus,
    Transfer,
    TransferLine,
    TransferReport,
    TransferStatus,
)

__all__ = [
    "AccountToken",
    "RecoveryCode",
    "TokenPurpose",
    "UserSession",
    "AllowancePolicy",
    "ExpenseLine",
    "ExpenseReport",
    "ForeignPerDiemTable",
    "TaxYearReminder",
    "TaxYearValues",
    "LineKind",
    "Receipt",
    "ReportStatus",
    "AuditEvent",
    "CostCenter",
    "CostUnit",
    "Department",
    "KeyStatus",
    "NmbrsApi",
    "NmbrsConnection",
    "Organization",
    "PaxmlSettings",
    "PayItemSetting",
    "PayrollEmployee",
    "RecipientKind",
    "RecipientStatus",
    "ReportRecipient",
    "Role",
    "SyncAlert",
    "SyncRun",
    "SyncStatus",
    "SyncTrigger",
    "LineStatus",
    "Transfer",
    "TransferLine",
    "TransferReport",
    "TransferStatus",
    "User",
    "WageType",
]

"""All models, imported here so that Alembic and the app see every table."""

from webapp.models.audit import AuditEvent
from webapp.models.organization import Organization, Role, User

__all__ = ["AuditEvent", "Organization", "Role", "User"]

"""Recording audit events: the one way every change leaves a trace."""

from __future__ import annotations

from typing import Any

from webapp.extensions import db
from webapp.models import AuditEvent, User

# Keys whose values must never reach the audit log, whatever a caller passes.
_SECRET_KEYS = {"token", "api_key", "password", "secret", "refresh_token", "access_token"}


def record(
    action: str,
    *,
    actor: User | None,
    organization_id: int | None,
    obj: Any = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the session; the caller's commit makes it durable with the change."""
    leaked = _SECRET_KEYS & set(details)
    if leaked:
        raise ValueError(f"audit details must not contain secrets: {sorted(leaked)}")
    event = AuditEvent(
        action=action,
        actor_id=actor.id if actor is not None else None,
        organization_id=organization_id,
        object_type=type(obj).__name__ if obj is not None else None,
        object_id=str(obj.id) if obj is not None and getattr(obj, "id", None) else None,
        details=details,
    )
    db.session.add(event)
    return event


def record_many(
    action: str,
    *,
    actor: User | None,
    organization_id: int | None,
    object_type: str,
    object_ids: list[int],
    **details: Any,
) -> None:
    """One event per object, written with one INSERT (a transfer of 500 reports records 500
    "report.transferred" events: not 500 round trips). Joins the caller's transaction."""
    if not object_ids:
        return
    leaked = _SECRET_KEYS & set(details)
    if leaked:
        raise ValueError(f"audit details must not contain secrets: {sorted(leaked)}")
    from webapp.models.base import insert_rows, table_of, utcnow

    insert_rows(
        db.session.connection(),
        table_of(AuditEvent),
        ("object_id",),
        [(str(object_id),) for object_id in object_ids],
        action=action,
        actor_id=actor.id if actor is not None else None,
        organization_id=organization_id,
        object_type=object_type,
        details=details,
        created_at=utcnow(),
    )

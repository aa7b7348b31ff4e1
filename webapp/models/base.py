"""Column helpers shared by the models."""

import enum
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, DateTime, Enum, Result, Table
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def string_enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    """An enum stored as its plain string values: a new member needs no database type change."""
    return Enum(
        cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched (a CursorResult's, typed for the checker)."""
    return cast(CursorResult[Any], result).rowcount or 0


def table_of(model: Any) -> Table:
    """A model's table, typed as the `Table` it is (for Core statements: bulk inserts and
    updates that skip the ORM)."""
    return cast(Table, model.__table__)

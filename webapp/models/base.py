"""Column helpers shared by the models."""

import enum
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, DateTime, Enum, Result, Table
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


def insert_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: list, **same: Any
) -> None:
    """Insert `rows` (tuples, in the order of `columns`; `same`: values every row has) with one
    driver-level executemany.

    For thousands of rows: SQLAlchemy's own executemany builds and converts a dict per row,
    which cost more than the database's work (10,000 transfer lines, measured). Each column's
    values still go through its type's conversion for this database (dates, enums, booleans,
    JSON), column by column."""
    if not rows:
        return
    if len(rows[0]) != len(columns):
        raise ValueError(f"rows of {len(rows[0])} values for {len(columns)} columns")
    dialect = connection.dialect
    placeholder = {"qmark": "?", "format": "%s", "pyformat": "%s"}[dialect.paramstyle]
    quote = dialect.identifier_preparer
    targets = [table.c[name] for name in (*columns, *same)]
    # Python-side defaults are SQLAlchemy's to apply, and it is not asked here.
    given = {*columns, *same}
    defaulted = [c.name for c in table.c if c.default is not None and c.name not in given]
    if defaulted:
        raise ValueError(f"columns with defaults need values: {defaulted}")
    sql = (
        f"INSERT INTO {quote.format_table(table)} "
        f"({', '.join(quote.format_column(c) for c in targets)}) "
        f"VALUES ({', '.join([placeholder] * len(targets))})"
    )

    def converter(name: str) -> Any:
        return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)

    values: list[Any] = list(zip(*rows, strict=True))
    for i, name in enumerate(columns):
        if convert := converter(name):
            values[i] = _converted(convert, values[i])
    for name, value in same.items():
        convert = converter(name)
        values.append([convert(value) if convert else value] * len(rows))
    connection.exec_driver_sql(sql, list(zip(*values, strict=True)))


# Types whose equal values convert alike (not so 1 and True, or Decimal 1.0 and 1.00).
_PLAIN = (bool, int, str, date, enum.Enum)


def _converted(convert: Any, values: Sequence[Any]) -> list[Any]:
    """`convert` applied to each value: once per distinct value when they are all of one plain
    type (the same few dates and statuses over 10,000 lines)."""
    types = set(map(type, values)) - {type(None)}
    if len(types) == 1 and issubclass(kind := types.pop(), _PLAIN) and kind is not datetime:
        once = {v: convert(v) for v in set(values)}
        return list(map(once.__getitem__, values))
    return [convert(v) for v in values]

"""Column helpers shared by the models."""

import enum
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, DateTime, Enum, Executable, Result, Select, Table
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
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
    # Python-side defaults are SQLAlchemy's to apply, and it is not asked here.
    given = {*columns, *same}
    defaulted = [c.name for c in table.c if c.default is not None and c.name not in given]
    if defaulted:
        raise ValueError(f"columns with defaults need values: {defaulted}")
    values: list[Any] = list(zip(*rows, strict=True))
    # A column None in every row, without a default, whose type stores None as NULL, is left
    # to the database: each value bound costs, whatever it is (10,000 transfer lines, measured).
    kept = [
        i
        for i, name in enumerate(columns)
        if values[i].count(None) < len(rows)
        or table.c[name].default is not None
        or table.c[name].server_default is not None
        or table.c[name].type.should_evaluate_none  # JSON: None is the JSON null
    ]
    columns = [columns[i] for i in kept]
    values = [values[i] for i in kept]
    targets = [table.c[name] for name in (*columns, *same)]
    sql = (
        f"INSERT INTO {quote.format_table(table)} "
        f"({', '.join(quote.format_column(c) for c in targets)}) "
        f"VALUES ({', '.join([placeholder] * len(targets))})"
    )

    def converter(name: str) -> Any:
        return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)

    for i, name in enumerate(columns):
        if convert := converter(name):
            values[i] = _converted(convert, values[i])
    for name, value in same.items():
        convert = converter(name)
        values.append([convert(value) if convert else value] * len(rows))
    connection.exec_driver_sql(sql, list(zip(*values, strict=True)))


def update_by_ids(
    connection: Connection,
    table: Table,
    ids: Sequence[int],
    values: dict[str, Any],
    *,
    increment: Sequence[str] = (),
) -> int:
    """Give the rows with these ids (the `id` column) the same `values` and add one to each
    column of `increment`, with driver-level UPDATEs of up to 500 ids each; returns how many
    rows changed.

    For a transfer's batches of 500 lines: SQLAlchemy renders an expanding IN of 500 ids anew
    for every statement, which cost more than the database's work (measured). Each value still
    goes through its column's type's conversion for this database."""
    dialect = connection.dialect
    placeholder = {"qmark": "?", "format": "%s", "pyformat": "%s"}[dialect.paramstyle]
    quote = dialect.identifier_preparer
    assignments, params = [], []
    for name, value in values.items():
        column = table.c[name]
        convert = column.type.dialect_impl(dialect).bind_processor(dialect)
        assignments.append(f"{quote.format_column(column)} = {placeholder}")
        params.append(convert(value) if convert else value)
    for name in increment:
        quoted = quote.format_column(table.c[name])
        assignments.append(f"{quoted} = {quoted} + 1")
    prefix = (
        f"UPDATE {quote.format_table(table)} SET {', '.join(assignments)} "
        f"WHERE {quote.format_column(table.c.id)} IN ("
    )
    changed = 0
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        sql = prefix + ", ".join([placeholder] * len(chunk)) + ")"
        result = connection.exec_driver_sql(sql, tuple(params + chunk))
        changed += result.rowcount or 0
    return changed


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


class _Compiled:
    def __init__(
        self,
        sql: str,
        defaults: dict[str, Any],
        positions: Sequence[str] | None,
        binds: dict[str, Any],
        results: list[Any],
    ) -> None:
        self.sql = sql
        self.defaults = defaults  # the statement's own values (a status it compares with)
        self.positions = positions  # a positional driver's order (SQLite's ?), else None
        self.binds = binds
        self.results = results

    def bound(self, params: dict[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
        values = self.defaults | params
        converted = {
            name: convert(value) if (convert := self.binds.get(name)) else value
            for name, value in values.items()
        }
        if self.positions is None:
            return converted
        return tuple(converted[name] for name in self.positions)

    def row(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """A row as the driver gave it, each column converted by its type."""
        return tuple(
            convert(value) if convert else value
            for convert, value in zip(self.results, values, strict=True)
        )


class DriverStatement:
    """A statement run for every batch of a transfer, on the caller's connection (in its
    transaction) at driver level: compiled once per database, each parameter and column
    converted by its type for that database, as SQLAlchemy converts them.

    SQLAlchemy's execution of a compiled statement (its cache key, execution context and
    result) cost more per batch than the database's work did (measured: a transfer's claim
    of one row cost more than the UPDATE of its 500 lines). Its columns' types must convert
    alike whatever the driver's type code (no Numeric: SQLAlchemy reads that code for it,
    this does not)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[Dialect, _Compiled] = {}

    def rowcount(self, connection: Connection, params: dict[str, Any]) -> int:
        """Run it (an UPDATE or DELETE) with `params` (its named bind parameters): how many
        rows it touched."""
        return self._run(connection, params).rowcount or 0

    def rows(self, connection: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run it (a SELECT) with `params`: every row, as plain tuples."""
        compiled = self._compiled_for(connection.dialect)
        rows = connection.exec_driver_sql(compiled.sql, compiled.bound(params)).all()
        if not any(compiled.results):
            return rows  # type: ignore[return-value]  # Rows are tuples
        return [compiled.row(row) for row in rows]

    def _run(self, connection: Connection, params: dict[str, Any]) -> CursorResult[Any]:
        compiled = self._compiled_for(connection.dialect)
        return connection.exec_driver_sql(compiled.sql, compiled.bound(params))

    def _compiled_for(self, dialect: Dialect) -> _Compiled:
        return self._compiled.get(dialect) or self._compile(dialect)

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        binds = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        results = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in getattr(self.statement, "selected_columns", ())
        ]
        made = _Compiled(compiled.string, compiled.params, compiled.positiontup, binds, results)
        self._compiled[dialect] = made
        return made


class QuickSelect(DriverStatement):
    """A SELECT of one row that is asked very often (a sync's progress, by every open tab once
    a second), run at driver level outside a transaction (no BEGIN and ROLLBACK around it)
    (`DriverStatement`: SQLAlchemy's own execution cost the web process more than the driver's
    round trip did, measured)."""

    statement: Select

    def first(self, engine: Engine, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row for `params` (the statement's named bind parameters), or None."""
        dialect = engine.dialect
        compiled = self._compiled_for(dialect)
        raw = engine.raw_connection()  # the pool's checks and reset, as for any connection
        dbapi_connection = cast(DBAPIConnection, raw.dbapi_connection)  # checked out: never None
        cursor = None
        try:
            dialect.set_isolation_level(dbapi_connection, "AUTOCOMMIT")
            try:
                cursor = raw.cursor()
                cursor.execute(compiled.sql, compiled.bound(params))
                row = cursor.fetchone()
            finally:
                dialect.reset_isolation_level(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, cursor):
                raw.invalidate(error)  # not handed out again, as SQLAlchemy's execution does
            raise
        finally:
            if cursor is not None:
                cursor.close()
            raw.close()
        return None if row is None else compiled.row(row)

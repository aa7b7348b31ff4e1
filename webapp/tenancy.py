"""The tenant guard: every query sees one organization's rows, unless the code says otherwise.

Brygga's customers share one database. Every model owned by an organization says how it is
owned (`__tenant__`): `"organization_id"` for a row with its own column, or the name of the
relationship to the row that owns it (a payroll employee belongs to a recipient, which belongs
to an organization). A `do_orm_execute` hook adds `with_loader_criteria` for every such model
to every ORM SELECT, UPDATE and DELETE, so a forgotten `organization_id` filter returns
nothing of another customer instead of everything. (A plain SELECT that already keeps every
owned table it names to the organization, by its own `organization_id == <this organization>`
AND-ed into its WHERE, runs as written: the criteria would change nothing.)

Who states the organization:
- a request: the logged-in user's organization; an anonymous request sees no organization's
  rows (`webapp.auth.sessions` states it, see `register`);
- a job: its entry point, from the row it was given (`tenant_of(SyncRun, run_id)`);
- CLI commands and the clock, which work across organizations: `all_organizations()`.
Code that states nothing gets `TenantNotStated` at its first query of an owned model, so a
new entry point cannot silently see everyone. Inserts and changes are checked at flush too.

Limits (by design of the ORM): a Core statement on a `Table` is not filtered, and
`session.get()` of an object already in the identity map runs no query.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, Table, event, false, inspect
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.cache_key import CacheKey
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    ClauseElement,
    ColumnClause,
    ColumnElement,
)
from sqlalchemy.sql.selectable import FromClause, SelectBase

DIRECT = "organization_id"  # the model has its own organization_id column
ITSELF = "id"  # the Organization model: its own id


class TenantNotStated(RuntimeError):
    """Code queried an organization's rows without saying whose (see the module docstring)."""


class TenantMismatch(RuntimeError):
    """Code tried to write a row of another organization than the one it stated."""


@dataclass(frozen=True)
class Scope:
    """Whose rows the code may see: one organization, none (None), or every one."""

    organization_id: int | None
    every_organization: bool = False


_scope: ContextVar[Scope | None] = ContextVar("brygga_tenant_scope", default=None)


def current() -> Scope | None:
    return _scope.get()


def current_organization_id() -> int | None:
    scope = _scope.get()
    return scope.organization_id if scope is not None else None


def enter(scope: Scope) -> Token[Scope | None]:
    """Set the scope until `leave(token)` (for request hooks; code uses the context managers)."""
    return _scope.set(scope)


def leave(token: Token[Scope | None]) -> None:
    _scope.reset(token)


@contextlib.contextmanager
def tenant(organization_id: int | None) -> Iterator[None]:
    """Within the block, queries see only this organization's rows (None: nobody's)."""
    token = _scope.set(Scope(organization_id))
    try:
        yield
    finally:
        _scope.reset(token)


@contextlib.contextmanager
def all_organizations() -> Iterator[None]:
    """Within the block, queries see every organization: the clock, CLI commands, and the
    few lookups that must precede knowing the organization (a login by e-mail)."""
    token = _scope.set(Scope(None, every_organization=True))
    try:
        yield
    finally:
        _scope.reset(token)


@contextlib.contextmanager
def tenant_of(model: type, row_id: Any) -> Iterator[int | None]:
    """Scope the block to the organization that owns `model` row `row_id` (a job's entry point
    states its organization from the row it was given). A missing row: nobody's rows."""
    from webapp.extensions import db

    with all_organizations():
        row = db.session.get(model, row_id)
        organization_id = owner_organization_id(row) if row is not None else None
    with tenant(organization_id):
        yield organization_id


def owner_organization_id(row: Any) -> int | None:
    """The organization a row belongs to, following `__tenant__` up to the owning row."""
    path = getattr(type(row), "__tenant__", None)
    while path not in (DIRECT, ITSELF):
        if path is None:
            raise TypeError(f"{type(row).__name__} is not owned by an organization")
        row = getattr(row, path)
        if row is None:
            return None
        path = getattr(type(row), "__tenant__", None)
    return getattr(row, path)


def owned_models(registry: Any) -> list[type]:
    return [m.class_ for m in registry.mappers if getattr(m.class_, "__tenant__", None)]


def criteria(model: type, organization_id: int) -> ColumnElement[bool]:
    """The WHERE clause that keeps `model` to one organization's rows."""
    path = model.__tenant__  # type: ignore[attr-defined]
    if path in (DIRECT, ITSELF):
        return getattr(model, path) == organization_id
    relationship = getattr(model, path)
    parent = relationship.property.mapper.class_
    return relationship.has(criteria(parent, organization_id))


@dataclass(frozen=True)
class _Shape:
    """What the guard needs to know of one statement shape (SQLAlchemy's cache key: the same
    SQL but for the bound values)."""

    touched: tuple[type, ...]  # the owned models whose tables it names
    # Where each touched model's own `organization_id == :value` is among the bound values,
    # when the statement filters every one of them by itself; None otherwise.
    own_filters: tuple[int, ...] | None


_SHAPES: dict[Any, _Shape] = {}
_MAX_SHAPES = 4096  # well above the app's statement shapes; a runaway just starts over


def _shape(state: ORMExecuteState, owned: dict[str, type]) -> tuple[_Shape, CacheKey | None]:
    # The cache key is memoized on the statement and SQLAlchemy reuses it to find the compiled
    # SQL, so a statement executed as written pays for one walk, shared with the engine.
    key = cast(ClauseElement, state.statement)._generate_cache_key()
    shape = _SHAPES.get(key.key) if key is not None else None
    if shape is None:
        touched, flat = _touched(state, owned)
        own = _own_filters(cast(Select, state.statement), touched, key, owned) if flat else None
        shape = _Shape(tuple(touched), own)
        if key is not None:
            if len(_SHAPES) >= _MAX_SHAPES:
                _SHAPES.clear()
            _SHAPES[key.key] = shape
    return shape, key


def _touched(state: ORMExecuteState, owned: dict[str, type]) -> tuple[list[type], bool]:
    """The owned models whose tables the statement names: its entities, FROMs, joins and
    subqueries; and whether it is flat (a SELECT of plain tables: no joins, aliases or
    subqueries). (A table reached only through a relationship join or eager load needs no
    criteria of its own: it is reached from a row the criteria already keep to one
    organization, and rows only point at rows of their own organization.)"""
    statement = cast(ClauseElement, state.statement)
    tables = {cast(Table, m.local_table).name for m in state.all_mappers}
    flat = isinstance(statement, Select)
    for element in visitors.iterate(statement):  # inside joins, aliases and subqueries too
        if isinstance(element, Table):
            tables.add(element.name)
        elif element is not statement and isinstance(element, (FromClause, SelectBase)):
            flat = False
    target = getattr(statement, "table", None) if state.is_update or state.is_delete else None
    if isinstance(target, Table):
        tables.add(target.name)
    return [owned[name] for name in sorted(tables) if name in owned], flat


def _own_filters(
    statement: Select, touched: list[type], key: CacheKey | None, owned: dict[str, type]
) -> tuple[int, ...] | None:
    """For a flat SELECT: where each touched model's own `organization_id == :value` is among
    the cache key's bound values, when every one has such a term AND-ed into the WHERE (as
    Brygga's queries have always been written); None otherwise."""
    if key is None:
        return None
    terms = list(statement._where_criteria)
    filters: dict[Table, BindParameter] = {}
    while terms:
        term = terms.pop()
        if isinstance(term, BooleanClauseList) and term.operator is operators.and_:
            terms.extend(term.clauses)
        elif (
            isinstance(term, BinaryExpression)
            and term.operator is operators.eq
            and isinstance(term.left, ColumnClause)
            and isinstance(term.left.table, Table)
            and isinstance(term.right, BindParameter)
            and not term.right.expanding
        ):
            path = getattr(owned.get(term.left.table.name), "__tenant__", None)
            if path in (DIRECT, ITSELF) and term.left.name == path:
                filters[term.left.table] = term.right
    positions = []
    for model in touched:
        bind = filters.get(cast(Table, inspect(model).local_table))
        found = [i for i, b in enumerate(key.bindparams) if b is bind]
        if bind is None or len(found) != 1:
            return None
        positions.append(found[0])
    return tuple(positions)


def _filtered_already(
    shape: _Shape, key: CacheKey | None, organization_id: int | None, given: Any
) -> bool:
    """Whether this execution of the statement keeps every touched model to the organization
    by itself, so that the guard's criteria would add nothing. `given`: the values passed at
    execution. A statement built once names the organization with a `bindparam` and is given
    its value each time: that value counts. Any other value given could take the place of a
    filter's own (SQLAlchemy also matches a value to a bound parameter by its compiled name),
    so with values given, every filter's must be among them, by its own name."""
    if shape.own_filters is None or key is None or organization_id is None:
        return False
    if given and not isinstance(given, Mapping):
        return False  # several sets of values (executemany): the criteria go on
    for position in shape.own_filters:
        bind = key.bindparams[position]
        if given:
            if bind.key not in given:
                return False
            value = given[bind.key]
        else:
            value = bind.effective_value
        if type(value) is not int or value != organization_id:
            return False
    return True


def _guard_statement(state: ORMExecuteState, owned: dict[str, type]) -> None:
    if not (state.is_select or state.is_update or state.is_delete) or state.is_column_load:
        # Column loads refresh attributes of an object that was already loaded under a scope.
        return
    scope = _scope.get()
    if scope is not None and scope.every_organization:
        return
    shape, key = _shape(state, owned)
    if not shape.touched:
        return
    if scope is None:
        raise TenantNotStated(
            f"query of {', '.join(m.__name__ for m in shape.touched)} without a stated "
            "organization: wrap it in tenancy.tenant(organization_id), tenant_of(model, id) "
            "or all_organizations()"
        )
    if state.statement._propagate_attrs.get("compile_state_plugin") != "orm":
        # A Core statement on tables: SQLAlchemy ignores loader criteria there (see Limits).
        return
    if _filtered_already(shape, key, scope.organization_id, state.parameters):
        # The criteria would cost more than the query (SQLAlchemy would work out the options'
        # cache key and parameters on every execution) and change nothing.
        return
    state.statement = state.statement.options(
        *(_option(model, scope.organization_id) for model in shape.touched)
    )


@functools.lru_cache(maxsize=8192)
def _option(model: type, organization_id: int | None) -> Any:
    # Built once per model and organization; the id is a bound parameter of the criteria, so
    # SQLAlchemy's compiled-statement cache is shared by every organization.
    return with_loader_criteria(
        model,
        false() if organization_id is None else criteria(model, organization_id),
        include_aliases=True,
    )


def _guard_flush(session: Session) -> None:
    scope = _scope.get()
    if scope is not None and scope.every_organization:
        return
    for obj in [*session.new, *session.dirty, *session.deleted]:
        path = getattr(type(obj), "__tenant__", None)
        if path is None:
            continue
        if scope is None:
            raise TenantNotStated(f"writing a {type(obj).__name__} without a stated organization")
        if path in (DIRECT, ITSELF):
            owner = getattr(obj, path)
            if owner is None and path == DIRECT and getattr(obj, "organization", None):
                owner = obj.organization.id  # set through the relationship, not yet flushed
            if owner != scope.organization_id:
                raise TenantMismatch(
                    f"a {type(obj).__name__} of organization {owner} written in the scope of "
                    f"organization {scope.organization_id}"
                )


def install(session_class: type[Session], registry: Any) -> None:
    """Register the guard's hooks on the app's session class (once per process)."""
    if getattr(session_class, "_brygga_tenant_guard", False):
        return
    owned: dict[str, type] = {}

    def on_execute(state: ORMExecuteState) -> None:
        if not owned:  # mappers are complete only once every model is imported
            owned.update({inspect(m).local_table.name: m for m in owned_models(registry)})
        _guard_statement(state, owned)

    def before_flush(session: Session, flush_context: Any, instances: Any) -> None:
        _guard_flush(session)

    event.listen(session_class, "do_orm_execute", on_execute)
    event.listen(session_class, "before_flush", before_flush)
    session_class._brygga_tenant_guard = True  # type: ignore[attr-defined]

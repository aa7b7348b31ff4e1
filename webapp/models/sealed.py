"""Encrypted columns, read and written as plaintext, each value bound to its place.

    class NmbrsConnection(Model):
        token_encrypted = mapped_column(Text, info={"encrypted": True})  # what is stored
        token = Sealed("token_encrypted")                                  # what code uses

`connection.token = "…"` stores AES-GCM ciphertext whose associated data names the table, the
column, the row's id and the owning organization (`webapp.crypto.Place`). A new row has no id
before its INSERT, so its plaintext waits on the object and is sealed right after the INSERT,
in the same flush and transaction (`after_insert`): no unbound ciphertext is ever written.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, event, inspect, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.attributes import set_committed_value

from webapp import crypto, tenancy

_PENDING = "_brygga_sealed_pending"


def place_of(row: Any, attribute: str) -> crypto.Place:
    """Where `row`'s encrypted `attribute` lives (the row needs its id)."""
    column = inspect(type(row)).get_property(attribute).columns[0]
    return crypto.Place(column.table.name, column.name, row.id, tenancy.owner_organization_id(row))


class Sealed:
    """The plaintext view of an encrypted column (see the module docstring)."""

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute

    def __get__(self, row: Any, owner: type | None = None) -> Any:
        if row is None:
            return self
        pending = row.__dict__.get(_PENDING, {})
        if self.attribute in pending:
            return pending[self.attribute]
        ciphertext = getattr(row, self.attribute)
        if ciphertext is None:
            return None
        return crypto.decrypt(ciphertext, place_of(row, self.attribute))

    def __set__(self, row: Any, plaintext: str | None) -> None:
        pending = row.__dict__.setdefault(_PENDING, {})
        pending.pop(self.attribute, None)
        if plaintext is None:
            setattr(row, self.attribute, None)
        elif row.id is not None:
            setattr(row, self.attribute, crypto.encrypt(plaintext, place_of(row, self.attribute)))
        else:
            pending[self.attribute] = plaintext  # sealed after the INSERT gives the row its id
            setattr(row, self.attribute, None)


@event.listens_for(Mapper, "after_insert")
def _seal_after_insert(mapper: Mapper, connection: Connection, row: Any) -> None:
    pending = row.__dict__.get(_PENDING)
    if not pending:
        return
    sealed = {a: crypto.encrypt(p, place_of(row, a)) for a, p in pending.items()}
    table = cast(Table, mapper.local_table)
    columns = {mapper.get_property(a).columns[0].name: c for a, c in sealed.items()}
    connection.execute(update(table).where(table.c.id == row.id).values(columns))
    for attribute, ciphertext in sealed.items():
        set_committed_value(row, attribute, ciphertext)
    pending.clear()

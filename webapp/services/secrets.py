"""Stored secrets: every column marked `info={"encrypted": True}` holds AES-GCM ciphertext
bound to its place (webapp.crypto); `reencrypt_all` is what `flask rotate-encryption-key` does."""

from __future__ import annotations

from typing import Any

from webapp import crypto
from webapp.extensions import Base, db
from webapp.models.sealed import place_of


def encrypted_columns() -> list[tuple[Any, str]]:
    """(model, attribute) for every encrypted column of every mapped model."""
    found = []
    for mapper in Base.registry.mappers:
        for column in mapper.columns:
            if column.info.get("encrypted"):
                found.append((mapper.class_, mapper.get_property_by_column(column).key))
    return found


def reencrypt_all(only_legacy: bool = False) -> int:
    """Re-encrypt every stored secret with the newest key, bound to its place; old Fernet
    values are converted. `only_legacy`: convert the old values, leave the others (the
    release step runs that at every deploy). Returns how many were rewritten.

    The caller states the scope (the command runs across all organizations) and commits.
    """
    keyring = crypto.keyring()
    count = 0
    for model, attr in encrypted_columns():
        column = getattr(model, attr)
        for row in db.session.scalars(db.select(model).where(column.is_not(None))):
            ciphertext = getattr(row, attr)
            if only_legacy and not crypto.is_legacy(ciphertext):
                continue
            setattr(row, attr, keyring.reseal(ciphertext, place_of(row, attr)))
            count += 1
    return count

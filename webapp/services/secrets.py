"""Stored secrets: every column marked `info={"encrypted": True}` holds Fernet ciphertext."""

from __future__ import annotations

from sqlalchemy import update

from webapp import crypto
from webapp.extensions import db


def encrypted_columns() -> list[tuple[type, str]]:
    """(model, attribute) for every encrypted column of every mapped model."""
    found = []
    for mapper in db.Model.registry.mappers:
        for column in mapper.columns:
            if column.info.get("encrypted"):
                found.append((mapper.class_, mapper.get_property_by_column(column).key))
    return found


def reencrypt_all() -> int:
    """Re-encrypt every stored secret with the newest key; returns how many were rewritten."""
    count = 0
    for model, attr in encrypted_columns():
        column = getattr(model, attr)
        rows = db.session.execute(db.select(model.id, column).where(column.is_not(None))).all()
        for row_id, ciphertext in rows:
            db.session.execute(
                update(model).where(model.id == row_id).values({attr: crypto.reencrypt(ciphertext)})
            )
            count += 1
    return count

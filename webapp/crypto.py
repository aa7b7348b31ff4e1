"""Secrets at rest: AES-256-GCM, every ciphertext bound to its place.

Each ciphertext carries, as associated data, the table, column, row and organization it was
written for (`Place`). Someone who can write to the database and copies one organization's
encrypted Nmbrs key into another recipient gets a secret that does not decrypt, instead of a
working key in the wrong hands.

Keys: BRYGGA_ENCRYPTION_KEYS holds Fernet-format keys (32 random bytes, urlsafe base64), the
first encrypts and every one decrypts, so a new key can be put first and the old ones kept
until `flask rotate-encryption-key` has re-encrypted everything stored. The AES key is derived
from each configured key with HKDF, so the setting's format did not change when AES-GCM came.

Stored format: `g1.<key id>.<base64url(nonce || ciphertext || tag)>`. Values written before
AES-GCM are Fernet tokens (`gAAAA…`), bound to nothing: they are read only by the rotation
command, which rewrites them bound to their place (the Procfile's release step runs it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

UNREADABLE = "stored secret cannot be decrypted with the configured keys"
VERSION = "g1"
_NONCE_BYTES = 12


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted: no configured key, or not written for this place."""


@dataclass(frozen=True)
class Place:
    """Where a ciphertext lives: it decrypts only there."""

    table: str
    column: str
    row_id: int | str
    organization_id: int | None

    def associated_data(self) -> bytes:
        return (
            f"brygga:{self.table}.{self.column}:row={self.row_id}:org={self.organization_id}"
        ).encode()


def load_keys(configured: str, instance_path: str, allow_generate: bool) -> list[bytes]:
    """Return the configured keys; in dev/test create one key file in the instance folder."""
    keys = [k.strip().encode() for k in configured.split(",") if k.strip()]
    if keys:
        for key in keys:
            Fernet(key)  # fail at start-up on a malformed key, not at the first decrypt
        return keys
    if not allow_generate:
        raise RuntimeError("BRYGGA_ENCRYPTION_KEYS must be set outside dev and test")
    key_file = Path(instance_path) / "encryption.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_bytes(Fernet.generate_key())
        key_file.chmod(0o600)
    return [key_file.read_bytes().strip()]


def is_legacy(ciphertext: str) -> bool:
    """A Fernet token from before AES-GCM (bound to nothing)."""
    return not ciphertext.startswith(VERSION + ".")


class Keyring:
    """The configured keys; usable in threads without an app context."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._keys = [(self._key_id(k), AESGCM(self._derive(k))) for k in keys]
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @staticmethod
    def _derive(key: bytes) -> bytes:
        raw = base64.urlsafe_b64decode(key)
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"brygga secrets v1")
        return hkdf.derive(raw)

    @staticmethod
    def _key_id(key: bytes) -> str:
        # Names the key without revealing anything about it; finds the right one at once.
        return hashlib.sha256(b"brygga key id:" + key).hexdigest()[:8]

    def encrypt(self, plaintext: str, place: Place) -> str:
        key_id, aead = self._keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        sealed = aead.encrypt(nonce, plaintext.encode(), place.associated_data())
        return f"{VERSION}.{key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, ciphertext: str, place: Place) -> str:
        """The plaintext, if `ciphertext` was written for `place` with a configured key."""
        if is_legacy(ciphertext):
            raise SecretUnreadable(
                "stored secret is in the old unbound format: run `flask rotate-encryption-key`"
            )
        try:
            _, key_id, body = ciphertext.split(".", 2)
            blob = base64.urlsafe_b64decode(body)
        except (ValueError, binascii.Error) as exc:
            raise SecretUnreadable(UNREADABLE) from exc
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        for candidate_id, aead in self._keys:
            if candidate_id != key_id:
                continue
            try:
                return aead.decrypt(nonce, sealed, place.associated_data()).decode()
            except InvalidTag:
                break
        raise SecretUnreadable(UNREADABLE)

    def reseal(self, ciphertext: str, place: Place) -> str:
        """Re-encrypt with the newest key for `place`; an old Fernet value is read as it was
        (it was bound to nothing) and from now on bound. For the rotation command only."""
        if is_legacy(ciphertext):
            try:
                plaintext = self._fernet.decrypt(ciphertext.encode()).decode()
            except InvalidToken as exc:
                raise SecretUnreadable(UNREADABLE) from exc
        else:
            plaintext = self.decrypt(ciphertext, place)
        return self.encrypt(plaintext, place)


def keyring() -> Keyring:
    """The app's keyring (built once per app)."""
    keys = current_app.extensions["brygga_keys"]
    cached = current_app.extensions.get("brygga_keyring")
    if cached is None or cached[0] is not keys:  # the keys were replaced (tests, a reload)
        cached = (keys, Keyring(keys))
        current_app.extensions["brygga_keyring"] = cached
    return cached[1]


def encrypt(plaintext: str, place: Place) -> str:
    return keyring().encrypt(plaintext, place)


def decrypt(ciphertext: str, place: Place) -> str:
    return keyring().decrypt(ciphertext, place)

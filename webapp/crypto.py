"""Secrets at rest: MultiFernet over the keys in BRYGGA_ENCRYPTION_KEYS.

The first key encrypts, every key decrypts, so a new key can be put first and the old ones
kept until `flask rotate-encryption-key` has re-encrypted everything stored.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

UNREADABLE = "stored secret cannot be decrypted with the configured keys"


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key."""


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


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k) for k in current_app.extensions["brygga_keys"]])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "stored secret cannot be decrypted with the configured keys"
        ) from exc


def reencrypt(ciphertext: str) -> str:
    """Re-encrypt with the newest key (MultiFernet.rotate keeps the original timestamp)."""
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "stored secret cannot be decrypted with the configured keys"
        ) from exc

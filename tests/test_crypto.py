import pytest
from cryptography.fernet import Fernet

from webapp import crypto
from webapp.crypto import load_keys


def test_secret_round_trips_and_is_not_stored_in_clear(app_ctx):
    ciphertext = crypto.encrypt("hemlig-token-123")
    assert "hemlig-token-123" not in ciphertext
    assert crypto.decrypt(ciphertext) == "hemlig-token-123"


def test_old_key_still_decrypts_after_rotation_and_reencrypt_uses_the_new_key(app, monkeypatch):
    old, new = Fernet.generate_key(), Fernet.generate_key()
    with app.app_context():
        monkeypatch.setitem(app.extensions, "brygga_keys", [old])
        stored = crypto.encrypt("token-abc")
        monkeypatch.setitem(app.extensions, "brygga_keys", [new, old])
        assert crypto.decrypt(stored) == "token-abc"
        rotated = crypto.reencrypt(stored)
        monkeypatch.setitem(app.extensions, "brygga_keys", [new])
        assert crypto.decrypt(rotated) == "token-abc"
        with pytest.raises(crypto.SecretUnreadable):
            crypto.decrypt(stored)


def test_keys_are_required_outside_dev(tmp_path):
    with pytest.raises(RuntimeError, match="BRYGGA_ENCRYPTION_KEYS"):
        load_keys("", str(tmp_path), allow_generate=False)


def test_dev_key_is_generated_once_into_the_instance_folder(tmp_path):
    first = load_keys("", str(tmp_path), allow_generate=True)
    second = load_keys("", str(tmp_path), allow_generate=True)
    assert first == second
    assert (tmp_path / "encryption.key").stat().st_mode & 0o077 == 0


def test_a_malformed_key_fails_at_start_up(tmp_path):
    with pytest.raises(ValueError):
        load_keys("not-a-fernet-key", str(tmp_path), allow_generate=False)

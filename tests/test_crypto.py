"""Secrets at rest: AES-GCM bound to table, column, row and organization, so a ciphertext
copied to another row does not decrypt; key rotation, and the move from the old Fernet format."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from tests.recipients.helpers import OTHER_TOKEN, add_single_company_nmbrs
from tests.reports.helpers import login
from webapp import crypto
from webapp.crypto import Place, load_keys
from webapp.extensions import db
from webapp.models import NmbrsConnection, ReportRecipient, Role
from webapp.services import secrets

PLACE = Place("nmbrs_connection", "token_encrypted", 7, 3)


def test_secret_round_trips_at_its_place_and_is_not_stored_in_clear(app_ctx):
    ciphertext = crypto.encrypt("hemlig-token-123", PLACE)
    assert "hemlig-token-123" not in ciphertext
    assert crypto.decrypt(ciphertext, PLACE) == "hemlig-token-123"


@pytest.mark.parametrize(
    "elsewhere",
    [
        Place("nmbrs_connection", "token_encrypted", 8, 3),  # another row
        Place("nmbrs_connection", "token_encrypted", 7, 4),  # another organization
        Place("nmbrs_connection", "oauth_tokens_encrypted", 7, 3),  # another column
        Place("user", "token_encrypted", 7, 3),  # another table
    ],
)
def test_a_ciphertext_does_not_decrypt_anywhere_else(app_ctx, elsewhere):
    ciphertext = crypto.encrypt("hemlig-token-123", PLACE)
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(ciphertext, elsewhere)


@pytest.fixture
def two_nmbrs_recipients(app, people, nmbrs_sandbox) -> tuple[int, int]:
    """The same Nmbrs key stored by two organizations (as two customers could)."""
    ids = []
    for org in ("Alfa AB", "Beta AB"):
        email = people.user(Role.ADMIN, org=org, email=f"admin@{org.split()[0].lower()}.se")
        assert add_single_company_nmbrs(login(app, email)).status_code == 302
        with app.app_context():
            ids.append(
                db.session.scalar(
                    select(NmbrsConnection.id)
                    .join(NmbrsConnection.recipient)
                    .where(ReportRecipient.organization.has(name=org))
                )
            )
    return ids[0], ids[1]


def test_a_key_copied_into_another_organizations_recipient_does_not_decrypt(
    app, two_nmbrs_recipients
):
    alfa, beta = two_nmbrs_recipients
    with app.app_context():
        table = NmbrsConnection.__table__
        stolen = db.session.scalar(select(table.c.token_encrypted).where(table.c.id == alfa))
        # Someone with write access to the database moves Alfa's key into Beta's recipient.
        db.session.execute(update(table).where(table.c.id == beta).values(token_encrypted=stolen))
        db.session.commit()
        assert db.session.get(NmbrsConnection, alfa).token == OTHER_TOKEN
        beta_connection = db.session.get(NmbrsConnection, beta)
        with pytest.raises(crypto.SecretUnreadable):
            _ = beta_connection.token


def test_a_new_rows_secret_is_bound_to_the_id_it_gets_on_insert(app, two_nmbrs_recipients):
    alfa, _beta = two_nmbrs_recipients
    with app.app_context():
        connection = db.session.get(NmbrsConnection, alfa)
        place = Place(
            "nmbrs_connection", "token_encrypted", alfa, connection.recipient.organization_id
        )
        assert crypto.decrypt(connection.token_encrypted, place) == OTHER_TOKEN


def test_old_key_still_decrypts_after_rotation_and_the_command_moves_to_the_new_key(
    app, runner, two_nmbrs_recipients, monkeypatch
):
    alfa, _beta = two_nmbrs_recipients
    old = app.extensions["brygga_keys"][0]
    new = Fernet.generate_key()
    monkeypatch.setitem(app.extensions, "brygga_keys", [new, old])
    with app.app_context():
        assert db.session.get(NmbrsConnection, alfa).token == OTHER_TOKEN
    result = runner.invoke(args=["rotate-encryption-key"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 2 stored secret(s)" in result.output
    monkeypatch.setitem(app.extensions, "brygga_keys", [new])
    with app.app_context():
        assert db.session.get(NmbrsConnection, alfa).token == OTHER_TOKEN


def test_the_rotation_command_moves_old_fernet_secrets_to_bound_ones(
    app, runner, two_nmbrs_recipients
):
    alfa, beta = two_nmbrs_recipients
    fernet = Fernet(app.extensions["brygga_keys"][0])
    with app.app_context():
        table = NmbrsConnection.__table__
        for row_id in (alfa, beta):  # as Brygga stored them before AES-GCM
            legacy = fernet.encrypt(OTHER_TOKEN.encode()).decode()
            db.session.execute(
                update(table).where(table.c.id == row_id).values(token_encrypted=legacy)
            )
        db.session.commit()
        alfa_connection = db.session.get(NmbrsConnection, alfa)
        with pytest.raises(crypto.SecretUnreadable, match="rotate-encryption-key"):
            _ = alfa_connection.token
    result = runner.invoke(args=["rotate-encryption-key", "--only-legacy"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 2 stored old-format secret(s)" in result.output
    with app.app_context():
        assert db.session.get(NmbrsConnection, beta).token == OTHER_TOKEN
        assert db.session.get(NmbrsConnection, beta).token_encrypted.startswith("g1.")
    again = runner.invoke(args=["rotate-encryption-key", "--only-legacy"])
    assert "Re-encrypted 0 stored old-format secret(s)" in again.output


def test_every_encrypted_column_is_read_through_its_binding(app):
    columns = {f"{model.__tablename__}.{attr}" for model, attr in secrets.encrypted_columns()}
    assert columns == {
        "nmbrs_connection.token_encrypted",
        "nmbrs_connection.oauth_tokens_encrypted",
        "user.totp_secret_encrypted",
    }


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

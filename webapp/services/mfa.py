"""The second factor: TOTP (RFC 6238: 30-second steps, 6 digits, SHA-1, as every standard
authenticator app expects) and one-time recovery codes.

The secret is stored encrypted and bound to the user's row (`User.totp_secret`). A code is
accepted once: the time step it belongs to is recorded, and a code of that step or an earlier
one is refused (an UPDATE that only succeeds for a newer step, so two requests racing with the
same code cannot both pass). Recovery codes are stored as hashes and used up the same way.
Guessing is slowed down by the caller (`login_limits.reserve_code`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp
import segno
from flask_babel import gettext as _
from sqlalchemy import or_, update

from webapp.extensions import db
from webapp.models import RecoveryCode, User
from webapp.models.base import rowcount, utcnow
from webapp.services import audit, sessions

ISSUER = "Brygga"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


class MfaError(ValueError):
    pass


def begin_enrolment(user: User) -> str:
    """A new secret for the user to scan; not in force until `confirm_enrolment`. Caller
    commits. Returns the secret (base32), shown to the user only."""
    secret = pyotp.random_base32()
    user.totp_secret = secret
    user.totp_enabled_at = None
    user.totp_last_step = None
    return secret


def provisioning_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_code(uri: str) -> str:
    """The enrolment QR code as an SVG data: URI, drawn here (no outside service sees it)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _matching_step(secret: str, code: str, now: float) -> int | None:
    totp = pyotp.TOTP(secret)
    if not (len(code) == totp.digits and code.isdigit()):
        return None
    step = int(now // totp.interval)
    # One step either side: the phone's clock and the typing may be up to 30 s off.
    for candidate in (step - 1, step, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def verify_code(user: User, code: str, now: float | None = None) -> bool:
    """True, once, for a current code of the user's authenticator."""
    secret = user.totp_secret
    if not secret:
        return False
    step = _matching_step(secret, _normalise(code), time.time() if now is None else now)
    if step is None:
        return False
    claimed = rowcount(
        db.session.execute(
            update(User)
            .where(
                User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step)
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.expire(user, ["totp_last_step"])
    return claimed == 1


def confirm_enrolment(user: User, code: str) -> list[str]:
    """Turn the second factor on with a first code from the app; returns the recovery codes
    (shown once). Caller commits."""
    if user.totp_secret is None or not verify_code(user, code):
        raise MfaError(_("Koden stämmer inte. Skriv den sexsiffriga koden som appen visar nu."))
    user.totp_enabled_at = utcnow()
    codes = _new_recovery_codes(user)
    audit.record("auth.mfa_enabled", actor=user, organization_id=user.organization_id)
    return codes


def _hash(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(
        db.delete(RecoveryCode)
        .where(RecoveryCode.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    codes = []
    for _n in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _i in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash(raw)))
    return codes


def renew_recovery_codes(user: User) -> list[str]:
    """New recovery codes; the old ones stop working. Caller commits."""
    codes = _new_recovery_codes(user)
    audit.record("auth.recovery_codes_renewed", actor=user, organization_id=user.organization_id)
    return codes


def unused_recovery_codes(user: User) -> int:
    return (
        db.session.scalar(
            db.select(db.func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def use_recovery_code(user: User, code: str) -> bool:
    """True, once, for one of the user's unused recovery codes. Caller commits."""
    used = rowcount(
        db.session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == _hash(code),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    )
    if used == 1:
        audit.record(
            "auth.recovery_code_used", actor=user, organization_id=user.organization_id,
            remaining=unused_recovery_codes(user),
        )  # fmt: skip
    return used == 1


def verify(user: User, code: str) -> bool:
    """A code from the authenticator or, failing that, a recovery code."""
    return verify_code(user, code) or use_recovery_code(user, code)


def turn_off(user: User, actor: User) -> None:
    """Remove the second factor (the user, or an admin for a person who lost the phone and the
    recovery codes: then every session of that person ends). Caller commits."""
    if actor.id == user.id and user.must_use_mfa:
        raise MfaError(
            _("Organisationen kräver tvåstegsverifiering för din roll. Den kan inte stängas av.")
        )
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(
        db.delete(RecoveryCode)
        .where(RecoveryCode.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    if actor.id == user.id:
        audit.record("auth.mfa_disabled", actor=user, organization_id=user.organization_id)
    else:
        ended = sessions.end_all(user, "mfa_reset")
        audit.record(
            "auth.mfa_reset", actor=actor, organization_id=user.organization_id, obj=user,
            sessions_ended=ended,
        )  # fmt: skip

"""TOTP second factor (RFC 6238, 30 s, 6 digits) and single-use recovery codes.

The TOTP secret is sealed at rest with the secret key (``sources.crypto``) and shown only
while enrolment is unconfirmed; a code is good once (the last step used is kept, so a
code seen over a shoulder cannot be replayed in its window). Recovery codes carry 80
random bits, so a SHA-256 of each is enough (like API tokens); each works once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno
from sqlalchemy.orm import Session

from earful.auth import repository
from earful.errors import BadInput, Conflict, NotAuthenticated
from earful.models import RecoveryCode, TotpCredential, User
from earful.sources.crypto import CredentialError, seal, unseal

ISSUER = "Earful"
RECOVERY_CODES = 10


def _secret_of(row: TotpCredential, secret_key: str) -> str:
    try:
        value = unseal(row.secret_sealed, secret_key).get("totp")
    except CredentialError:
        raise NotAuthenticated(
            "the second factor cannot be read (the secret key changed): ask an admin to run "
            "earful users totp-reset"
        ) from None
    if not isinstance(value, str):
        raise NotAuthenticated("the second factor is unreadable")
    return value


def start(session: Session, user: User, secret_key: str) -> str:
    """The secret to enrol (the same one until confirmed, so a reload shows one QR code)."""
    row = repository.totp_of(session, user.id)
    if row is not None and row.confirmed_at is not None:
        raise Conflict("a second factor is already set up; turn it off first")
    if row is None:
        clear = pyotp.random_base32()
        row = TotpCredential(
            user_id=user.id, secret_sealed=seal({"totp": clear}, secret_key), last_step=0
        )
        session.add(row)
        session.flush()
        return clear
    return _secret_of(row, secret_key)


def uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_data_uri(content: str) -> str:
    """The QR code as an SVG ``data:`` URI, drawn here (CSP allows ``img-src data:``)."""
    return str(segno.make(content, error="m").svg_data_uri(scale=5, border=2))


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step a code belongs to, one step of drift either way."""
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    for offset in (0, -1, 1):
        if hmac.compare_digest(totp.generate_otp(step + offset), code):
            return step + offset
    return None


def _check_code(row: TotpCredential, secret: str, code: str, now: datetime) -> bool:
    step = _matching_step(secret, code, now)
    if step is None or step <= row.last_step:
        return False
    row.last_step = step
    return True


def confirm(session: Session, user: User, code: str, secret_key: str, now: datetime) -> list[str]:
    """Turn the second factor on with a first right code; returns the recovery codes,
    shown this once."""
    row = repository.totp_of(session, user.id)
    if row is None or row.confirmed_at is not None:
        raise BadInput("start setting up the second factor first")
    if not _check_code(row, _secret_of(row, secret_key), _digits(code), now):
        raise NotAuthenticated("that code is not right: check the time on your device")
    row.confirmed_at = now
    return new_recovery_codes(session, user.id)


def _digits(code: str) -> str:
    return "".join(ch for ch in code if ch.isdigit())


def _code_hash(code: str) -> str:
    return hashlib.sha256(_normal(code).encode()).hexdigest()


def _normal(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def new_recovery_codes(session: Session, user_id: int) -> list[str]:
    """Ten fresh codes; the old ones stop working."""
    for old in repository.recovery_codes_of(session, user_id):
        session.delete(old)
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        code = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
        codes.append(code)
        session.add(RecoveryCode(user_id=user_id, code_hash=_code_hash(code)))
    session.flush()
    return codes


def verify(session: Session, user_id: int, code: str, secret_key: str, now: datetime) -> str:
    """Check a TOTP code or a recovery code; returns which one was used ("totp" or
    "recovery") or raises :class:`NotAuthenticated`."""
    row = repository.totp_of(session, user_id)
    if row is None or row.confirmed_at is None:
        raise NotAuthenticated("no second factor is set up")
    digits = _digits(code)
    if len(digits) == len(code.strip()) == 6:
        if _check_code(row, _secret_of(row, secret_key), digits, now):
            return "totp"
        raise NotAuthenticated("wrong or already used code")
    wanted = _code_hash(code)
    for recovery in repository.recovery_codes_of(session, user_id):
        if recovery.used_at is None and hmac.compare_digest(recovery.code_hash, wanted):
            recovery.used_at = now
            session.flush()
            return "recovery"
    raise NotAuthenticated("wrong or already used code")


def recovery_left(session: Session, user_id: int) -> int:
    return sum(1 for c in repository.recovery_codes_of(session, user_id) if c.used_at is None)


def is_enrolled(session: Session, user_id: int) -> bool:
    row = repository.totp_of(session, user_id)
    return row is not None and row.confirmed_at is not None


def remove(session: Session, user_id: int) -> bool:
    """Forget the second factor and its recovery codes (the next sign-in enrols again
    where a brand requires one)."""
    return repository.delete_second_factor(session, user_id)

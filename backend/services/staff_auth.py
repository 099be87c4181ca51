"""Staff sign-in: passwords (argon2id), lockout, TOTP, console sessions, set-password
links and API keys.

Secrets are stored as HMAC-SHA256 digests with the server key
(``backend.core.security.keyed_hash``): console session tokens (``sst_…``),
set-password tokens and API keys (``spk_…``). Passwords are argon2id hashes.
The TOTP secret must be readable to check codes, so it is stored encrypted:
a random nonce and the secret XORed with HMAC-SHA256(server key, nonce), the
HMAC used as a pseudo-random function (a stream cipher); a database dump
without the server key does not reveal it.

Functions here never commit except ``login``, which must keep the failure
counters even when it refuses.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from backend.core.config import Settings
from backend.core.security import keyed_hash
from backend.services import ratelimit
from backend.staff_models import ApiKey, StaffSession, StaffSetPasswordToken, StaffUser

log = logging.getLogger("portal")

SESSION_PREFIX = "sst_"
API_KEY_PREFIX = "spk_"
HOUR = 3600
TOTP_STEP = 30

WRONG_CREDENTIALS = "Wrong email or password."
TOTP_REQUIRED = "Enter the 6-digit code from your authenticator app."
TOTP_WRONG = "That authenticator code is not right."
LOCKED = "Too many failed sign-ins. Please try again later."

_hasher = PasswordHasher()  # argon2id with the library's recommended costs

# A short list of passwords attackers try first; a real deployment may add a
# breached-password check. Compared case-insensitively.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "password1234",
        "password12345",
        "passwordpassword",
        "qwertyuiopas",
        "qwerty123456",
        "azertyuiopqs",
        "azerty123456",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "motdepasse12",
        "motdepasse123",
        "administrator",
        "admin1234567",
        "changeme1234",
        "000000000000",
        "111111111111",
        "abcdefghijkl",
        "abc123456789",
        "correcthorsebatterystaple",
    }
)
MIN_PASSWORD = 12
MAX_PASSWORD = 256


class PasswordRejected(ValueError):
    """The password breaks a rule; the message says which (shown to the user)."""


class LoginRefused(Exception):
    """Sign-in refused: ``status`` 401 or 429, with a user-facing detail."""

    def __init__(
        self, status: int, detail: str, *, code: str | None = None, retry_after: int = 0
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.retry_after = retry_after


class TokenInvalid(Exception):
    """A set-password token that is unknown, used or expired."""


def normalize_email(value: str) -> str:
    return value.strip().lower()


# --- passwords -------------------------------------------------------------------


def check_password_rules(password: str, email: str) -> None:
    """Raise :class:`PasswordRejected` unless the password is acceptable."""
    if len(password) < MIN_PASSWORD:
        raise PasswordRejected(f"Use at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise PasswordRejected(f"Use at most {MAX_PASSWORD} characters.")
    folded = password.strip().lower()
    mail = normalize_email(email)
    if folded == mail or folded == mail.split("@", 1)[0]:
        raise PasswordRejected("The password may not be your email address.")
    if folded in COMMON_PASSWORDS or len(set(folded)) <= 2:
        raise PasswordRejected("This password is too common; choose another one.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(stored: str, password: str) -> bool:
    """argon2 verification; an account without a password still costs one verification."""
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and bool(stored)
    except (VerificationError, InvalidHashError):
        return False


# --- TOTP ------------------------------------------------------------------------


def seal_totp(key: bytes, secret: str) -> str:
    """Encrypt a base32 TOTP secret for storage (see the module docstring)."""
    nonce = secrets.token_bytes(16)
    data = secret.encode()
    stream = _keystream(key, nonce, len(data))
    return nonce.hex() + bytes(a ^ b for a, b in zip(data, stream, strict=True)).hex()


def open_totp(key: bytes, sealed: str) -> str:
    raw = bytes.fromhex(sealed)
    nonce, body = raw[:16], raw[16:]
    stream = _keystream(key, nonce, len(body))
    return bytes(a ^ b for a, b in zip(body, stream, strict=True)).decode()


def _keystream(key: bytes, nonce: bytes, size: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        block = nonce + counter.to_bytes(4, "big")
        out += hmac.new(key, b"totp\x1f" + block, hashlib.sha256).digest()
        counter += 1
    return out[:size]


def start_totp(settings: Settings, staff: StaffUser) -> tuple[str, str]:
    """A new (not yet enabled) secret for ``staff``: returns (secret, otpauth URI)."""
    secret = pyotp.random_base32()
    staff.totp_secret = seal_totp(settings.resolved_secret_key(), secret)
    uri = pyotp.TOTP(secret).provisioning_uri(name=staff.email, issuer_name="Client portal")
    return secret, uri


def check_totp(settings: Settings, staff: StaffUser, code: str, now: datetime) -> bool:
    """True for a right code of the current step ±1 that was not used before.

    The step accepted is remembered, so the same code (or an older one) is
    refused afterwards: a code seen over a shoulder cannot be replayed.
    """
    if not staff.totp_secret or not code or not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(open_totp(settings.resolved_secret_key(), staff.totp_secret))
    current = int(now.timestamp()) // TOTP_STEP
    for step in (current - 1, current, current + 1):
        if step <= staff.totp_last_step:
            continue
        if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
            staff.totp_last_step = step
            return True
    return False


# --- sign-in -----------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_at: datetime
    staff: StaffUser


def login(
    db: Session,
    settings: Settings,
    email: str,
    password: str,
    totp_code: str | None,
    ip: str,
    now: datetime,
) -> SignedIn:
    """Check the credentials and open a console session. Commits (also when refusing).

    Raises :class:`LoginRefused`: 401 for wrong credentials (the same for an
    unknown email, which still costs one argon2 verification), 401 with code
    ``totp_required`` when the second factor is missing or wrong, 429 after
    too many failures for the account or the IP address.
    """
    mail = normalize_email(email)
    ip_key = f"staff:fail:ip:{ip}"
    wait = ratelimit.retry_after(
        db, ip_key, now, settings.staff_login_failures_per_ip_per_hour, HOUR
    )
    if wait is not None:
        raise LoginRefused(429, LOCKED, retry_after=wait)
    staff = db.scalars(select(StaffUser).where(StaffUser.email == mail)).first()
    if staff is None:
        return _unknown_account(db, settings, mail, password, ip_key, now)
    if staff.locked_until is not None and now < staff.locked_until:
        raise LoginRefused(429, LOCKED, retry_after=_seconds(staff.locked_until - now))
    if not verify_password(staff.password_hash, password) or staff.disabled:
        raise _failed(db, settings, staff, ip_key, now, 401, WRONG_CREDENTIALS)
    if staff.totp_enabled:
        if not totp_code:
            # Not a failure: the console asks for the code after the password.
            db.rollback()
            raise LoginRefused(401, TOTP_REQUIRED, code="totp_required")
        if not check_totp(settings, staff, totp_code, now):
            raise _failed(db, settings, staff, ip_key, now, 401, TOTP_WRONG, code="totp_required")
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    staff.failed_logins = 0
    staff.locked_until = None
    staff.last_sign_in_at = now
    token = open_session(db, settings, staff, now)
    db.commit()
    return SignedIn(token, now + timedelta(seconds=settings.staff_session_absolute_seconds), staff)


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def _failed(
    db: Session,
    settings: Settings,
    staff: StaffUser,
    ip_key: str,
    now: datetime,
    status: int,
    detail: str,
    code: str | None = None,
) -> LoginRefused:
    """Count a failure for the account and the IP (committed); lock at the limit."""
    ratelimit.hit(db, ip_key, now)
    staff.failed_logins += 1
    if staff.failed_logins >= settings.staff_lockout_failures:
        staff.failed_logins = 0
        staff.locked_until = now + timedelta(seconds=settings.staff_lockout_seconds)
    db.commit()
    return LoginRefused(status, detail, code=code)


def _unknown_account(
    db: Session, settings: Settings, mail: str, password: str, ip_key: str, now: datetime
) -> SignedIn:
    """Answer an unknown email exactly as a known one with a wrong password.

    Same argon2 cost, same 401, and the same lock after the same number of
    tries (counted as rate events keyed by the email's digest).
    """
    verify_password("", password)
    key = "staff:fail:acct:" + keyed_hash(settings.resolved_secret_key(), "staff-email", mail)
    window = settings.staff_lockout_seconds
    wait = ratelimit.retry_after(db, key, now, settings.staff_lockout_failures, window)
    if wait is not None:
        raise LoginRefused(429, LOCKED, retry_after=wait)
    ratelimit.hit(db, ip_key, now)
    ratelimit.hit(db, key, now)
    db.commit()
    raise LoginRefused(401, WRONG_CREDENTIALS)


def open_session(db: Session, settings: Settings, staff: StaffUser, now: datetime) -> str:
    """A new console session for ``staff``; returns its token (never stored)."""
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    db.add(
        StaffSession(
            token_hash=session_digest(settings.resolved_secret_key(), token),
            staff_id=staff.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.staff_session_absolute_seconds),
        )
    )
    return token


def session_digest(key: bytes, token: str) -> str:
    return keyed_hash(key, "staff-session", token)


def find_session(
    db: Session, settings: Settings, token: str, now: datetime
) -> tuple[StaffSession, StaffUser] | None:
    """The live console session of ``token`` and its account, or None (reads only)."""
    digest = session_digest(settings.resolved_secret_key(), token)
    row = db.execute(
        select(StaffSession, StaffUser)
        .join(StaffUser, StaffUser.id == StaffSession.staff_id)
        .where(StaffSession.token_hash == digest)
        .options(selectinload(StaffUser.memberships))
    ).first()
    if row is None:
        return None
    session, staff = row
    idle_limit = session.last_seen_at + timedelta(seconds=settings.staff_session_idle_seconds)
    if (
        session.revoked_at is not None
        or now >= session.expires_at
        or now >= idle_limit
        or staff.disabled
    ):
        return None
    return session, staff


def revoke_sessions(db: Session, staff_id: int, now: datetime) -> None:
    """End every console session of an account (disabled, password changed)."""
    db.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_sessions_by_id(db: Session, session_id: int, now: datetime) -> None:
    """Sign out: end one console session."""
    db.execute(
        update(StaffSession)
        .where(StaffSession.id == session_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


# --- set-password links -----------------------------------------------------------


def issue_set_password(db: Session, settings: Settings, staff: StaffUser, now: datetime) -> str:
    """A one-time set-password URL for ``staff`` (earlier unused links stop working)."""
    db.execute(
        update(StaffSetPasswordToken)
        .where(StaffSetPasswordToken.staff_id == staff.id, StaffSetPasswordToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    db.add(
        StaffSetPasswordToken(
            staff_id=staff.id,
            token_hash=keyed_hash(settings.resolved_secret_key(), "staff-set-password", token),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.staff_set_password_ttl_seconds),
        )
    )
    db.flush()
    return set_password_url(settings, token)


def set_password_url(settings: Settings, token: str) -> str:
    # The token travels in the fragment: browsers never send it to a server or a log.
    return f"{settings.public_base_url.rstrip('/')}/console/set-password#{token}"


def use_set_password(
    db: Session, settings: Settings, token: str, password: str, now: datetime
) -> StaffUser:
    """Set the password of the link's account and use the link up.

    Raises :class:`TokenInvalid` or :class:`PasswordRejected`. Every console
    session of the account ends. The caller commits.
    """
    digest = keyed_hash(settings.resolved_secret_key(), "staff-set-password", token)
    row = db.scalars(
        select(StaffSetPasswordToken).where(StaffSetPasswordToken.token_hash == digest)
    ).first()
    if row is None or row.used_at is not None or now >= row.expires_at:
        raise TokenInvalid("This link has expired or was already used. Ask an admin for a new one.")
    staff = db.get(StaffUser, row.staff_id)
    if staff is None or staff.disabled:
        raise TokenInvalid("This link has expired or was already used. Ask an admin for a new one.")
    check_password_rules(password, staff.email)
    staff.password_hash = hash_password(password)
    staff.failed_logins = 0
    staff.locked_until = None
    row.used_at = now
    revoke_sessions(db, staff.id, now)
    return staff


# --- API keys -----------------------------------------------------------------------


def new_api_key() -> tuple[str, str]:
    """A new key and the prefix shown in lists (``spk_`` + 8 characters)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[: len(API_KEY_PREFIX) + 8]


def api_key_digest(key: bytes, api_key: str) -> str:
    return keyed_hash(key, "staff-api-key", api_key)


def find_api_key(db: Session, settings: Settings, api_key: str) -> ApiKey | None:
    """The live (not revoked) key, or None."""
    digest = api_key_digest(settings.resolved_secret_key(), api_key)
    row = db.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    if row is None or row.revoked_at is not None:
        return None
    return row

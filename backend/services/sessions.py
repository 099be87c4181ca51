"""Client sessions: opaque tokens, stored as keyed hashes, idle + absolute lifetimes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Select, bindparam, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from backend.core.config import Settings
from backend.core.db import write_bind
from backend.core.security import keyed_hash, new_token
from backend.models import AuthSession, BusinessUnit, Client

log = logging.getLogger("portal")

# Writing last_seen_at on every request would turn each read into a write;
# a minute of precision is plenty for a 14-day idle lifetime.
_TOUCH_EVERY = timedelta(seconds=60)


def create_session(
    db: Session,
    settings: Settings,
    client_id: int,
    method: str,
    now: datetime,
    contact: str | None = None,
) -> str:
    """Open a session for ``client_id`` and return its token (shown once, never stored).

    ``contact``: the email or phone signed in with, when known (shown to staff).
    """
    token = new_token()
    db.add(
        AuthSession(
            token_hash=token_digest(settings.resolved_secret_key(), token),
            client_id=client_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.session_absolute_seconds),
            method=method,
            contact=contact,
        )
    )
    return token


def resolve_session(
    db: Session, settings: Settings, token: str, now: datetime
) -> tuple[AuthSession, Client] | None:
    """The live session and its client for ``token``, or None.

    A session is dead when revoked, past its absolute lifetime, idle too long, or
    when its client or business unit has lost portal access. Its last use is
    recorded when due (see ``touch_session``).
    """
    found = lookup_session(db, settings, token, now)
    if found is None:
        return None
    session, client, due = found
    if due:
        touch_session(db, session, now)
    return session, client


def is_live(
    settings: Settings,
    now: datetime,
    *,
    revoked_at: datetime | None,
    expires_at: datetime,
    last_seen_at: datetime,
    portal_access: bool,
    portal_enabled: bool,
) -> bool:
    """The one rule for a usable session (both lookups below apply it).

    Dead when revoked, past its absolute lifetime, idle too long, or when its
    client or business unit has lost portal access.
    """
    idle_limit = last_seen_at + timedelta(seconds=settings.session_idle_seconds)
    return (
        revoked_at is None
        and now < expires_at
        and now < idle_limit
        and bool(portal_access)
        and bool(portal_enabled)
    )


def lookup_session(
    db: Session, settings: Settings, token: str, now: datetime
) -> tuple[AuthSession, Client, bool] | None:
    """Like ``resolve_session`` but only reads: also says whether a touch is due."""
    digest = token_digest(settings.resolved_secret_key(), token)
    row = db.execute(
        select(AuthSession, Client, BusinessUnit)
        .join(Client, Client.id == AuthSession.client_id)
        .join(BusinessUnit, BusinessUnit.id == Client.business_unit_id)
        .where(AuthSession.token_hash == digest)
    ).first()
    if row is None:
        return None
    session, client, bu = row
    if not is_live(
        settings,
        now,
        revoked_at=session.revoked_at,
        expires_at=session.expires_at,
        last_seen_at=session.last_seen_at,
        portal_access=client.portal_access,
        portal_enabled=bu.portal_enabled,
    ):
        return None
    return session, client, now - session.last_seen_at >= _TOUCH_EVERY


@dataclass(frozen=True)
class SignedIn:
    """A live session as the hot read routes need it: ids only, no ORM objects."""

    session_id: int
    client_id: int
    touch_due: bool


# What decides whether a session is live, in the order ``signed_in`` reads it.
SESSION_COLUMNS = (
    AuthSession.id,
    AuthSession.client_id,
    AuthSession.last_seen_at,
    AuthSession.expires_at,
    AuthSession.revoked_at,
    Client.portal_access,
    BusinessUnit.portal_enabled,
)


def session_select(*columns: Any) -> Select[Any]:
    """The session of the token hash ``:digest`` with its access flags, then ``columns``.

    One indexed lookup (the token hash is unique). ``columns`` may refer to
    ``AuthSession.client_id`` to read the client's data in the same
    statement (see ``backend.services.hot_reads``).
    """
    return (
        select(*SESSION_COLUMNS, *columns)
        .select_from(AuthSession)
        .join(Client, Client.id == AuthSession.client_id)
        .join(BusinessUnit, BusinessUnit.id == Client.business_unit_id)
        .where(AuthSession.token_hash == bindparam("digest"))
    )


def token_digest(key: bytes, token: str) -> str:
    """The stored form of a session token (``:digest`` of ``session_select``)."""
    return keyed_hash(key, "session", token)


def signed_in(row: Sequence[Any], settings: Settings, now: datetime) -> SignedIn | None:
    """The live session in a row of ``session_select``, or None (same rule: ``is_live``).

    Never writes; ``touch_due`` says whether the caller should record the
    last use (``record_last_use``).
    """
    session_id, client_id, last_seen_at, expires_at, revoked_at, access, enabled = row[:7]
    if not is_live(
        settings,
        now,
        revoked_at=revoked_at,
        expires_at=expires_at,
        last_seen_at=last_seen_at,
        portal_access=access,
        portal_enabled=enabled,
    ):
        return None
    return SignedIn(session_id, client_id, now - last_seen_at >= _TOUCH_EVERY)


def touch_session(db: Session, session: AuthSession, now: datetime) -> None:
    """Record the session's last use in a short write of its own.

    The request's read ends first, so its connection is back in the pool
    before the write takes another one (at most one per request), and the
    read never holds the write lock. Two requests racing here write once.
    """
    db.commit()
    if record_last_use(write_bind(db), session.id, now):
        set_committed_value(session, "last_seen_at", now)


def record_last_use(writer: Engine, session_id: int, now: datetime) -> bool:
    """Write a session's last use unless a request did so in the last minute.

    ``writer`` begins write transactions (``write_bind``). False when the
    database was too busy: a busy writer must not fail a read, and the next
    request writes it.
    """
    try:
        with writer.begin() as conn:
            conn.execute(
                update(AuthSession)
                .where(AuthSession.id == session_id, AuthSession.last_seen_at <= now - _TOUCH_EVERY)
                .values(last_seen_at=now)
            )
    except OperationalError:
        log.warning("could not record a session's last use (database busy)")
        return False
    return True


def revoke_token(db: Session, settings: Settings, token: str, now: datetime) -> None:
    """Sign out: revoke the session behind ``token`` (unknown tokens are ignored)."""
    digest = token_digest(settings.resolved_secret_key(), token)
    db.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == digest, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_client_sessions(db: Session, client_ids: list[int], now: datetime) -> int:
    """Revoke every live session of these clients; returns how many died."""
    if not client_ids:
        return 0
    result = db.execute(
        update(AuthSession)
        .where(AuthSession.client_id.in_(client_ids), AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount or 0


def revoke_business_unit_sessions(db: Session, business_unit_id: int, now: datetime) -> int:
    """Revoke every session of every client of a business unit."""
    ids = list(db.scalars(select(Client.id).where(Client.business_unit_id == business_unit_id)))
    return revoke_client_sessions(db, ids, now)

"""Client sessions: opaque tokens, stored as keyed hashes, idle + absolute lifetimes."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
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
    db: Session, settings: Settings, client_id: int, method: str, now: datetime
) -> str:
    """Open a session for ``client_id`` and return its token (shown once, never stored)."""
    token = new_token()
    db.add(
        AuthSession(
            token_hash=keyed_hash(settings.resolved_secret_key(), "session", token),
            client_id=client_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.session_absolute_seconds),
            method=method,
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


def lookup_session(
    db: Session, settings: Settings, token: str, now: datetime
) -> tuple[AuthSession, Client, bool] | None:
    """Like ``resolve_session`` but only reads: also says whether a touch is due."""
    digest = keyed_hash(settings.resolved_secret_key(), "session", token)
    row = db.execute(
        select(AuthSession, Client, BusinessUnit)
        .join(Client, Client.id == AuthSession.client_id)
        .join(BusinessUnit, BusinessUnit.id == Client.business_unit_id)
        .where(AuthSession.token_hash == digest)
    ).first()
    if row is None:
        return None
    session, client, bu = row
    idle_limit = session.last_seen_at + timedelta(seconds=settings.session_idle_seconds)
    if (
        session.revoked_at is not None
        or now >= session.expires_at
        or now >= idle_limit
        or not client.portal_access
        or not bu.portal_enabled
    ):
        return None
    return session, client, now - session.last_seen_at >= _TOUCH_EVERY


def touch_session(db: Session, session: AuthSession, now: datetime) -> None:
    """Record the session's last use in a short write of its own.

    The request's read ends first, so its connection is back in the pool
    before the write takes another one (at most one per request), and the
    read never holds the write lock. Two requests racing here write once.
    """
    db.commit()
    try:
        with write_bind(db).begin() as conn:
            conn.execute(
                update(AuthSession)
                .where(AuthSession.id == session.id, AuthSession.last_seen_at <= now - _TOUCH_EVERY)
                .values(last_seen_at=now)
            )
    except OperationalError:
        # Busy writers must not fail a read: the next request writes it.
        log.warning("could not record a session's last use (database busy)")
        return
    set_committed_value(session, "last_seen_at", now)


def revoke_token(db: Session, settings: Settings, token: str, now: datetime) -> None:
    """Sign out: revoke the session behind ``token`` (unknown tokens are ignored)."""
    digest = keyed_hash(settings.resolved_secret_key(), "session", token)
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

"""Turning portal access on or off for every client of a business unit, set-based.

A fixed number of statements whatever the number of clients (no ORM loop).
Switching on: the portal-access trigger is queued (the portal link goes
out). Switching off: their sessions are revoked (they are dead already by
``sessions.is_live``; revoking them keeps them dead if access comes back),
so their next sync answers 401 and the app forgets its copy and cursor.

The feed is touched neither way: the usual projection keeps every client's
feed current whatever their access, so a client let back in signs in and
pulls it whole. Rewriting 100,000 feed rows (an earlier version moved the
profiles to a new revision on the way back) cost more than the change
itself (docs/PERFORMANCE.md, ``bench/bench_staff.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.models import AuthSession, Client
from backend.services import triggers


def set_portal_access(
    db: Session, business_unit_id: int, enable: bool, now: datetime, *, dry_run: bool
) -> int:
    """How many clients change (all of them get ``enable``); the caller commits."""
    changing = select(Client.id).where(
        Client.business_unit_id == business_unit_id, Client.portal_access.is_(not enable)
    )
    if dry_run:
        return int(db.scalar(select(func.count()).select_from(changing.subquery())) or 0)
    # Before the UPDATE, while ``changing`` still selects the clients that change.
    if enable:
        triggers.portal_access_granted_many(db, business_unit_id, changing, now)
    result = db.execute(
        update(Client)
        .where(Client.business_unit_id == business_unit_id, Client.portal_access.is_(not enable))
        .values(portal_access=enable)
        .execution_options(synchronize_session=False)
    )
    if not enable:
        switched_off = select(Client.id).where(
            Client.business_unit_id == business_unit_id, Client.portal_access.is_(False)
        )
        db.execute(
            update(AuthSession)
            .where(AuthSession.client_id.in_(switched_off), AuthSession.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount or 0)

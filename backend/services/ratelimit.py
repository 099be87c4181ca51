"""Sliding-window rate limits stored as :class:`RateEvent` rows.

A limit reads "at most ``limit`` events with this key in the last ``window``
seconds". Keys name what is counted and for whom, e.g. ``send:id:email:a@b.c``,
``send:ip:203.0.113.7``, ``fail:id:phone:+336…``, ``fail:ip:…``. Rows live in
the database (not in memory) so that limits hold across workers and restarts.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.models import RateEvent

# Events older than this are never looked at by any limit we configure (the
# longest window is one hour), so they can be deleted.
RETENTION = timedelta(hours=1)

# Pruning the whole table on every hit would scan it each time; once in a while
# is enough to keep it small. Each key is also pruned whenever it is hit.
_GLOBAL_PRUNE_PROBABILITY = 0.02


def retry_after(
    db: Session, key: str, now: datetime, limit: int, window_seconds: int
) -> int | None:
    """Seconds to wait before one more ``key`` event fits the limit, or None if it fits now.

    With ``limit=1`` this expresses a minimum interval between two events.
    """
    if limit <= 0:
        return window_seconds
    window = timedelta(seconds=window_seconds)
    times = list(
        db.scalars(
            select(RateEvent.at)
            .where(RateEvent.key == key, RateEvent.at > now - window)
            .order_by(RateEvent.at)
        )
    )
    if len(times) < limit:
        return None
    # The newest ``limit - 1`` events may stay; the one just before them has to
    # leave the window before another event is allowed.
    blocking = times[len(times) - limit]
    seconds = (blocking + window - now).total_seconds()
    return max(1, math.ceil(seconds))


def hit(db: Session, key: str, now: datetime) -> None:
    """Count one event for ``key`` (the caller commits) and prune stale rows."""
    db.execute(delete(RateEvent).where(RateEvent.key == key, RateEvent.at <= now - RETENTION))
    db.add(RateEvent(key=key, at=now))
    if random.random() < _GLOBAL_PRUNE_PROBABILITY:
        prune(db, now)


def prune(db: Session, now: datetime) -> int:
    """Delete every event older than :data:`RETENTION`; returns how many went."""
    result = db.execute(delete(RateEvent).where(RateEvent.at <= now - RETENTION))
    return result.rowcount or 0

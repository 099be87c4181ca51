"""Automatic messages: what the portal sends by itself when something happens.

Placeholder hooks with their final signatures; the trigger configuration
(per business unit and activity type) and the firing are being written.
Callers call these inside their own transaction, after their change is
flushed; a hook only queues messages (never talks to a provider).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import Select
from sqlalchemy.orm import Session

from backend.models import Activity, Client

VisitChange = Literal["booked", "rescheduled", "cancelled"]


def portal_access_granted(db: Session, client: Client, now: datetime) -> None:
    """The client was given portal access: send them the portal link."""


def portal_access_granted_many(
    db: Session, business_unit_id: int, client_ids: Select[tuple[int]], now: datetime
) -> int:
    """Bulk form of :func:`portal_access_granted` (set-based); returns how many fired."""
    return 0


def activity_closed(db: Session, activity: Activity, now: datetime) -> None:
    """The activity was closed: send the report and/or the survey link."""


def visit_changed(db: Session, activity: Activity, change: VisitChange, now: datetime) -> None:
    """A visit was booked, rescheduled or cancelled: send a confirmation (.ics by email)."""


def due_reminders(db: Session, now: datetime) -> int:
    """Queue the reminders whose time has come (called by the delivery worker)."""
    return 0

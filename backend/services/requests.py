"""Clients asking for a new intervention from the portal ("New request").

Staff allow it per activity type with a ``request`` portal action. A request
creates an activity waiting for a date (``to_schedule``) with the client's
description and a ``requested`` step; when the type also has a ``book``
action usable then, the client goes on to choose a slot exactly as for any
activity to schedule (``/activities/{id}/slots`` and ``/book``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.actions import is_available
from backend.models import (
    Activity,
    ActivityStep,
    ActivityType,
    BusinessUnit,
    Client,
    Site,
)
from backend.services import feed, mutations, projection
from backend.services.messaging import MessageSender
from backend.services.planning import notify_planning

# The status a new request starts in: what booking accepts (action ``book``).
REQUESTED_STATUS = "to_schedule"
# The follow-up step that marks an activity as requested by the client.
REQUESTED_STEP = "requested"


class RequestRefused(Exception):
    """A request that cannot be created as sent.

    ``field`` names the offending input of a 422 (None for a 404).
    """

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Outcome:
    """The HTTP status and JSON body of a created (or replayed) request."""

    status: int
    body: dict[str, Any]


def _action(activity_type: ActivityType, kind: str) -> dict[str, Any] | None:
    for action in activity_type.portal_actions or []:
        if action.get("kind") == kind:
            return action
    return None


def is_bookable(activity_type: ActivityType, now: datetime) -> bool:
    """True when a new request of this type can go on to choose a slot."""
    action = _action(activity_type, "book")
    return action is not None and is_available(
        action.get("conditions") or {}, REQUESTED_STATUS, None, now
    )


def requestable_types(db: Session, bu: BusinessUnit) -> list[ActivityType]:
    """The unit's activity types that clients may request, in configuration order."""
    return [t for t in projection.shown_types(db, bu) if projection.is_requestable(t)]


def options(db: Session, client: Client, now: datetime) -> dict[str, Any]:
    """What the "New request" screen offers: the client's sites and the requestable types."""
    bu = db.get_one(BusinessUnit, client.business_unit_id)
    sites = db.scalars(select(Site).where(Site.client_id == client.id).order_by(Site.id)).all()
    types = []
    for t in requestable_types(db, bu):
        action = _action(t, "request") or {}
        types.append(
            {
                "id": t.id,
                "name": t.name,
                "label": str(action.get("label") or t.name),
                "bookable": is_bookable(t, now),
            }
        )
    return {"sites": [projection.site_doc(s) for s in sites], "types": types}


def create(
    db: Session,
    client: Client,
    site_id: int,
    type_id: int,
    description: str,
    mutation_id: str,
    now: datetime,
    render: Any,
    sender: MessageSender | None = None,
) -> Outcome:
    """Create the client's request, idempotently (a replay returns the first result).

    The caller has started a write transaction (``begin_write``). Another
    client's site is a 404; a type clients may not request is a 422 on
    ``type_id``.
    """
    key = mutations.mutation_key(client.id, mutation_id)
    replay = _replay(db, key)
    if replay is not None:
        return Outcome(*replay)
    site = db.scalars(select(Site).where(Site.id == site_id, Site.client_id == client.id)).first()
    if site is None:
        raise RequestRefused(404, "No such item in your portal.")
    bu = db.get_one(BusinessUnit, client.business_unit_id)
    activity_type = next((t for t in requestable_types(db, bu) if t.id == type_id), None)
    if activity_type is None:
        raise RequestRefused(
            422, "This kind of intervention cannot be requested online.", "type_id"
        )
    activity = Activity(
        business_unit_id=bu.id,
        client_id=client.id,
        site_id=site.id,
        type_id=activity_type.id,
        status=REQUESTED_STATUS,
        description=description,
        created_at=now,
        updated_at=now,
    )
    db.add(activity)
    db.flush()
    db.add(ActivityStep(activity_id=activity.id, at=now, code=REQUESTED_STEP))
    db.flush()
    feed.refresh_activities(db, [activity.id])
    request_action = _action(activity_type, "request") or {}
    if request_action.get("notify_planning"):
        notify_planning(db, sender, bu, client, activity, "new_request", now, activity.description)
    loaded = db.scalars(projection.activity_query().where(Activity.id == activity.id)).one()
    body = {"activity": render(loaded), "bookable": is_bookable(activity_type, now)}
    # Bound to the action only: the activity does not exist before the request.
    mutations.remember(db, key, client.id, "request", None, 201, body)
    try:
        db.commit()
    except IntegrityError:
        # The same mutation id won a race on another connection: answer like it.
        db.rollback()
        replay = _replay(db, key)
        if replay is None:
            raise
        return Outcome(*replay)
    return Outcome(201, body)


def _replay(db: Session, key: str) -> tuple[int, dict[str, Any]] | None:
    """The first answer of this request; a 409 if the id carried another change."""
    try:
        return mutations.replay(db, key, "request", None)
    except mutations.MutationReused as exc:
        raise RequestRefused(exc.status, exc.message) from exc

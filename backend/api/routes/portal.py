"""What a signed-in client reads: profile, branding, activities, forms."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, StrictBool
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backend.actions import available_actions
from backend.api.deps import CurrentClient, DbSession, IdPath, SessionToken, hot_read
from backend.api.schemas import ActivityList, ActivityOut, FormOut, Me
from backend.models import Activity
from backend.services import documents, feed, hot_reads, projection

router = APIRouter(tags=["portal"])

NOT_FOUND = "No such item in your portal."


def _with_availability(doc: dict, now: datetime) -> ActivityOut:
    start = datetime.fromisoformat(doc["scheduled_start"]) if doc["scheduled_start"] else None
    keys = available_actions(doc["actions"], doc["status"], start, now)
    return ActivityOut(**doc, available_actions=keys)


@router.get("/me", response_model=Me)
def me(client: CurrentClient, db: DbSession) -> Me:
    """The signed-in client's profile and its business unit's branding."""
    branding = feed.live_documents(db, client.id, "branding", "bu")
    if branding:
        profile = feed.live_documents(db, client.id, "profile", "me")
        assert profile  # live_documents answers only for a materialized feed
        return Me.model_validate({"profile": profile[0], "branding": branding[0]})
    loaded = projection.load_client(db, client.id)
    assert loaded is not None  # the session was just resolved for this client
    return Me.model_validate(
        {
            "profile": projection.profile_doc(loaded),
            "branding": projection.branding_doc(loaded.business_unit),
        }
    )


class LanguageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Literal["en", "fr"]


@router.put("/me/language", response_model=Me)
def set_language(body: LanguageIn, client: CurrentClient, db: DbSession) -> Me:
    """The client's own language: titles, dates and messages follow it.

    The changed documents (profile, activity titles) arrive with the next sync.
    """
    loaded = projection.load_client(db, client.id)
    assert loaded is not None  # the session was just resolved for this client
    if loaded.preferred_language != body.language:
        loaded.preferred_language = body.language
        db.flush()
        # Reports and other documents are written in the client's language.
        documents.refresh_client(db, loaded.id)
        feed.refresh_client(db, loaded.id)
    db.commit()
    return me(loaded, db)


class NotificationsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict: "no" or 0 is a mistake to name, not a choice to guess.
    email: StrictBool
    sms: StrictBool


@router.put("/me/notifications", response_model=Me)
def set_notifications(body: NotificationsIn, client: CurrentClient, db: DbSession) -> Me:
    """Which automatic messages the client agrees to receive: by email (reports,
    confirmations, reminders) and by SMS. Sign-in codes and links asked for
    are always sent."""
    loaded = projection.load_client(db, client.id)
    assert loaded is not None  # the session was just resolved for this client
    if (loaded.email_notifications, loaded.sms_notifications) != (body.email, body.sms):
        loaded.email_notifications = body.email
        loaded.sms_notifications = body.sms
        db.flush()
        feed.refresh_client(db, loaded.id)
    db.commit()
    return me(loaded, db)


# /activities and /activities/{id} are hot: they resolve the session and read
# the client's materialized feed in one statement (deps.hot_read,
# backend/services/hot_reads.py) and answer bytes validated once, instead of
# FastAPI validating the response model again.


def _projected_activities(
    request: Request, client_id: int, activity_id: int | None = None
) -> list[dict]:
    """The client's visible activity documents projected live from the database.

    Only for a client whose feed was never materialized (``live_documents``
    answered None); runs in a worker thread, like any ORM work.
    """
    db: Session = request.app.state.request_sessionmaker()
    try:
        client = projection.load_client(db, client_id)
        assert client is not None  # the session was just resolved for this client
        bu = client.business_unit
        if activity_id is None:
            return [
                projection.activity_doc(a, client, bu)
                for a in projection.visible_activities(db, client, bu)
            ]
        activity = db.scalars(
            projection.activity_query().where(
                Activity.id == activity_id, Activity.client_id == client.id
            )
        ).first()
        if activity is None or not projection.is_visible(activity, bu):
            return []
        return [projection.activity_doc(activity, client, bu)]
    finally:
        db.close()


def _json(model: BaseModel) -> Response:
    return Response(content=model.model_dump_json(), media_type="application/json")


@router.get("/activities", response_model=ActivityList)
async def list_activities(
    request: Request,
    token: SessionToken,
    scope: Annotated[Literal["all", "upcoming", "past"], Query()] = "all",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """The client's visible activities, upcoming first by date, past newest first."""
    now: datetime = request.app.state.clock()
    key: bytes = request.app.state.secret_key
    signed, docs = await hot_read(request, hot_reads.activity_documents(key, token))
    if docs is None:
        docs = await run_in_threadpool(_projected_activities, request, signed.client_id)
    now_iso = projection.iso(now) or ""

    def upcoming(doc: dict) -> bool:
        if doc["status"] in ("to_schedule", "in_progress"):
            return True
        if doc["status"] in ("done", "cancelled"):
            return False
        return (doc["scheduled_end"] or doc["scheduled_start"] or "") >= now_iso

    if scope == "upcoming":
        docs = sorted(
            (d for d in docs if upcoming(d)), key=lambda d: d["scheduled_start"] or "9999"
        )
    elif scope == "past":
        docs = sorted(
            (d for d in docs if not upcoming(d)),
            key=lambda d: d["scheduled_start"] or "",
            reverse=True,
        )
    else:
        docs = sorted(docs, key=lambda d: d["scheduled_start"] or "9999")
    page = docs[offset : offset + limit]
    return _json(ActivityList(items=[_with_availability(d, now) for d in page], total=len(docs)))


@router.get("/activities/{activity_id}", response_model=ActivityOut)
async def get_activity(request: Request, activity_id: IdPath, token: SessionToken) -> Response:
    """One activity with its steps; 404 when it is not this client's or not shown."""
    now: datetime = request.app.state.clock()
    key: bytes = request.app.state.secret_key
    read = hot_reads.activity_documents(key, token, str(activity_id))
    signed, found = await hot_read(request, read)
    if found is None:
        found = await run_in_threadpool(
            _projected_activities, request, signed.client_id, activity_id
        )
    if not found:
        raise HTTPException(404, NOT_FOUND)
    return _json(_with_availability(found[0], now))


@router.get("/forms/{form_id}", response_model=FormOut)
def get_form(form_id: IdPath, client: CurrentClient, db: DbSession) -> FormOut:
    """A form definition used by one of the client's portal actions."""
    bu = client.business_unit
    forms = projection.visible_forms(db, bu, projection.shown_types(db, bu))
    for form in forms:
        if form.id == form_id:
            return FormOut.model_validate(projection.form_doc(form))
    raise HTTPException(404, NOT_FOUND)

"""Staff API for automatic messages (triggers): configure and preview.

A business unit without a row for an event uses the built-in default
(``backend.services.triggers.config.DEFAULTS``); a row for an activity type
wins over the row for all types. Templates are checked on every write and
preview: an unknown replacement code is a 422 naming the field
(``["body", "templates", "fr", "body"]``), so a console can validate as
staff type by calling the preview with the draft.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api.deps import MAX_ID, DbSession, IdPath
from backend.api.errors import problem
from backend.api.routes.staff import Patch
from backend.api.staff_access import register_resolver, require_staff
from backend.models import Activity, ActivityType, BusinessUnit, Client, NotificationTrigger
from backend.services import projection, triggers
from backend.services.triggers import config
from backend.services.triggers.config import Event, TriggerChannel, TriggerSpec

router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Depends(require_staff)])


def _trigger_unit(db: Session, trigger_id: int) -> int | None:
    return db.scalar(
        select(NotificationTrigger.business_unit_id).where(NotificationTrigger.id == trigger_id)
    )


# The staff guard places /staff/triggers/{trigger_id} in the trigger's business unit.
register_resolver("trigger_id", "trigger", _trigger_unit)

TypeId = Annotated[int, Field(ge=1, le=MAX_ID)]
Hours = Annotated[int, Field(ge=1, le=24 * 30)]


class TemplateTexts(BaseModel):
    """Staff's words for one language; empty keeps the built-in template file's."""

    model_config = ConfigDict(extra="forbid", strict=True)

    subject: Annotated[str, Field(max_length=200)] = ""
    body: Annotated[str, Field(max_length=5000)] = ""

    @field_validator("subject", "body")
    @classmethod
    def _codes_known(cls, value: str) -> str:
        config.check_template(value)  # a TemplateError is a ValueError: 422 on this field
        return value


Templates = dict[Annotated[str, Field(pattern=r"^(en|fr)$")], TemplateTexts]


class TriggerIn(Patch):
    nullable = frozenset({"activity_type_id", "hours_before"})

    event: Event
    activity_type_id: TypeId | None = None
    enabled: bool = True
    channel: TriggerChannel = "email"
    hours_before: Hours | None = None
    recipient: Annotated[str, Field(max_length=200)] = ""
    templates: Templates = Field(default_factory=dict)


class TriggerPatch(Patch):
    nullable = frozenset({"activity_type_id", "hours_before"})

    activity_type_id: TypeId | None = None
    enabled: bool | None = None
    channel: TriggerChannel | None = None
    hours_before: Hours | None = None
    recipient: Annotated[str, Field(max_length=200)] | None = None
    templates: Templates | None = None


class PreviewIn(Patch):
    """A draft trigger to render (nothing is saved)."""

    event: Event
    activity_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    client_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    channel: TriggerChannel = "email"
    recipient: Annotated[str, Field(max_length=200)] = ""
    templates: Templates = Field(default_factory=dict)


def _unprocessable(field: str, message: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", field], "msg": message, "type": "value_error"}])


def _business_unit(db: DbSession, bu_id: int) -> BusinessUnit:
    bu = db.get(BusinessUnit, bu_id)
    if bu is None:
        raise HTTPException(404, f"No business unit with id {bu_id}.")
    return bu


def _trigger(db: DbSession, trigger_id: int) -> NotificationTrigger:
    row = db.get(NotificationTrigger, trigger_id)
    if row is None:
        raise HTTPException(404, f"No trigger with id {trigger_id}.")
    return row


def trigger_out(row: NotificationTrigger) -> dict[str, Any]:
    return {
        "id": row.id,
        "business_unit_id": row.business_unit_id,
        "activity_type_id": row.activity_type_id,
        "event": row.event,
        "enabled": row.enabled,
        "channel": row.channel,
        "hours_before": row.hours_before,
        "recipient": row.recipient,
        "templates": row.templates or {},
    }


def _default_out(spec: TriggerSpec) -> dict[str, Any]:
    return {
        "event": spec.event,
        "enabled": spec.enabled,
        "channel": spec.channel,
        "hours_before": spec.hours_before,
    }


def _check(db: DbSession, row: NotificationTrigger) -> None:
    """The rules that span fields (422 naming the field, 409 for a twin)."""
    if row.activity_type_id is not None:
        if row.event in config.CLIENT_EVENTS:
            raise _unprocessable("activity_type_id", f"{row.event} is not about an activity")
        activity_type = db.get(ActivityType, row.activity_type_id)
        if activity_type is None or activity_type.business_unit_id != row.business_unit_id:
            raise _unprocessable("activity_type_id", "no such activity type in this unit")
    if row.event == "reminder":
        row.hours_before = row.hours_before or config.DEFAULT_REMINDER_HOURS
    elif row.hours_before is not None:
        raise _unprocessable("hours_before", "only reminders have hours_before")
    if row.event in config.STAFF_EVENTS and row.channel != "email":
        raise _unprocessable("channel", "the planning notice is sent by email")
    if row.recipient and row.event not in config.STAFF_EVENTS:
        raise _unprocessable("recipient", "only the planning notice has a recipient")
    twins = select(NotificationTrigger.id).where(
        NotificationTrigger.business_unit_id == row.business_unit_id,
        NotificationTrigger.event == row.event,
        NotificationTrigger.activity_type_id.is_(None)
        if row.activity_type_id is None
        else NotificationTrigger.activity_type_id == row.activity_type_id,
        NotificationTrigger.hours_before.is_(None)
        if row.hours_before is None
        else NotificationTrigger.hours_before == row.hours_before,
    )
    if row.id is not None:
        twins = twins.where(NotificationTrigger.id != row.id)
    twin = db.scalar(twins)
    if twin is not None:
        raise HTTPException(
            409,
            f"Trigger {twin} already covers this event and activity type; "
            f"change it with PATCH /staff/triggers/{twin}.",
        )


def _templates(value: dict[str, TemplateTexts] | None) -> dict[str, dict[str, str]]:
    return {lang: texts.model_dump() for lang, texts in (value or {}).items()}


@router.get("/business-units/{bu_id}/triggers")
def list_triggers(bu_id: IdPath, db: DbSession) -> dict[str, Any]:
    """The unit's triggers, and the built-in defaults that apply where it has none."""
    _business_unit(db, bu_id)
    rows = list(
        db.scalars(
            select(NotificationTrigger)
            .where(NotificationTrigger.business_unit_id == bu_id)
            .order_by(NotificationTrigger.event, NotificationTrigger.id)
        )
    )
    configured = {r.event for r in rows if r.activity_type_id is None}
    return {
        "items": [trigger_out(r) for r in rows],
        "defaults": [
            _default_out(config.DEFAULTS[e]) for e in config.EVENTS if e not in configured
        ],
        "codes": sorted(config.MESSAGE_VARIABLES),
    }


# _check's answer when another trigger has the same event, activity type (and reminder hours).
_TWIN = {409: problem("Another trigger covers this event and activity type: change that one")}


@router.post("/business-units/{bu_id}/triggers", status_code=201, responses=_TWIN)
def create_trigger(bu_id: IdPath, body: TriggerIn, db: DbSession) -> dict[str, Any]:
    """Add a trigger (an event's message for all types or one type)."""
    _business_unit(db, bu_id)
    row = NotificationTrigger(
        business_unit_id=bu_id,
        activity_type_id=body.activity_type_id,
        event=body.event,
        enabled=body.enabled,
        channel=body.channel,
        hours_before=body.hours_before,
        recipient=body.recipient,
        templates=_templates(body.templates),
    )
    _check(db, row)
    db.add(row)
    db.commit()
    return trigger_out(row)


@router.patch("/triggers/{trigger_id}", responses=_TWIN)
def update_trigger(trigger_id: IdPath, patch: TriggerPatch, db: DbSession) -> dict[str, Any]:
    """Change a trigger; omitted fields stay, ``templates`` replaces all languages."""
    row = _trigger(db, trigger_id)
    values = patch.model_dump(exclude_unset=True)
    if "templates" in values:
        values["templates"] = _templates(patch.templates)
    with db.no_autoflush:
        for name, value in values.items():
            setattr(row, name, value)
        _check(db, row)
    db.commit()
    return trigger_out(row)


@router.delete("/triggers/{trigger_id}", status_code=204)
def delete_trigger(trigger_id: IdPath, db: DbSession) -> Response:
    """Remove a trigger: its event falls back to the all-types row or the default."""
    db.delete(_trigger(db, trigger_id))
    db.commit()
    return Response(status_code=204)


def _subject_of(
    db: DbSession, bu_id: int, activity_id: int | None, client_id: int | None
) -> tuple[Client, Activity | None]:
    if activity_id is not None:
        activity = db.scalars(
            projection.activity_query().where(
                Activity.id == activity_id, Activity.business_unit_id == bu_id
            )
        ).first()
        if activity is None:
            raise HTTPException(404, f"No activity with id {activity_id} in this unit.")
        return activity.client, activity
    if client_id is not None:
        client = db.get(Client, client_id)
        if client is None or client.business_unit_id != bu_id:
            raise HTTPException(404, f"No client with id {client_id} in this unit.")
        return client, None
    raise _unprocessable("activity_id", "give the activity (or, for portal_access, the client)")


def _previews(
    db: DbSession, spec: TriggerSpec, client: Client, activity: Activity | None
) -> dict[str, Any]:
    if activity is None and spec.event not in config.CLIENT_EVENTS:
        raise _unprocessable("activity_id", f"a {spec.event} message is about an activity")
    return {
        "event": spec.event,
        "channel": spec.channel,
        **{lang: triggers.preview(db, spec, client, activity, lang) for lang in config.LANGUAGES},
    }


@router.get("/triggers/{trigger_id}/preview")
def preview_trigger(
    trigger_id: IdPath,
    db: DbSession,
    activity_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    client_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> dict[str, Any]:
    """A saved trigger's message for a real activity (or client), in French and English."""
    row = _trigger(db, trigger_id)
    client, activity = _subject_of(db, row.business_unit_id, activity_id, client_id)
    return _previews(db, config.spec_of(row), client, activity)


@router.post("/business-units/{bu_id}/triggers/preview")
def preview_draft(bu_id: IdPath, body: PreviewIn, db: DbSession) -> dict[str, Any]:
    """A draft's message (nothing saved): the console calls this as staff type."""
    _business_unit(db, bu_id)
    client, activity = _subject_of(db, bu_id, body.activity_id, body.client_id)
    spec = TriggerSpec(
        event=body.event,
        channel=body.channel,
        recipient=body.recipient,
        hours_before=config.DEFAULT_REMINDER_HOURS if body.event == "reminder" else None,
        templates=_templates(body.templates),
    )
    return _previews(db, spec, client, activity)

"""Staff configuration and preview.

Every write here re-projects the affected client feeds in the same
transaction, so a staff change shows up in the clients' next pull, and adds
an audit entry (changed fields before -> after) in that same transaction.
Access: ``require_staff`` (backend/api/staff_access.py) checks the caller's
role in the business unit of every id in the path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from fastapi import APIRouter, Depends, HTTPException, Response, status
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api.deps import MAX_ID, DbSession, IdPath, Now, SettingsDep
from backend.api.errors import problem
from backend.api.routes.portal import _with_availability
from backend.api.schemas import ActivityOut, Me
from backend.api.staff_access import StaffPrincipal, needs, require_staff
from backend.api.timestamps import Timestamp
from backend.core.db import begin_write
from backend.domain import (
    ActivityStatus,
    ActivityTypePortal,
    BookingSettings,
    FormSpec,
)
from backend.models import (
    Activity,
    ActivityStep,
    ActivityType,
    BusinessUnit,
    Client,
    FormDefinition,
    LoginLink,
    OutgoingMessage,
    Site,
    Technician,
)
from backend.services import audit, feed, form_versions, projection, triggers
from backend.services import auth as auth_service
from backend.services.booking import bump_schedule
from backend.services.sessions import revoke_business_unit_sessions, revoke_client_sessions

router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Depends(require_staff)])


class Patch(BaseModel):
    """A partial update: omitted fields stay as they are; ``null`` only where allowed."""

    # Strict: 0 is not false and "5" is not 5 (a 422 naming the field).
    model_config = ConfigDict(extra="forbid", strict=True)
    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*")
    @classmethod
    def _no_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value


def _get(db: Session, model: type, ident: int, what: str) -> Any:
    row = db.get(model, ident)
    if row is None:
        raise HTTPException(404, f"No {what} with id {ident}.")
    return row


def _unprocessable(field: str, message: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", field], "msg": message, "type": "value_error"}])


# --- business units -----------------------------------------------------------


class BusinessUnitPatch(Patch):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    email: Annotated[str, Field(max_length=200)] | None = None
    address: Annotated[str, Field(max_length=1000)] | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    primary_color: Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")] | None = None
    portal_enabled: bool | None = None
    portal_default_for_new_clients: bool | None = None
    permanent_links_allowed: bool | None = None
    sms_links_allowed: bool | None = None
    show_cancelled_activities: bool | None = None
    booking: BookingSettings | None = None
    # Formats of the documents generated from now on (reports, quotes, forms).
    report_formats: Literal["pdf", "docx", "both"] | None = None


class SmsCreditPurchase(Patch):
    credits: Annotated[float, Field(gt=0, le=100_000)]


@router.get("/business-units/{bu_id}")
def get_business_unit(bu_id: IdPath, db: DbSession) -> dict[str, Any]:
    bu: BusinessUnit = _get(db, BusinessUnit, bu_id, "business unit")
    return _bu_out(bu)


def _bu_out(bu: BusinessUnit) -> dict[str, Any]:
    return {
        **projection.branding_doc(bu),
        "portal_enabled": bu.portal_enabled,
        "portal_default_for_new_clients": bu.portal_default_for_new_clients,
        "permanent_links_allowed": bu.permanent_links_allowed,
        "sms_links_allowed": bu.sms_links_allowed,
        "show_cancelled_activities": bu.show_cancelled_activities,
        "sms_credits": bu.sms_centicredits / 100,
        "report_formats": bu.report_formats,
        "booking": BookingSettings.model_validate(bu.booking or {}).model_dump(),
    }


@router.patch("/business-units/{bu_id}", openapi_extra=needs("admin"))
def patch_business_unit(
    bu_id: IdPath, patch: BusinessUnitPatch, db: DbSession, now: Now, principal: StaffPrincipal
) -> dict[str, Any]:
    """Change branding or portal settings (admin); turning the portal off ends every session."""
    bu: BusinessUnit = _get(db, BusinessUnit, bu_id, "business unit")
    values = patch.model_dump(exclude_unset=True)
    if "booking" in values and patch.booking is not None:
        values["booking"] = patch.booking.model_dump()
    before = audit.snapshot(bu, list(values))
    for name, value in values.items():
        setattr(bu, name, value)
    if patch.portal_enabled is False:
        revoke_business_unit_sessions(db, bu.id, now)
    db.flush()
    feed.refresh_business_unit(db, bu.id)
    audit.record(
        db,
        principal.actor,
        "business_unit.updated",
        now,
        business_unit_id=bu.id,
        target_kind="business_unit",
        target_id=bu.id,
        target_label=bu.name,
        before=before,
        after=audit.snapshot(bu, list(values)),
    )
    db.commit()
    return _bu_out(bu)


@router.post("/business-units/{bu_id}/sms-credits", openapi_extra=needs("admin"))
def add_sms_credits(
    bu_id: IdPath, body: SmsCreditPurchase, db: DbSession, now: Now, principal: StaffPrincipal
) -> dict[str, Any]:
    bu: BusinessUnit = _get(db, BusinessUnit, bu_id, "business unit")
    before = bu.sms_centicredits / 100
    bu.sms_centicredits += round(body.credits * 100)
    audit.record(
        db,
        principal.actor,
        "business_unit.sms_credits_added",
        now,
        business_unit_id=bu.id,
        target_kind="business_unit",
        target_id=bu.id,
        target_label=bu.name,
        before={"sms_credits": before},
        after={"sms_credits": bu.sms_centicredits / 100},
    )
    db.commit()
    return {"sms_credits": bu.sms_centicredits / 100}


@router.get("/business-units/{bu_id}/messages")
def list_messages(
    bu_id: IdPath, db: DbSession, limit: Annotated[int, Field(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    """The staff-visible message log: every message with its delivery state.

    ``status`` is queued / sending / sent / failed (a retry is due at
    ``next_attempt_at``) / dead (``last_error`` says why) / not_sent
    (``reason``, e.g. ``no_credit``). The text itself is never listed (it
    may hold a sign-in code).
    """
    _get(db, BusinessUnit, bu_id, "business unit")
    rows = db.scalars(
        select(OutgoingMessage)
        .where(OutgoingMessage.business_unit_id == bu_id)
        .order_by(OutgoingMessage.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": m.id,
            "channel": m.channel,
            "recipient": m.recipient,
            "subject": m.subject,
            "status": m.status,
            "reason": m.reason,
            "attempts": m.attempts,
            "last_error": m.last_error,
            "next_attempt_at": projection.iso(m.next_attempt_at) if m.next_attempt_at else None,
            "sent_at": projection.iso(m.sent_at) if m.sent_at else None,
            "segments": m.segments,
            "cost_credits": m.cost_centicredits / 100,
            "client_id": m.client_id,
            "language": m.language,
            "created_at": projection.iso(m.created_at),
        }
        for m in rows
    ]


# --- clients ----------------------------------------------------------------


class ClientPatch(Patch):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    portal_access: bool | None = None
    preferred_language: Annotated[str, Field(pattern=r"^(en|fr)$")] | None = None
    # Consent to automatic messages; sms null = follow the unit (backend/services/triggers).
    nullable = frozenset({"sms_notifications"})
    email_notifications: bool | None = None
    sms_notifications: bool | None = None


@router.patch("/clients/{client_id}")
def patch_client(
    client_id: IdPath, patch: ClientPatch, db: DbSession, now: Now, principal: StaffPrincipal
) -> dict[str, Any]:
    """Change a client; removing portal access ends its sessions at once, granting it
    sends the portal link (``triggers.portal_access_granted``)."""
    client: Client = _get(db, Client, client_id, "client")
    values = patch.model_dump(exclude_unset=True)
    before = audit.snapshot(client, list(values))
    for name, value in values.items():
        setattr(client, name, value)
    if patch.portal_access is False:
        revoke_client_sessions(db, [client.id], now)
    db.flush()
    feed.refresh_client(db, client.id)
    if patch.portal_access is True and before.get("portal_access") is False:
        triggers.portal_access_granted(db, client, now)
    audit.record(
        db,
        principal.actor,
        "client.updated",
        now,
        business_unit_id=client.business_unit_id,
        target_kind="client",
        target_id=client.id,
        target_label=client.name,
        before=before,
        after=audit.snapshot(client, list(values)),
    )
    db.commit()
    return {
        "id": client.id,
        "name": client.name,
        "portal_access": client.portal_access,
        "preferred_language": client.preferred_language,
        "email_notifications": client.email_notifications,
        "sms_notifications": client.sms_notifications,
    }


class PermanentLinkRequest(Patch):
    label: Annotated[str, Field(max_length=100)] = ""


@router.post(
    "/clients/{client_id}/permanent-links",
    status_code=201,
    responses={409: problem("The business unit does not allow permanent links: allow them first")},
)
def issue_permanent_link(
    client_id: IdPath,
    body: PermanentLinkRequest,
    db: DbSession,
    settings: SettingsDep,
    now: Now,
    principal: StaffPrincipal,
) -> dict[str, Any]:
    """Issue a permanent login link; the token is shown in this answer only."""
    client: Client = _get(db, Client, client_id, "client")
    try:
        token = auth_service.issue_permanent_link(db, settings, client.id, now, label=body.label)
    except auth_service.PermanentLinksDisabled as exc:
        raise HTTPException(
            409, f"{exc} Allow them in the business unit's portal settings first."
        ) from exc
    audit.record(
        db,
        principal.actor,
        "permanent_link.issued",
        now,
        business_unit_id=client.business_unit_id,
        target_kind="client",
        target_id=client.id,
        target_label=client.name,
        before=None,
        after={"label": body.label},
    )
    db.commit()
    return {
        "token": token,
        "url": auth_service.link_url(settings, token),
        "client_id": client.id,
        "label": body.label,
    }


@router.get("/clients/{client_id}/permanent-links")
def list_permanent_links(client_id: IdPath, db: DbSession) -> list[dict[str, Any]]:
    _get(db, Client, client_id, "client")
    return [link.model_dump(mode="json") for link in auth_service.list_links(db, client_id)]


@router.delete("/permanent-links/{link_id}", status_code=204)
def revoke_permanent_link(
    link_id: IdPath, db: DbSession, now: Now, principal: StaffPrincipal
) -> Response:
    if not auth_service.revoke_permanent_link(db, link_id, now):
        raise HTTPException(404, f"No permanent link with id {link_id}.")
    link = db.get(LoginLink, link_id)
    client = db.get(Client, link.client_id) if link is not None else None
    if client is not None:
        audit.record(
            db,
            principal.actor,
            "permanent_link.revoked",
            now,
            business_unit_id=client.business_unit_id,
            target_kind="client",
            target_id=client.id,
            target_label=client.name,
            before={"link_id": link_id, "revoked_at": None},
            after={"link_id": link_id, "revoked_at": projection.iso(now)},
        )
    db.commit()
    return Response(status_code=204)


@router.get("/clients/{client_id}/preview")
def preview_client(
    client_id: IdPath, db: DbSession, now: Now, principal: StaffPrincipal
) -> dict[str, Any]:
    """Exactly what the client sees (read-only): profile, branding, activities.

    Opening it is logged (audit ``client.preview_opened``).
    """
    begin_write(db)
    client = projection.load_client(db, client_id)
    if client is None:
        raise HTTPException(404, f"No client with id {client_id}.")
    bu = client.business_unit
    me = Me.model_validate(
        {"profile": projection.profile_doc(client), "branding": projection.branding_doc(bu)}
    )
    items: list[ActivityOut] = [
        _with_availability(projection.activity_doc(a, client, bu), now)
        for a in sorted(
            projection.visible_activities(db, client, bu),
            key=lambda a: a.scheduled_start or now.max.replace(tzinfo=now.tzinfo),
        )
    ]
    audit.record(
        db,
        principal.actor,
        "client.preview_opened",
        now,
        business_unit_id=bu.id,
        target_kind="client",
        target_id=client.id,
        target_label=client.name,
    )
    db.commit()
    return {
        "portal_access": client.portal_access and bu.portal_enabled,
        "me": me.model_dump(),
        "activities": [i.model_dump() for i in items],
    }


# --- configuration ----------------------------------------------------------------


@router.put("/activity-types/{type_id}/portal")
def put_activity_type_portal(
    type_id: IdPath, body: ActivityTypePortal, db: DbSession, now: Now, principal: StaffPrincipal
) -> dict[str, Any]:
    """Set whether a type is shown, its title template and its portal actions."""
    activity_type: ActivityType = _get(db, ActivityType, type_id, "activity type")
    form_ids = {a.form_id for a in body.portal_actions if a.form_id is not None}
    if form_ids:
        known = set(
            db.scalars(
                select(FormDefinition.id).where(
                    FormDefinition.id.in_(form_ids),
                    FormDefinition.business_unit_id == activity_type.business_unit_id,
                )
            )
        )
        missing = sorted(form_ids - known)
        if missing:
            raise _unprocessable("portal_actions", f"unknown form id(s): {missing}")
    fields = ["portal_shown", "title_template", "portal_actions"]
    before = audit.snapshot(activity_type, fields)
    activity_type.portal_shown = body.portal_shown
    activity_type.title_template = body.title_template
    activity_type.portal_actions = [a.model_dump() for a in body.portal_actions]
    db.flush()
    feed.refresh_business_unit(db, activity_type.business_unit_id)
    audit.record(
        db,
        principal.actor,
        "activity_type.portal_updated",
        now,
        business_unit_id=activity_type.business_unit_id,
        target_kind="activity_type",
        target_id=activity_type.id,
        target_label=activity_type.name,
        before=before,
        after=audit.snapshot(activity_type, fields),
    )
    db.commit()
    return {"id": activity_type.id, "name": activity_type.name, **body.model_dump()}


class FormPut(Patch):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    fields: list[dict[str, Any]]


@router.put(
    "/forms/{form_id}",
    responses={409: problem("This version was replaced by a newer one: edit that one")},
)
def put_form(
    form_id: IdPath, body: FormPut, db: DbSession, now: Now, principal: StaffPrincipal
) -> dict[str, Any]:
    """Edit a form; once it has answers the edit is a new version (a new id, returned),
    the portal actions move to it and the answers keep theirs. 409 on an old version."""
    form: FormDefinition = _get(db, FormDefinition, form_id, "form")
    try:
        spec = FormSpec.model_validate({"fields": body.fields})
    except ValidationError as exc:
        raise HTTPException(
            422,
            [
                {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_context=False)
            ],
        ) from exc
    before = {"name": form.name, "fields": form.fields, "version": form.version}
    try:
        current = form_versions.save(db, form, body.name, [f.model_dump() for f in spec.fields])
    except form_versions.FormReplaced as exc:
        raise HTTPException(409, str(exc)) from None
    feed.refresh_business_unit(db, form.business_unit_id)
    audit.record(
        db,
        principal.actor,
        "form.updated",
        now,
        business_unit_id=form.business_unit_id,
        target_kind="form",
        target_id=current.id,
        target_label=current.name,
        before=before,
        after={"name": current.name, "fields": current.fields, "version": current.version},
    )
    db.commit()
    return {
        **projection.form_doc(current),
        "version": current.version,
        "replaced_id": form.id if current is not form else None,
    }


# --- activities -------------------------------------------------------------


class ActivityPatch(Patch):
    # Unscheduling clears the dates and the technician.
    nullable = frozenset(
        {"scheduled_start", "scheduled_end", "window_start", "window_end", "technician_id"}
    )
    status: ActivityStatus | None = None
    scheduled_start: Timestamp | None = None
    scheduled_end: Timestamp | None = None
    window_start: Timestamp | None = None
    window_end: Timestamp | None = None
    technician_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    client_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    site_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None


SCHEDULE_FIELDS = {
    "status",
    "scheduled_start",
    "scheduled_end",
    "window_start",
    "window_end",
    "technician_id",
    "site_id",
}


class StepIn(Patch):
    code: Annotated[str, Field(pattern=r"^[a-z_]{1,40}$")]
    note: Annotated[str, Field(max_length=2000)] = ""


def _aware(field: str, value: Any) -> None:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise _unprocessable(field, "datetimes need a time zone offset (e.g. Z or +01:00)")


@router.patch("/activities/{activity_id}")
def patch_activity(
    activity_id: IdPath, patch: ActivityPatch, db: DbSession, now: Now, principal: StaffPrincipal
) -> dict[str, Any]:
    """Change an activity (status, schedule, technician, owner); clients see it next pull.

    A new, moved or cancelled appointment is confirmed to the client
    (``triggers.visit_changed``)."""
    activity: Activity = _get(db, Activity, activity_id, "activity")
    values = patch.model_dump(exclude_unset=True)
    for name, value in values.items():
        _aware(name, value)
    bu_id = activity.business_unit_id
    if "client_id" in values:
        target: Client = _get(db, Client, values["client_id"], "client")
        if target.business_unit_id != bu_id:
            raise _unprocessable("client_id", "the client belongs to another business unit")
        if "site_id" not in values:
            raise _unprocessable("site_id", "moving an activity to another client needs its site")
    if "site_id" in values:
        site: Site = _get(db, Site, values["site_id"], "site")
        owner = values.get("client_id", activity.client_id)
        if site.client_id != owner:
            raise _unprocessable("site_id", "the site does not belong to the activity's client")
    if values.get("technician_id") is not None:
        tech: Technician = _get(db, Technician, values["technician_id"], "technician")
        if tech.business_unit_id != bu_id:
            raise _unprocessable("technician_id", "the technician belongs to another unit")
    before = audit.snapshot(activity, list(values))
    visit_before = triggers.visit_state(activity)
    for name, value in values.items():
        setattr(activity, name, value)
    if values.keys() & SCHEDULE_FIELDS:
        bump_schedule(db, bu_id)
    db.flush()
    feed.refresh_activities(db, [activity.id])
    change = triggers.visit_change_of(visit_before, activity)
    if change is not None:
        triggers.visit_changed(db, activity, change, now)
    audit.record(
        db,
        principal.actor,
        "activity.updated",
        now,
        business_unit_id=bu_id,
        target_kind="activity",
        target_id=activity.id,
        target_label=f"#{activity.id}",
        before=before,
        after=audit.snapshot(activity, list(values)),
    )
    db.commit()
    return {"id": activity.id, "status": activity.status, "client_id": activity.client_id}


@router.post("/activities/{activity_id}/steps", status_code=201)
def add_step(
    activity_id: IdPath, step: StepIn, db: DbSession, now: Now, principal: StaffPrincipal
) -> dict[str, Any]:
    activity: Activity = _get(db, Activity, activity_id, "activity")
    db.add(ActivityStep(activity_id=activity.id, at=now, code=step.code, note=step.note))
    db.flush()
    db.expire(activity, ["steps"])
    feed.refresh_activities(db, [activity.id])
    audit.record(
        db,
        principal.actor,
        "activity.step_added",
        now,
        business_unit_id=activity.business_unit_id,
        target_kind="activity",
        target_id=activity.id,
        target_label=f"#{activity.id}",
        before=None,
        after={"code": step.code, "note": step.note},
    )
    db.commit()
    return {"activity_id": activity.id, "code": step.code}


@router.delete("/activities/{activity_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_activity(
    activity_id: IdPath, db: DbSession, now: Now, principal: StaffPrincipal
) -> Response:
    activity: Activity = _get(db, Activity, activity_id, "activity")
    bu_id = activity.business_unit_id
    before = audit.snapshot(activity, ["status", "client_id", "type_id", "scheduled_start"])
    bump_schedule(db, bu_id)
    db.delete(activity)
    db.flush()
    feed.refresh_activities(db, [activity_id])
    audit.record(
        db,
        principal.actor,
        "activity.deleted",
        now,
        business_unit_id=bu_id,
        target_kind="activity",
        target_id=activity_id,
        target_label=f"#{activity_id}",
        before=before,
        after=None,
    )
    db.commit()
    return Response(status_code=204)

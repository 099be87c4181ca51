"""Client booking: slots from the scheduling assistant, book, reschedule, cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend import calendar_file
from backend.api.deps import MAX_ID, CurrentClient, DbSession, IdPath, Now
from backend.api.routes.portal import NOT_FOUND, _with_availability
from backend.api.timestamps import AwareTimestamp
from backend.models import Activity
from backend.services import booking, projection

router = APIRouter(tags=["booking"])

MutationId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9-]{8,64}$",
        description="Client-generated idempotency key (a UUID); a replay returns the first result.",
    ),
]


class SlotChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "1" or 1.0 is no technician id

    mutation_id: MutationId
    technician_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    window_start: AwareTimestamp


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    mutation_id: MutationId
    reason: Annotated[str, Field(max_length=500)]

    @field_validator("reason")
    @classmethod
    def _reason_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("please tell us why you cancel")
        return value.strip()


class Slot(BaseModel):
    technician_id: int
    technician_first_name: str
    day: str
    window_start: str
    window_end: str
    expected_arrival: str
    detour_minutes: float
    score: float
    reason_code: str
    reason: str = Field(description="Why this slot, in the client's language.")


class Slots(BaseModel):
    action: str
    proposals: list[Slot]


class Refusal(BaseModel):
    detail: str = Field(description="Why, and what to do next, for people.")
    code: str = Field(description="Stable reason code (slot_taken, too_late, not_booked...).")


# The change cannot be made as asked (slot taken, too late, action unavailable...).
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Refusal, "description": "Not possible now; the answer says why"}
}


def _refusal(exc: booking.BookingRefused) -> JSONResponse:
    return JSONResponse(status_code=exc.status, content={"detail": exc.message, "code": exc.code})


def _answer(run: Callable[[], booking.Outcome]) -> JSONResponse:
    """The outcome as JSON, or the refusal's status and sentence."""
    try:
        outcome = run()
    except booking.BookingRefused as exc:
        return _refusal(exc)
    return JSONResponse(status_code=outcome.status, content=outcome.body)


def _owned(db: DbSession, client: CurrentClient, activity_id: int) -> Activity:
    activity = db.scalars(
        projection.activity_query().where(
            Activity.id == activity_id, Activity.client_id == client.id
        )
    ).first()
    if activity is None or not projection.is_visible(activity, client.business_unit):
        raise HTTPException(404, NOT_FOUND)
    return activity


def _renderer(client: CurrentClient, now: Any) -> Any:
    def render(activity: Activity) -> dict[str, Any]:
        doc = projection.activity_doc(activity, client, client.business_unit)
        return _with_availability(doc, now).model_dump(mode="json")

    return render


@router.get("/activities/{activity_id}/slots", response_model=Slots, responses=_CONFLICT)
def slots(
    activity_id: IdPath, request: Request, client: CurrentClient, db: DbSession, now: Now
) -> Any:
    """Ranked appointment slots for booking (or rescheduling) this activity."""
    activity = _owned(db, client, activity_id)
    try:
        kind, proposals = booking.propose_slots(db, request.app.state.schedule_cache, activity, now)
    except booking.BookingRefused as exc:
        return _refusal(exc)
    return Slots(action=kind, proposals=[Slot(**p) for p in proposals])


def _change(
    kind: booking.ChangeKind,
    activity_id: int,
    choice: SlotChoice,
    request: Request,
    client: CurrentClient,
    db: DbSession,
    now: Any,
) -> JSONResponse:
    # apply_slot checks ownership and visibility itself (404), in its transaction.
    return _answer(
        lambda: booking.apply_slot(
            db,
            request.app.state.schedule_cache,
            client,
            activity_id,
            kind,
            choice.technician_id,
            choice.window_start,
            choice.mutation_id,
            now,
            _renderer(client, now),
            request.app.state.sender,
        )
    )


@router.post("/activities/{activity_id}/book", responses=_CONFLICT)
def book(
    activity_id: IdPath,
    choice: SlotChoice,
    request: Request,
    client: CurrentClient,
    db: DbSession,
    now: Now,
) -> JSONResponse:
    """Take one proposed slot. 409 with fresh proposals when it was just taken."""
    return _change("book", activity_id, choice, request, client, db, now)


@router.post("/activities/{activity_id}/reschedule", responses=_CONFLICT)
def reschedule(
    activity_id: IdPath,
    choice: SlotChoice,
    request: Request,
    client: CurrentClient,
    db: DbSession,
    now: Now,
) -> JSONResponse:
    """Move the appointment to another proposed slot, within the unit's guardrails."""
    return _change("reschedule", activity_id, choice, request, client, db, now)


@router.post("/activities/{activity_id}/cancel", responses=_CONFLICT)
def cancel(
    activity_id: IdPath,
    body: CancelRequest,
    request: Request,
    client: CurrentClient,
    db: DbSession,
    now: Now,
) -> JSONResponse:
    """Cancel the appointment; a reason is required."""
    return _answer(
        lambda: booking.cancel(
            db,
            request.app.state.schedule_cache,
            client,
            activity_id,
            body.reason,
            body.mutation_id,
            now,
            _renderer(client, now),
            request.app.state.sender,
        )
    )


@router.get(
    "/activities/{activity_id}/calendar.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, **_CONFLICT},
)
def calendar(activity_id: IdPath, client: CurrentClient, db: DbSession, now: Now) -> Response:
    """The booked visit as an iCalendar file (arrival window, business unit's time zone).

    404 for another client's activity; 409 while it has no appointment.
    """
    activity = _owned(db, client, activity_id)
    bu = client.business_unit
    doc = projection.activity_doc(activity, client, bu)
    try:
        body = calendar_file.visit_ics(
            doc, projection.branding_doc(bu), client.preferred_language, now
        )
    except calendar_file.NotBooked:
        return JSONResponse(
            status_code=409,
            content={
                "detail": "This intervention has no appointment yet: book one first.",
                "code": "not_booked",
            },
        )
    name = calendar_file.file_name(doc)
    return Response(
        content=body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )

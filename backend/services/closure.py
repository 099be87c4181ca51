"""Closing an activity with what the technician recorded (staff API).

The closure (summary, work done, answers, photos, both signatures) is stored
as an append-only :class:`~backend.document_models.ActivityClosure`; the
activity becomes ``done`` with a light ``closure_report`` for the feed (no
photos in the feed); the report files are generated in the same transaction
(``backend.services.documents``), the client's feed is refreshed and the
``activity_closed`` trigger is called.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from backend import forms
from backend.document_models import ActivityClosure
from backend.models import Activity, FormDefinition
from backend.reports.photos import PhotoError, prepare_photo
from backend.services import documents, feed, triggers
from backend.services.booking import bump_schedule

# A phone photo as sent (before downscaling); the request's own limit is
# CLOSURE_MAX_BYTES in backend/api/routes/staff_documents.py.
PHOTO_MAX_BYTES = 4 * 1024 * 1024
MAX_PHOTOS = 20
CLOSED_STATUSES = ("done", "cancelled")


class ClosureRefused(Exception):
    """The activity cannot be closed now (409); ``detail`` says what to do."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class Problems(Exception):
    """Fields that cannot be taken (422): (location, message) pairs."""

    found: list[tuple[tuple[str | int, ...], str]] = field(default_factory=list)

    def add(self, loc: tuple[str | int, ...], message: str) -> None:
        self.found.append((loc, message))

    def as_json(self) -> list[dict[str, Any]]:
        """FastAPI's 422 shape, located in the request body."""
        return [
            {"loc": ["body", *loc], "msg": message, "type": "value_error"}
            for loc, message in self.found
        ]


@dataclass(frozen=True)
class PhotoIn:
    media_type: str
    data: str
    caption: str = ""


@dataclass(frozen=True)
class ClosureIn:
    """What staff send, shapes already checked (lengths, types) by the API schema."""

    summary: str
    work_done: list[str]
    answers: list[tuple[str, str]]
    photos: list[PhotoIn]
    form_id: int | None = None
    form_answers: dict[str, Any] | None = None
    technician_signature: dict[str, Any] | None = None
    technician_name: str | None = None
    client_signature: dict[str, Any] | None = None
    client_signer_name: str = ""
    closed_at: datetime | None = None


def prepare_photos(photos: list[PhotoIn], problems: Problems) -> list[dict[str, Any]]:
    """Each photo decoded, checked and downscaled (``backend.reports.photos``), as stored.

    Runs before the transaction: decoding is the slow part of a closure.
    """
    prepared: list[dict[str, Any]] = []
    for index, photo in enumerate(photos):
        loc: tuple[str | int, ...] = ("photos", index, "data")
        if len(photo.data) > (PHOTO_MAX_BYTES + 2) // 3 * 4 + 4:
            problems.add(loc, f"the photo is too large (at most {PHOTO_MAX_BYTES} bytes)")
            continue
        try:
            raw = base64.b64decode(photo.data, validate=True)
        except (binascii.Error, ValueError):
            problems.add(loc, "the photo must be base64 text")
            continue
        try:
            jpeg, width, height = prepare_photo(raw)
        except PhotoError as exc:
            problems.add(loc, str(exc))
            continue
        prepared.append(
            {
                "media_type": "image/jpeg",
                "data": base64.b64encode(jpeg).decode(),
                "width": width,
                "height": height,
                "caption": photo.caption.strip(),
            }
        )
    return prepared


def _signature(
    value: dict[str, Any] | None, name: str, problems: Problems
) -> dict[str, Any] | None:
    if value is None:
        return None
    found = forms.validate_answer({"type": "signature", "required": True}, value)
    if found:
        problems.add((name,), found[0].message())
        return None
    return value


def _form(
    db: Session, activity: Activity, body: ClosureIn, problems: Problems
) -> dict[str, Any] | None:
    if body.form_id is None:
        if body.form_answers is not None:
            problems.add(("form", "form_id"), "form answers need the form's id")
        return None
    form = db.get(FormDefinition, body.form_id)
    if form is None or form.business_unit_id != activity.business_unit_id:
        problems.add(("form", "form_id"), f"no form {body.form_id} in this business unit")
        return None
    errors, clean = forms.check({"fields": form.fields}, body.form_answers or {})
    for key, found in errors.items():
        for error in found:
            problems.add(("form", "answers", key), error.message())
    if errors:
        return None
    return {"form_id": form.id, "name": form.name, "fields": form.fields, "answers": clean}


def refuse_if_closed(activity: Activity) -> None:
    """Raise :class:`ClosureRefused` when ``activity`` is already done or cancelled."""
    if activity.status not in CLOSED_STATUSES:
        return
    what = "already closed" if activity.status == "done" else "cancelled"
    raise ClosureRefused(
        f"Activity {activity.id} is {what}. To close it with new data, reopen it first "
        f'(PATCH /staff/activities/{activity.id} with {{"status": "in_progress"}}), '
        "then send the closure again."
    )


def close_activity(
    db: Session, activity: Activity, body: ClosureIn, photos: list[dict[str, Any]], now: datetime
) -> ActivityClosure:
    """Close ``activity`` with ``body`` (photos already prepared) in the caller's transaction.

    Raises :class:`ClosureRefused` (409) or :class:`Problems` (422) before
    any write. The caller commits.
    """
    refuse_if_closed(activity)
    problems = Problems()
    technician = _signature(body.technician_signature, "technician_signature", problems)
    client_signature = _signature(body.client_signature, "client_signature", problems)
    form = _form(db, activity, body, problems)
    if problems.found:
        raise problems
    if body.technician_name is not None:
        technician_name = body.technician_name.strip()
    elif activity.technician is not None:
        technician_name = f"{activity.technician.first_name} {activity.technician.last_name}"
    else:
        technician_name = ""
    signatures = []
    if technician is not None:
        signatures.append({"role": "technician", "strokes": technician, "name": technician_name})
    if client_signature is not None:
        signatures.append(
            {"role": "client", "strokes": client_signature, "name": body.client_signer_name}
        )
    summary = body.summary.strip()
    work_done = [w.strip() for w in body.work_done if w.strip()]
    data: dict[str, Any] = {
        "summary": summary,
        "work_done": work_done,
        "answers": [{"label": label, "value": value} for label, value in body.answers],
        "photos": photos,
        "signatures": signatures,
    }
    if form is not None:
        data["form"] = form
    closed_at = body.closed_at or now
    row = ActivityClosure(activity_id=activity.id, data=data, closed_at=closed_at, created_at=now)
    db.add(row)
    activity.status = "done"
    # What the feed carries: text only (photos and signatures stay in the
    # closure and reach the client inside the report).
    activity.closure_report = {"summary": summary, "work_done": work_done, "report_pdf": None}
    bump_schedule(db, activity.business_unit_id)
    db.flush()
    documents.refresh_quietly(db, activity, now)
    feed.refresh_activities(db, [activity.id])
    triggers.activity_closed(db, activity, now)
    return row

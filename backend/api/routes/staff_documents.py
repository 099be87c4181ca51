"""Staff close activities with their closure data, and read the documents generated.

``POST /staff/activities/{id}/closure`` takes the summary, the work done,
closure-form answers, photos and both signatures, closes the activity and
generates its report (``backend.services.closure``). Behind the staff API's
``require_staff``, like the other staff routers.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from backend.api.deps import MAX_ID, DbSession, IdPath, Now
from backend.api.routes.documents import DocKey, file_response
from backend.api.routes.staff import require_staff
from backend.api.timestamps import AwareTimestamp
from backend.models import Activity
from backend.services import closure, documents, projection

router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Depends(require_staff)])

# Ten phone photos in base64 fit; the server's general limit stays for every other path.
CLOSURE_MAX_BYTES = 24 * 1024 * 1024
CLOSURE_PATH = re.compile(r"^/staff/activities/[0-9]+/closure$")
# base64 of closure.PHOTO_MAX_BYTES, with room for padding.
_PHOTO_TEXT_MAX = (closure.PHOTO_MAX_BYTES + 2) // 3 * 4 + 4

Text = Annotated[str, Field(max_length=5000)]


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    label: Annotated[str, Field(min_length=1, max_length=200)]
    value: Annotated[str, Field(max_length=2000)]


class FormAnswersIn(BaseModel):
    """A closure form of the business unit and its answers (``backend.forms`` shapes)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    form_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    answers: dict[str, Any]


class PhotoIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    media_type: Literal["image/jpeg", "image/png"]
    data: Annotated[
        str,
        Field(
            min_length=4,
            max_length=_PHOTO_TEXT_MAX,
            description=f"Base64; at most {closure.PHOTO_MAX_BYTES} bytes decoded. "
            "Turned upright and downscaled (JPEG) for the report.",
        ),
    ]
    caption: Annotated[str, Field(max_length=200)] = ""


class ClosureBody(BaseModel):
    """What the technician recorded. Signatures are strokes, as in ``backend.forms``:
    ``{"strokes": [[[x, y], ...], ...]}`` in a 0..1 box, or with ``width``/``height``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    summary: Annotated[str, Field(min_length=1, max_length=5000)]
    work_done: Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=100)] = []
    answers: Annotated[list[AnswerIn], Field(max_length=100)] = []
    form: FormAnswersIn | None = None
    photos: Annotated[list[PhotoIn], Field(max_length=closure.MAX_PHOTOS)] = []
    technician_signature: dict[str, Any] | None = None
    technician_name: Annotated[str, Field(max_length=200)] | None = None
    client_signature: dict[str, Any] | None = None
    client_signer_name: Annotated[str, Field(max_length=200)] = ""
    closed_at: AwareTimestamp | None = Field(
        default=None, description="When the work ended (default: now)."
    )


_PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _activity(db: DbSession, activity_id: int) -> Activity:
    activity = db.scalars(projection.activity_query().where(Activity.id == activity_id)).first()
    if activity is None:
        raise HTTPException(404, f"No activity with id {activity_id}.")
    return activity


def _close(
    db: DbSession, activity_id: int, body: ClosureBody, now: Any, photos: list[dict[str, Any]]
) -> dict[str, Any]:
    activity = _activity(db, activity_id)
    data = closure.ClosureIn(
        summary=body.summary,
        work_done=list(body.work_done),
        answers=[(a.label.strip(), a.value.strip()) for a in body.answers],
        photos=[],
        form_id=body.form.form_id if body.form else None,
        form_answers=body.form.answers if body.form else None,
        technician_signature=body.technician_signature,
        technician_name=body.technician_name,
        client_signature=body.client_signature,
        client_signer_name=body.client_signer_name.strip(),
        closed_at=body.closed_at,
    )
    try:
        row = closure.close_activity(db, activity, data, photos, now)
    except closure.ClosureRefused as exc:
        raise HTTPException(409, exc.detail) from None
    except closure.Problems as exc:
        raise HTTPException(422, exc.as_json()) from None
    db.commit()
    return {
        "id": activity.id,
        "status": activity.status,
        "closed_at": projection.iso(row.closed_at),
        "closure_report": activity.closure_report,
        "documents": [projection.document_entry(d) for d in activity.documents],
    }


@router.post(
    "/activities/{activity_id}/closure",
    responses={
        409: {"description": "Already closed or cancelled: reopen it first", "content": _PROBLEM}
    },
)
async def close_activity(
    activity_id: IdPath, body: ClosureBody, db: DbSession, now: Now
) -> dict[str, Any]:
    """Close an activity: status ``done``, closure data stored, report generated.

    Photos are checked and downscaled before the transaction. 422 names the
    field (``photos.2.data``, ``form.answers.pressure``,
    ``client_signature``); 409 when the activity is already closed or
    cancelled (reopen it with ``PATCH /staff/activities/{id}``); 413 past
    24 MB. Answers the activity's status, closure report and documents.
    """
    problems = closure.Problems()
    photos = await run_in_threadpool(
        closure.prepare_photos,
        [closure.PhotoIn(p.media_type, p.data, p.caption) for p in body.photos],
        problems,
    )
    if problems.found:
        raise HTTPException(422, problems.as_json())
    return await run_in_threadpool(_close, db, activity_id, body, now, photos)


@router.get("/activities/{activity_id}/documents")
def list_documents(activity_id: IdPath, db: DbSession) -> list[dict[str, Any]]:
    """The documents the activity offers its client (as its feed lists them)."""
    activity = _activity(db, activity_id)
    return [projection.document_entry(d) for d in activity.documents]


@router.get(
    "/activities/{activity_id}/documents/{doc_key}",
    response_class=Response,
    responses={200: {"description": "The file (PDF or Word)"}},
)
def get_document(
    activity_id: IdPath,
    doc_key: Annotated[str, PathParam(pattern=DocKey)],
    request: Request,
    db: DbSession,
) -> Response:
    """One generated document of any activity, for staff (ETag / If-None-Match)."""
    row = documents.document_row(db, activity_id, doc_key)
    if row is None:
        raise HTTPException(404, f"Activity {activity_id} has no document {doc_key!r}.")
    return file_response(db, row, request)

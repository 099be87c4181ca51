"""Staff read what clients sent: form submissions, signatures and validation evidence.

Read-only, behind the staff API's ``require_staff``; kept apart from
``staff.py`` (configuration) because it only reads the append-only evidence.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import undefer

from backend.api.deps import DbSession, IdPath
from backend.api.routes.staff import require_staff
from backend.models import Activity, FormSubmission
from backend.services import submissions
from backend.signature_image import NotASignature, render_png

router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Depends(require_staff)])

FieldKey = Annotated[str, PathParam(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class ActivitySubmissions(BaseModel):
    activity_id: int
    submissions: list[dict[str, Any]] = Field(
        description="Every submission, oldest first: form as answered (fields and SHA-256), "
        "answers and their SHA-256, version, channel, device, IP, time."
    )
    validations: list[dict[str, Any]] = Field(
        description="Every accept/refuse decision on a document: SHA-256 of the document "
        "shown, signer contact and sign-in method, channel, device, IP, time, reason."
    )


@router.get("/activities/{activity_id}/submissions", response_model=ActivitySubmissions)
def activity_submissions(activity_id: IdPath, db: DbSession) -> Any:
    """What the client sent for this activity, with the evidence of each signature.

    Kept after the activity is deleted; 404 only when there is neither.
    """
    view = submissions.staff_view(db, activity_id)
    if (
        db.get(Activity, activity_id) is None
        and not view["submissions"]
        and not view["validations"]
    ):
        raise HTTPException(404, f"No activity with id {activity_id}.")
    return view


@router.get(
    "/submissions/{submission_id}/signatures/{field_key}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def signature_png(submission_id: IdPath, field_key: FieldKey, db: DbSession) -> Response:
    """The signature answered in ``field_key`` of a submission, drawn as a PNG."""
    row = db.get(FormSubmission, submission_id, options=[undefer(FormSubmission.answers)])
    if row is None:
        raise HTTPException(404, f"No submission with id {submission_id}.")
    try:
        png = render_png(row.answers.get(field_key))
    except NotASignature:
        raise HTTPException(404, f"No signature in field {field_key!r}.") from None
    return Response(content=png, media_type="image/png")

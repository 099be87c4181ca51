"""Clients request a new intervention: the choices offered, and the request itself."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.api.deps import MAX_ID, CurrentClient, DbSession, Now
from backend.api.routes.booking import MutationId
from backend.api.routes.portal import _with_availability
from backend.api.schemas import SiteOut
from backend.core.db import begin_write
from backend.models import Activity
from backend.services import projection, requests

router = APIRouter(tags=["requests"])

MAX_DESCRIPTION = 2000


class RequestableType(BaseModel):
    id: int
    name: str
    label: str = Field(description="The staff's wording of the request action.")
    bookable: bool = Field(
        description="True when the client may choose a slot right after the request."
    )


class RequestOptions(BaseModel):
    sites: list[SiteOut]
    types: list[RequestableType]


class NewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "1" or 1.0 is no id

    mutation_id: MutationId
    site_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    type_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)]

    @field_validator("description")
    @classmethod
    def _described(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("please describe what you need")
        return value.strip()


@router.get("/requests/options", response_model=RequestOptions)
def request_options(client: CurrentClient, db: DbSession, now: Now) -> Any:
    """The client's sites and the activity types the business unit lets clients request."""
    return requests.options(db, client, now)


@router.post(
    "/requests",
    status_code=201,
    responses={409: {"description": "The mutation_id was already used for another change"}},
)
def create_request(
    body: NewRequest, request: Request, client: CurrentClient, db: DbSession, now: Now
) -> JSONResponse:
    """Request a new intervention; 201 with the new activity (to schedule).

    ``bookable`` says whether the client may go on to choose a slot
    (``/activities/{id}/slots`` then ``/book``). A replay of the same
    ``mutation_id`` returns the first answer.
    """
    begin_write(db)
    bu = client.business_unit

    def render(activity: Activity) -> dict[str, Any]:
        doc = projection.activity_doc(activity, client, bu)
        return _with_availability(doc, now).model_dump(mode="json")

    try:
        outcome = requests.create(
            db,
            client,
            body.site_id,
            body.type_id,
            body.description,
            body.mutation_id,
            now,
            render,
            request.app.state.sender,
        )
    except requests.RequestRefused as exc:
        db.rollback()
        if exc.field is None:
            return JSONResponse(status_code=exc.status, content={"detail": exc.message})
        # The same shape as FastAPI's own validation errors: the app shows the field.
        detail = [{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}]
        return JSONResponse(status_code=exc.status, content={"detail": detail})
    return JSONResponse(status_code=outcome.status, content=outcome.body)

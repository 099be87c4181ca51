"""Push: the app's outbox of forms, document validations and surveys (POST /mutations)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend.api.deps import MAX_ID, ClientIP, CurrentAuth, DbSession, Now
from backend.api.routes.booking import MutationId
from backend.api.routes.portal import _with_availability
from backend.models import Activity
from backend.services import projection, submissions

router = APIRouter(tags=["sync"])

MAX_BATCH = 100


class QueuedMutation(BaseModel):
    """One item of a batch (checked item by item: a bad one is refused on its own)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    mutation_id: MutationId
    kind: Literal["fill_form", "validate_document", "survey"]
    activity_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    action_key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    payload: dict[str, Any] = Field(
        description="fill_form / survey: {answers}. validate_document: {decision: accepted | "
        "refused, document_sha256, answers (when accepted), reason (when refused)}."
    )
    device_id: Annotated[str, Field(max_length=100)] = ""
    channel: Literal["app", "web"]


class MutationBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    # Any JSON per item: each is checked on its own, so one malformed item is
    # refused in its result instead of failing the whole batch.
    mutations: list[Any] = Field(
        description=f"Queued mutations, oldest first, at most {MAX_BATCH}; each shaped like "
        "QueuedMutation (see docs/API.md)."
    )


class ItemResult(BaseModel):
    index: int = Field(description="Position of the item in the batch.")
    mutation_id: str | None
    status: Literal["applied", "already_applied", "refused", "error"]
    code: str | None = Field(None, description="Stable reason code when refused or error.")
    detail: str | None = Field(None, description="Why, for people (English).")
    params: dict[str, Any] | None = None
    errors: dict[str, list[dict[str, Any]]] | None = Field(
        None, description="Per field: [{code, params, message}], as backend/forms.py gives."
    )
    replayed: bool | None = None
    submission: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    activity: dict[str, Any] | None = None


class BatchResults(BaseModel):
    results: list[ItemResult]


def _invalid_item(index: int, raw: Any, exc: ValidationError) -> dict[str, Any]:
    errors: dict[str, list[dict[str, Any]]] = {}
    for problem in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in problem["loc"]) or "item"
        errors.setdefault(name, []).append(
            {"code": "invalid", "params": {}, "message": str(problem["msg"])}
        )
    mutation_id = raw.get("mutation_id") if isinstance(raw, dict) else None
    return {
        "index": index,
        "mutation_id": mutation_id if isinstance(mutation_id, str) else None,
        "status": "refused",
        "code": "invalid_mutation",
        "detail": "This change is not in a shape the server understands.",
        "params": {},
        "errors": errors,
    }


@router.post(
    "/mutations",
    response_model=BatchResults,
    responses={
        413: {"description": f"More than {MAX_BATCH} items, or the body is over the size limit"}
    },
)
def push(
    body: MutationBatch,
    request: Request,
    auth: CurrentAuth,
    db: DbSession,
    ip: ClientIP,
    now: Now,
) -> JSONResponse:
    """Apply queued forms, document validations and surveys, each exactly once.

    One result per item, in order: ``applied``, ``already_applied`` (a replay:
    the first result again), ``refused`` with a ``code``, a sentence and, for
    answers, per-field ``errors``, or ``error`` (not recorded: send it again
    later). A refused or broken item never stops the others.
    """
    if len(body.mutations) > MAX_BATCH:
        return JSONResponse(
            status_code=413,
            content={
                "detail": f"Too many mutations in one batch ({len(body.mutations)}; at most "
                f"{MAX_BATCH}). Send them in several batches."
            },
        )
    session, client = auth

    def render(activity: Activity) -> dict[str, Any]:
        doc = projection.activity_doc(activity, client, client.business_unit)
        return _with_availability(doc, now).model_dump(mode="json")

    batch = submissions.Batch(
        origin=submissions.Origin(client=client, session=session, ip=ip),
        now=now,
        render=render,
        sender=request.app.state.sender,
    )
    results: list[dict[str, Any] | None] = []
    valid: list[tuple[int, submissions.QueuedItem]] = []
    for index, raw in enumerate(body.mutations):
        try:
            item = QueuedMutation.model_validate(raw)
        except ValidationError as exc:
            results.append(_invalid_item(index, raw, exc))
            continue
        results.append(None)  # answered below, in order with the other valid items
        valid.append(
            (
                index,
                submissions.QueuedItem(
                    mutation_id=item.mutation_id,
                    kind=item.kind,
                    activity_id=item.activity_id,
                    action_key=item.action_key,
                    payload=item.payload,
                    device_id=item.device_id,
                    channel=item.channel,
                ),
            )
        )
    outcomes = submissions.apply_batch(db, batch, [item for _, item in valid])
    for (index, _), outcome in zip(valid, outcomes, strict=True):
        results[index] = {"index": index, **outcome}
    return JSONResponse(status_code=200, content={"results": results})

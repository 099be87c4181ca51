"""Delta sync: pages of changed documents and tombstones after an opaque cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from backend.api.deps import CurrentClient, DbSession, SettingsDep, run_read
from backend.api.schemas import SyncPage
from backend.services.feed import pull

router = APIRouter(tags=["sync"])


@router.get("/sync", response_model=SyncPage)
async def sync(
    request: Request,
    client: CurrentClient,
    db: DbSession,
    settings: SettingsDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int | None, Query(ge=1, le=5000)] = None,
) -> Response:
    """Changes after ``cursor`` (omit it for a full sync). Follow ``has_more``."""
    size = min(limit or settings.sync_page_size, settings.sync_max_page_size)

    def page() -> bytes:
        try:
            found = pull(
                db, settings.resolved_secret_key(), settings.sync_epoch, client.id, cursor, size
            )
        finally:
            db.commit()
        # Validated and encoded once here (FastAPI would validate a model again).
        return SyncPage.model_validate(found, from_attributes=True).model_dump_json().encode()

    # Most pulls carry a cursor and few changes: small enough to run inline.
    body = await run_read(request, db, page, small=cursor is not None)
    return Response(content=body, media_type="application/json")

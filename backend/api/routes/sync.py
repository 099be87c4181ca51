"""Delta sync: pages of changed documents and tombstones after an opaque cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import CurrentClient, DbSession, SettingsDep
from backend.api.schemas import SyncPage
from backend.services.feed import pull

router = APIRouter(tags=["sync"])


@router.get("/sync", response_model=SyncPage)
def sync(
    client: CurrentClient,
    db: DbSession,
    settings: SettingsDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int | None, Query(ge=1, le=5000)] = None,
) -> SyncPage:
    """Changes after ``cursor`` (omit it for a full sync). Follow ``has_more``."""
    size = min(limit or settings.sync_page_size, settings.sync_max_page_size)
    page = pull(
        db,
        settings.resolved_secret_key(),
        settings.sync_epoch,
        client.id,
        cursor,
        size,
    )
    return SyncPage.model_validate(page, from_attributes=True)

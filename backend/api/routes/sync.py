"""Delta sync: pages of changed documents and tombstones after an opaque cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection

from backend.api.deps import SessionToken, hot_read, read_connection
from backend.api.schemas import SyncPage
from backend.services import feed, hot_reads

router = APIRouter(tags=["sync"])


@router.get("/sync", response_model=SyncPage)
async def sync(
    request: Request,
    token: SessionToken,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int | None, Query(ge=1, le=5000)] = None,
) -> Response:
    """Changes after ``cursor`` (omit it for a full sync). Follow ``has_more``."""
    settings = request.app.state.settings
    key: bytes = request.app.state.secret_key
    # An up-to-date client (most pulls) is answered with its session's statement.
    signed, page = await hot_read(request, hot_reads.sync_page(key, token, cursor))
    if page is None:
        size = min(limit or settings.sync_page_size, settings.sync_max_page_size)

        def pull(conn: Connection) -> feed.Page:
            return feed.pull(conn, key, settings.sync_epoch, signed.client_id, cursor, size)

        # An incremental pull carries few changes: small enough to run inline.
        page = await read_connection(request, pull, small=cursor is not None)
    # Validated and encoded once here (FastAPI would validate a model again).
    body = SyncPage.model_validate(page, from_attributes=True).model_dump_json()
    return Response(content=body, media_type="application/json")

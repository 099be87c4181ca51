"""Client Portal Access: a staff member sees a client's portal exactly as the client does.

``POST /staff/clients/{client_id}/preview-session`` (any role, logged in the
audit log) gives a short-lived preview token (``backend.services.preview``);
``GET /preview/sync`` answers that token with the client's feed, page by
page, exactly like ``/sync`` answers the client's session. The console runs
the client app's own sync and screens on it, read-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, select

from backend.api.deps import DbSession, IdPath, Now, read_connection
from backend.api.schemas import SyncPage
from backend.api.staff_access import StaffPrincipal, needs, require_staff
from backend.models import BusinessUnit, Client
from backend.services import audit, feed, preview

router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Depends(require_staff)])
public_router = APIRouter(tags=["staff"])
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="PreviewToken",
    description="Preview token from /staff/.../preview-session",
)


@router.post("/clients/{client_id}/preview-session", status_code=201, openapi_extra=needs("viewer"))
def open_preview(
    client_id: IdPath, db: DbSession, now: Now, principal: StaffPrincipal, request: Request
) -> dict[str, Any]:
    """A preview token for the client's portal, valid a few minutes; the opening is audited."""
    row = db.execute(
        select(
            Client.name, Client.portal_access, Client.business_unit_id, BusinessUnit.portal_enabled
        )
        .join(BusinessUnit, BusinessUnit.id == Client.business_unit_id)
        .where(Client.id == client_id)
    ).one_or_none()
    if row is None:
        raise HTTPException(404, f"No client with id {client_id}.")
    name, access, bu_id, portal_on = row
    token, expires = preview.issue(request.app.state.secret_key, client_id, now)
    audit.record(
        db,
        principal.actor,
        "client.preview",
        now,
        business_unit_id=bu_id,
        target_kind="client",
        target_id=client_id,
        target_label=name,
    )
    db.commit()
    return {
        "token": token,
        "expires_at": expires.isoformat(),
        "client_id": client_id,
        "client_name": name,
        # The client cannot sign in now: the console says so above the preview.
        "portal_access": bool(access and portal_on),
    }


def _client_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> int:
    now: datetime = request.app.state.clock()
    client_id = (
        preview.verify(request.app.state.secret_key, credentials.credentials, now)
        if credentials is not None
        else None
    )
    if client_id is None:
        raise HTTPException(
            401,
            "This preview has ended. Open Client Portal Access again.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return client_id


@public_router.get("/preview/sync", response_model=SyncPage)
async def preview_sync(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int | None, Query(ge=1, le=5000)] = None,
) -> Response:
    """The previewed client's feed after ``cursor``, as ``/sync`` gives it to the client."""
    client_id = _client_of(request, credentials)
    settings = request.app.state.settings
    key: bytes = request.app.state.secret_key
    size = min(limit or settings.sync_page_size, settings.sync_max_page_size)

    def pull(conn: Connection) -> feed.Page:
        return feed.pull(conn, key, settings.sync_epoch, client_id, cursor, size)

    page = await read_connection(request, pull, small=False)
    body = SyncPage.model_validate(page, from_attributes=True).model_dump_json()
    return Response(content=body, media_type="application/json")

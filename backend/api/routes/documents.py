"""The signed-in client downloads the documents of its activities (reports, quotes, forms).

Each activity document in the feed lists its files with ``url``, ``size``
and ``sha256``; this serves exactly those bytes. The SHA-256 is the ETag, so
an app that already holds the file gets a 304 without the bytes being read.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi import Path as PathParam
from sqlalchemy.orm import Session

from backend.api.deps import CurrentClient, DbSession, IdPath
from backend.document_models import ActivityDocument
from backend.services import documents

router = APIRouter(tags=["portal"])

NOT_FOUND = "No such item in your portal."
DocKey = r"^[a-z0-9][a-z0-9._-]{0,59}$"

_FILE_CONTENT = {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {
        "schema": {"type": "string", "format": "binary"}
    },
}


def _matches(if_none_match: str | None, sha256: str) -> bool:
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/").strip('"') == sha256:
            return True
    return False


def file_response(db: Session, row: ActivityDocument, request: Request) -> Response:
    """The file of ``row`` with its ETag, or 304 when the caller already holds it."""
    headers = {
        "ETag": f'"{row.sha256}"',
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if _matches(request.headers.get("if-none-match"), row.sha256):
        return Response(status_code=304, headers=headers)
    data = documents.document_bytes(db, row)
    if data is None:
        raise HTTPException(404, NOT_FOUND)
    disposition = "inline" if row.media_type == "application/pdf" else "attachment"
    # File names are ASCII already (compose.slug); filename* says so for any client.
    headers["Content-Disposition"] = (
        f"{disposition}; filename=\"{row.filename}\"; filename*=UTF-8''{quote(row.filename)}"
    )
    return Response(content=data, media_type=row.media_type, headers=headers)


@router.get(
    "/activities/{activity_id}/documents/{doc_key}",
    response_class=Response,
    responses={
        200: {"description": "The file, as the feed describes it", "content": _FILE_CONTENT},
        304: {"description": "Not modified (If-None-Match matched the SHA-256)"},
    },
)
def client_document(
    activity_id: IdPath,
    doc_key: Annotated[str, PathParam(pattern=DocKey)],
    request: Request,
    client: CurrentClient,
    db: DbSession,
) -> Response:
    """A document of one of the client's activities (report, quote, signed quote, form).

    404 for another client's activity, a hidden one, or an unknown key. The
    ETag is the SHA-256 the feed lists; ``If-None-Match`` with it answers 304.
    The file name is in the client's language.
    """
    row = documents.client_document_row(db, client, activity_id, doc_key)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return file_response(db, row, request)

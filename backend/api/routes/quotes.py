"""Quotes: staff attach a quote (and its PDF) to an activity; the client downloads the PDF.

The quote itself reaches the client inside its activity document (sync and
``GET /activities/{id}``); only the PDF's bytes have their own address.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from backend.api.deps import CurrentClient, DbSession, IdPath
from backend.api.routes.staff import require_staff
from backend.localization import language
from backend.models import Activity
from backend.quotes import Quote, QuoteError, check
from backend.services import projection
from backend.services import quotes as service

router = APIRouter(tags=["portal"])
staff_router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Depends(require_staff)])

NOT_FOUND = "No such item in your portal."
# The one upload allowed past the server's general body limit (see create_app).
PDF_UPLOAD_PATH = re.compile(r"^/staff/activities/[0-9]+/quote/pdf$")

_PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_PDF_CONTENT = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
_LOCKED = {409: {"description": "The client already accepted this quote", "content": _PROBLEM}}


def _pdf_response(pdf: service.PdfFile, stem: str) -> Response:
    # The number is staff text: keep a file name every browser and disk accepts.
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", pdf.number).strip("-.") or "quote"
    return Response(
        content=pdf.data,
        media_type=service.PDF_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'inline; filename="{stem}-{safe}.pdf"',
            "Cache-Control": "private",
            "ETag": f'"{pdf.sha256}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/activities/{activity_id}/quote.pdf",
    response_class=Response,
    responses={200: {"description": "The quote's PDF", "content": _PDF_CONTENT}},
)
def client_quote_pdf(activity_id: IdPath, client: CurrentClient, db: DbSession) -> Response:
    """The PDF of the quote on one of the client's activities.

    404 for another client's activity, a hidden one, or when the quote has no PDF.
    """
    pdf = service.client_pdf(db, client, activity_id)
    if pdf is None:
        raise HTTPException(404, NOT_FOUND)
    stem = "devis" if language(client.preferred_language) == "fr" else "quote"
    return _pdf_response(pdf, stem)


# --- staff ------------------------------------------------------------------------------


def _activity(db: DbSession, activity_id: int) -> Activity:
    activity = db.scalars(projection.activity_query().where(Activity.id == activity_id)).first()
    if activity is None:
        raise HTTPException(404, f"No activity with id {activity_id}.")
    return activity


def _locked(exc: service.QuoteLocked) -> HTTPException:
    day = exc.accepted_at.date().isoformat()
    return HTTPException(
        409,
        f"The client accepted this quote on {day}: it can no longer change. To offer "
        "other work or prices, create a new quote on a new intervention.",
    )


def _no_quote(activity_id: int) -> HTTPException:
    return HTTPException(
        404,
        f"Activity {activity_id} has no quote. "
        f"Create it first: PUT /staff/activities/{activity_id}/quote.",
    )


def _shown(activity: Activity) -> dict[str, Any]:
    assert activity.quote is not None
    return projection.quote_doc(activity.quote)


@staff_router.get("/activities/{activity_id}/quote")
def get_quote(activity_id: IdPath, db: DbSession) -> dict[str, Any]:
    """The activity's quote as its client sees it (lines, totals, PDF entry)."""
    activity = _activity(db, activity_id)
    if activity.quote is None:
        raise _no_quote(activity_id)
    return _shown(activity)


@staff_router.put("/activities/{activity_id}/quote", responses=_LOCKED)
def put_quote(activity_id: IdPath, body: Quote, db: DbSession) -> dict[str, Any]:
    """Attach or replace the activity's quote; totals are computed here.

    Amounts, quantities and rates are decimal text (``"55.00"``). 422 names
    the field (``lines.2.unit_price``); 409 once the client accepted it.
    """
    activity = _activity(db, activity_id)
    try:
        quote = check(body)
    except QuoteError as exc:
        raise HTTPException(
            422, [{**p, "loc": ["body", *p["loc"]]} for p in exc.as_json()]
        ) from None
    try:
        service.save_quote(db, activity, quote)
    except service.QuoteLocked as exc:
        raise _locked(exc) from None
    db.commit()
    return _shown(activity)


@staff_router.delete("/activities/{activity_id}/quote", status_code=204, responses=_LOCKED)
def delete_quote(activity_id: IdPath, db: DbSession) -> Response:
    """Remove the activity's quote and its PDF (409 once the client accepted it)."""
    activity = _activity(db, activity_id)
    try:
        removed = service.delete_quote(db, activity)
    except service.QuoteLocked as exc:
        raise _locked(exc) from None
    if not removed:
        raise _no_quote(activity_id)
    db.commit()
    return Response(status_code=204)


@staff_router.get(
    "/activities/{activity_id}/quote/pdf",
    response_class=Response,
    responses={200: {"description": "The quote's PDF", "content": _PDF_CONTENT}},
)
def get_quote_pdf(activity_id: IdPath, db: DbSession) -> Response:
    """The PDF attached to the activity's quote."""
    pdf = service.staff_pdf(db, activity_id)
    if pdf is None:
        raise HTTPException(404, f"Activity {activity_id} has no quote PDF.")
    return _pdf_response(pdf, "quote")


def _store_pdf(db: DbSession, activity_id: int, data: bytes) -> dict[str, Any]:
    activity = _activity(db, activity_id)
    try:
        row = service.save_pdf(db, activity, data)
    except service.QuoteLocked as exc:
        raise _locked(exc) from None
    except service.NotAPdf as exc:
        raise HTTPException(
            422, [{"loc": ["body"], "msg": str(exc), "type": "not_a_pdf"}]
        ) from None
    except service.PdfTooLarge as exc:
        raise HTTPException(413, str(exc)) from None
    if row is None:
        raise _no_quote(activity_id)
    db.commit()
    return _shown(activity)


@staff_router.put(
    "/activities/{activity_id}/quote/pdf",
    responses={
        **_LOCKED,
        415: {"description": "The body is not sent as application/pdf", "content": _PROBLEM},
    },
    openapi_extra={"requestBody": {"required": True, "content": _PDF_CONTENT}},
)
async def put_quote_pdf(activity_id: IdPath, request: Request, db: DbSession) -> dict[str, Any]:
    """Attach the PDF of the activity's quote: the raw file as the body, ``application/pdf``.

    At most 5 MB (413); a body that is not a PDF is 415 (wrong Content-Type)
    or 422 (no ``%PDF-`` header); 404 until the quote exists; 409 once the
    client accepted it. Answers the quote as the client sees it.
    """
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != service.PDF_MEDIA_TYPE:
        raise HTTPException(415, "Send the file itself with Content-Type: application/pdf.")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > service.PDF_MAX_BYTES:
            raise HTTPException(
                413, f"The PDF is too large (at most {service.PDF_MAX_BYTES} bytes)."
            )
    return await run_in_threadpool(_store_pdf, db, activity_id, bytes(data))


@staff_router.delete("/activities/{activity_id}/quote/pdf", status_code=204, responses=_LOCKED)
def delete_quote_pdf(activity_id: IdPath, db: DbSession) -> Response:
    """Remove the PDF of the activity's quote (the quote stays)."""
    activity = _activity(db, activity_id)
    try:
        removed = service.delete_pdf(db, activity)
    except service.QuoteLocked as exc:
        raise _locked(exc) from None
    if not removed:
        raise HTTPException(404, f"Activity {activity_id} has no quote PDF.")
    db.commit()
    return Response(status_code=204)

"""Quotes on activities: staff attach, replace or remove them and their PDF; clients read them.

A quote is part of the document a client signs (``backend.forms.document_for``):
once the client accepted it, it is evidence and can no longer change
(:class:`QuoteLocked`). Until then any change gives the document a new hash,
so a signature made on the previous version is refused as ``document_changed``.

Every write re-projects the activity's feed in the caller's transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from backend.models import Activity, ActivityQuote, Client, ValidationEvent
from backend.quotes import Quote, quote_document
from backend.services import documents, feed, projection

PDF_MEDIA_TYPE = "application/pdf"
# A quote of a few pages with a logo is far below this; a scanned one may not be.
PDF_MAX_BYTES = 5 * 1024 * 1024
PDF_MAGIC = b"%PDF-"


class QuoteLocked(Exception):
    """The client accepted the quote on ``accepted_at``: it cannot change any more."""

    def __init__(self, accepted_at: datetime) -> None:
        super().__init__(f"accepted on {accepted_at.isoformat()}")
        self.accepted_at = accepted_at


class NotAPdf(ValueError):
    """The bytes are not a PDF file (no ``%PDF-`` header)."""


class PdfTooLarge(ValueError):
    """The PDF is over :data:`PDF_MAX_BYTES`."""


def accepted_at(db: Session, activity_id: int) -> datetime | None:
    """When the client first accepted a document of this activity, or None.

    Every document an activity's ``validate_document`` actions show carries
    its quote, so any acceptance freezes the quote.
    """
    return db.scalar(
        select(ValidationEvent.created_at)
        .where(ValidationEvent.activity_id == activity_id, ValidationEvent.decision == "accepted")
        .order_by(ValidationEvent.id)
        .limit(1)
    )


def _unlocked(db: Session, activity: Activity) -> None:
    when = accepted_at(db, activity.id)
    if when is not None:
        raise QuoteLocked(when)


def check_pdf(data: bytes) -> None:
    """Raise :class:`PdfTooLarge` or :class:`NotAPdf` unless ``data`` may be stored as a PDF."""
    if len(data) > PDF_MAX_BYTES:
        raise PdfTooLarge(f"the PDF is {len(data)} bytes; at most {PDF_MAX_BYTES}")
    if not data.startswith(PDF_MAGIC):
        raise NotAPdf("the file is not a PDF (it does not start with %PDF-)")


def save_quote(db: Session, activity: Activity, quote: Quote) -> ActivityQuote:
    """Attach ``quote`` (already checked) to ``activity``, replacing its quote if any.

    A PDF already attached stays. Raises :class:`QuoteLocked` once accepted.
    """
    _unlocked(db, activity)
    row = activity.quote
    document = quote_document(quote)
    if row is None:
        row = ActivityQuote(activity_id=activity.id, document=document)
        activity.quote = row
    else:
        row.document = document
    db.flush()
    documents.refresh_quietly(db, activity)
    feed.refresh_activities(db, [activity.id])
    return row


def delete_quote(db: Session, activity: Activity) -> bool:
    """Remove the activity's quote and its PDF; False when there was none."""
    if activity.quote is None:
        return False
    _unlocked(db, activity)
    activity.quote = None  # delete-orphan: the row goes
    db.flush()
    documents.refresh_quietly(db, activity)
    feed.refresh_activities(db, [activity.id])
    return True


def save_pdf(db: Session, activity: Activity, data: bytes) -> ActivityQuote | None:
    """Attach ``data`` as the PDF of the activity's quote; None when it has no quote.

    Raises :class:`QuoteLocked`, then :class:`PdfTooLarge` or :class:`NotAPdf`.
    """
    row = activity.quote
    if row is None:
        return None
    _unlocked(db, activity)
    check_pdf(data)
    row.pdf = data
    row.pdf_size = len(data)
    row.pdf_sha256 = hashlib.sha256(data).hexdigest()
    db.flush()
    feed.refresh_activities(db, [activity.id])
    return row


def delete_pdf(db: Session, activity: Activity) -> bool:
    """Remove the PDF of the activity's quote; False when there is none."""
    row = activity.quote
    if row is None or row.pdf_size is None:
        return False
    _unlocked(db, activity)
    row.pdf = None
    row.pdf_size = None
    row.pdf_sha256 = None
    db.flush()
    feed.refresh_activities(db, [activity.id])
    return True


@dataclass(frozen=True)
class PdfFile:
    """A quote's PDF as served: bytes, hash (the ETag) and the quote's number."""

    data: bytes
    sha256: str
    number: str


def _pdf_of(row: ActivityQuote | None) -> PdfFile | None:
    if row is None or row.pdf is None:
        return None
    return PdfFile(row.pdf, row.pdf_sha256 or "", str(row.document.get("number", "")))


def _quote_row(db: Session, activity_id: int) -> ActivityQuote | None:
    return db.scalars(
        select(ActivityQuote)
        .where(ActivityQuote.activity_id == activity_id)
        .options(undefer(ActivityQuote.pdf))
    ).first()


def client_pdf(db: Session, client: Client, activity_id: int) -> PdfFile | None:
    """The quote PDF of one of ``client``'s visible activities; None otherwise (a 404)."""
    activity = db.scalars(
        select(Activity).where(Activity.id == activity_id, Activity.client_id == client.id)
    ).first()
    if activity is None or not projection.is_visible(activity, client.business_unit):
        return None
    return _pdf_of(_quote_row(db, activity_id))


def staff_pdf(db: Session, activity_id: int) -> PdfFile | None:
    """The quote PDF of any activity, for staff."""
    return _pdf_of(_quote_row(db, activity_id))

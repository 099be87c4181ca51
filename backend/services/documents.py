"""Generated documents of activities: composed from the database, rendered once, cached.

What an activity offers its client (:func:`planned`): the intervention
report once it is closed, its quote (the signed quote once accepted) and the
company's forms the client filled or signed, in the business unit's formats
(``report_formats``: pdf, docx or both) and the client's language.

:func:`refresh` is called by the write paths that change what a document
says (closure, quote, a form sent or signed, the client's language), in
their transaction and before the feed refresh. It composes the documents,
and only for a content key it has never seen renders the file and stores it
in ``generated_documents`` (content-addressed: the same content is rendered
once, a change gives a new key). The activity's ``activity_documents`` rows
then list the files with the size and SHA-256 of their bytes, which is all
the feed reads: a pull never renders.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from backend import forms, reports
from backend.document_models import ActivityClosure, ActivityDocument, GeneratedDocument
from backend.localization import language
from backend.models import (
    Activity,
    BusinessUnit,
    Client,
    FormSubmission,
    ValidationEvent,
    utcnow,
)
from backend.reports import compose
from backend.reports.content import MEDIA_TYPES, Branding, Document, Format, content_key
from backend.services import projection

log = logging.getLogger("portal")

REPORT_FORMATS: dict[str, tuple[Format, ...]] = {
    "pdf": ("pdf",),
    "docx": ("docx",),
    "both": ("pdf", "docx"),
}
ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
FORM_KINDS = ("fill_form", "validate_document")


@dataclass(frozen=True)
class Planned:
    """One file an activity should offer: its key, kind, texts and content."""

    doc_key: str
    kind: str
    title: str
    filename: str
    fmt: Format
    document: Document

    @property
    def content_key(self) -> str:
        """The cache key of the rendered file (see ``backend.reports.content``)."""
        return content_key(self.document, self.fmt)


@lru_cache(maxsize=32)
def _logo_file(path: str, mtime: float) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def logo_bytes(bu: BusinessUnit) -> bytes | None:
    """The business unit's logo (PNG or JPEG under ``assets/``), or None."""
    name = bu.logo or ""
    if not name.lower().endswith((".png", ".jpg", ".jpeg")) or "/" in name or "\\" in name:
        return None  # an SVG logo stays on screens; documents show the name alone
    path = ASSETS_DIR / name
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    return _logo_file(str(path), mtime)


def facts_of(activity: Activity, client: Client, bu: BusinessUnit) -> compose.Facts:
    """What every document of ``activity`` says about it, in the client's language."""
    site = activity.site
    place = ", ".join(
        part
        for part in (site.street, f"{site.postal_code} {site.city}".strip())
        if part and part.strip()
    )
    return compose.Facts(
        language=language(client.preferred_language),
        timezone=bu.timezone,
        branding=Branding(
            name=bu.name,
            address=bu.address,
            phone=bu.phone,
            email=bu.email,
            logo=logo_bytes(bu),
        ),
        reference=projection.reference(activity),
        type_name=activity.type.name,
        client_name=client.name,
        site=" – ".join(p for p in (site.label, place) if p),
        technician=activity.technician.first_name if activity.technician else "",
        visit_at=activity.scheduled_start,
    )


def latest_closure(db: Session, activity_id: int) -> ActivityClosure | None:
    """The newest closure of an activity (its data loaded), or None."""
    return db.scalars(
        select(ActivityClosure)
        .where(ActivityClosure.activity_id == activity_id)
        .options(undefer(ActivityClosure.data))
        .order_by(ActivityClosure.id.desc())
        .limit(1)
    ).first()


def closure_content(data: dict[str, Any]) -> dict[str, Any]:
    """A stored closure with its photos decoded, as ``compose.report_document`` reads it."""
    content = dict(data)
    content["photos"] = [
        {**p, "data": base64.b64decode(p["data"])} for p in data.get("photos") or []
    ]
    return content


def _signature_of(submission: FormSubmission) -> dict[str, Any] | None:
    for spec in submission.form_fields or []:
        if spec.get("type") == "signature":
            value = (submission.answers or {}).get(spec.get("key"))
            if isinstance(value, dict) and not forms.is_missing(value):
                return value
    return None


def _evidence(event: ValidationEvent, submission: FormSubmission | None) -> compose.Evidence:
    return compose.Evidence(
        signed_at=event.created_at,
        document_sha256=event.document_sha256,
        signer_contact=event.signer_contact,
        channel=event.channel,
        method=event.sign_in_method,
        signature=_signature_of(submission) if submission else None,
    )


def _latest_submissions(db: Session, activity_id: int) -> dict[str, FormSubmission]:
    """Per action key, the newest form or document submission (answers loaded)."""
    rows = db.scalars(
        select(FormSubmission)
        .where(FormSubmission.activity_id == activity_id, FormSubmission.kind.in_(FORM_KINDS))
        .options(undefer(FormSubmission.answers), undefer(FormSubmission.form_fields))
        .order_by(FormSubmission.id)
    ).all()
    latest: dict[str, FormSubmission] = {}
    for row in rows:
        latest[row.action_key] = row
    return latest


def planned(db: Session, activity: Activity, client: Client, bu: BusinessUnit) -> list[Planned]:
    """Every file ``activity`` should offer its client now, in each of the unit's formats."""
    facts = facts_of(activity, client, bu)
    lang = facts.language
    w = compose.words(lang)
    ref = facts.reference
    formats = REPORT_FORMATS.get(bu.report_formats, ("pdf",))
    wanted: list[tuple[str, str, str, str, dict[str, str], Document]] = []
    if activity.status == "done":
        closure = latest_closure(db, activity.id)
        if closure is not None:
            document = compose.report_document(
                facts, closure_content(closure.data), closure.closed_at
            )
            wanted.append(("report", "report", w["report"], "report", {"reference": ref}, document))
    submissions = _latest_submissions(db, activity.id) if activity.submissions else {}
    accepted = [e for e in activity.validations if e.decision == "accepted"]
    by_id = {s.id: s for s in submissions.values()}
    if activity.quote is not None:
        number = str(activity.quote.document.get("number", ""))
        if accepted:
            event = accepted[0]
            submission = by_id.get(event.submission_id or 0) or _submission(db, event)
            document = compose.quote_document(
                facts, activity.quote.document, _evidence(event, submission)
            )
            title = compose.quote_title(lang, number, signed=True)
            names = {"number": number}
            wanted.append(("quote-signed", "signed_quote", title, "signed_quote", names, document))
        else:
            document = compose.quote_document(facts, activity.quote.document)
            title = compose.quote_title(lang, number, signed=False)
            wanted.append(("quote", "quote", title, "quote", {"number": number}, document))
    signed_by = {e.submission_id: e for e in accepted if e.submission_id is not None}
    for action_key, submission in sorted(submissions.items()):
        event = signed_by.get(submission.id)
        if submission.kind == "validate_document" and activity.quote is not None and event:
            continue  # the signed quote is this document, with its evidence
        evidence = _evidence(event, submission) if event else None
        document = compose.form_document(
            facts,
            submission.form_name,
            submission.form_fields or [],
            submission.answers or {},
            submission.created_at,
            submission.version,
            evidence,
        )
        title = compose.form_title(lang, submission.form_name, signed=evidence is not None)
        names = {"name": submission.form_name, "reference": ref}
        wanted.append((f"form-{action_key}", "form", title, "form", names, document))
    plans: list[Planned] = []
    for stem, kind, title, file_key, names, document in wanted:
        for fmt in formats:
            plans.append(
                Planned(
                    doc_key=f"{stem}.{fmt}",
                    kind=kind,
                    title=title,
                    filename=compose.filename(lang, file_key, fmt, **names),
                    fmt=fmt,
                    document=document,
                )
            )
    return plans


def _submission(db: Session, event: ValidationEvent) -> FormSubmission | None:
    if event.submission_id is None:
        return None
    return db.get(
        FormSubmission,
        event.submission_id,
        options=[undefer(FormSubmission.answers), undefer(FormSubmission.form_fields)],
    )


def _stored(db: Session, key: str) -> GeneratedDocument | None:
    return db.scalars(select(GeneratedDocument).where(GeneratedDocument.content_key == key)).first()


def cached_or_rendered(db: Session, plan: Planned) -> GeneratedDocument:
    """The stored file of ``plan``'s content, rendered and stored the first time only."""
    key = plan.content_key
    found = _stored(db, key)
    if found is not None:
        return found
    data = reports.render(plan.document, plan.fmt)
    row = GeneratedDocument(
        content_key=key,
        media_type=MEDIA_TYPES[plan.fmt],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )
    try:
        with db.begin_nested():
            db.add(row)
    except IntegrityError:
        # Another process rendered the same content first: use its file.
        found = _stored(db, key)
        assert found is not None
        return found
    return row


def refresh(
    db: Session,
    activity: Activity,
    now: datetime | None = None,
    client: Client | None = None,
) -> bool:
    """Bring ``activity``'s documents up to date with its data; True when any changed.

    Call it in the write transaction that changed the data, before
    ``feed.refresh_activities`` (the feed lists what this wrote).
    """
    client = client or db.get_one(Client, activity.client_id)
    bu = client.business_unit
    now = now or utcnow()
    plans = planned(db, activity, client, bu)
    existing = {
        row.doc_key: row
        for row in db.scalars(
            select(ActivityDocument).where(ActivityDocument.activity_id == activity.id)
        )
    }
    released: set[str] = set()
    changed = False
    for plan in plans:
        row = existing.pop(plan.doc_key, None)
        key = plan.content_key
        if row is not None and (row.content_key, row.title, row.filename, row.kind) == (
            key,
            plan.title,
            plan.filename,
            plan.kind,
        ):
            continue
        stored = cached_or_rendered(db, plan)
        if row is None:
            row = ActivityDocument(activity_id=activity.id, doc_key=plan.doc_key)
            db.add(row)
        elif row.content_key != key:
            released.add(row.content_key)
        row.kind = plan.kind
        row.language = language(plan.document.language)
        row.title = plan.title[:300]
        row.filename = plan.filename[:200]
        row.media_type = stored.media_type
        row.size = stored.size
        row.sha256 = stored.sha256
        row.content_key = key
        row.updated_at = now
        changed = True
    for row in existing.values():
        released.add(row.content_key)
        db.delete(row)
        changed = True
    if changed:
        db.flush()
        _forget_unused(db, released)
        db.expire(activity, ["documents"])
    return changed


def _forget_unused(db: Session, keys: set[str]) -> None:
    """Delete stored files no activity lists any more (a replaced version)."""
    for key in sorted(keys):
        used = db.scalar(
            select(func.count())
            .select_from(ActivityDocument)
            .where(ActivityDocument.content_key == key)
        )
        if not used:
            stored = _stored(db, key)
            if stored is not None:
                db.delete(stored)
    db.flush()


def refresh_quietly(db: Session, activity: Activity, now: datetime | None = None) -> bool:
    """:func:`refresh`, but a failure to render is logged instead of raised.

    For write paths whose own change must not fail because of a document
    (a client's signature): the documents are left as they were, in a
    savepoint, and the next refresh tries again.
    """
    try:
        with db.begin_nested():
            return refresh(db, activity, now)
    except IntegrityError:
        raise
    except Exception:
        log.exception("documents of activity %s could not be generated", activity.id)
        return False


def refresh_client(db: Session, client_id: int, now: datetime | None = None) -> int:
    """Refresh the documents of every activity of a client that has any (its language
    changed); returns how many activities changed."""
    ids = db.scalars(
        select(ActivityDocument.activity_id)
        .join(Activity, Activity.id == ActivityDocument.activity_id)
        .where(Activity.client_id == client_id)
        .distinct()
    ).all()
    changed = 0
    for activity_id in sorted(ids):
        activity = db.scalars(projection.activity_query().where(Activity.id == activity_id)).first()
        if activity is not None and refresh_quietly(db, activity, now):
            changed += 1
    return changed


def document_row(db: Session, activity_id: int, doc_key: str) -> ActivityDocument | None:
    """One document an activity lists (its metadata, not its bytes), or None."""
    return db.scalars(
        select(ActivityDocument).where(
            ActivityDocument.activity_id == activity_id, ActivityDocument.doc_key == doc_key
        )
    ).first()


def client_document_row(
    db: Session, client: Client, activity_id: int, doc_key: str
) -> ActivityDocument | None:
    """A document of one of ``client``'s visible activities; None otherwise (a 404)."""
    activity = db.scalars(
        select(Activity).where(Activity.id == activity_id, Activity.client_id == client.id)
    ).first()
    if activity is None or not projection.is_visible(activity, client.business_unit):
        return None
    return document_row(db, activity_id, doc_key)


def document_bytes(db: Session, row: ActivityDocument) -> bytes | None:
    """The stored bytes a document row lists (the ones its size and SHA-256 describe)."""
    return db.scalar(
        select(GeneratedDocument.data).where(GeneratedDocument.content_key == row.content_key)
    )

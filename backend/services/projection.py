"""What a client sees: documents rendered from the database for one client.

The same functions feed the portal API, the staff preview and the sync feed,
so the three can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from backend.document_models import ActivityDocument
from backend.domain import BookingSettings
from backend.localization import format_date, format_datetime, format_time
from backend.models import (
    Activity,
    ActivityQuote,
    ActivityType,
    BusinessUnit,
    Client,
    FormDefinition,
    Site,
)
from backend.templates import TemplateError, render_template, variables_in


def iso(moment: datetime | None) -> str | None:
    """UTC ISO-8601 text (``...Z``) or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def branding_doc(bu: BusinessUnit) -> dict[str, Any]:
    return {
        "id": bu.id,
        "name": bu.name,
        "logo_url": f"/assets/{bu.logo}" if bu.logo else None,
        "phone": bu.phone,
        "email": bu.email,
        "address": bu.address,
        "description": bu.description,
        "primary_color": bu.primary_color,
        "timezone": bu.timezone,
        "locale": bu.locale,
    }


def site_doc(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "label": site.label,
        "street": site.street,
        "postal_code": site.postal_code,
        "city": site.city,
        "latitude": site.latitude,
        "longitude": site.longitude,
    }


def sms_consent(client: Client, bu: BusinessUnit) -> bool:
    """Whether automatic messages may go by SMS: the client's choice, else on when
    the unit allows SMS links."""
    if client.sms_notifications is not None:
        return client.sms_notifications
    return bu.sms_links_allowed


def profile_doc(client: Client) -> dict[str, Any]:
    return {
        "id": client.id,
        "name": client.name,
        "preferred_language": client.preferred_language,
        "contacts": [{"kind": c.kind, "value": c.value} for c in client.contacts],
        "sites": [site_doc(s) for s in client.sites],
        # What the client agreed to receive (they change it in the app).
        "notifications": {
            "email": bool(client.email_notifications),
            "sms": sms_consent(client, client.business_unit),
        },
    }


def type_doc(activity_type: ActivityType) -> dict[str, Any]:
    return {
        "id": activity_type.id,
        "name": activity_type.name,
        "default_duration_min": activity_type.default_duration_min,
        "actions": activity_type.portal_actions,
    }


def activity_actions(activity_type: ActivityType) -> list[Any]:
    """The type's portal actions that act on one activity.

    A ``request`` action belongs to the type (clients may ask for a new
    intervention of it), never to an existing activity's buttons.
    """
    return [a for a in activity_type.portal_actions or [] if a.get("kind") != "request"]


def is_requestable(activity_type: ActivityType) -> bool:
    """True when clients may request a new intervention of this type."""
    return activity_type.portal_shown and any(
        a.get("kind") == "request" for a in activity_type.portal_actions or []
    )


def form_doc(form: FormDefinition) -> dict[str, Any]:
    return {"id": form.id, "name": form.name, "fields": form.fields}


def is_visible(activity: Activity, bu: BusinessUnit) -> bool:
    """Whether the client may see this activity at all."""
    if not activity.type.portal_shown:
        return False
    return activity.status != "cancelled" or bu.show_cancelled_activities


def render_title(activity: Activity, client: Client, bu: BusinessUnit) -> str:
    """The activity's title from its type's template.

    Dates and times follow the client's language (Babel, in the business
    unit's zone); the company's own words stay as staff wrote them. Only the
    variables the template uses are computed (a feed renders thousands).
    """
    template = activity.type.title_template
    try:
        wanted = set(variables_in(template))
    except TemplateError:
        return activity.type.name  # saved before validation existed: never fail a title
    values = title_values(activity, client, bu, wanted)
    return render_template(template, values) or activity.type.name


def title_values(
    activity: Activity,
    client: Client,
    bu: BusinessUnit,
    wanted: Iterable[str],
    lang: str | None = None,
) -> dict[str, str]:
    """The values of the ``wanted`` replacement codes for one activity, in ``lang``
    (default: the client's language); titles and automatic messages share them."""
    lang = lang or client.preferred_language
    tz = bu.timezone
    start = activity.scheduled_start
    site = activity.site
    technician = activity.technician
    asked = activity.created_at  # when the client asked (None before the first flush)
    compute: dict[str, Callable[[], str]] = {
        "type.name": lambda: activity.type.name,
        "activity.id": lambda: str(activity.id),
        "activity.reference": lambda: reference(activity),
        "activity.date": lambda: format_date(start, lang, tz) if start else "",
        "activity.time": lambda: format_time(start, lang, tz) if start else "",
        "activity.datetime": lambda: format_datetime(start, lang, tz) if start else "",
        "activity.requested_date": lambda: format_date(asked, lang, tz) if asked else "",
        "activity.status": lambda: activity.status,
        "site.label": lambda: site.label,
        "site.city": lambda: site.city,
        "site.street": lambda: site.street,
        "site.postal_code": lambda: site.postal_code,
        "client.name": lambda: client.name,
        "technician.first_name": lambda: technician.first_name if technician else "",
        "bu.name": lambda: bu.name,
    }
    return {name: compute[name]() for name in wanted if name in compute}


def reference(activity: Activity) -> str:
    """The number the office and the client quote for an intervention (also in the .ics)."""
    return str(activity.id)


def submission_states(activity: Activity) -> dict[str, dict[str, Any]]:
    """Per portal action key, what the client already did: ``sent`` (with the
    latest version), ``signed`` or ``refused`` (with the document's hash), and when."""
    states: dict[str, dict[str, Any]] = {}
    for row in activity.submissions:
        states[row.action_key] = {
            "state": "sent",
            "at": iso(row.created_at),
            "version": row.version,
        }
    for event in activity.validations:
        states[event.action_key] = {
            "state": "signed" if event.decision == "accepted" else "refused",
            "at": iso(event.created_at),
            # Which version was decided: a quote revised after a refusal is a
            # new document the client may sign.
            "document_sha256": event.document_sha256,
        }
    return states


def activity_doc(activity: Activity, client: Client, bu: BusinessUnit) -> dict[str, Any]:
    """The synced activity document. Time-dependent availability is left to the
    reader (``backend.actions``), so the document only changes when data does."""
    doc: dict[str, Any] = {
        "id": activity.id,
        "title": render_title(activity, client, bu),
        # What tells two cards with the same title apart: the reference, the
        # site (below) and when the client asked.
        "reference": reference(activity),
        "requested_at": iso(activity.created_at),
        "status": activity.status,
        "type_id": activity.type_id,
        "type_name": activity.type.name,
        "site": site_doc(activity.site),
        "scheduled_start": iso(activity.scheduled_start),
        "scheduled_end": iso(activity.scheduled_end),
        "window_start": iso(activity.window_start),
        "window_end": iso(activity.window_end),
        "technician": (
            {"first_name": activity.technician.first_name} if activity.technician else None
        ),
        "description": activity.description,
        "steps": [{"at": iso(s.at), "code": s.code, "note": s.note} for s in activity.steps],
        "closure_report": activity.closure_report or None,
        "actions": activity_actions(activity.type),
        "reschedule_count": activity.reschedule_count,
        "booking_rules": booking_rules(bu, activity.reschedule_count),
    }
    # Only when something was sent: documents of untouched activities (and
    # their digests) stay as they were.
    states = submission_states(activity)
    if states:
        doc["submissions"] = states
    # Only when the company attached one: documents (and the hashes clients
    # signed) of activities without a quote stay as they were.
    if activity.quote is not None:
        doc["quote"] = quote_doc(activity.quote)
    # Only when it has any: the files were generated when the data changed
    # (backend/services/documents.py), the feed only lists them.
    if activity.documents:
        doc["documents"] = [document_entry(d) for d in activity.documents]
    return doc


def document_path(activity_id: int, doc_key: str) -> str:
    """Where the signed-in client downloads one of an activity's documents."""
    return f"/activities/{activity_id}/documents/{doc_key}"


def document_entry(row: ActivityDocument) -> dict[str, Any]:
    """One generated document as the feed lists it: what it is, in the client's language,
    and the size and SHA-256 of exactly the bytes its URL serves (for the app's cache)."""
    return {
        "key": row.doc_key,
        "kind": row.kind,
        "title": row.title,
        "url": document_path(row.activity_id, row.doc_key),
        "media_type": row.media_type,
        "filename": row.filename,
        "size": row.size,
        "sha256": row.sha256,
        "updated_at": iso(row.updated_at),
    }


def quote_pdf_path(activity_id: int) -> str:
    """Where the signed-in client downloads an activity's quote PDF."""
    return f"/activities/{activity_id}/quote.pdf"


def quote_doc(quote: ActivityQuote) -> dict[str, Any]:
    """The quote as the client sees and signs it (``backend.quotes.quote_document``) and,
    instead of the PDF's bytes, where to get them, their size and their SHA-256.

    The hash is part of what is signed: replacing the PDF changes the document.
    """
    doc = dict(quote.document)
    doc["pdf"] = (
        {
            "url": quote_pdf_path(quote.activity_id),
            "media_type": "application/pdf",
            "size": quote.pdf_size,
            "sha256": quote.pdf_sha256,
        }
        if quote.pdf_size is not None
        else None
    )
    return doc


def booking_rules(bu: BusinessUnit, reschedule_count: int) -> dict[str, Any]:
    """The guardrails the client is told before changing an appointment.

    The same settings the server enforces (``booking.check_allowed``): no
    change within ``change_cutoff_hours`` of the visit, at most
    ``max_reschedules`` moves online.
    """
    settings = BookingSettings.model_validate(bu.booking or {})
    return {
        "change_cutoff_hours": settings.change_cutoff_hours,
        "max_reschedules": settings.max_reschedules,
        "reschedules_left": max(0, settings.max_reschedules - reschedule_count),
    }


def activity_query() -> Any:
    """Activities with everything a document needs, loaded in a few queries."""
    return select(Activity).options(
        selectinload(Activity.type),
        selectinload(Activity.site),
        selectinload(Activity.technician),
        selectinload(Activity.steps),
        selectinload(Activity.submissions),
        selectinload(Activity.validations),
        selectinload(Activity.quote),
        selectinload(Activity.documents),
    )


def visible_activities(db: Session, client: Client, bu: BusinessUnit) -> list[Activity]:
    rows = db.scalars(activity_query().where(Activity.client_id == client.id)).all()
    return [a for a in rows if is_visible(a, bu)]


def shown_types(db: Session, bu: BusinessUnit) -> list[ActivityType]:
    return list(
        db.scalars(
            select(ActivityType)
            .where(ActivityType.business_unit_id == bu.id, ActivityType.portal_shown.is_(True))
            .order_by(ActivityType.id)
        )
    )


def form_ids_of(types: Iterable[ActivityType]) -> set[int]:
    return {
        int(action["form_id"])
        for t in types
        for action in t.portal_actions
        if action.get("form_id") is not None
    }


def visible_forms(db: Session, bu: BusinessUnit, types: list[ActivityType]) -> list[FormDefinition]:
    ids = form_ids_of(types)
    if not ids:
        return []
    return list(
        db.scalars(
            select(FormDefinition)
            .where(FormDefinition.id.in_(ids), FormDefinition.business_unit_id == bu.id)
            .order_by(FormDefinition.id)
        )
    )


def load_client(db: Session, client_id: int) -> Client | None:
    return db.scalars(
        select(Client)
        .where(Client.id == client_id)
        .options(
            selectinload(Client.contacts),
            selectinload(Client.sites),
            selectinload(Client.business_unit),
        )
    ).first()


def client_documents(db: Session, client: Client) -> dict[tuple[str, str], dict[str, Any]]:
    """Every document the client should hold, keyed by (kind, key)."""
    bu = client.business_unit
    docs: dict[tuple[str, str], dict[str, Any]] = {
        ("profile", "me"): profile_doc(client),
        ("branding", "bu"): branding_doc(bu),
    }
    types = shown_types(db, bu)
    for t in types:
        docs[("activity_type", str(t.id))] = type_doc(t)
    for f in visible_forms(db, bu, types):
        docs[("form", str(f.id))] = form_doc(f)
    for a in visible_activities(db, client, bu):
        docs[("activity", str(a.id))] = activity_doc(a, client, bu)
    return docs

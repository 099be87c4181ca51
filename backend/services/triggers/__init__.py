"""Automatic messages: what the portal sends by itself when something happens.

Callers call these hooks inside their own transaction, after their change is
flushed; a hook only queues messages in ``outgoing_messages`` (the delivery
worker sends them), never talks to a provider. Which events send what, on
which channel and with which words is configured per business unit and
activity type (:mod:`.config`); texts come from template files or staff
overrides (:mod:`.render`); recipients, consent and the once-per-event rule
are in :mod:`.firing`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Select, delete, func, insert, literal, select
from sqlalchemy.orm import Session, selectinload

from backend.calendar_file import NotBooked, file_name, visit_ics
from backend.document_models import ActivityClosure, ActivityDocument, GeneratedDocument
from backend.localization import language
from backend.models import (
    Activity,
    BusinessUnit,
    Client,
    NotificationTrigger,
    PendingTrigger,
    UTCDateTime,
)
from backend.services import auth, projection
from backend.services.messaging import Attachment, Message

from . import config, firing
from .config import DEFAULT_REMINDER_HOURS, TriggerSpec

VisitChange = Literal["booked", "rescheduled", "cancelled"]

# Bulk events are expanded by the worker in batches, each committed on its
# own (a short write: requests never wait long behind a 100,000-client
# grant), at most PENDING_BATCHES per cycle so reminders and delivery go on.
PENDING_BATCH = 500
PENDING_BATCHES = 20

ACCESS_LINK_LABEL = "Portal access message"


# --- portal access -------------------------------------------------------------


def portal_access_granted(db: Session, client: Client, now: datetime) -> None:
    """The client was given portal access: send them the portal link."""
    if not config.triggers_for(db, client.business_unit_id, "portal_access"):
        return
    pending = PendingTrigger(
        business_unit_id=client.business_unit_id,
        event="portal_access",
        client_id=client.id,
        created_at=now,
    )
    db.add(pending)
    db.flush()
    _expand_pending(db, [pending], now)


def portal_access_granted_many(
    db: Session, business_unit_id: int, client_ids: Select[tuple[int]], now: datetime
) -> int:
    """Bulk form of :func:`portal_access_granted` (set-based); returns how many fired.

    ``client_ids`` selects clients of the unit (the caller's own filter, used
    as the source as it is: joining it to ``clients`` again made PostgreSQL
    plan a self-join that cost a second per 100,000 clients). One
    ``INSERT … SELECT`` records a pending event per client;
    :func:`due_reminders` (the delivery worker's cycle) turns them into
    messages in batches of :data:`PENDING_BATCH`.
    """
    if not config.triggers_for(db, business_unit_id, "portal_access"):
        return 0
    chosen = client_ids.subquery()
    rows = select(
        literal(business_unit_id),
        literal("portal_access"),
        chosen.c[0],
        literal(now, UTCDateTime()),
    )
    # Counted apart: psycopg gives no row count for an INSERT … SELECT.
    count = db.scalar(select(func.count()).select_from(chosen))
    db.execute(
        insert(PendingTrigger.__table__).from_select(
            ["business_unit_id", "event", "client_id", "created_at"], rows
        )
    )
    return int(count or 0)


def _expand_pending(db: Session, pending: list[PendingTrigger], now: datetime) -> int:
    """Queue the portal-access messages of ``pending`` and delete it; returns messages queued.

    The permanent links of a batch are issued in one statement.
    """
    if not pending:
        return 0
    settings = firing.settings_of(db)
    clients = {
        c.id: c
        for c in db.scalars(
            select(Client)
            .where(Client.id.in_({p.client_id for p in pending}))
            .options(selectinload(Client.contacts), selectinload(Client.business_unit))
        )
    }
    specs: dict[int, list[TriggerSpec]] = {}
    plans: list[tuple[PendingTrigger, Client, list[tuple[TriggerSpec, firing.Address]]]] = []
    for item in pending:
        client = clients.get(item.client_id)
        if client is None or not client.portal_access or not client.business_unit.portal_enabled:
            continue
        bu_specs = specs.setdefault(
            item.business_unit_id, config.triggers_for(db, item.business_unit_id, "portal_access")
        )
        targets = [
            (spec, address)
            for spec in bu_specs
            for address in firing.addresses(spec, client, client.business_unit, client.contacts)
        ]
        if targets:
            plans.append((item, client, targets))
    linked = [c.id for _, c, _ in plans if c.business_unit.permanent_links_allowed]
    tokens = auth.issue_permanent_links(db, settings, linked, now, label=ACCESS_LINK_LABEL)
    messages: list[Message] = []
    for item, client, targets in plans:
        bu = client.business_unit
        token = tokens.get(client.id)
        link = auth.link_url(settings, token) if token else firing.app_url(settings)
        lang = firing.client_language(client)
        values = firing.client_values(client, bu, link)
        for spec, address in targets:
            texts = firing.render_for(spec, lang, values, bu)
            key = f"access:{client.id}:{item.id}:{address.channel}"
            messages.append(firing.build(spec, texts, address, bu, client, lang, key))
    queued = firing.queue_all(db, messages, now)
    db.execute(delete(PendingTrigger).where(PendingTrigger.id.in_([p.id for p in pending])))
    return queued


# --- activity events -------------------------------------------------------------


def _client_side(activity: Activity) -> tuple[Client, BusinessUnit] | None:
    """The activity's client and unit when the client may get portal messages about it."""
    client = activity.client
    bu = client.business_unit
    if not (bu.portal_enabled and client.portal_access and activity.type.portal_shown):
        return None
    return client, bu


def _report_pdf(db: Session, activity_id: int) -> Attachment | None:
    """The activity's generated report PDF (documents service), if there is one."""
    row = db.execute(
        select(ActivityDocument.filename, GeneratedDocument.data)
        .join(GeneratedDocument, GeneratedDocument.content_key == ActivityDocument.content_key)
        .where(
            ActivityDocument.activity_id == activity_id,
            ActivityDocument.kind == "report",
            ActivityDocument.media_type == "application/pdf",
        )
        .order_by(ActivityDocument.updated_at.desc())
    ).first()
    if row is None:
        return None
    return Attachment(filename=row.filename, media_type="application/pdf", content=row.data)


def _fire(
    db: Session,
    activity: Activity,
    event: str,
    key_prefix: str,
    now: datetime,
    attachments: tuple[Attachment, ...] = (),
    extra: dict[str, object] | None = None,
    specs: list[TriggerSpec] | None = None,
) -> int:
    """Queue ``event``'s messages about ``activity`` to its client; returns how many."""
    side = _client_side(activity)
    if side is None:
        return 0
    client, bu = side
    if specs is None:
        specs = config.triggers_for(db, bu.id, event, activity.type_id)
    settings = firing.settings_of(db)
    lang = firing.client_language(client)
    values = firing.activity_values(activity, client, bu, lang, firing.app_url(settings))
    messages = []
    for spec in specs:
        for address in firing.addresses(spec, client, bu):
            texts = firing.render_for(spec, lang, values, bu, extra)
            hours = f":{spec.hours_before}h" if spec.event == "reminder" else ""
            key = f"{key_prefix}{hours}:{address.channel}"
            messages.append(firing.build(spec, texts, address, bu, client, lang, key, attachments))
    return firing.queue_all(db, messages, now)


def activity_closed(db: Session, activity: Activity, now: datetime) -> None:
    """The activity was closed: send the report and/or the survey link.

    The report's e-mail carries the generated report PDF when the documents
    service made one, else it points to the portal. The survey message goes
    only when the activity's type has a survey portal action.
    """
    report = _report_pdf(db, activity.id)
    # A visit reopened and closed again has a new report: it goes too (the
    # survey is asked once per visit).
    closure = db.scalar(
        select(func.max(ActivityClosure.id)).where(ActivityClosure.activity_id == activity.id)
    )
    _fire(
        db,
        activity,
        "report",
        f"closed:{activity.id}:{closure or 0}:report",
        now,
        attachments=(report,) if report else (),
        extra={"report_attached": report is not None},
    )
    survey = config.survey_action(activity.type)
    if survey is not None:
        _fire(
            db,
            activity,
            "survey",
            f"closed:{activity.id}:survey",
            now,
            extra={"survey_label": survey.get("label", "")},
        )


def _visit_document(activity: Activity, client: Client, bu: BusinessUnit) -> dict[str, object]:
    """The fields of the synced activity document that the .ics needs."""
    return {
        "id": activity.id,
        "title": projection.render_title(activity, client, bu),
        "type_name": activity.type.name,
        "status": activity.status,
        "scheduled_start": projection.iso(activity.scheduled_start),
        "scheduled_end": projection.iso(activity.scheduled_end),
        "window_start": projection.iso(activity.window_start),
        "window_end": projection.iso(activity.window_end),
        "technician": (
            {"first_name": activity.technician.first_name} if activity.technician else None
        ),
        "site": projection.site_doc(activity.site),
    }


def visit_changed(db: Session, activity: Activity, change: VisitChange, now: datetime) -> None:
    """A visit was booked, rescheduled or cancelled: send a confirmation (.ics by email).

    Once per visit and window: the key names the arrival window, so a move
    to a new window confirms again and a replay does not.
    """
    side = _client_side(activity)
    if side is None:
        return
    client, bu = side
    attachments: tuple[Attachment, ...] = ()
    if change != "cancelled":
        doc = _visit_document(activity, client, bu)
        try:
            ics = visit_ics(doc, projection.branding_doc(bu), firing.client_language(client), now)
        except NotBooked:
            ics = None
        if ics is not None:
            attachments = (Attachment(file_name(doc), "text/calendar; method=PUBLISH", ics),)
    start = firing.key_time(activity.window_start or activity.scheduled_start)
    _fire(
        db, activity, f"visit_{change}", f"visit:{activity.id}:{change}:{start}", now, attachments
    )


@dataclass(frozen=True)
class VisitState:
    """What a staff edit may change about an appointment (see :func:`visit_change_of`)."""

    status: str
    start: datetime | None


def visit_state(activity: Activity) -> VisitState:
    return VisitState(activity.status, activity.window_start or activity.scheduled_start)


def visit_change_of(before: VisitState, activity: Activity) -> VisitChange | None:
    """How a staff edit changed the client's appointment, if it did.

    Cancelled: the status became ``cancelled``. Booked: the activity became
    ``scheduled`` with a time it did not have. Rescheduled: a scheduled
    visit's window (or start) moved. Anything else (notes, owner) sends nothing.
    """
    after = visit_state(activity)
    if after.status == "cancelled" and before.status != "cancelled":
        return "cancelled"
    if after.status != "scheduled" or after.start is None:
        return None
    if before.status != "scheduled" or before.start is None:
        return "booked"
    return "rescheduled" if after.start != before.start else None


# --- planning notice ---------------------------------------------------------------


def planning_notice(
    db: Session,
    bu: BusinessUnit,
    client: Client,
    activity: Activity,
    summary: str,
    now: datetime,
    detail: str | None = None,
) -> int:
    """Tell the unit's planning contact that a client acted (a portal action with
    ``notify_planning``); in the unit's language, by email. Returns messages queued."""
    specs = config.triggers_for(db, bu.id, "planning_notice", activity.type_id)
    lang = language(bu.locale)
    values = firing.activity_values(activity, client, bu, lang, "")
    values["notice.summary"] = summary
    values["notice.detail"] = detail or summary
    digest = hashlib.sha256(f"{summary}\x1f{detail}\x1f{now.isoformat()}".encode()).hexdigest()
    messages = []
    for spec in specs:
        recipient = spec.recipient or bu.email
        if not recipient:
            continue
        texts = firing.render_for(spec, lang, values, bu)
        key = f"planning:{activity.id}:{digest[:24]}:{spec.id or 0}"
        address = firing.Address("email", recipient)
        messages.append(firing.build(spec, texts, address, bu, None, lang, key))
    return firing.queue_all(db, messages, now)


# --- the worker's cycle ----------------------------------------------------------------


def _reminder_rows(db: Session) -> list[NotificationTrigger]:
    return list(
        db.scalars(select(NotificationTrigger).where(NotificationTrigger.event == "reminder"))
    )


def due_reminders(db: Session, now: datetime) -> int:
    """Queue the reminders whose time has come (called by the delivery worker).

    First expands the bulk events (portal access granted to many clients):
    batches of :data:`PENDING_BATCH`, **each committed** (``db`` must be a
    write session, as the worker's is), up to :data:`PENDING_BATCHES` per
    call. Then the reminders: one is due ``hours_before`` hours before the
    arrival window starts, once per window (a rescheduled visit gets a new
    one). The scan is one range read on ``activities.window_start`` and one
    read of the keys already queued. Returns how many messages were queued.
    """
    queued = 0
    for _ in range(PENDING_BATCHES):
        pending = list(
            db.scalars(select(PendingTrigger).order_by(PendingTrigger.id).limit(PENDING_BATCH))
        )
        queued += _expand_pending(db, pending, now)
        if len(pending) < PENDING_BATCH:
            break
        db.commit()
    rows = _reminder_rows(db)
    horizon = max([DEFAULT_REMINDER_HOURS, *(r.hours_before or 0 for r in rows if r.enabled)])
    candidates = list(
        db.scalars(
            select(Activity)
            .where(
                Activity.status == "scheduled",
                Activity.window_start > now,
                Activity.window_start <= now + timedelta(hours=horizon),
            )
            .order_by(Activity.window_start)
        )
    )
    by_bu: dict[int, list[NotificationTrigger]] = {}
    for row in rows:
        by_bu.setdefault(row.business_unit_id, []).append(row)
    due: list[tuple[Activity, TriggerSpec, str]] = []
    for activity in candidates:
        assert activity.window_start is not None  # the query's range
        specs = config.resolve(
            by_bu.get(activity.business_unit_id, []), "reminder", activity.type_id
        )
        for spec in specs:
            hours = spec.hours_before or DEFAULT_REMINDER_HOURS
            if spec.enabled and activity.window_start - timedelta(hours=hours) <= now:
                prefix = f"reminder:{activity.id}:{firing.key_time(activity.window_start)}"
                due.append((activity, spec, prefix))
    # Most candidates were reminded in an earlier cycle: skip them with one read.
    done = firing.already_queued(
        db,
        [
            f"{prefix}:{spec.hours_before}h:{channel}"
            for _, spec, prefix in due
            for channel in ("email", "sms")
        ],
    )
    for activity, spec, prefix in due:
        # Reminded on one channel already: this visit's reminder went out.
        if any(f"{prefix}:{spec.hours_before}h:{c}" in done for c in ("email", "sms")):
            continue
        queued += _fire(db, activity, "reminder", prefix, now, specs=[spec])
    return queued


# --- staff preview --------------------------------------------------------------------


def preview(
    db: Session,
    spec: TriggerSpec,
    client: Client,
    activity: Activity | None,
    lang: str,
) -> dict[str, object]:
    """What ``spec`` would send about ``activity`` (or to ``client``) in ``lang``,
    without queueing anything or issuing a link; with the addresses it would use."""
    bu = client.business_unit
    settings = firing.settings_of(db)
    link = firing.app_url(settings)
    if spec.event == "portal_access" and bu.permanent_links_allowed:
        link = auth.link_url(settings, firing.PREVIEW_LINK_TOKEN)
    extra: dict[str, object] = {"report_attached": False, "survey_label": ""}
    if activity is None:
        values = firing.client_values(client, bu, link)
    else:
        values = firing.activity_values(activity, client, bu, lang, link)
        survey = config.survey_action(activity.type)
        extra["survey_label"] = survey.get("label", "") if survey else ""
        extra["report_attached"] = _report_pdf(db, activity.id) is not None
    if spec.event == "planning_notice":
        values["portal_link"] = ""
        values["notice.summary"] = values["notice.detail"] = "…"
        recipients = [{"channel": "email", "recipient": spec.recipient or bu.email}]
    else:
        recipients = [
            {"channel": a.channel, "recipient": a.value} for a in firing.addresses(spec, client, bu)
        ]
    texts = firing.render_for(spec, lang, values, bu, extra)
    return {
        "subject": texts.subject,
        "text": texts.text,
        "html": texts.html,
        "sms": texts.sms,
        "recipients": recipients,
    }

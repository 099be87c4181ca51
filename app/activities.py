"""The appointments' view-model: the upcoming and past lists, one appointment's detail.

Rows are formatted once (translated, dates in the business unit's time
zone) and rebuilt only for the ids a sync changed, so a screen patches just
those rows. Store reads run in threads (DESIGN.md §6).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app import booking_rules
from app.company import maps_url
from app.i18n import Translator, parse_utc
from app.submission_status import SubmissionLine, submission_lines
from app.sync.engine import SyncResult
from app.sync.outbox import Outbox
from app.sync.store import Field

if TYPE_CHECKING:
    from app.documents import DocumentRow
    from app.state import AppState

ACTIVITIES = "activities"
FORMS = "forms"

UPCOMING_STATUSES = ("to_schedule", "scheduled", "in_progress")
PAST_STATUSES = ("done", "cancelled")


@dataclass(frozen=True)
class ActivityItem:
    """One row of the appointment list, ready to show."""

    id: str
    title: str
    status: str
    status_label: str
    date_text: str
    window_text: str | None
    technician_text: str | None
    upcoming: bool
    # What tells identical titles apart on a card: the site, the reference and,
    # while no date is set, when it was requested.
    site_text: str | None = None
    reference_text: str = ""
    requested_text: str | None = None
    # Asked for by the client in the portal and not scheduled yet.
    requested: bool = False


@dataclass(frozen=True)
class TimelineEntry:
    """One follow-up step."""

    label: str
    when_text: str
    note: str | None


@dataclass(frozen=True)
class ReportView:
    """The intervention report: a summary and the list of work done."""

    summary: str | None
    work_done: list[str]
    pdf_url: str | None


def report_view(raw: Any) -> ReportView | None:
    """The closure report document as a summary and a list (None when empty).

    Only text reaches the screen, whatever shape the document has.
    """
    if isinstance(raw, str):
        return ReportView(summary=raw.strip(), work_done=[], pdf_url=None) if raw.strip() else None
    if not isinstance(raw, dict):
        return None
    summary = raw.get("summary")
    work = raw.get("work_done")
    items = [str(w).strip() for w in work if str(w).strip()] if isinstance(work, list) else []
    pdf = raw.get("report_pdf")
    view = ReportView(
        summary=(str(summary).strip() or None) if summary is not None else None,
        work_done=items,
        pdf_url=pdf if isinstance(pdf, str) and pdf.startswith("/") else None,
    )
    return view if view.summary or view.work_done or view.pdf_url else None


@dataclass(frozen=True)
class ActionItem:
    """A portal action usable now."""

    key: str
    kind: str
    label: str


@dataclass(frozen=True)
class ActivityDetail:
    """Everything the activity screen shows."""

    item: ActivityItem
    description: str | None
    address_lines: list[str]
    maps_url: str | None
    technician_name: str | None
    timeline: list[TimelineEntry]
    actions: list[ActionItem]
    closure_report: ReportView | None
    # Booking (app.booking_rules): a booked visit offers an .ics file; a
    # guardrail that hides reschedule/cancel is explained; a cancelled one
    # shows why.
    can_add_to_calendar: bool = False
    change_note: str | None = None
    cancel_reason: str | None = None
    # Forms, signatures and surveys: waiting, refused (fix or discard), recorded.
    submissions: tuple[SubmissionLine, ...] = ()
    # Reports, quotes and signed copies (``app.documents``), kept-on-device marks.
    documents: tuple[DocumentRow, ...] = ()


def _site_line(site: Any) -> str | None:
    """Which site a card is about: "Home, 10 rue Mercière, Lyon"."""
    if not isinstance(site, dict):
        return None
    parts = [str(site.get(k) or "").strip() for k in ("label", "street", "city")]
    return ", ".join(p for p in parts if p) or None


def _start_of(doc: dict[str, Any]) -> datetime | None:
    return parse_utc(doc.get("scheduled_start"))


class ActivitiesModel:
    """One session's appointment lists (``items`` by id, in list order) and details."""

    def __init__(self, state: AppState) -> None:
        """Start with empty lists (``reload`` fills them from the store)."""
        self._state = state
        self.items: dict[str, ActivityItem] = {}
        self.upcoming_ids: list[str] = []
        self.past_ids: list[str] = []

    @property
    def _tr(self) -> Translator:
        return self._state.tr

    def clear(self) -> None:
        """Forget every row (sign-out, another client on this device)."""
        self.items = {}
        self.upcoming_ids = []
        self.past_ids = []

    def _query_lists(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        upcoming = self._state.store.query(
            ACTIVITIES, Field("status").in_(UPCOMING_STATUSES), order_by="scheduled_start"
        )
        # Not yet dated ("to schedule") last: the dated ones are what is coming.
        upcoming.sort(key=lambda d: d.get("scheduled_start") is None)
        past = self._state.store.query(
            ACTIVITIES, Field("status").in_(PAST_STATUSES), order_by="-scheduled_start"
        )
        return upcoming, past

    async def reload(self, changed: set[str] | None) -> None:
        """Refresh the ordered lists; rebuild items for ``changed`` ids (None: all)."""
        upcoming, past = await asyncio.to_thread(self._query_lists)
        items: dict[str, ActivityItem] = {}
        for doc, is_upcoming in [(d, True) for d in upcoming] + [(d, False) for d in past]:
            doc_id = str(doc["id"])
            old = self.items.get(doc_id)
            if changed is not None and doc_id not in changed and old is not None:
                items[doc_id] = old
            else:
                items[doc_id] = self.item_for(doc, is_upcoming)
        self.items = items
        self.upcoming_ids = [str(d["id"]) for d in upcoming]
        self.past_ids = [str(d["id"]) for d in past]

    def item_for(self, doc: dict[str, Any], upcoming: bool) -> ActivityItem:
        """Format one activity document as a list row."""
        start = _start_of(doc)
        window = self._tr.arrival_window(
            parse_utc(doc.get("window_start")), parse_utc(doc.get("window_end"))
        )
        tech = doc.get("technician") or {}
        first_name = tech.get("first_name") if isinstance(tech, dict) else None
        status = str(doc.get("status") or "")
        steps = [s for s in doc.get("steps") or [] if isinstance(s, dict)]
        requested = status == "to_schedule" and any(s.get("code") == "requested" for s in steps)
        # When it was asked for (the document's requested_at; older documents:
        # the first step), shown while no date is set.
        asked_at = (
            parse_utc(doc.get("requested_at") or (steps[0].get("at") if steps else None))
            if start is None
            else None
        )
        return ActivityItem(
            id=str(doc["id"]),
            title=str(doc.get("title") or doc.get("type_name") or ""),
            status=str(doc.get("status") or ""),
            status_label=self._tr.t("status.requested") if requested else self._tr.status(status),
            date_text=self._tr.date_time(start) if start else self._tr.t("activities.to_schedule"),
            window_text=window,
            technician_text=self._tr.t("activities.technician", name=first_name)
            if first_name
            else None,
            upcoming=upcoming,
            site_text=_site_line(doc.get("site")),
            reference_text=self._tr.t("activities.reference", id=doc.get("reference") or doc["id"]),
            requested_text=self._tr.t("activities.requested_on", date=self._tr.date(asked_at))
            if asked_at
            else None,
            requested=requested,
        )

    @property
    def upcoming(self) -> list[ActivityItem]:
        """Upcoming appointments, soonest first (undated last)."""
        return [self.items[i] for i in self.upcoming_ids]

    @property
    def past(self) -> list[ActivityItem]:
        """Past appointments, latest first."""
        return [self.items[i] for i in self.past_ids]

    @property
    def next_appointment(self) -> ActivityItem | None:
        """The first dated upcoming appointment."""
        for item_id in self.upcoming_ids:
            item = self.items[item_id]
            if item.status in ("scheduled", "in_progress"):
                return item
        return None

    async def ensure_activity(self, activity_id: str) -> None:
        """Download first when a link names an appointment not on this device yet.

        A link opened right after sign-in arrives before the first download;
        offline, the screen then says the appointment is not available.
        """
        if await asyncio.to_thread(self._state.store.get, ACTIVITIES, activity_id) is None:
            await self._state.refresh(max_attempts=1)

    async def activity_detail(self, activity_id: str) -> ActivityDetail | None:
        """The detail screen's data, with the portal actions usable now."""
        doc = await asyncio.to_thread(self._state.store.get, ACTIVITIES, activity_id)
        if doc is None:
            return None
        status = str(doc.get("status") or "")
        item = self.item_for(doc, status in UPCOMING_STATUSES)
        site = doc.get("site") or {}
        street = site.get("street") or ""
        city_line = " ".join(p for p in (site.get("postal_code"), site.get("city")) if p)
        address_lines = [line for line in (site.get("label"), street, city_line) if line]
        full_address = ", ".join(p for p in (street, city_line) if p)
        now = self._state.clock()
        # Only actions configured, available now and with a screen in this app.
        revised = await asyncio.to_thread(self.revised_documents, doc)
        actions = [
            ActionItem(key=str(a["key"]), kind=str(a.get("kind", "")), label=str(a["label"]))
            for a in booking_rules.usable_actions(doc, now, revised)
        ]
        blocked = booking_rules.blocked_change(doc, now)
        timeline = []
        for step in doc.get("steps") or []:
            at = parse_utc(step.get("at"))
            timeline.append(
                TimelineEntry(
                    label=self._tr.step(str(step.get("code"))),
                    when_text=self._tr.date_time(at) if at else "",
                    note=step.get("note") or None,
                )
            )
        tech = doc.get("technician") or {}
        queued = (
            await asyncio.to_thread(Outbox(self._state.store).for_activity, int(activity_id))
            if activity_id.isdigit()
            else []
        )
        return ActivityDetail(
            item=item,
            description=doc.get("description") or None,
            address_lines=address_lines,
            maps_url=maps_url(full_address) if full_address else None,
            technician_name=tech.get("first_name") if isinstance(tech, dict) else None,
            timeline=timeline,
            actions=actions,
            closure_report=report_view(doc.get("closure_report")),
            can_add_to_calendar=booking_rules.can_add_to_calendar(doc, now),
            change_note=self._change_note(blocked),
            cancel_reason=booking_rules.cancel_reason(doc),
            submissions=tuple(submission_lines(doc, queued, self._tr)),
            documents=tuple(await self._state.documents.rows_for(doc)),
        )

    def revised_documents(self, doc: dict[str, Any]) -> frozenset[str]:
        """Refused documents changed since, which the client may answer again (blocking)."""
        ids = {
            str(a.get("form_id"))
            for a in booking_rules.configured_actions(doc)
            if a.get("kind") == "validate_document"
        }
        forms = {i: f for i in ids if (f := self._state.store.get(FORMS, i)) is not None}
        return booking_rules.revised_documents(doc, forms)

    def _change_note(self, blocked: str | None) -> str | None:
        phone = str((self._state.company.branding_doc or {}).get("phone") or "")
        if blocked == "too_late":
            return self._tr.t("booking.blocked.too_late", phone=phone)
        if blocked == "no_reschedules_left":
            return self._tr.t("booking.blocked.no_reschedules_left", phone=phone)
        return None

    async def apply_activity(self, doc: dict[str, Any]) -> None:
        """Apply an activity document the server just returned (booked, moved,
        cancelled): store it, and let every screen show it at once.

        The next sync brings the same document from the feed and overwrites it.
        """
        stored = {k: v for k, v in doc.items() if k != "available_actions"}
        activity_id = str(stored["id"])
        await asyncio.to_thread(self._state.store.put, ACTIVITIES, activity_id, stored)
        await self.reload({activity_id})
        await self._state.emit("data", SyncResult(changed_ids={ACTIVITIES: {activity_id}}))

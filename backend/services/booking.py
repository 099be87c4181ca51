"""Booking, rescheduling and cancelling through the scheduling assistant.

The engine (``backend.scheduling``) is pure; this module feeds it from the
database, caches its index per business unit, and applies a chosen slot inside
one serialized transaction so two clients can never both take conflicting
slots.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.actions import is_available
from backend.core.db import begin_write
from backend.domain import BookingSettings
from backend.models import (
    Absence,
    Activity,
    ActivityStep,
    BusinessUnit,
    Client,
    Site,
    Technician,
)
from backend.scheduling import (
    BookingPolicy,
    HaversineTravel,
    Location,
    Proposal,
    ScheduleIndex,
    VisitRequest,
    check_insertion,
    insert_route,
)
from backend.scheduling import Technician as SchedTechnician
from backend.scheduling import Visit as SchedVisit
from backend.scheduling.model import horizon_days
from backend.services import feed, mutations, triggers
from backend.services.messaging import MessageSender
from backend.services.planning import notify_planning
from backend.services.projection import is_visible

log = logging.getLogger("portal")

BOOKED_STATUSES = ("scheduled", "in_progress")
ChangeKind = Literal["book", "reschedule"]


class BookingRefused(Exception):
    """A request that cannot succeed as asked; ``code`` is stable, ``message`` is for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def tech_key(technician_id: int) -> str:
    """Engine id of a technician: zero-padded so the engine's tie-break is numeric."""
    return f"{technician_id:010d}"


def visit_key(activity_id: int) -> str:
    return f"{activity_id:010d}"


def policy_of(bu: BusinessUnit) -> tuple[BookingSettings, BookingPolicy, HaversineTravel]:
    settings = BookingSettings.model_validate(bu.booking or {})
    policy = BookingPolicy(
        horizon_days=settings.horizon_days,
        min_notice_hours=settings.min_notice_hours,
        window_minutes=settings.window_minutes,
        window_starts=tuple(settings.window_starts),
        proposals=settings.proposals,
    )
    return settings, policy, HaversineTravel(settings.circuity, settings.speed_kmh)


# --- loading the schedule -------------------------------------------------------


def _local_range(first_day: date, num_days: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(first_day, datetime.min.time(), tz)
    end = datetime.combine(first_day + timedelta(days=num_days), datetime.min.time(), tz)
    return start, end


def load_technicians(
    db: Session, bu_id: int, technician_id: int | None = None
) -> list[SchedTechnician]:
    query = select(Technician).where(Technician.business_unit_id == bu_id)
    if technician_id is not None:
        query = query.where(Technician.id == technician_id)
    techs = db.scalars(query.order_by(Technician.id)).all()
    absences: dict[int, list[tuple[datetime, datetime]]] = {}
    ids = [t.id for t in techs]
    if ids:
        for a in db.scalars(select(Absence).where(Absence.technician_id.in_(ids))):
            absences.setdefault(a.technician_id, []).append((a.start, a.end))
    return [
        SchedTechnician(
            id=tech_key(t.id),
            name=t.first_name,
            skills=frozenset(t.skills or ()),
            home=Location(t.home_latitude, t.home_longitude),
            working_hours={
                int(day): [(int(s), int(e)) for s, e in intervals]
                for day, intervals in (t.working_hours or {}).items()
            },
            absences=tuple(absences.get(t.id, ())),
        )
        for t in techs
    ]


def load_visits(
    db: Session,
    bu_id: int,
    start: datetime,
    end: datetime,
    technician_id: int | None = None,
) -> list[SchedVisit]:
    """Booked visits starting in [start, end), as the engine sees them."""
    query = (
        select(
            Activity.id,
            Activity.technician_id,
            Activity.scheduled_start,
            Activity.scheduled_end,
            Activity.window_start,
            Activity.window_end,
            Site.latitude,
            Site.longitude,
        )
        .join(Site, Site.id == Activity.site_id)
        .where(
            Activity.business_unit_id == bu_id,
            Activity.status.in_(BOOKED_STATUSES),
            Activity.technician_id.is_not(None),
            Activity.scheduled_start >= start,
            Activity.scheduled_start < end,
        )
    )
    if technician_id is not None:
        query = query.where(Activity.technician_id == technician_id)
    visits = []
    for row in db.execute(query):
        begin = row.scheduled_start
        finish = row.scheduled_end or begin
        visits.append(
            SchedVisit(
                id=visit_key(row.id),
                technician_id=tech_key(row.technician_id),
                location=Location(row.latitude, row.longitude),
                start=begin,
                duration_min=max(0.0, (finish - begin).total_seconds() / 60),
                window_start=row.window_start or begin,
                window_end=row.window_end or begin,
            )
        )
    return visits


@dataclass
class _Cached:
    version: int
    first_day: date
    num_days: int
    travel: HaversineTravel
    index: ScheduleIndex
    lock: threading.Lock = field(default_factory=threading.Lock)


# Patched technician-days cost a little on every query; past this many the
# next query rebuilds the index from the database instead.
MAX_PATCHES = 256


class ScheduleCache:
    """One prepared engine index per business unit.

    Validity is checked against ``business_units.schedule_version`` (one indexed
    read), so several server processes each keep a correct cache. A booking made
    by this process patches the technician-days it changed in place
    (:meth:`after_change`) instead of throwing the index away.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], _Cached] = {}
        self._lock = threading.Lock()

    def _key(self, db: Session, bu_id: int) -> tuple[str, int]:
        return (str(db.get_bind().url), bu_id)

    def _entry(
        self, db: Session, bu: BusinessUnit, days: list[date], travel: HaversineTravel
    ) -> _Cached:
        key = self._key(db, bu.id)
        with self._lock:
            cached = self._entries.get(key)
        if (
            cached is not None
            and cached.version == bu.schedule_version
            and cached.first_day == days[0]
            and cached.num_days == len(days)
            and cached.travel == travel
            and cached.index.patch_count <= MAX_PATCHES
        ):
            return cached
        tz = ZoneInfo(bu.timezone)
        start, end = _local_range(days[0], len(days), tz)
        index = ScheduleIndex(
            load_technicians(db, bu.id),
            load_visits(db, bu.id, start, end),
            tz,
            days[0],
            len(days),
            travel,
        )
        fresh = _Cached(bu.schedule_version, days[0], len(days), travel, index)
        with self._lock:
            self._entries[key] = fresh
        return fresh

    def index_for(
        self, db: Session, bu: BusinessUnit, days: list[date], travel: HaversineTravel
    ) -> ScheduleIndex:
        """The current index (built or rebuilt when stale). Not safe to query while
        another thread patches it: prefer :meth:`propose`."""
        return self._entry(db, bu, days, travel).index

    def propose(
        self,
        db: Session,
        bu: BusinessUnit,
        days: list[date],
        travel: HaversineTravel,
        request: VisitRequest,
        policy: BookingPolicy,
        now: datetime,
    ) -> list[Proposal]:
        """Proposals from the cached index, serialized with patches of the same entry."""
        entry = self._entry(db, bu, days, travel)
        with entry.lock:
            return entry.index.propose(request, policy, now)

    def after_change(
        self,
        db: Session,
        bu: BusinessUnit,
        version_before: int,
        technician_days: set[tuple[int, date]],
    ) -> None:
        """Patch the cached index after this process committed a change that moved
        ``schedule_version`` from ``version_before`` to ``version_before + 1``.

        If anything else changed the schedule meanwhile (another process, staff),
        the versions do not line up and the next query rebuilds instead.
        """
        with self._lock:
            cached = self._entries.get(self._key(db, bu.id))
        if cached is None or cached.version != version_before:
            return
        tz = ZoneInfo(bu.timezone)
        fresh = {
            (tech_id, day): load_visits(db, bu.id, *_local_range(day, 1, tz), tech_id)
            for tech_id, day in technician_days
        }
        db.commit()  # end the read transaction: never hold SQLite's lock while patching
        with cached.lock:
            if cached.version != version_before:
                return
            for (tech_id, day), visits in fresh.items():
                cached.index.replace_day(tech_key(tech_id), day, visits)
            cached.version = version_before + 1

    def invalidate(self, bu_id: int) -> None:
        """Forget every cached index of this unit; the next query rebuilds it."""
        with self._lock:
            for key in [k for k in self._entries if k[1] == bu_id]:
                del self._entries[key]


def bump_schedule(db: Session, bu_id: int) -> None:
    """Mark every cached index of this unit stale (call on any schedule change)."""
    db.execute(
        update(BusinessUnit)
        .where(BusinessUnit.id == bu_id)
        .values(schedule_version=BusinessUnit.schedule_version + 1)
    )


# --- rules ------------------------------------------------------------------------


def _action(activity: Activity, kind: str) -> dict[str, Any] | None:
    for action in activity.type.portal_actions or []:
        if action.get("kind") == kind:
            return action
    return None


def change_kind(activity: Activity) -> ChangeKind:
    return "book" if activity.status == "to_schedule" else "reschedule"


def check_allowed(
    activity: Activity, kind: str, settings: BookingSettings, now: datetime, bu: BusinessUnit
) -> dict[str, Any]:
    """The portal action for ``kind`` if usable now; otherwise a clear refusal."""
    action = _action(activity, kind)
    if action is None or not is_available(
        action.get("conditions") or {}, activity.status, activity.scheduled_start, now
    ):
        raise BookingRefused(
            409,
            "action_unavailable",
            "This action is not available for this intervention any more.",
        )
    if kind in ("reschedule", "cancel") and activity.scheduled_start is not None:
        cutoff = activity.scheduled_start - timedelta(hours=settings.change_cutoff_hours)
        if now > cutoff:
            raise BookingRefused(
                409,
                "too_late",
                f"Changes are no longer possible less than {settings.change_cutoff_hours:g} "
                f"hours before the visit. Please call us on {bu.phone}.",
            )
    if kind == "reschedule" and activity.reschedule_count >= settings.max_reschedules:
        raise BookingRefused(
            409,
            "too_many_reschedules",
            f"This appointment was already moved {activity.reschedule_count} times, the most "
            f"we allow online. Please call us on {bu.phone}.",
        )
    return action


def visit_request(
    db: Session, activity: Activity, kind: str, with_preference: bool = True
) -> VisitRequest:
    """What the engine needs to place ``activity``.

    The preferred technician only moves the ranking between technicians; when
    re-checking one chosen technician it changes nothing, so callers can skip it.
    """
    preferred = activity.technician_id
    if preferred is None and with_preference:
        # The client's most recent technician, who knows the site.
        preferred = db.scalar(
            select(Activity.technician_id)
            .where(Activity.client_id == activity.client_id, Activity.technician_id.is_not(None))
            .order_by(Activity.scheduled_start.desc())
            .limit(1)
        )
    return VisitRequest(
        location=Location(activity.site.latitude, activity.site.longitude),
        duration_min=float(activity.type.default_duration_min),
        required_skills=frozenset(activity.type.required_skills or ()),
        preferred_technician_id=tech_key(preferred) if preferred else None,
        exclude_visit_id=visit_key(activity.id) if kind == "reschedule" else None,
    )


# --- proposals --------------------------------------------------------------------


REASONS: dict[str, dict[str, str]] = {
    "en": {
        "nearby": "A technician is already in your area that day.",
        "preferred_technician": "With the technician who knows your home.",
        "earliest": "The earliest available appointment.",
        "available": "Available.",
    },
    "fr": {
        "nearby": "Un technicien est déjà dans votre secteur ce jour-là.",
        "preferred_technician": "Avec le technicien qui connaît votre logement.",
        "earliest": "Le premier rendez-vous disponible.",
        "available": "Disponible.",
    },
}


def reason_text(code: str, language: str) -> str:
    """The client-facing sentence for an engine reason code (English fallback)."""
    texts = REASONS.get(language, REASONS["en"])
    return texts.get(code, REASONS["en"].get(code, ""))


def proposal_doc(db: Session, proposal: Proposal, language: str = "en") -> dict[str, Any]:
    technician = db.get(Technician, int(proposal.technician_id))
    return {
        "technician_id": int(proposal.technician_id),
        "technician_first_name": technician.first_name if technician else "",
        "day": proposal.day.isoformat(),
        "window_start": proposal.window_start.isoformat(),
        "window_end": proposal.window_end.isoformat(),
        "expected_arrival": proposal.expected_arrival.isoformat(),
        "detour_minutes": round(proposal.detour_minutes, 1),
        "score": round(proposal.score, 3),
        "reason_code": proposal.reason_code,
        "reason": reason_text(proposal.reason_code, language),
    }


def propose_slots(
    db: Session, cache: ScheduleCache, activity: Activity, now: datetime
) -> tuple[ChangeKind, list[dict[str, Any]]]:
    """The ranked slots for booking or rescheduling ``activity`` now."""
    bu = db.get_one(BusinessUnit, activity.business_unit_id)
    settings, policy, travel = policy_of(bu)
    kind = change_kind(activity)
    check_allowed(activity, kind, settings, now, bu)
    days = horizon_days(now, policy, ZoneInfo(bu.timezone))
    request = visit_request(db, activity, kind)
    proposals = cache.propose(db, bu, days, travel, request, policy, now)
    language = activity.client.preferred_language
    return kind, [proposal_doc(db, p, language) for p in proposals]


# --- applying a change --------------------------------------------------------------


def _lock_technician_day(db: Session, technician_id: int, day: date) -> None:
    """Serialize bookings of one technician-day.

    SQLite transactions here start with BEGIN IMMEDIATE (backend.core.db), which
    already serializes every writer; PostgreSQL takes a transaction-scoped
    advisory lock on the technician-day.
    """
    if db.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"{technician_id}:{day.isoformat()}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _lock_days_touched(
    db: Session, activity: Activity, target: set[tuple[int, date]], tz: ZoneInfo
) -> set[tuple[int, date]]:
    """Lock the technician-days a move touches: where it goes *and* where it was.

    A booking on the day the visit leaves re-times every visit of that day,
    this one included: without the old day's lock it could write its old
    start over the new window (seen once under load on PostgreSQL with two
    workers: a visit at 15:19 with an 08:00–10:00 window). Days are locked in
    one order (no deadlock between two moves), then the activity is read
    again: it may have been re-timed while we waited.
    """
    locked: set[tuple[int, date]] = set()
    wanted = set(target)
    while True:
        if activity.technician_id is not None and activity.scheduled_start is not None:
            wanted.add((activity.technician_id, activity.scheduled_start.astimezone(tz).date()))
        for technician_id, day in sorted(wanted - locked):
            _lock_technician_day(db, technician_id, day)
        if wanted <= locked:
            return locked
        locked |= wanted
        if db.get_bind().dialect.name == "postgresql":
            db.refresh(activity)  # what the holders of those locks committed


def _replay(
    db: Session, key: str, kind: str, activity_id: int
) -> tuple[int, dict[str, Any]] | None:
    """The first answer of this same change; a 409 refusal if the id carried another one."""
    try:
        return mutations.replay(db, key, kind, activity_id)
    except mutations.MutationReused as exc:
        raise BookingRefused(exc.status, exc.code, exc.message) from exc


def _client_activity(
    db: Session, client: Client, activity_id: int
) -> tuple[Activity, BusinessUnit]:
    """The client's own, visible activity and its unit, or a 404 refusal."""
    activity = db.scalars(
        select(Activity).where(Activity.id == activity_id, Activity.client_id == client.id)
    ).first()
    bu = db.get_one(BusinessUnit, client.business_unit_id)
    if activity is None or not is_visible(activity, bu):
        raise BookingRefused(404, "not_found", "No such item in your portal.")
    return activity, bu


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]


def _after_commit(
    cache: ScheduleCache,
    db: Session,
    bu: BusinessUnit,
    version_before: int,
    touched: set[tuple[int, date]],
) -> None:
    """Patch the cached scheduling index after a committed change.

    The change is committed: whatever happens here must not turn its answer
    into an error. A failed patch drops the cached index instead; the next
    proposal rebuilds it from the database.
    """
    try:
        cache.after_change(db, bu, version_before, touched)
    except Exception:
        log.exception("schedule cache patch failed after commit; dropping the cache")
        cache.invalidate(bu.id)
    finally:
        db.rollback()


def apply_slot(
    db: Session,
    cache: ScheduleCache,
    client: Client,
    activity_id: int,
    kind: ChangeKind,
    technician_id: int,
    window_start: datetime,
    mutation_id: str,
    now: datetime,
    render: Any,
    sender: MessageSender | None = None,
) -> Outcome:
    """Book or reschedule ``activity_id`` into the chosen slot, idempotently.

    Returns 200 with the updated activity, 409 with a reason and fresh
    proposals when the slot is gone, or 404/409 refusals. A replay of the same
    ``mutation_id`` returns the first outcome.
    """
    begin_write(db)
    key = mutations.mutation_key(client.id, mutation_id)
    replay = _replay(db, key, kind, activity_id)
    if replay is not None:
        return Outcome(*replay)
    activity, bu = _client_activity(db, client, activity_id)
    settings, policy, travel = policy_of(bu)
    if change_kind(activity) != kind:
        raise BookingRefused(
            409,
            "wrong_action",
            "This appointment was already booked; use reschedule."
            if kind == "book"
            else "This intervention has no appointment yet; use book.",
        )
    action = check_allowed(activity, kind, settings, now, bu)
    tz = ZoneInfo(bu.timezone)
    day = window_start.astimezone(tz).date()
    version_before = bu.schedule_version
    touched = _lock_days_touched(db, activity, {(technician_id, day)}, tz)
    request = visit_request(db, activity, kind, with_preference=False)
    technicians = load_technicians(db, bu.id, technician_id)
    start, end = _local_range(day, 1, tz)
    visits = load_visits(db, bu.id, start, end, technician_id)
    proposal = Proposal(
        technician_id=tech_key(technician_id),
        day=day,
        window_start=window_start,
        window_end=window_start,
        expected_arrival=window_start,
        detour_minutes=0.0,
        score=0.0,
        reason_code="",
    )
    insertion = (
        check_insertion(proposal, technicians[0], visits, request, policy, now, tz, travel)
        if technicians
        else None
    )
    if insertion is None:
        db.rollback()
        _, fresh = propose_slots(db, cache, activity, now)
        body = {
            "detail": "This slot was just taken or is no longer possible. "
            "Please choose another one.",
            "code": "slot_taken",
            "proposals": fresh,
        }
        mutations.remember(db, key, client.id, kind, activity.id, 409, body)
        db.commit()
        return Outcome(409, body)
    route = insert_route(
        insertion, technicians[0], visits, request, policy, visit_key(activity.id), tz, travel
    )
    changed: list[int] = []
    rows = {
        a.id: a
        for a in db.scalars(select(Activity).where(Activity.id.in_([int(v.id) for v in route])))
    }
    for visit in route:
        visit_id = int(visit.id)
        row = rows[visit_id]
        duration = timedelta(minutes=visit.duration_min)
        if visit_id == activity.id:
            row.technician_id = technician_id
            row.window_start = visit.window_start
            row.window_end = visit.window_end
        elif row.scheduled_start == visit.start:
            continue
        row.scheduled_start = visit.start
        row.scheduled_end = visit.start + duration
        changed.append(visit_id)
    if activity.id not in changed:
        changed.append(activity.id)
    activity.status = "scheduled"
    if kind == "reschedule":
        activity.reschedule_count += 1
    db.add(
        ActivityStep(
            activity_id=activity.id,
            at=now,
            code="scheduled" if kind == "book" else "rescheduled",
        )
    )
    bump_schedule(db, bu.id)
    db.flush()
    db.expire(activity, ["steps"])
    feed.refresh_activities(db, changed)
    triggers.visit_changed(db, activity, "booked" if kind == "book" else "rescheduled", now)
    if action.get("notify_planning"):
        notify_planning(
            db,
            sender,
            bu,
            client,
            activity,
            "booked" if kind == "book" else "rescheduled",
            now,
            when=window_start,
        )
    body = render(activity)
    mutations.remember(db, key, client.id, kind, activity.id, 200, body)
    try:
        db.commit()
    except IntegrityError:
        # The same mutation id won a race on another connection: answer like it.
        db.rollback()
        replay = _replay(db, key, kind, activity_id)
        if replay is None:
            raise
        return Outcome(*replay)
    _after_commit(cache, db, bu, version_before, touched)
    return Outcome(200, body)


def cancel(
    db: Session,
    cache: ScheduleCache,
    client: Client,
    activity_id: int,
    reason: str,
    mutation_id: str,
    now: datetime,
    render: Any,
    sender: MessageSender | None = None,
) -> Outcome:
    """Cancel an appointment with the client's reason, within the unit's guardrails."""
    begin_write(db)
    key = mutations.mutation_key(client.id, mutation_id)
    replay = _replay(db, key, "cancel", activity_id)
    if replay is not None:
        return Outcome(*replay)
    activity, bu = _client_activity(db, client, activity_id)
    settings, _, _ = policy_of(bu)
    if activity.status in ("cancelled", "done"):
        raise BookingRefused(
            409, "not_cancellable", "This intervention can no longer be cancelled."
        )
    action = check_allowed(activity, "cancel", settings, now, bu)
    version_before = bu.schedule_version
    touched: set[tuple[int, date]] = set()
    if activity.technician_id is not None and activity.scheduled_start is not None:
        local_day = activity.scheduled_start.astimezone(ZoneInfo(bu.timezone)).date()
        touched.add((activity.technician_id, local_day))
    activity.status = "cancelled"
    db.add(ActivityStep(activity_id=activity.id, at=now, code="cancelled", note=reason))
    bump_schedule(db, bu.id)
    db.flush()
    db.expire(activity, ["steps"])
    feed.refresh_activities(db, [activity.id])
    triggers.visit_changed(db, activity, "cancelled", now)
    if action.get("notify_planning"):
        notify_planning(
            db, sender, bu, client, activity, "cancelled", now, values={"reason": reason}
        )
    body = render(activity)
    mutations.remember(db, key, client.id, "cancel", activity.id, 200, body)
    db.commit()
    _after_commit(cache, db, bu, version_before, touched)
    return Outcome(200, body)

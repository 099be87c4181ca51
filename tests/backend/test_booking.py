"""Booking through the scheduling assistant: slots, book, reschedule, cancel, races."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.models import Activity, ActivityStep, BusinessUnit, Client, FeedEntry
from backend.scheduling import HaversineTravel, Location
from backend.scheduling.reference import simulate
from backend.services import booking, feed
from backend.services.sessions import create_session
from tests import factories
from tests.conftest import Clock

PARIS = ZoneInfo("Europe/Paris")
ACTIONS = [
    {"key": "book", "kind": "book", "label": "Book", "conditions": {"statuses": ["to_schedule"]}},
    {
        "key": "move",
        "kind": "reschedule",
        "label": "Move",
        "notify_planning": True,
        "conditions": {"statuses": ["scheduled"], "timing": "before_visit"},
    },
    {
        "key": "cancel",
        "kind": "cancel",
        "label": "Cancel",
        "conditions": {"statuses": ["scheduled", "to_schedule"], "timing": "before_visit"},
    },
]


def new_id() -> str:
    return str(uuid.uuid4())


class Booking:
    """Two technicians, long visits (so one fills a window), several clients."""

    def __init__(self, db: Session, settings: Settings, now: datetime, clients: int = 3) -> None:
        self.bu = factories.business_unit(
            db,
            booking={
                "horizon_days": 7,
                "min_notice_hours": 24,
                "window_minutes": 120,
                "window_starts": [480, 600, 780, 900],
                "proposals": 6,
                "change_cutoff_hours": 24,
                "max_reschedules": 1,
            },
        )
        self.type = factories.activity_type(
            db,
            self.bu,
            default_duration_min=150,
            required_skills=["boiler"],
            portal_actions=ACTIONS,
        )
        self.karim = factories.technician(db, self.bu, "Karim")
        self.lea = factories.technician(db, self.bu, "Léa")
        self.clients: list[Client] = []
        self.activities: list[Activity] = []
        self.tokens: list[str] = []
        for i in range(clients):
            c = factories.client(
                db, self.bu, name=f"Client {i}", email=f"c{i}@example.com", phone=f"07000000{i:02d}"
            )
            self.clients.append(c)
            self.activities.append(factories.activity(db, c, self.type, None, status="to_schedule"))
            self.tokens.append(create_session(db, settings, c.id, "code", now))
        db.flush()
        for c in self.clients:
            feed.refresh_client(db, c.id)
        db.commit()

    def auth(self, i: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[i]}"}


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> Booking:
    return Booking(db, settings, clock.now)


async def slots(http: httpx.AsyncClient, world: Booking, i: int) -> list[dict[str, Any]]:
    r = await http.get(f"/activities/{world.activities[i].id}/slots", headers=world.auth(i))
    assert r.status_code == 200, r.text
    return r.json()["proposals"]


async def take(
    http: httpx.AsyncClient,
    world: Booking,
    i: int,
    slot: dict[str, Any],
    kind: str = "book",
    mutation_id: str | None = None,
) -> httpx.Response:
    return await http.post(
        f"/activities/{world.activities[i].id}/{kind}",
        json={
            "mutation_id": mutation_id or new_id(),
            "technician_id": slot["technician_id"],
            "window_start": slot["window_start"],
        },
        headers=world.auth(i),
    )


def assert_no_double_booking(db: Session, world: Booking) -> None:
    """Every technician-day is a feasible route: no overlap, all windows kept."""
    db.expire_all()
    booked = db.scalars(
        select(Activity).where(Activity.status == "scheduled", Activity.technician_id.is_not(None))
    ).all()
    days: dict[tuple[int, Any], list[Activity]] = defaultdict(list)
    for a in booked:
        days[(a.technician_id, a.scheduled_start.astimezone(PARIS).date())].append(a)
    travel = HaversineTravel()
    for (tech_id, day), visits in days.items():
        visits.sort(key=lambda a: a.scheduled_start)
        for before, after in zip(visits, visits[1:], strict=False):
            assert before.scheduled_end <= after.scheduled_start, "overlapping visits"
        midnight = datetime.combine(day, datetime.min.time(), PARIS)

        def rel(t: datetime, midnight: datetime = midnight) -> float:
            return (t - midnight).total_seconds() / 60

        stops = [
            (
                Location(a.site.latitude, a.site.longitude),
                (a.scheduled_end - a.scheduled_start).total_seconds() / 60,
                rel(a.window_start),
                rel(a.window_end),
            )
            for a in visits
        ]
        tech = world.karim if tech_id == world.karim.id else world.lea
        home = Location(tech.home_latitude, tech.home_longitude)
        assert simulate(home, 480, 1080, stops, travel) is not None, f"infeasible {tech_id} {day}"
    db.commit()


async def test_slots_are_ranked_and_respect_the_policy(http, world: Booking, clock: Clock):
    proposals = await slots(http, world, 0)
    assert len(proposals) == 6
    scores = [p["score"] for p in proposals]
    assert scores == sorted(scores)
    for p in proposals:
        start = datetime.fromisoformat(p["window_start"])
        assert start >= clock.now + timedelta(hours=24)
        local = start.astimezone(PARIS)
        assert local.hour * 60 + local.minute in (480, 600, 780, 900)
        assert local.weekday() < 5
        assert p["technician_first_name"] in ("Karim", "Léa")
        assert p["reason_code"] in ("nearby", "preferred_technician", "earliest", "available")
        assert p["reason"] == booking.reason_text(p["reason_code"], "fr")  # the client's language
        assert datetime.fromisoformat(p["window_end"]) - start == timedelta(hours=2)


async def test_booking_updates_the_activity_and_the_next_sync(
    http, db: Session, world: Booking
) -> None:
    first = await http.get("/sync", headers=world.auth(0))
    cursor = first.json()["cursor"]
    slot = (await slots(http, world, 0))[0]
    r = await take(http, world, 0, slot)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "scheduled"
    assert body["window_start"] == datetime.fromisoformat(slot["window_start"]).astimezone(
        ZoneInfo("UTC")
    ).isoformat().replace("+00:00", "Z")
    assert body["technician"]["first_name"] == slot["technician_first_name"]
    assert [s["code"] for s in body["steps"]] == ["scheduled"]
    pulled = (await http.get("/sync", params={"cursor": cursor}, headers=world.auth(0))).json()
    assert [(c["kind"], c["body"]["status"]) for c in pulled["changes"]] == [
        ("activity", "scheduled")
    ]
    assert_no_double_booking(db, world)


async def test_loser_of_a_race_gets_409_with_fresh_proposals(http, db: Session, world: Booking):
    slot = (await slots(http, world, 0))[0]
    other = next(
        p
        for p in await slots(http, world, 1)
        if p["window_start"] == slot["window_start"] and p["technician_id"] == slot["technician_id"]
    )
    assert (await take(http, world, 0, slot)).status_code == 200
    r = await take(http, world, 1, other)
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "slot_taken"
    assert "choose another" in body["detail"]
    taken = (slot["technician_id"], slot["window_start"])
    assert body["proposals"], "fresh proposals are offered"
    assert taken not in {(p["technician_id"], p["window_start"]) for p in body["proposals"]}
    # The fresh proposals work.
    assert (await take(http, world, 1, body["proposals"][0])).status_code == 200
    assert_no_double_booking(db, world)


async def test_replay_returns_the_first_result(http, db: Session, world: Booking) -> None:
    slot = (await slots(http, world, 0))[0]
    key = new_id()
    first = await take(http, world, 0, slot, mutation_id=key)
    again = await take(http, world, 0, slot, mutation_id=key)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    steps = db.scalars(
        select(ActivityStep).where(ActivityStep.activity_id == world.activities[0].id)
    ).all()
    assert len(steps) == 1
    db.commit()


async def test_slot_outside_the_offered_windows_is_refused(http, world: Booking) -> None:
    slot = dict((await slots(http, world, 0))[0])
    odd = datetime.fromisoformat(slot["window_start"]) + timedelta(minutes=17)
    slot["window_start"] = odd.isoformat()
    r = await take(http, world, 0, slot)
    assert r.status_code == 409 and r.json()["code"] == "slot_taken"


async def test_naive_window_start_is_422(http, world: Booking) -> None:
    r = await http.post(
        f"/activities/{world.activities[0].id}/book",
        json={
            "mutation_id": new_id(),
            "technician_id": world.karim.id,
            "window_start": "2026-11-25T08:00:00",
        },
        headers=world.auth(0),
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "window_start"]


async def test_reschedule_guardrails(http, db: Session, world: Booking, clock: Clock) -> None:
    first = (await slots(http, world, 0))[0]
    assert (await take(http, world, 0, first)).status_code == 200
    # Slots now come for a reschedule, and exclude nothing the activity itself holds.
    r = await http.get(f"/activities/{world.activities[0].id}/slots", headers=world.auth(0))
    assert r.json()["action"] == "reschedule"
    later = r.json()["proposals"][-1]
    # "book" is not the right action any more.
    wrong = await take(http, world, 0, later, kind="book")
    assert wrong.status_code == 409 and wrong.json()["code"] == "wrong_action"
    moved = await take(http, world, 0, later, kind="reschedule")
    assert moved.status_code == 200, moved.text
    assert moved.json()["reschedule_count"] == 1
    assert [s["code"] for s in moved.json()["steps"]] == ["scheduled", "rescheduled"]
    # The planning team asked to be told about reschedules.
    from backend.models import OutgoingMessage

    notes = db.scalars(select(OutgoingMessage).where(OutgoingMessage.channel == "email")).all()
    # In the unit's language (French), with the new date.
    assert any("rendez-vous déplacé au " in m.body for m in notes)
    db.commit()  # never hold the SQLite write lock while calling the app
    # max_reschedules = 1
    again = await http.get(f"/activities/{world.activities[0].id}/slots", headers=world.auth(0))
    assert again.status_code == 409 and again.json()["code"] == "too_many_reschedules"
    assert_no_double_booking(db, world)


async def test_no_change_within_the_cutoff(http, world: Booking, clock: Clock) -> None:
    slot = (await slots(http, world, 0))[0]
    assert (await take(http, world, 0, slot)).status_code == 200
    clock.now = datetime.fromisoformat(slot["window_start"]) - timedelta(hours=20)
    r = await http.get(f"/activities/{world.activities[0].id}/slots", headers=world.auth(0))
    assert r.status_code == 409
    # The action's own condition (before the visit) still holds, so the cut-off speaks.
    assert r.json()["code"] == "too_late"
    assert "24 hours" in r.json()["detail"] and world.bu.phone in r.json()["detail"]
    c = await http.post(
        f"/activities/{world.activities[0].id}/cancel",
        json={"mutation_id": new_id(), "reason": "away"},
        headers=world.auth(0),
    )
    assert c.status_code == 409 and c.json()["code"] == "too_late"


async def test_cancel_needs_a_reason_and_frees_the_slot(http, db: Session, world: Booking):
    slot = (await slots(http, world, 0))[0]
    assert (await take(http, world, 0, slot)).status_code == 200
    url = f"/activities/{world.activities[0].id}/cancel"
    r = await http.post(url, json={"mutation_id": new_id(), "reason": "   "}, headers=world.auth(0))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]
    r = await http.post(
        url, json={"mutation_id": new_id(), "reason": "Sold the house"}, headers=world.auth(0)
    )
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert r.json()["steps"][-1] == {
        **r.json()["steps"][-1],
        "code": "cancelled",
        "note": "Sold the house",
    }
    again = await http.post(
        url, json={"mutation_id": new_id(), "reason": "again"}, headers=world.auth(0)
    )
    assert again.status_code == 409
    # The freed slot is offered again to someone else.
    offered = {(p["technician_id"], p["window_start"]) for p in await slots(http, world, 1)}
    assert (slot["technician_id"], slot["window_start"]) in offered


async def test_other_clients_activity_is_404(http, world: Booking) -> None:
    theirs = world.activities[1].id
    assert (await http.get(f"/activities/{theirs}/slots", headers=world.auth(0))).status_code == 404
    r = await http.post(
        f"/activities/{theirs}/book",
        json={
            "mutation_id": new_id(),
            "technician_id": world.karim.id,
            "window_start": "2026-11-25T08:00:00+01:00",
        },
        headers=world.auth(0),
    )
    assert r.status_code == 404
    r = await http.post(
        f"/activities/{theirs}/cancel",
        json={"mutation_id": new_id(), "reason": "x"},
        headers=world.auth(0),
    )
    assert r.status_code == 404


async def test_type_without_booking_action_is_409(http, db: Session, world: Booking) -> None:
    world.type.portal_actions = []
    db.commit()
    r = await http.get(f"/activities/{world.activities[0].id}/slots", headers=world.auth(0))
    assert r.status_code == 409 and r.json()["code"] == "action_unavailable"


async def test_staff_change_invalidates_the_cached_index(http, db: Session, world: Booking):
    before = await slots(http, world, 0)
    top = before[0]
    # Staff put a long visit in that very window: the cached index must notice.
    blocker = factories.activity(db, world.clients[2], world.type, None, status="to_schedule")
    db.commit()
    start = datetime.fromisoformat(top["window_start"])
    r = await http.patch(
        f"/staff/activities/{blocker.id}",
        json={
            "status": "scheduled",
            "technician_id": top["technician_id"],
            "scheduled_start": start.isoformat(),
            "scheduled_end": (start + timedelta(minutes=150)).isoformat(),
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(),
        },
        headers={"X-Staff-Token": "test-staff-token"},
    )
    assert r.status_code == 200, r.text
    after = await slots(http, world, 0)
    assert (top["technician_id"], top["window_start"]) not in {
        (p["technician_id"], p["window_start"]) for p in after
    }


def race_for_slots(api: FastAPI, db: Session, world: Booking, now: datetime) -> list[int]:
    """Every client's thread tries the same top 3 slots, in order, at the same moment.

    Returns the status of every attempt. Used on SQLite here and on PostgreSQL
    in test_postgres.py.
    """
    cache = api.state.schedule_cache
    kind, proposals = booking.propose_slots(db, cache, world.activities[0], now)
    db.commit()
    assert kind == "book"
    targets = proposals[:3]
    results: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(len(world.clients))

    def attempt(i: int) -> None:
        session: Session = api.state.sessionmaker()
        try:
            client = session.get_one(Client, world.clients[i].id)
            session.commit()
            start.wait()
            for slot in targets:
                outcome = booking.apply_slot(
                    session,
                    cache,
                    client,
                    world.activities[i].id,
                    "book",
                    slot["technician_id"],
                    datetime.fromisoformat(slot["window_start"]),
                    new_id(),
                    now,
                    lambda a: {"id": a.id},
                )
                with lock:
                    results.append(outcome.status)
                if outcome.status == 200:
                    return
        except Exception:
            # A thread's exception would only be a warning: record it as a failure.
            with lock:
                results.append(-1)
            raise
        finally:
            session.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(world.clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def assert_race_outcome(db: Session, world: Booking, results: list[int]) -> None:
    """Only 200s and 409s, no double booking, and every winner booked and synced."""
    assert set(results) <= {200, 409}
    winners = results.count(200)
    assert 1 <= winners <= 6  # a 150-min visit fills a window: 3 slots x 2 technicians at most
    assert_no_double_booking(db, world)
    db.expire_all()
    scheduled = db.scalars(select(Activity).where(Activity.status == "scheduled")).all()
    assert len(scheduled) == winners
    for a in scheduled:
        entry = db.scalars(
            select(FeedEntry).where(FeedEntry.kind == "activity", FeedEntry.key == str(a.id))
        ).one()
        assert entry.body["status"] == "scheduled"
    assert db.get_one(BusinessUnit, world.bu.id).schedule_version >= winners
    db.commit()


def test_concurrent_bookings_never_double_book(
    api: FastAPI, db: Session, settings: Settings, clock: Clock
) -> None:
    """Many threads race for the same few slots on a real SQLite file."""
    world = Booking(db, settings, clock.now, clients=24)
    results = race_for_slots(api, db, world, clock.now)
    assert_race_outcome(db, world, results)


async def test_bookings_patch_the_cached_index_exactly(
    http, api: FastAPI, db: Session, world: Booking, clock: Clock
) -> None:
    """After bookings, the patched index answers like one rebuilt from the database."""
    for i in range(2):
        slot = (await slots(http, world, i))[0]
        assert (await take(http, world, i, slot)).status_code == 200
    cache: booking.ScheduleCache = api.state.schedule_cache
    db.expire_all()
    bu = db.get_one(BusinessUnit, world.bu.id)
    activity = db.get_one(Activity, world.activities[2].id)
    patched = booking.propose_slots(db, cache, activity, clock.now)
    rebuilt = booking.propose_slots(db, booking.ScheduleCache(), activity, clock.now)
    assert patched == rebuilt
    entry = next(iter(cache._entries.values()))
    assert entry.version == bu.schedule_version
    assert entry.index.patch_count >= 1  # patched in place, not thrown away
    db.commit()


def test_reason_sentences_follow_the_language() -> None:
    assert booking.reason_text("nearby", "en") == "A technician is already in your area that day."
    assert booking.reason_text("nearby", "fr").startswith("Un technicien est déjà")
    assert booking.reason_text("earliest", "de") == booking.reason_text("earliest", "en")
    assert set(booking.REASONS["en"]) == set(booking.REASONS["fr"])


async def test_a_reschedule_locks_the_day_it_leaves_and_the_day_it_goes_to(
    http, db: Session, world: Booking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A booking on the day a visit leaves re-times that day's visits: a move
    must hold that day too, or both write the visit's start (PostgreSQL with
    two workers once left a visit at 15:19 with an 08:00–10:00 window)."""
    first = (await slots(http, world, 0))[0]
    assert (await take(http, world, 0, first)).status_code == 200
    db.commit()
    r = await http.get(f"/activities/{world.activities[0].id}/slots", headers=world.auth(0))
    later = next(
        p
        for p in r.json()["proposals"]
        if p["window_start"][:10] != first["window_start"][:10]
        or p["technician_id"] != first["technician_id"]
    )
    locked: list[tuple[int, Any]] = []
    real = booking._lock_technician_day

    def record(session: Session, technician_id: int, day: Any) -> None:
        locked.append((technician_id, day))
        real(session, technician_id, day)

    monkeypatch.setattr(booking, "_lock_technician_day", record)
    moved = await take(http, world, 0, later, kind="reschedule")
    assert moved.status_code == 200, moved.text

    def day_of(slot: dict[str, Any]) -> tuple[int, Any]:
        return (
            int(slot["technician_id"]),
            datetime.fromisoformat(slot["window_start"]).astimezone(PARIS).date(),
        )

    assert set(locked) == {day_of(first), day_of(later)}
    assert locked == sorted(locked)  # one order for every move: no deadlock
    assert_no_double_booking(db, world)

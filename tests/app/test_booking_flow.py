"""The booking view-model (app.booking) against the real backend in-process.

Book, reschedule, cancel, the 409 race, offline, idempotency keys on retry,
the guardrails, which buttons are shown, and the .ics file — without Flet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import booking_rules
from app.activities import ACTIVITIES
from app.booking import BookingModel, Phase
from app.i18n import parse_utc
from app.state import AppState
from app.sync.api import Offline, PortalApi
from app.sync.engine import SyncStatus, open_store
from app.sync.store import Store
from app.sync.tokens import MemoryTokenStore
from backend.core.config import Settings
from backend.models import ActivityStep, Mutation
from tests.app.conftest import no_sleep
from tests.backend.test_booking import Booking, new_id
from tests.conftest import Clock


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> Booking:
    return Booking(db, settings, clock.now)


@pytest.fixture
async def state(
    api: FastAPI, store: Store, clock: Clock, world: Booking
) -> AsyncIterator[AppState]:
    """Client 0, signed in and synced."""
    portal = PortalApi.embedded(api)
    tokens = MemoryTokenStore()
    tokens.set(world.tokens[0])
    s = AppState(portal, store, tokens, clock=clock, sleep=no_sleep)
    await s.start()
    assert await s.refresh() is not None
    yield s
    await portal.aclose()


class Keys:
    """Idempotency keys handed out, in order (``BookingModel(new_key=...)``)."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def __call__(self) -> str:
        self.made.append(new_id())
        return self.made[-1]


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def model(state: AppState, keys: Keys) -> BookingModel:
    return BookingModel(state, new_key=keys)


def activity_id(world: Booking, i: int = 0) -> str:
    return str(world.activities[i].id)


def steps(db: Session, aid: str) -> list[str]:
    db.expire_all()
    rows = db.scalars(select(ActivityStep).where(ActivityStep.activity_id == int(aid)))
    return [s.code for s in rows]


def first_slot(model: BookingModel) -> Any:
    assert model.screen is not None and model.screen.days, model.screen
    return model.screen.days[0].slots[0]


class LoseAnswer:
    """Wraps one API call: the request reaches the server, the answer is lost
    (the connection drops on the way back) ``times`` times."""

    def __init__(self, call: Any, times: int = 1, reach_server: bool = True) -> None:
        self.call = call
        self.times = times
        self.reach_server = reach_server
        self.keys: list[str] = []

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.keys.append(kwargs["mutation_id"])
        if self.times > 0:
            self.times -= 1
            if self.reach_server:
                await self.call(*args, **kwargs)
            raise Offline("ConnectError")
        return await self.call(*args, **kwargs)


# --- book -------------------------------------------------------------------------


async def test_slots_grouped_by_day_best_first_in_the_clients_language(
    model: BookingModel, state: AppState, world: Booking, api: FastAPI
) -> None:
    aid = activity_id(world)
    raw = (await state.api.slots(aid))["proposals"]
    screen = await model.open(aid)
    assert screen.kind == "book" and screen.phase == Phase.READY
    assert screen.title and screen.current_text is None
    # The best proposal first, and each day once, in the order of its best slot.
    shown = [slot for day in screen.days for slot in day.slots]
    assert shown[0].window_start == raw[0]["window_start"]
    assert len(shown) == len(raw)
    assert len({d.label for d in screen.days}) == len(screen.days)
    assert state.tr.language == "fr"  # the client's language
    for day in screen.days:
        for slot in day.slots:
            proposal = next(
                p
                for p in raw
                if p["window_start"] == slot.window_start
                and p["technician_id"] == slot.technician_id
            )
            start = parse_utc(proposal["window_start"])
            end = parse_utc(proposal["window_end"])
            assert slot.window_text == state.tr.arrival_window(start, end)
            assert slot.window_text.startswith("Arrivée entre ")
            assert day.label == state.tr.date(start)  # the day in the unit's time zone
            assert slot.reason == proposal["reason"] and slot.reason
    # Before booking, the client is told what they may change afterwards.
    assert screen.rules == [
        "Une fois réservé, vous pourrez le modifier ou l’annuler en ligne jusqu’à 24 heures "
        "avant la visite."
    ]


async def test_booking_shows_the_new_date_everywhere_at_once(
    model: BookingModel, state: AppState, world: Booking, db: Session, keys: Keys
) -> None:
    aid = activity_id(world)
    events: list[str] = []

    async def listen(event: str, _data: object) -> None:
        events.append(event)

    state.subscribe(listen)
    assert state.activities.next_appointment is None
    await model.open(aid)
    slot = first_slot(model)
    question = model.choose(slot.key)
    assert question is not None and slot.window_text in question.text(state.tr)
    assert await model.confirm()
    assert model.screen and model.screen.phase == Phase.DONE
    assert slot.day_text in (model.screen.booked_text or "")
    # No sync needed: the list, the detail and home read the stored answer.
    assert "data" in events
    item = state.activities.items[aid]
    assert item.status == "scheduled" and aid in state.activities.upcoming_ids
    assert item.window_text == slot.window_text
    assert state.activities.next_appointment and state.activities.next_appointment.id == aid
    detail = await state.activities.activity_detail(aid)
    assert detail and detail.item.date_text == item.date_text
    assert [a.kind for a in detail.actions] == ["reschedule", "cancel"]
    assert detail.can_add_to_calendar
    stored = state.store.get(ACTIVITIES, aid)
    assert stored and "available_actions" not in stored
    assert steps(db, aid) == ["scheduled"]
    assert len(keys.made) == 1


async def test_a_retry_after_a_lost_answer_replays_the_same_key(
    model: BookingModel, state: AppState, world: Booking, db: Session, keys: Keys
) -> None:
    aid = activity_id(world)
    await model.open(aid)
    model.choose(first_slot(model).key)
    flaky = LoseAnswer(state.api.take_slot)
    state.api.take_slot = flaky  # type: ignore[method-assign]
    assert not await model.confirm()
    screen = model.screen
    assert screen and screen.phase == Phase.OFFLINE and screen.notice
    assert screen.notice.key == "booking.offline_send"
    assert screen.chosen is not None  # kept for "Try again"
    # The server booked it, but nothing here pretends so before it answered.
    assert state.activities.items[aid].status == "to_schedule"
    assert await model.retry()
    assert flaky.keys[0] == flaky.keys[1] and keys.made == [flaky.keys[0]]
    assert state.activities.items[aid].status == "scheduled"
    assert steps(db, aid) == ["scheduled"]  # booked once, the retry was replayed
    db.expire_all()
    assert db.get(Mutation, f"{world.clients[0].id}:{flaky.keys[0]}") is not None


async def test_a_new_choice_gets_a_new_key(
    model: BookingModel, state: AppState, world: Booking, keys: Keys
) -> None:
    aid = activity_id(world)
    await model.open(aid)
    slots = [s for d in model.screen.days for s in d.slots]  # type: ignore[union-attr]
    flaky = LoseAnswer(state.api.take_slot, times=1, reach_server=False)
    state.api.take_slot = flaky  # type: ignore[method-assign]
    model.choose(slots[0].key)
    assert not await model.confirm()
    model.choose(slots[1].key)
    assert await model.confirm()
    assert flaky.keys[0] != flaky.keys[1] and keys.made == flaky.keys


async def test_losing_the_race_shows_fresh_proposals_without_reload(
    model: BookingModel, state: AppState, world: Booking, http: Any, db: Session
) -> None:
    aid = activity_id(world)
    await model.open(aid)
    slot = first_slot(model)
    # Another client takes that very slot first (same technician, same window).
    other = await http.post(
        f"/activities/{world.activities[1].id}/book",
        json={
            "mutation_id": new_id(),
            "technician_id": slot.technician_id,
            "window_start": slot.window_start,
        },
        headers=world.auth(1),
    )
    assert other.status_code == 200, other.text
    model.choose(slot.key)
    assert not await model.confirm()
    screen = model.screen
    assert screen and screen.phase == Phase.READY and screen.chosen is None
    assert screen.notice and screen.notice.key == "booking.conflict"
    assert screen.notice.text(state.tr) == (
        "Ce créneau vient d’être pris : voici les créneaux encore libres."
    )
    fresh = [s for d in screen.days for s in d.slots]
    assert fresh and slot.key not in {s.key for s in fresh}
    assert state.activities.items[aid].status == "to_schedule"
    # Pick a fresh one: booked.
    model.choose(fresh[0].key)
    assert await model.confirm()
    assert state.activities.items[aid].status == "scheduled"
    assert steps(db, aid) == ["scheduled"]


# --- offline ------------------------------------------------------------------------


async def test_offline_the_slots_screen_explains_and_reloads_when_back(
    model: BookingModel, state: AppState, world: Booking, store: Store
) -> None:
    aid = activity_id(world)
    online = state.api
    state.api = PortalApi.remote("http://127.0.0.1:9", timeout=2)  # nothing listens there
    state.api.token = online.token
    screen = await model.open(aid)
    assert screen.phase == Phase.OFFLINE and not screen.days
    assert screen.notice and screen.notice.key == "booking.offline"
    assert "Rien n’a été réservé" in screen.notice.text(state.tr)
    assert store.get(ACTIVITIES, aid)["status"] == "to_schedule"  # type: ignore[index]
    # The detail keeps the button (it explains on the next screen).
    detail = await state.activities.activity_detail(aid)
    assert detail and [a.kind for a in detail.actions] == ["book", "cancel"]
    # "Try again" while still offline stays offline...
    await model.retry()
    assert model.screen and model.screen.phase == Phase.OFFLINE
    # ...and when a sync succeeds again, the slots come by themselves.
    await state.api.aclose()
    state.api = online
    changes: list[Phase] = []

    async def redraw() -> None:
        changes.append(model.screen.phase)  # type: ignore[union-attr]

    model.on_change = redraw
    await state._on_status(SyncStatus(state="idle"))
    assert model.screen and model.screen.phase == Phase.READY and model.screen.days
    assert changes[-1] == Phase.READY


# --- reschedule and guardrails --------------------------------------------------------


async def book_first(model: BookingModel, aid: str) -> None:
    await model.open(aid)
    model.choose(first_slot(model).key)
    assert await model.confirm()
    model.close()


async def test_reschedule_shows_the_current_date_and_the_guardrails(
    model: BookingModel, state: AppState, world: Booking, db: Session
) -> None:
    aid = activity_id(world)
    await book_first(model, aid)
    before = state.activities.items[aid]
    screen = await model.open(aid)
    assert screen.kind == "reschedule" and screen.phase == Phase.READY
    doc = state.store.get(ACTIVITIES, aid)
    assert doc is not None
    booked_start = parse_utc(doc["window_start"])
    assert booked_start is not None
    assert screen.current_text == (
        f"Rendez-vous actuel : {state.tr.date(booked_start)} — {before.window_text}"
    )
    # Its own window is not offered again: moving to the same time is no change.
    offered = [s for d in screen.days for s in d.slots]
    assert all(parse_utc(s.window_start) != booked_start for s in offered)
    start = parse_utc(state.store.get(ACTIVITIES, aid)["scheduled_start"])  # type: ignore[index]
    cutoff = state.tr.date_time(start - timedelta(hours=24))  # type: ignore[operator]
    assert screen.rules == [
        f"Vous pouvez le modifier en ligne jusqu’au {cutoff} (24 heures avant la visite).",
        "Modifications encore possibles en ligne : 1.",
    ]
    # Move it to the last proposal: the new date shows at once.
    last = [s for d in screen.days for s in d.slots][-1]
    model.choose(last.key)
    assert await model.confirm()
    assert state.activities.items[aid].window_text == last.window_text
    assert steps(db, aid) == ["scheduled", "rescheduled"]
    # The one move allowed online is used: the button goes, the detail says why.
    detail = await state.activities.activity_detail(aid)
    assert detail and [a.kind for a in detail.actions] == ["cancel"]
    assert detail.change_note and "+33 4 72 00 00 00" in detail.change_note
    again = await model.open(aid)
    assert again.phase == Phase.FAILED and again.notice
    assert again.notice.key == "booking.blocked.no_reschedules_left"


async def test_within_the_cutoff_nothing_can_be_changed_online(
    model: BookingModel, state: AppState, world: Booking, clock: Clock
) -> None:
    aid = activity_id(world)
    await book_first(model, aid)
    start = parse_utc(state.store.get(ACTIVITIES, aid)["scheduled_start"])  # type: ignore[index]
    assert start is not None
    # Opened just before the cut-off, confirmed just after: the server refuses,
    # and the client reads why in their language, with the phone number.
    clock.now = start - timedelta(hours=24, minutes=5)
    screen = await model.open(aid)
    assert screen.phase == Phase.READY
    model.choose(first_slot(model).key)
    clock.now = start - timedelta(hours=23)
    assert not await model.confirm()
    assert model.screen and model.screen.phase == Phase.FAILED and model.screen.notice
    assert model.screen.notice.key == "booking.blocked.too_late"
    assert "Appelez-nous au +33 4 72 00 00 00" in model.screen.notice.text(state.tr)
    detail = await state.activities.activity_detail(aid)
    assert detail and detail.actions == []
    assert detail.change_note and "si près de la visite" in detail.change_note
    assert detail.can_add_to_calendar  # still coming: the calendar file stays


# --- cancel ---------------------------------------------------------------------------


async def test_cancel_needs_a_reason_and_moves_to_history_with_it(
    model: BookingModel, state: AppState, world: Booking, db: Session
) -> None:
    aid = activity_id(world)
    await book_first(model, aid)
    assert [c for c, _ in model.cancel_reasons()] == [
        "no_longer_needed",
        "not_available",
        "fixed",
        "other",
    ]
    problem = await model.cancel(aid, None, "")
    assert problem and problem.key == "cancel.error.choose"
    problem = await model.cancel(aid, "other", "   ")
    assert problem and problem.key == "cancel.error.details"
    assert state.activities.items[aid].status == "scheduled"
    assert await model.cancel(aid, "not_available", "En déplacement ce jour-là") is None
    assert aid in state.activities.past_ids and aid not in state.activities.upcoming_ids
    assert state.activities.next_appointment is None
    detail = await state.activities.activity_detail(aid)
    assert detail and detail.item.status == "cancelled"
    assert detail.cancel_reason == "Je ne serai pas disponible — En déplacement ce jour-là"
    assert detail.actions == [] and not detail.can_add_to_calendar
    assert steps(db, aid) == ["scheduled", "cancelled"]


async def test_cancel_retried_after_a_lost_answer_uses_the_same_key(
    model: BookingModel, state: AppState, world: Booking, db: Session, keys: Keys
) -> None:
    aid = activity_id(world)
    flaky = LoseAnswer(state.api.cancel)
    state.api.cancel = flaky  # type: ignore[method-assign]
    problem = await model.cancel(aid, "fixed", "")
    assert problem and problem.key == "cancel.offline"
    assert state.activities.items[aid].status == "to_schedule"  # not shown as cancelled yet
    assert await model.cancel(aid, "fixed", "") is None
    assert flaky.keys[0] == flaky.keys[1] and keys.made == [flaky.keys[0]]
    assert steps(db, aid) == ["cancelled"]
    assert state.activities.items[aid].status == "cancelled"


# --- which buttons, calendar -------------------------------------------------------------


def test_only_configured_available_and_implemented_actions_are_shown() -> None:
    now = datetime.fromisoformat("2026-11-23T09:00:00+00:00")
    doc = {
        "status": "scheduled",
        "scheduled_start": "2026-11-30T08:00:00Z",
        "booking_rules": {"change_cutoff_hours": 24, "max_reschedules": 2, "reschedules_left": 2},
        "actions": [
            {
                "key": "move",
                "kind": "reschedule",
                "label": "Move",
                "conditions": {"statuses": ["scheduled"]},
            },
            {
                "key": "book",
                "kind": "book",
                "label": "Book",
                "conditions": {"statuses": ["to_schedule"]},
            },
            {"key": "access", "kind": "fill_form", "label": "Access", "form_id": 1},
            {"key": "quote", "kind": "validate_document", "label": "Sign", "form_id": 2},
            {"key": "survey", "kind": "survey", "label": "Survey", "form_id": 3},
            {"key": "pay", "kind": "payment", "label": "Pay online"},  # no screen for it
            {"key": "stop", "kind": "cancel", "label": "Cancel"},
        ],
        # The survey was answered: the server takes no second answer.
        "submissions": {"survey": {"state": "sent", "at": "2026-11-22T10:00:00Z"}},
    }
    keys = [a["key"] for a in booking_rules.usable_actions(doc, now)]
    assert keys == ["move", "access", "quote", "stop"]
    signed = {**doc, "submissions": {"quote": {"state": "signed", "at": "2026-11-22T10:00:00Z"}}}
    assert "quote" not in [a["key"] for a in booking_rules.usable_actions(signed, now)]
    spent = {**doc, "booking_rules": {**doc["booking_rules"], "reschedules_left": 0}}
    assert [a["key"] for a in booking_rules.usable_actions(spent, now)] == [
        "access",
        "quote",
        "stop",
    ]
    assert booking_rules.blocked_change(spent, now) == "no_reschedules_left"
    late = now + timedelta(days=6, hours=12)
    assert [a["key"] for a in booking_rules.usable_actions(doc, late)] == ["access", "quote"]
    assert booking_rules.blocked_change(doc, late) == "too_late"


async def test_calendar_file_is_built_on_the_device(
    model: BookingModel, state: AppState, world: Booking
) -> None:
    aid = activity_id(world)
    assert await model.calendar_file(aid) is None  # no date yet
    await book_first(model, aid)
    built = await model.calendar_file(aid)
    assert built is not None
    name, data = built
    assert name == f"appointment-{aid}.ics"
    event = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]
    doc = state.store.get(ACTIVITIES, aid)
    assert doc is not None
    assert event.decoded("dtstart") == parse_utc(doc["window_start"])
    assert str(event.decoded("dtstart").tzinfo) == "Europe/Paris"
    assert "Test Heating" in str(event["description"])
    assert "+33 4 72 00 00 00" in str(event["description"])
    assert "Arrivée entre" in str(event["description"])


async def test_a_web_address_opened_before_the_first_sync_waits_for_the_data(
    api: FastAPI, tmp_path: Path, clock: Clock, world: Booking
) -> None:
    store = open_store(tmp_path / "fresh.sqlite3")
    portal = PortalApi.embedded(api)
    tokens = MemoryTokenStore()
    tokens.set(world.tokens[0])
    fresh = AppState(portal, store, tokens, clock=clock, sleep=no_sleep)
    await fresh.start()
    model = BookingModel(fresh)
    try:
        screen = await model.open(activity_id(world))  # /activities/{id}/book, nothing synced
        assert screen.phase == Phase.LOADING and screen.notice is None
        await fresh.refresh()
        assert model.screen and model.screen.phase == Phase.READY and model.screen.days
        # An id the sync never brings (another client's) ends as "not available".
        other = await model.open(activity_id(world, 1))
        assert other.phase == Phase.FAILED and other.notice
        assert other.notice.key == "detail.not_found"
    finally:
        await portal.aclose()
        store.close()

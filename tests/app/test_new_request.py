"""The "New request" view-model against the real API (embedded, SQLite file per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.activities import ACTIVITIES
from app.new_request import NewRequestModel
from app.state import AppState
from app.sync.api import PortalApi
from app.sync.store import Store
from app.sync.tokens import MemoryTokenStore
from backend.models import Activity, ActivityType, Client, Mutation
from backend.services import feed
from tests import factories
from tests.app.conftest import sign_in
from tests.conftest import Clock

BOOK = {"key": "book", "kind": "book", "label": "Book", "conditions": {"statuses": ["to_schedule"]}}
REQUEST = {"key": "request", "kind": "request", "label": "Ask for it"}


@dataclass
class Setup:
    repair_id: int
    heat_pump_id: int
    site_id: int


@pytest.fixture
def setup(db: Session) -> Setup:
    bu = factories.business_unit(db)
    alice = factories.client(db, bu, preferred_language="en")
    repair = factories.activity_type(db, bu, name="Repair", portal_actions=[BOOK, REQUEST])
    heat_pump = factories.activity_type(db, bu, name="Heat pump", portal_actions=[REQUEST])
    factories.activity_type(db, bu, name="Service", portal_actions=[BOOK])
    db.flush()
    feed.refresh_client(db, alice.id)
    db.commit()
    return Setup(repair.id, heat_pump.id, alice.sites[0].id)


@pytest.fixture
async def state(api: FastAPI, store: Store, clock: Clock, setup: Setup) -> AsyncIterator[AppState]:
    portal = PortalApi.embedded(api)
    s = AppState(portal, store, MemoryTokenStore(), clock=clock)
    await s.start()
    await sign_in(s, api)
    assert await s.refresh() is not None
    yield s
    await portal.aclose()


def count_activities(api: FastAPI) -> int:
    with api.state.sessionmaker() as db:
        return int(db.scalar(select(func.count()).select_from(Activity)) or 0)


async def test_load_offers_the_sites_and_requestable_types(state: AppState, setup: Setup) -> None:
    model = NewRequestModel(state)
    assert await model.load()
    form = model.form
    assert [c.text for c in form.sites] == ["Home, 10 rue Mercière, Lyon"]
    assert form.site_id == setup.site_id  # the only site is chosen already
    assert [c.text for c in form.types] == ["Repair", "Heat pump"]
    assert form.type_id is None
    model.choose_type(setup.repair_id)
    assert form.goes_on_to_book
    model.choose_type(setup.heat_pump_id)
    assert not form.goes_on_to_book


async def test_each_missing_field_is_named_and_nothing_is_sent(
    state: AppState, api: FastAPI
) -> None:
    model = NewRequestModel(state)
    await model.load()
    model.choose_site(None)
    model.describe("   ")
    assert await model.submit() is None
    assert set(model.form.errors) == {"site_id", "type_id", "description"}
    assert model.form.errors["description"].text(state.tr) == "Please describe the problem."
    assert count_activities(api) == 0


async def test_submit_creates_the_request_and_lists_it_at_once_marked_requested(
    state: AppState, api: FastAPI, setup: Setup
) -> None:
    model = NewRequestModel(state)
    await model.load()
    model.choose_type(setup.repair_id)
    model.describe("The kitchen tap leaks.")
    created = await model.submit()
    assert created is not None and created.bookable
    # In the list before any sync, at the top of the undated ones, marked as requested.
    assert created.activity_id in state.activities.upcoming_ids
    item = state.activities.items[created.activity_id]
    assert item.requested and item.status_label == "Requested"
    assert item.reference_text == f"Ref. {created.activity_id}"
    assert item.requested_text and item.requested_text.startswith("Requested on ")
    doc = state.store.get(ACTIVITIES, created.activity_id)
    assert doc is not None and doc["description"] == "The kitchen tap leaks."
    assert "available_actions" not in doc  # stored like a synced document
    # The next sync brings the same activity, still one.
    await state.refresh()
    assert state.activities.upcoming_ids.count(created.activity_id) == 1
    assert count_activities(api) == 1


async def test_a_type_not_bookable_is_sent_without_a_slot(state: AppState, setup: Setup) -> None:
    model = NewRequestModel(state)
    await model.load()
    model.choose_type(setup.heat_pump_id)
    model.describe("Quote for a heat pump")
    created = await model.submit()
    assert created is not None and not created.bookable


async def test_offline_says_so_and_a_retry_reuses_the_key(
    state: AppState, api: FastAPI, setup: Setup
) -> None:
    keys = iter(["key-aaaaaaaa-1", "key-bbbbbbbb-2"])
    model = NewRequestModel(state, new_key=lambda: next(keys))
    await model.load()
    model.choose_type(setup.heat_pump_id)
    model.describe("Quote please")
    working = state.api
    state.api = PortalApi.remote("http://127.0.0.1:9")  # nothing listens there
    state.api.token = working.token
    try:
        assert await model.submit() is None
        assert model.form.offline
        assert model.form.notice is not None
        assert "needs a connection" in model.form.notice.text(state.tr)
    finally:
        await state.api.aclose()
        state.api = working
    assert count_activities(api) == 0
    # Back online: the same content is sent with the same key, so a lost
    # answer can never make two requests.
    assert await model.submit() is not None
    assert count_activities(api) == 1
    with api.state.sessionmaker() as db:
        assert [m.id.split(":", 1)[1] for m in db.scalars(select(Mutation))] == ["key-aaaaaaaa-1"]


async def test_a_type_withdrawn_meanwhile_is_shown_under_the_type(
    state: AppState, api: FastAPI, setup: Setup
) -> None:
    model = NewRequestModel(state)
    await model.load()
    model.choose_type(setup.repair_id)
    model.describe("Leak")
    with api.state.sessionmaker() as db:
        repair = db.get(ActivityType, setup.repair_id)
        assert repair is not None
        repair.portal_actions = [BOOK]
        db.commit()
    assert await model.submit() is None
    assert model.form.errors["type_id"].text(state.tr) == "Please choose the type of intervention."


async def test_a_link_to_an_appointment_not_here_yet_downloads_first(
    state: AppState, api: FastAPI, setup: Setup
) -> None:
    """A deep link opened right after sign-in names an appointment the device lacks."""
    with api.state.sessionmaker() as db:
        repair = db.get_one(ActivityType, setup.repair_id)
        alice = db.scalars(select(Client)).one()
        new = factories.activity(db, alice, repair, None, status="to_schedule")
        feed.refresh_activities(db, [new.id])
        db.commit()
        activity_id = str(new.id)
    assert state.store.get(ACTIVITIES, activity_id) is None
    await state.activities.ensure_activity(activity_id)
    assert state.store.get(ACTIVITIES, activity_id) is not None
    # Already here: no download (the unreachable server is never asked).
    working = state.api
    state.api = PortalApi.remote("http://127.0.0.1:9")
    state.api.token = working.token
    try:
        await state.activities.ensure_activity(activity_id)
        assert not state.offline
    finally:
        await state.api.aclose()
        state.api = working

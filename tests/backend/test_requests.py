"""Clients request a new intervention: options, creation, idempotency, IDOR, bad input."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.models import Activity, ActivityType, Client, Mutation, Site
from backend.services import feed
from backend.services.sessions import create_session
from tests import factories
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}
BOOK = {"key": "book", "kind": "book", "label": "Book", "conditions": {"statuses": ["to_schedule"]}}
REQUEST = {"key": "request", "kind": "request", "label": "Ask for a repair"}


@dataclass
class World:
    alice: Client
    bob: Client
    alice_second_site: Site
    repair: ActivityType  # requestable and bookable
    heat_pump: ActivityType  # requestable, not bookable
    service: ActivityType  # not requestable
    other_bu_type: ActivityType  # requestable, in another business unit
    alice_token: str
    bob_token: str

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    bu = factories.business_unit(db, email="planning@example.com")
    alice = factories.client(db, bu)
    bob = factories.client(db, bu, name="Bob Durand", email="bob@example.com", phone="0700000001")
    second = Site(
        client_id=alice.id,
        label="Cottage",
        street="2 chemin des Vignes",
        postal_code="69400",
        city="Villefranche",
        latitude=45.98,
        longitude=4.72,
    )
    db.add(second)
    repair = factories.activity_type(
        db, bu, name="Repair", portal_actions=[BOOK, {**REQUEST, "notify_planning": True}]
    )
    heat_pump = factories.activity_type(db, bu, name="Heat pump", portal_actions=[REQUEST])
    service = factories.activity_type(db, bu, name="Service", portal_actions=[BOOK])
    other = factories.business_unit(db, name="Other company")
    other_type = factories.activity_type(db, other, name="Elsewhere", portal_actions=[REQUEST])
    factories.technician(db, bu)
    db.flush()
    for c in (alice, bob):
        feed.refresh_client(db, c.id)
    alice_token = create_session(db, settings, alice.id, "code", clock.now)
    bob_token = create_session(db, settings, bob.id, "code", clock.now)
    db.commit()
    return World(alice, bob, second, repair, heat_pump, service, other_type, alice_token, bob_token)


def new_id() -> str:
    return str(uuid.uuid4())


def body(world: World, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "mutation_id": new_id(),
        "site_id": world.alice_second_site.id,
        "type_id": world.repair.id,
        "description": "  The kitchen tap leaks.  ",
    }
    values.update(overrides)
    return values


async def test_options_list_the_clients_sites_and_requestable_types(
    http: httpx.AsyncClient, world: World
) -> None:
    r = await http.get("/requests/options", headers=world.auth(world.alice_token))
    assert r.status_code == 200, r.text
    data = r.json()
    assert [s["label"] for s in data["sites"]] == ["Home", "Cottage"]
    assert [(t["name"], t["label"], t["bookable"]) for t in data["types"]] == [
        ("Repair", "Ask for a repair", True),
        ("Heat pump", "Ask for a repair", False),
    ]
    bobs = (await http.get("/requests/options", headers=world.auth(world.bob_token))).json()
    assert [s["label"] for s in bobs["sites"]] == ["Home"]
    assert (await http.get("/requests/options")).status_code == 401


async def test_request_creates_an_activity_to_schedule_that_sync_delivers(
    http: httpx.AsyncClient, world: World, fresh, outbox
) -> None:
    auth = world.auth(world.alice_token)
    cursor = (await http.get("/sync", headers=auth)).json()["cursor"]
    r = await http.post("/requests", json=body(world), headers=auth)
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["bookable"] is True
    activity = data["activity"]
    assert activity["status"] == "to_schedule"
    assert activity["description"] == "The kitchen tap leaks."
    assert activity["site"]["label"] == "Cottage"
    assert [s["code"] for s in activity["steps"]] == ["requested"]
    # The booking action is usable at once; the request action is not an activity button.
    assert activity["available_actions"] == ["book"]
    assert [a["kind"] for a in activity["actions"]] == ["book"]
    pulled = (await http.get("/sync", params={"cursor": cursor}, headers=auth)).json()
    assert [(c["kind"], c["key"]) for c in pulled["changes"]] == [("activity", str(activity["id"]))]
    assert pulled["changes"][0]["body"]["status"] == "to_schedule"
    # The office hears about it (the action asks to notify planning), in the unit's French.
    assert [m.subject for m in outbox("planning@example.com")] == [
        "[Portail] Alice Martin : nouvelle demande"
    ]
    # The client goes on to choose a slot like for any activity to schedule.
    slots = await http.get(f"/activities/{activity['id']}/slots", headers=auth)
    assert slots.status_code == 200, slots.text
    assert slots.json()["action"] == "book"


async def test_a_type_that_is_not_bookable_is_sent_without_a_slot(
    http: httpx.AsyncClient, world: World
) -> None:
    r = await http.post(
        "/requests",
        json=body(world, type_id=world.heat_pump.id),
        headers=world.auth(world.alice_token),
    )
    assert r.status_code == 201, r.text
    assert r.json()["bookable"] is False
    assert r.json()["activity"]["available_actions"] == []


async def test_a_replay_returns_the_first_result_and_creates_nothing(
    http: httpx.AsyncClient, world: World, fresh
) -> None:
    payload = body(world)
    auth = world.auth(world.alice_token)
    first = await http.post("/requests", json=payload, headers=auth)
    again = await http.post("/requests", json=payload, headers=auth)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    with fresh() as s:
        count = s.scalar(
            select(func.count()).select_from(Activity).where(Activity.client_id == world.alice.id)
        )
        assert count == 1
        assert s.scalar(select(func.count()).select_from(Mutation)) == 1


async def test_another_clients_site_is_404_and_creates_nothing(
    http: httpx.AsyncClient, world: World, fresh
) -> None:
    r = await http.post("/requests", json=body(world), headers=world.auth(world.bob_token))
    assert r.status_code == 404
    assert r.json() == {"detail": "No such item in your portal."}
    with fresh() as s:
        assert s.scalar(select(func.count()).select_from(Activity)) == 0
        assert s.scalar(select(func.count()).select_from(Mutation)) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"description": "   "}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"site_id": 0}, "site_id"),
        ({"site_id": "one"}, "site_id"),
        ({"type_id": 2**31}, "type_id"),
        ({"mutation_id": "bad id!"}, "mutation_id"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    http: httpx.AsyncClient, world: World, overrides: dict[str, Any], field: str
) -> None:
    r = await http.post(
        "/requests", json=body(world, **overrides), headers=world.auth(world.alice_token)
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][-1] == field


async def test_missing_fields_are_named(http: httpx.AsyncClient, world: World) -> None:
    r = await http.post(
        "/requests", json={"mutation_id": new_id()}, headers=world.auth(world.alice_token)
    )
    assert r.status_code == 422
    assert {e["loc"][-1] for e in r.json()["detail"]} == {"site_id", "type_id", "description"}


@pytest.mark.parametrize("which", ["service", "other_bu_type", "unknown"])
async def test_a_type_clients_may_not_request_is_a_422_on_type_id(
    http: httpx.AsyncClient, world: World, fresh, which: str
) -> None:
    type_id = 999_999 if which == "unknown" else getattr(world, which).id
    r = await http.post(
        "/requests", json=body(world, type_id=type_id), headers=world.auth(world.alice_token)
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "type_id"]
    assert "cannot be requested online" in r.json()["detail"][0]["msg"]
    with fresh() as s:
        assert s.scalar(select(func.count()).select_from(Activity)) == 0


async def test_staff_turn_requests_on_and_off_per_type(
    http: httpx.AsyncClient, world: World
) -> None:
    auth = world.auth(world.alice_token)
    r = await http.put(
        f"/staff/activity-types/{world.service.id}/portal",
        json={
            "portal_shown": True,
            "title_template": "{type.name}",
            "portal_actions": [BOOK, REQUEST],
        },
        headers=STAFF,
    )
    assert r.status_code == 200, r.text
    names = [t["name"] for t in (await http.get("/requests/options", headers=auth)).json()["types"]]
    assert names == ["Repair", "Heat pump", "Service"]
    r = await http.put(
        f"/staff/activity-types/{world.repair.id}/portal",
        json={"portal_shown": True, "title_template": "{type.name}", "portal_actions": [BOOK]},
        headers=STAFF,
    )
    assert r.status_code == 200, r.text
    names = [t["name"] for t in (await http.get("/requests/options", headers=auth)).json()["types"]]
    assert names == ["Heat pump", "Service"]
    refused = await http.post("/requests", json=body(world, type_id=world.repair.id), headers=auth)
    assert refused.status_code == 422
    # A type hidden from the portal cannot be requested even with the action.
    await http.put(
        f"/staff/activity-types/{world.heat_pump.id}/portal",
        json={"portal_shown": False, "title_template": "{type.name}", "portal_actions": [REQUEST]},
        headers=STAFF,
    )
    names = [t["name"] for t in (await http.get("/requests/options", headers=auth)).json()["types"]]
    assert names == ["Service"]


async def test_request_needs_a_session(http: httpx.AsyncClient, world: World) -> None:
    assert (await http.post("/requests", json=body(world))).status_code == 401

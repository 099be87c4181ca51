"""The portal read API: profile, activities, forms; isolation between clients."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.services.sessions import create_session
from tests.backend.portal_setup import World, build_world
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


async def test_me_returns_profile_and_branding(http, world: World) -> None:
    r = await http.get("/me", headers=world.auth(world.alice_token))
    assert r.status_code == 200
    body = r.json()
    assert body["profile"]["name"] == "Alice Martin"
    assert {"kind": "phone", "value": "+33612345678"} in body["profile"]["contacts"]
    assert body["branding"]["name"] == "Test Heating"
    assert body["branding"]["timezone"] == "Europe/Paris"


async def test_activities_only_shown_types_with_titles_and_actions(http, world: World) -> None:
    r = await http.get("/activities", headers=world.auth(world.alice_token))
    assert r.status_code == 200
    items = r.json()["items"]
    ids = [i["id"] for i in items]
    assert world.internal.id not in ids  # its type is not shown in the portal
    assert world.bobs.id not in ids
    assert set(ids) == {world.upcoming.id, world.past.id, world.cancelled.id}
    upcoming = next(i for i in items if i["id"] == world.upcoming.id)
    assert upcoming["title"] == "Boiler service – Lyon"
    # 3 days ahead: both "reschedule" (≥ 24 h before) and "access" are open.
    assert upcoming["available_actions"] == ["reschedule", "access"]
    past = next(i for i in items if i["id"] == world.past.id)
    assert past["available_actions"] == []


async def test_action_availability_follows_the_clock(http, world: World, clock: Clock) -> None:
    clock.advance(days=2, hours=12)  # 12 h before the visit: inside the 24 h cut-off
    r = await http.get(f"/activities/{world.upcoming.id}", headers=world.auth(world.alice_token))
    assert r.json()["available_actions"] == ["access"]


async def test_upcoming_and_past_scopes(http, world: World) -> None:
    auth = world.auth(world.alice_token)
    upcoming = (await http.get("/activities?scope=upcoming", headers=auth)).json()["items"]
    past = (await http.get("/activities?scope=past", headers=auth)).json()["items"]
    assert [i["id"] for i in upcoming] == [world.upcoming.id]
    assert {i["id"] for i in past} == {world.past.id, world.cancelled.id}


async def test_activity_detail_has_steps_and_site(http, world: World) -> None:
    r = await http.post(
        f"/staff/activities/{world.upcoming.id}/steps",
        json={"code": "technician_assigned"},
        headers=STAFF,
    )
    assert r.status_code == 201
    r = await http.get(f"/activities/{world.upcoming.id}", headers=world.auth(world.alice_token))
    body = r.json()
    assert body["site"]["city"] == "Lyon"
    assert [s["code"] for s in body["steps"]] == ["technician_assigned"]


async def test_other_clients_ids_are_404(http, world: World) -> None:
    alice = world.auth(world.alice_token)
    for path in (
        f"/activities/{world.bobs.id}",
        f"/activities/{world.internal.id}",
        "/activities/999999",
        "/forms/999999",
    ):
        r = await http.get(path, headers=alice)
        assert r.status_code == 404, path
        assert r.json()["detail"] == "No such item in your portal."


async def test_form_of_another_business_unit_is_404(http, db: Session, world: World) -> None:
    from tests import factories

    other_bu = factories.business_unit(db, name="Other Co")
    other_form = factories.form(db, other_bu)
    db.commit()
    r = await http.get(f"/forms/{other_form.id}", headers=world.auth(world.alice_token))
    assert r.status_code == 404
    r = await http.get(f"/forms/{world.access_form.id}", headers=world.auth(world.alice_token))
    assert r.status_code == 200
    assert [f["type"] for f in r.json()["fields"]] == ["textarea", "yes_no", "signature"]


@pytest.mark.parametrize(
    "path",
    [
        "/me",
        "/activities",
        "/activities/1",
        "/activities/1/slots",
        "/forms/1",
        "/sync",
        "/auth/session",
    ],
)
async def test_every_portal_endpoint_needs_a_live_session(
    http, db: Session, settings: Settings, clock: Clock, world: World, path: str
) -> None:
    assert (await http.get(path)).status_code == 401
    assert (await http.get(path, headers={"Authorization": "Bearer garbage"})).status_code == 401
    old = create_session(db, settings, world.alice.id, "code", clock.now - timedelta(days=61))
    db.commit()
    r = await http.get(path, headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401
    await http.post("/auth/logout", headers=world.auth(world.alice_token))
    r = await http.get(path, headers=world.auth(world.alice_token))
    assert r.status_code == 401


async def test_staff_api_needs_the_staff_token(http, world: World) -> None:
    r = await http.patch(f"/staff/clients/{world.alice.id}", json={"portal_access": False})
    assert r.status_code == 401
    r = await http.patch(
        f"/staff/clients/{world.alice.id}",
        json={"portal_access": False},
        headers={"X-Staff-Token": "wrong"},
    )
    assert r.status_code == 401


async def test_unknown_template_variable_is_refused_at_configuration(http, world: World) -> None:
    r = await http.put(
        f"/staff/activity-types/{world.boiler.id}/portal",
        json={"portal_shown": True, "title_template": "{type.name} {client.secret}"},
        headers=STAFF,
    )
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "title_template"]
    assert "client.secret" in detail["msg"]


async def test_action_with_unknown_form_is_refused(http, world: World) -> None:
    r = await http.put(
        f"/staff/activity-types/{world.boiler.id}/portal",
        json={
            "portal_actions": [
                {"key": "f", "kind": "fill_form", "label": "Form", "form_id": 424242}
            ]
        },
        headers=STAFF,
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "portal_actions"]


async def test_invalid_form_definition_names_the_field(http, world: World) -> None:
    r = await http.put(
        f"/staff/forms/{world.access_form.id}",
        json={"name": "Bad", "fields": [{"key": "c", "type": "choice", "label": "Pick"}]},
        headers=STAFF,
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:3] == ["body", "fields", 0]


async def test_malformed_json_is_422(http, world: World) -> None:
    r = await http.patch(
        f"/staff/activities/{world.upcoming.id}",
        content=b"{not json",
        headers={**STAFF, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    r = await http.patch(
        f"/staff/activities/{world.upcoming.id}", json={"status": "teleported"}, headers=STAFF
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "status"]


async def test_naive_datetime_is_422(http, world: World) -> None:
    r = await http.patch(
        f"/staff/activities/{world.upcoming.id}",
        json={"scheduled_start": "2026-12-01T10:00:00"},
        headers=STAFF,
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "scheduled_start"]


async def test_oversize_body_is_413_and_nothing_changes(http, settings: Settings, world: World):
    big = "x" * (settings.max_body_bytes + 10)
    r = await http.patch(
        f"/staff/activities/{world.upcoming.id}", json={"description": big}, headers=STAFF
    )
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]
    r = await http.get(f"/activities/{world.upcoming.id}", headers=world.auth(world.alice_token))
    assert r.json()["description"] == ""


async def test_staff_preview_shows_what_the_client_sees(http, world: World) -> None:
    preview = (await http.get(f"/staff/clients/{world.alice.id}/preview", headers=STAFF)).json()
    seen = (await http.get("/activities", headers=world.auth(world.alice_token))).json()
    assert [a["id"] for a in preview["activities"]] == [a["id"] for a in seen["items"]]
    assert preview["me"]["profile"]["name"] == "Alice Martin"


async def test_turning_client_access_off_kills_sessions(http, world: World) -> None:
    r = await http.patch(
        f"/staff/clients/{world.alice.id}", json={"portal_access": False}, headers=STAFF
    )
    assert r.status_code == 200
    assert (await http.get("/me", headers=world.auth(world.alice_token))).status_code == 401
    # Turning it back on does not resurrect the old session.
    await http.patch(
        f"/staff/clients/{world.alice.id}", json={"portal_access": True}, headers=STAFF
    )
    assert (await http.get("/me", headers=world.auth(world.alice_token))).status_code == 401
    assert (await http.get("/me", headers=world.auth(world.bob_token))).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/activities/1/book", {"technician_id": 1, "window_start": "2026-12-01T08:00:00Z"}),
        ("/activities/1/reschedule", {"technician_id": 1, "window_start": "2026-12-01T08:00Z"}),
        ("/activities/1/cancel", {"reason": "no longer needed"}),
    ],
)
async def test_client_writes_need_a_live_session(http, world: World, path: str, body: dict) -> None:
    payload = {"mutation_id": "0b5d7c1e-58a4-4c50-9b8a-1f1d6c7e2a10", **body}
    assert (await http.post(path, json=payload)).status_code == 401
    r = await http.post(path, json=payload, headers={"Authorization": "Bearer revoked"})
    assert r.status_code == 401

"""Bad input gets a clear 4xx naming the field, never a 500, and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from backend.api.errors import json_safe
from backend.api.main import create_app
from backend.core.config import Settings
from backend.models import Activity, BusinessUnit, Mutation, OutgoingMessage
from backend.services.auth import lifetime_text
from tests import factories
from tests.backend.portal_setup import World, build_world
from tests.backend.test_booking import Booking, new_id, slots, take
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}
JSON = {"content-type": "application/json"}
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


def _field(r: httpx.Response) -> list[Any]:
    assert r.status_code == 422, (r.status_code, r.text)
    return r.json()["detail"][0]["loc"]


# --- 1. non-finite numbers ------------------------------------------------------------


@pytest.mark.parametrize("constant", NON_FINITE)
async def test_non_finite_numbers_signed_out_are_422_naming_the_field(
    http: httpx.AsyncClient, constant: str
) -> None:
    r = await http.post("/auth/code/request", content=f'{{"identifier": {constant}}}', headers=JSON)
    assert _field(r) == ["body", "identifier"]
    assert "finite" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize("constant", NON_FINITE)
async def test_non_finite_numbers_deep_inside_a_body_are_422_with_their_path(
    http: httpx.AsyncClient, world: World, constant: str
) -> None:
    body = f'{{"mutation_id": "abcdefgh-1", "technician_id": 1, "x": [0, {{"y": {constant}}}]}}'
    r = await http.post(
        f"/activities/{world.upcoming.id}/book",
        content=body,
        headers={**JSON, **world.auth(world.alice_token)},
    )
    assert _field(r) == ["body", "x", 1, "y"]


async def test_non_finite_sms_credits_are_422_and_nothing_changes(
    http: httpx.AsyncClient, world: World, fresh
) -> None:
    r = await http.post(
        f"/staff/business-units/{world.bu.id}/sms-credits",
        content='{"credits": NaN}',
        headers={**JSON, **STAFF},
    )
    assert _field(r) == ["body", "credits"]
    with fresh() as s:
        assert s.get_one(BusinessUnit, world.bu.id).sms_centicredits == world.bu.sms_centicredits


def _routes_with_json_bodies(app: FastAPI) -> list[tuple[str, str]]:
    schema = app.openapi()
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                found.append((method.upper(), path))
    return found


async def test_every_route_taking_json_refuses_nan_with_422(
    api: FastAPI, http: httpx.AsyncClient, world: World
) -> None:
    routes = _routes_with_json_bodies(api)
    assert len(routes) >= 10
    headers = {**JSON, **STAFF, **world.auth(world.alice_token)}
    for method, path in routes:
        url = path.replace("{", "").replace("}", "")
        url = "/".join("1" if part.endswith("_id") else part for part in url.split("/"))
        r = await http.request(method, url, content='{"anything": NaN}', headers=headers)
        assert r.status_code == 422, (method, path, r.status_code, r.text)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"identifier": ' + b"[" * 70 + b"]" * 70 + b"}", "nested too deeply"),
        (b'{"identifier": 1' + b"0" * 5000 + b"}", "too many digits"),
        (b'{"identifier": "\xff"}', "UTF-8"),
    ],
)
async def test_bodies_no_handler_could_use_are_422(
    http: httpx.AsyncClient, body: bytes, message: str
) -> None:
    r = await http.post("/auth/code/request", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"][0]["msg"]


async def test_malformed_json_still_gets_fastapis_position(http: httpx.AsyncClient) -> None:
    r = await http.post("/auth/code/request", content=b'{"identifier": ', headers=JSON)
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"


async def test_a_valid_body_still_reaches_its_handler(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/auth/code/request",
        content=b'{"identifier": "alice@example.com"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 202, r.text


def test_validation_answers_are_made_json_safe() -> None:
    errors = [{"loc": ["body", "x"], "input": {"a": [float("nan"), float("-inf")]}, "n": 1.5}]
    assert json_safe(errors) == [{"loc": ["body", "x"], "input": {"a": ["nan", "-inf"]}, "n": 1.5}]


# --- 3. oversize chunked bodies ------------------------------------------------------


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
async def test_chunked_body_over_the_limit_is_413_like_content_length(
    http: httpx.AsyncClient, world: World, settings: Settings, content_type: str
) -> None:
    r = await http.put(
        "/me/language",
        content=_chunks(settings.max_body_bytes + 1),
        headers={"content-type": content_type, **world.auth(world.alice_token)},
    )
    assert "content-length" not in r.request.headers
    assert r.status_code == 413, r.text
    assert "too large" in r.json()["detail"]


# --- 2. datetimes at the ends of Python's range --------------------------------------

EXTREME_DATETIMES = [
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:00:00Z",
    "1899-12-31T23:00:00Z",
    "2200-01-01T00:00:00Z",
]


@pytest.mark.parametrize("value", EXTREME_DATETIMES)
@pytest.mark.parametrize("kind", ["book", "reschedule"])
async def test_extreme_window_start_is_422_naming_it(
    http: httpx.AsyncClient, world: World, value: str, kind: str
) -> None:
    r = await http.post(
        f"/activities/{world.upcoming.id}/{kind}",
        json={"mutation_id": "abcdefgh-2", "technician_id": 1, "window_start": value},
        headers=world.auth(world.alice_token),
    )
    assert _field(r) == ["body", "window_start"]
    assert "1900" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize("value", EXTREME_DATETIMES)
@pytest.mark.parametrize(
    "field", ["scheduled_start", "scheduled_end", "window_start", "window_end"]
)
async def test_extreme_staff_schedule_is_422_and_nothing_changes(
    http: httpx.AsyncClient, world: World, fresh, value: str, field: str
) -> None:
    before = (await http.get(f"/staff/clients/{world.alice.id}/preview", headers=STAFF)).json()
    r = await http.patch(
        f"/staff/activities/{world.upcoming.id}", json={field: value}, headers=STAFF
    )
    assert _field(r) == ["body", field]
    after = (await http.get(f"/staff/clients/{world.alice.id}/preview", headers=STAFF)).json()
    assert after == before


async def test_ordinary_staff_schedule_still_accepted(
    http: httpx.AsyncClient, world: World
) -> None:
    r = await http.patch(
        f"/staff/activities/{world.upcoming.id}",
        json={"scheduled_start": "2026-12-01T08:00:00+01:00"},
        headers=STAFF,
    )
    assert r.status_code == 200, r.text


# --- 4. a mutation id is bound to its change -------------------------------------------


@pytest.fixture
def booking(db: Session, settings: Settings, clock: Clock) -> Booking:
    world = Booking(db, settings, clock.now, clients=2)
    # A second intervention of client 0, also waiting for an appointment.
    second = factories.activity(db, world.clients[0], world.type, None, status="to_schedule")
    world.activities.append(second)
    world.tokens.append(world.tokens[0])  # index 2: client 0's second intervention
    world.repair = factories.activity_type(  # type: ignore[attr-defined]
        db,
        world.bu,
        name="Repair",
        portal_actions=[{"key": "request", "kind": "request", "label": "Ask for a repair"}],
    )
    db.commit()
    return world


def _status(fresh, activity_id: int) -> str:
    with fresh() as s:
        return s.get_one(Activity, activity_id).status


async def test_a_mutation_id_reused_on_another_activity_is_409_and_books_nothing(
    http: httpx.AsyncClient, booking: Booking, fresh
) -> None:
    key = new_id()
    first = await take(http, booking, 0, (await slots(http, booking, 0))[0], mutation_id=key)
    assert first.status_code == 200, first.text
    other = booking.activities[2]
    slot = (await slots(http, booking, 2))[0]
    r = await http.post(
        f"/activities/{other.id}/book",
        json={
            "mutation_id": key,
            "technician_id": slot["technician_id"],
            "window_start": slot["window_start"],
        },
        headers=booking.auth(0),
    )
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "mutation_id_reused"
    assert "new mutation_id" in r.json()["detail"]
    assert f"intervention {booking.activities[0].id}" in r.json()["detail"]
    assert _status(fresh, other.id) == "to_schedule"


async def test_a_mutation_id_reused_for_another_action_is_409_and_cancels_nothing(
    http: httpx.AsyncClient, booking: Booking, fresh
) -> None:
    key = new_id()
    first = await take(http, booking, 0, (await slots(http, booking, 0))[0], mutation_id=key)
    assert first.status_code == 200, first.text
    activity_id = booking.activities[0].id
    r = await http.post(
        f"/activities/{activity_id}/cancel",
        json={"mutation_id": key, "reason": "changed my mind"},
        headers=booking.auth(0),
    )
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "mutation_id_reused"
    assert _status(fresh, activity_id) == "scheduled"


async def test_a_refused_slot_binds_its_id_too(
    http: httpx.AsyncClient, booking: Booking, fresh
) -> None:
    slot = (await slots(http, booking, 0))[0]
    assert (await take(http, booking, 1, slot)).status_code == 200  # client 1 takes it first
    key = new_id()
    lost = await take(http, booking, 0, slot, mutation_id=key)
    assert lost.status_code == 409 and lost.json()["code"] == "slot_taken"
    again = await take(http, booking, 2, (await slots(http, booking, 2))[0], mutation_id=key)
    assert again.json()["code"] == "mutation_id_reused"
    assert _status(fresh, booking.activities[2].id) == "to_schedule"


async def test_ids_are_bound_across_bookings_and_new_requests(
    http: httpx.AsyncClient, booking: Booking, fresh
) -> None:
    def new_request(key: str) -> dict[str, Any]:
        return {
            "mutation_id": key,
            "site_id": booking.clients[0].sites[0].id,
            "type_id": booking.repair.id,  # type: ignore[attr-defined]
            "description": "The tap leaks.",
        }

    def count() -> int:
        with fresh() as s:
            return s.query(Activity).count()

    booked = new_id()
    assert (
        await take(http, booking, 0, (await slots(http, booking, 0))[0], mutation_id=booked)
    ).status_code == 200
    before = count()
    r = await http.post("/requests", json=new_request(booked), headers=booking.auth(0))
    assert r.status_code == 409, r.text
    assert "new mutation_id" in r.json()["detail"]
    assert count() == before

    requested = new_id()
    r = await http.post("/requests", json=new_request(requested), headers=booking.auth(0))
    assert r.status_code == 201, r.text
    r = await take(http, booking, 2, (await slots(http, booking, 2))[0], mutation_id=requested)
    assert r.status_code == 409 and r.json()["code"] == "mutation_id_reused"
    assert _status(fresh, booking.activities[2].id) == "to_schedule"


async def test_the_same_change_sent_twice_still_replays(
    http: httpx.AsyncClient, booking: Booking
) -> None:
    slot = (await slots(http, booking, 0))[0]
    key = new_id()
    first = await take(http, booking, 0, slot, mutation_id=key)
    again = await take(http, booking, 0, slot, mutation_id=key)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()


async def test_ids_are_per_client(http: httpx.AsyncClient, booking: Booking) -> None:
    key = new_id()
    assert (
        await take(http, booking, 0, (await slots(http, booking, 0))[0], mutation_id=key)
    ).status_code == 200
    r = await take(http, booking, 1, (await slots(http, booking, 1))[0], mutation_id=key)
    assert r.status_code == 200, r.text


async def test_records_from_before_the_binding_replay_on_the_same_action(
    http: httpx.AsyncClient, booking: Booking, fresh
) -> None:
    key = new_id()
    with fresh() as s:  # as release 0002 stored it: no activity
        s.add(
            Mutation(
                id=f"{booking.clients[0].id}:{key}",
                client_id=booking.clients[0].id,
                kind="book",
                status_code=200,
                result={"legacy": True},
            )
        )
    slot = (await slots(http, booking, 0))[0]
    r = await take(http, booking, 0, slot, mutation_id=key)
    assert r.status_code == 200 and r.json() == {"legacy": True}
    r = await http.post(
        f"/activities/{booking.activities[0].id}/cancel",
        json={"mutation_id": key, "reason": "x"},
        headers=booking.auth(0),
    )
    assert r.status_code == 409 and r.json()["code"] == "mutation_id_reused"


# --- 6. lifetimes under a minute ------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "1 minute"), (30, "1 minute"), (60, "1 minute"), (61, "2 minutes"), (600, "10 minutes")],
)
def test_lifetimes_round_up_to_whole_minutes(seconds: int, text: str) -> None:
    assert lifetime_text(seconds) == text


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_a_short_lived_code_and_link_never_say_0_minutes(
    settings: Settings, clock: Clock, language: str
) -> None:
    short = settings.model_copy(update={"otp_ttl_seconds": 30, "sms_link_ttl_seconds": 45})
    app = create_app(short, clock=clock)
    try:
        with app.state.sessionmaker() as s:
            bu = factories.business_unit(s)
            factories.client(s, bu, preferred_language=language)
            s.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as c:
            r = await c.post("/auth/code/request", json={"identifier": "alice@example.com"})
            assert r.status_code == 202
            r = await c.post("/auth/link/request", json={"phone": "+33612345678"})
            assert r.status_code == 202
        with app.state.sessionmaker() as s:
            bodies = [m.body for m in s.query(OutgoingMessage).order_by(OutgoingMessage.id)]
    finally:
        app.state.engine.dispose()
    assert len(bodies) == 2
    for body in bodies:
        assert "0 minute" not in body
        assert "1 minute" in body and "1 minutes" not in body


# --- 8. what schemathesis --checks all found ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PATCH", "/staff/clients/{alice}", {"portal_access": 0}, "portal_access"),
        ("PATCH", "/staff/business-units/{bu}", {"portal_enabled": "yes"}, "portal_enabled"),
        ("POST", "/staff/business-units/{bu}/sms-credits", {"credits": "5"}, "credits"),
        (
            "POST",
            "/activities/{upcoming}/reschedule",
            {
                "mutation_id": "abcdefgh-3",
                "technician_id": "1",
                "window_start": "2026-12-01T08:00Z",
            },
            "technician_id",
        ),
    ],
)
async def test_json_types_are_taken_as_sent(
    http: httpx.AsyncClient, world: World, fresh, method: str, path: str, body: dict, field: str
) -> None:
    url = path.format(alice=world.alice.id, bu=world.bu.id, upcoming=world.upcoming.id)
    headers = {**STAFF, **world.auth(world.alice_token)}
    r = await http.request(method, url, json=body, headers=headers)
    assert _field(r)[-1] == field
    with fresh() as s:
        assert s.get_one(BusinessUnit, world.bu.id).portal_enabled


async def test_a_405_lists_every_method_of_the_path(http: httpx.AsyncClient) -> None:
    r = await http.request("OPTIONS", "/staff/business-units/1", headers=STAFF)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, PATCH"
    r = await http.put("/staff/activities/1", headers=STAFF)
    assert r.headers["allow"] == "DELETE, PATCH"


def test_the_schema_documents_the_errors_every_operation_can_give(api: FastAPI) -> None:
    paths = api.openapi()["paths"]
    me = paths["/me"]["get"]["responses"]
    assert "401" in me and "404" not in me
    book = paths["/activities/{activity_id}/book"]["post"]["responses"]
    assert {"401", "404", "409", "413", "422"} <= set(book)
    request = paths["/requests"]["post"]["responses"]
    assert {"401", "404", "409", "413", "422"} <= set(request)  # 404: another client's site_id
    assert "401" not in paths["/health"]["get"]["responses"]


def test_the_schema_documents_what_the_staff_guard_and_each_route_answer(api: FastAPI) -> None:
    paths = api.openapi()["paths"]
    # Either credential works: removing both (as a client would) must be refused.
    staff_security = [{"StaffBearer": []}, {"StaffToken": []}]
    own_totp = paths["/staff/me/totp"]["post"]  # scope "self": signed in is enough
    assert own_totp["security"] == staff_security
    assert {"401", "409"} <= set(own_totp["responses"]) and "403" not in own_totp["responses"]
    accounts = paths["/staff/accounts"]["post"]["responses"]  # scope "any", admin
    assert {"401", "403", "404", "409"} <= set(accounts)
    assert "admin" in accounts["403"]["description"]
    client = paths["/staff/clients/{client_id}"]["patch"]["responses"]  # scope "path", planner
    assert {"401", "403", "404"} <= set(client) and "planner" in client["403"]["description"]
    assert "404" in paths["/staff/audit"]["get"]["responses"]  # ?business_unit_id=
    assert {"404"} <= set(paths["/staff/auth/set-password"]["post"]["responses"])
    assert {"401", "429"} <= set(paths["/staff/auth/login"]["post"]["responses"])
    assert "401" not in paths["/staff/auth/set-password"]["post"]["responses"]
    for operations in paths.values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    assert "application/json" in response.get("content", {}), (status, operation)


async def test_an_overlong_shared_staff_token_is_a_401(http: httpx.AsyncClient) -> None:
    r = await http.get("/staff/business-units", headers={"X-Staff-Token": "t" * 513})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"

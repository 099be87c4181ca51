"""Guardrails in the activity document, and the booked visit as an .ics file."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest

from backend.calendar_file import NotBooked, visit_ics
from tests.backend.test_booking import Booking, slots, take
from tests.backend.test_booking import world as world  # noqa: F401  (fixture)

PARIS = ZoneInfo("Europe/Paris")


async def test_activity_document_carries_the_guardrails(http, world: Booking) -> None:
    activity = world.activities[0]
    r = await http.get(f"/activities/{activity.id}", headers=world.auth(0))
    assert r.status_code == 200
    assert r.json()["booking_rules"] == {
        "change_cutoff_hours": 24,
        "max_reschedules": 1,
        "reschedules_left": 1,
    }
    booked = await take(http, world, 0, (await slots(http, world, 0))[0])
    assert booked.json()["booking_rules"]["reschedules_left"] == 1
    moved = await take(http, world, 0, (await slots(http, world, 0))[-1], kind="reschedule")
    assert moved.status_code == 200, moved.text
    assert moved.json()["booking_rules"]["reschedules_left"] == 0
    # The synced document says the same, so the offline app can explain it.
    pulled = (await http.get("/sync", headers=world.auth(0))).json()
    bodies = [c["body"] for c in pulled["changes"] if c["kind"] == "activity"]
    assert bodies[0]["booking_rules"]["reschedules_left"] == 0


async def test_calendar_file_of_a_booked_visit(http, world: Booking) -> None:
    activity = world.activities[0]
    url = f"/activities/{activity.id}/calendar.ics"
    early = await http.get(url, headers=world.auth(0))
    assert early.status_code == 409
    assert "book" in early.json()["detail"]

    slot = (await slots(http, world, 0))[0]
    assert (await take(http, world, 0, slot)).status_code == 200
    r = await http.get(url, headers=world.auth(0))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/calendar")
    assert f'filename="appointment-{activity.id}.ics"' in r.headers["content-disposition"]
    assert b"DTSTART;TZID=Europe/Paris:" in r.content
    event = icalendar.Calendar.from_ical(r.content).walk("VEVENT")[0]
    start = event.decoded("dtstart")
    window_start = datetime.fromisoformat(slot["window_start"])
    window_end = datetime.fromisoformat(slot["window_end"])
    assert start == window_start and event.decoded("dtend") == window_end
    assert str(start.tzinfo) == "Europe/Paris"
    description = str(event["description"])
    assert world.bu.name in description and world.bu.phone in description
    local = window_start.astimezone(PARIS)
    assert f"{local:%H:%M}" in description  # "Arrivée entre 08:00 et 10:00."


async def test_calendar_of_another_clients_visit_is_404(http, world: Booking) -> None:
    slot = (await slots(http, world, 0))[0]
    assert (await take(http, world, 0, slot)).status_code == 200
    r = await http.get(f"/activities/{world.activities[0].id}/calendar.ics", headers=world.auth(1))
    assert r.status_code == 404
    assert (
        await http.get("/activities/999999/calendar.ics", headers=world.auth(0))
    ).status_code == 404
    assert (await http.get(f"/activities/{world.activities[0].id}/calendar.ics")).status_code == 401


def test_calendar_event_on_the_day_the_clocks_change() -> None:
    # 29 March 2026, Paris moves from UTC+1 to UTC+2 at 02:00: 06:00Z is 08:00 local.
    doc = {
        "id": 7,
        "status": "scheduled",
        "title": "Entretien chaudière",
        "window_start": "2026-03-29T06:00:00Z",
        "window_end": "2026-03-29T08:00:00Z",
        "site": {"street": "1 rue de la Paix", "postal_code": "69002", "city": "Lyon"},
        "technician": {"first_name": "Karim"},
    }
    branding = {
        "id": 1,
        "name": "Rhône Chauffage",
        "phone": "+33 4 72 00 00 00",
        "email": "contact@example.com",
        "timezone": "Europe/Paris",
    }
    ics = visit_ics(doc, branding, "en", datetime(2026, 3, 1, tzinfo=UTC))
    assert b"DTSTART;TZID=Europe/Paris:20260329T080000" in ics
    assert b"DTEND;TZID=Europe/Paris:20260329T100000" in ics
    event = icalendar.Calendar.from_ical(ics).walk("VEVENT")[0]
    assert "Arrival between 8:00" in str(event["description"])
    assert "+33 4 72 00 00 00" in str(event["description"])
    assert str(event["location"]) == "1 rue de la Paix, 69002 Lyon"
    # The zone's rules travel with the file: a calendar elsewhere shows 08:00 Paris.
    assert icalendar.Calendar.from_ical(ics).walk("VTIMEZONE")


def test_no_calendar_file_without_an_appointment() -> None:
    with pytest.raises(NotBooked):
        visit_ics(
            {"id": 1, "status": "to_schedule", "window_start": None},
            {},
            "fr",
            datetime(2026, 3, 1, tzinfo=UTC),
        )

"""Automatic messages end to end: an API call (or the worker's cycle) to a queued message.

Each test reads ``outgoing_messages`` (the queue and the staff log) after
real requests through the in-process app: language, channel, the codes'
values, attachments, once per event, consent, disabled triggers, type filters.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from backend.core.db import begin_write
from backend.demo import DemoSize, generate
from backend.models import (
    Activity,
    Client,
    ClientContact,
    LoginLink,
    OutgoingMessage,
    PendingTrigger,
)
from backend.services import triggers
from tests import factories
from tests.backend import test_postgres
from tests.backend.test_booking import ACTIONS, Booking, new_id, slots, take
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}

# The PostgreSQL fixtures (a throwaway database named by PORTAL_TEST_POSTGRES_URL).
pg_url = test_postgres.pg_url
pg_settings = test_postgres.pg_settings
pg_api = test_postgres.pg_api
pg_http = test_postgres.pg_http

SURVEY = {
    "key": "survey",
    "kind": "survey",
    "label": "Rate the visit",
    "conditions": {"statuses": ["done"], "timing": "after_visit"},
}


@pytest.fixture
def world(db: Session, settings, clock: Clock) -> Booking:
    w = Booking(db, settings, clock.now)
    # Client 1 reads English; client 2 has no portal access yet.
    w.clients[1].preferred_language = "en"
    w.clients[2].portal_access = False
    db.commit()
    return w


def messages(fresh, **where: Any) -> list[OutgoingMessage]:
    with fresh() as s:
        query = select(OutgoingMessage).order_by(OutgoingMessage.id)
        for name, value in where.items():
            query = query.where(getattr(OutgoingMessage, name) == value)
        rows = list(s.scalars(query))
        for row in rows:
            _ = list(row.attachments)  # loaded before the session closes
        return rows


def client_messages(fresh, prefix: str) -> list[OutgoingMessage]:
    return [m for m in messages(fresh) if (m.dedupe_key or "").startswith(prefix)]


async def add_trigger(http: httpx.AsyncClient, bu_id: int, **body: Any) -> dict[str, Any]:
    r = await http.post(f"/staff/business-units/{bu_id}/triggers", json=body, headers=STAFF)
    assert r.status_code == 201, r.text
    return r.json()


# --- portal access ------------------------------------------------------------------


async def test_granting_access_sends_the_portal_link_once(http, world: Booking, fresh) -> None:
    bob = world.clients[2]
    r = await http.patch(f"/staff/clients/{bob.id}", json={"portal_access": True}, headers=STAFF)
    assert r.status_code == 200, r.text
    [sent] = client_messages(fresh, f"access:{bob.id}:")
    assert (sent.channel, sent.recipient, sent.language) == ("email", "c2@example.com", "fr")
    assert sent.subject == "Votre espace client – Test Heating"
    assert sent.body.startswith("Bonjour Client 2,")
    # A working permanent link (the unit allows them), in the text and the HTML button.
    link = next(w for w in sent.body.split() if "/login/link#" in w)
    assert f'href="{link}"' in sent.html
    token = link.split("#", 1)[1]
    opened = await http.post(f"/auth/link/{token}/confirm")
    assert opened.status_code == 200, opened.text
    with fresh() as s:
        labels = s.scalars(select(LoginLink.label).where(LoginLink.client_id == bob.id)).all()
    assert labels == [triggers.ACCESS_LINK_LABEL]
    # Sending the same change again is no event: nothing more.
    await http.patch(f"/staff/clients/{bob.id}", json={"portal_access": True}, headers=STAFF)
    assert len(client_messages(fresh, f"access:{bob.id}:")) == 1
    # Revoked then granted again is a new event: a new link.
    await http.patch(f"/staff/clients/{bob.id}", json={"portal_access": False}, headers=STAFF)
    await http.patch(f"/staff/clients/{bob.id}", json={"portal_access": True}, headers=STAFF)
    assert len(client_messages(fresh, f"access:{bob.id}:")) == 2


async def test_access_without_permanent_links_points_to_the_app(
    http, world: Booking, fresh, settings
) -> None:
    await http.patch(
        f"/staff/business-units/{world.bu.id}",
        json={"permanent_links_allowed": False},
        headers=STAFF,
    )
    bob = world.clients[2]
    await http.patch(f"/staff/clients/{bob.id}", json={"portal_access": True}, headers=STAFF)
    [sent] = client_messages(fresh, f"access:{bob.id}:")
    assert f"{settings.public_base_url}/app/" in sent.body
    assert "/login/link#" not in sent.body


async def test_sms_channel_respects_consent(http, world: Booking, fresh) -> None:
    await add_trigger(http, world.bu.id, event="portal_access", channel="both")
    bob = world.clients[2]
    # The unit allows SMS links, so SMS consent defaults to on.
    await http.patch(f"/staff/clients/{bob.id}", json={"portal_access": True}, headers=STAFF)
    sent = client_messages(fresh, f"access:{bob.id}:")
    assert sorted((m.channel, m.recipient) for m in sent) == [
        ("email", "c2@example.com"),
        ("sms", "+33700000002"),
    ]
    sms = next(m for m in sent if m.channel == "sms")
    assert sms.subject == "" and sms.html == "" and "/login/link#" in sms.body
    # Consent withdrawn on both channels: the next grant sends nothing.
    r = await http.patch(
        f"/staff/clients/{bob.id}",
        json={"portal_access": False, "email_notifications": False, "sms_notifications": False},
        headers=STAFF,
    )
    assert r.json()["email_notifications"] is False and r.json()["sms_notifications"] is False
    await http.patch(f"/staff/clients/{bob.id}", json={"portal_access": True}, headers=STAFF)
    assert len(client_messages(fresh, f"access:{bob.id}:")) == 2


async def test_a_disabled_trigger_sends_nothing(http, world: Booking, fresh) -> None:
    await add_trigger(http, world.bu.id, event="portal_access", enabled=False)
    bob = world.clients[2]
    await http.patch(f"/staff/clients/{bob.id}", json={"portal_access": True}, headers=STAFF)
    assert client_messages(fresh, "access:") == []


async def test_bulk_grant_is_set_based_and_the_worker_sends_each_link(
    api: FastAPI, db: Session, world: Booking, fresh, clock: Clock
) -> None:
    many = 600
    db.execute(
        Client.__table__.insert(),
        [
            {"business_unit_id": world.bu.id, "name": f"Bulk {i}", "portal_access": True}
            for i in range(many)
        ],
    )
    ids = list(db.scalars(select(Client.id).where(Client.name.like("Bulk %"))))
    db.execute(
        ClientContact.__table__.insert(),
        [{"client_id": cid, "kind": "email", "value": f"bulk{cid}@example.com"} for cid in ids],
    )
    db.commit()
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    chosen = select(Client.id).where(Client.name.like("Bulk %"))
    with api.state.sessionmaker() as s:
        begin_write(s)
        event.listen(api.state.engine, "before_cursor_execute", count)
        try:
            fired = triggers.portal_access_granted_many(s, world.bu.id, chosen, clock.now)
        finally:
            event.remove(api.state.engine, "before_cursor_execute", count)
        s.commit()
    assert fired == many
    # Three statements for 600 clients: the configuration, a count, one INSERT … SELECT.
    statements = [s for s in statements if not s.startswith("BEGIN")]
    assert len(statements) == 3, statements
    assert sum(s.startswith("INSERT INTO pending_triggers") for s in statements) == 1
    with fresh() as s:
        assert s.scalar(select(func.count()).select_from(PendingTrigger)) == many
    # The worker's cycle turns them into messages, one permanent link each, once.
    with api.state.sessionmaker() as s:
        begin_write(s)
        queued = triggers.due_reminders(s, clock.now)
        s.commit()
        again = triggers.due_reminders(s, clock.now)
        s.commit()
    assert (queued, again) == (many, 0)
    with fresh() as s:
        assert s.scalar(select(func.count()).select_from(PendingTrigger)) == 0
        links = s.scalar(
            select(func.count()).select_from(LoginLink).where(LoginLink.client_id.in_(ids))
        )
    assert links == many
    sent = client_messages(fresh, "access:")
    assert len(sent) == many
    assert {m.recipient for m in sent} == {f"bulk{cid}@example.com" for cid in ids}


async def test_bulk_grant_with_the_trigger_off_records_nothing(
    http, api: FastAPI, world: Booking, fresh, clock: Clock
) -> None:
    await add_trigger(http, world.bu.id, event="portal_access", enabled=False)
    with api.state.sessionmaker() as s:
        begin_write(s)
        assert (
            triggers.portal_access_granted_many(s, world.bu.id, select(Client.id), clock.now) == 0
        )
        s.commit()
    with fresh() as s:
        assert s.scalar(select(func.count()).select_from(PendingTrigger)) == 0


# --- visits --------------------------------------------------------------------------


async def test_booking_confirms_with_an_ics_in_the_clients_language(
    http, world: Booking, fresh
) -> None:
    [slot, *_] = await slots(http, world, 1)
    mutation = new_id()
    r = await take(http, world, 1, slot, mutation_id=mutation)
    assert r.status_code == 200, r.text
    activity = world.activities[1]
    [sent] = client_messages(fresh, f"visit:{activity.id}:booked:")
    assert (sent.recipient, sent.language) == ("c1@example.com", "en")
    assert sent.subject.startswith("Appointment confirmed: ")
    assert "Technician: " in sent.body and f"Reference: {activity.id}" in sent.body
    assert "arrival window " in sent.body
    [ics] = sent.attachments
    assert ics.filename == f"appointment-{activity.id}.ics"
    assert ics.media_type.startswith("text/calendar")
    assert b"BEGIN:VEVENT" in ics.content and b"Arrival between" in ics.content
    # The app retries the same mutation: the first answer, no second message.
    r = await take(http, world, 1, slot, mutation_id=mutation)
    assert r.status_code == 200
    assert len(client_messages(fresh, "visit:")) == 1
    # A move confirms the new window; a cancellation has no calendar file.
    later = [s for s in await slots(http, world, 1) if s["window_start"] != slot["window_start"]]
    r = await take(http, world, 1, later[0], kind="reschedule")
    assert r.status_code == 200, r.text
    [moved] = client_messages(fresh, f"visit:{activity.id}:rescheduled:")
    assert moved.subject.startswith("Appointment moved: ") and len(moved.attachments) == 1
    r = await http.post(
        f"/activities/{activity.id}/cancel",
        json={"mutation_id": new_id(), "reason": "Away"},
        headers=world.auth(1),
    )
    assert r.status_code == 200, r.text
    [cancelled] = client_messages(fresh, f"visit:{activity.id}:cancelled:")
    assert cancelled.subject.startswith("Appointment cancelled") and cancelled.attachments == []


async def test_staff_schedule_changes_confirm_too(http, world: Booking, fresh, clock) -> None:
    activity = world.activities[0]
    start = clock.now + timedelta(days=3)
    r = await http.patch(
        f"/staff/activities/{activity.id}",
        json={
            "status": "scheduled",
            "scheduled_start": start.isoformat(),
            "scheduled_end": (start + timedelta(hours=1)).isoformat(),
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(),
            "technician_id": world.karim.id,
        },
        headers=STAFF,
    )
    assert r.status_code == 200, r.text
    [booked] = client_messages(fresh, f"visit:{activity.id}:booked:")
    assert booked.subject.startswith("Rendez-vous confirmé : ")
    assert "Karim" in booked.body and len(booked.attachments) == 1
    # A note is no appointment change.
    await http.patch(
        f"/staff/activities/{activity.id}", json={"description": "Bring a ladder"}, headers=STAFF
    )
    assert len(client_messages(fresh, "visit:")) == 1


async def test_activity_type_filter_and_overrides(http, world: Booking, db, fresh) -> None:
    other = factories.activity_type(db, world.bu, name="Chimney sweep", portal_actions=ACTIONS)
    db.commit()
    # Every type: a custom French text; the world's type: nothing at all.
    await add_trigger(
        http,
        world.bu.id,
        event="visit_booked",
        templates={
            "fr": {
                "subject": "RDV {type.name} le {activity.date}",
                "body": "Bonjour {client.name}\nFenêtre : {activity.window}\n{portal_link}",
            }
        },
    )
    await add_trigger(
        http, world.bu.id, event="visit_booked", activity_type_id=world.type.id, enabled=False
    )
    [slot, *_] = await slots(http, world, 0)
    assert (await take(http, world, 0, slot)).status_code == 200
    assert client_messages(fresh, "visit:") == []
    world.activities[0].type_id = other.id
    db.merge(world.activities[0])
    db.commit()
    with fresh() as s:
        activity = s.get(Activity, world.activities[0].id)
        triggers.visit_changed(s, activity, "booked", activity.updated_at)
    [sent] = client_messages(fresh, "visit:")
    assert sent.subject.startswith("RDV Chimney sweep le ")
    lines = sent.body.splitlines()
    assert lines[0] == "Bonjour Client 0"
    assert lines[1].startswith("Fenêtre : ") and lines[2].endswith("/app/")


# --- reminders -------------------------------------------------------------------------


def run_worker_cycle(api: FastAPI, clock: Clock) -> int:
    with api.state.sessionmaker() as s:
        begin_write(s)
        count = triggers.due_reminders(s, clock.now)
        s.commit()
    return count


async def test_reminder_once_per_window_at_the_right_time(
    http, api: FastAPI, world: Booking, fresh, clock: Clock
) -> None:
    [slot, *_] = await slots(http, world, 0)
    assert (await take(http, world, 0, slot)).status_code == 200
    activity = world.activities[0]
    with fresh() as s:
        window = s.get(Activity, activity.id).window_start
    # Not yet: just over 24 hours before the window.
    clock.now = window - timedelta(hours=24, minutes=1)
    assert run_worker_cycle(api, clock) == 0
    clock.now = window - timedelta(hours=24)
    assert run_worker_cycle(api, clock) == 1
    clock.advance(minutes=5)
    assert run_worker_cycle(api, clock) == 0
    [reminder] = client_messages(fresh, f"reminder:{activity.id}:")
    assert reminder.subject.startswith("Rappel : ")
    # Moved (staff): the new window gets its own reminder when its time comes.
    new_start = window + timedelta(days=2)
    r = await http.patch(
        f"/staff/activities/{activity.id}",
        json={
            "window_start": new_start.isoformat(),
            "window_end": (new_start + timedelta(hours=2)).isoformat(),
            "scheduled_start": new_start.isoformat(),
            "scheduled_end": (new_start + timedelta(hours=2)).isoformat(),
        },
        headers=STAFF,
    )
    assert r.status_code == 200
    assert run_worker_cycle(api, clock) == 0
    clock.now = new_start - timedelta(hours=3)
    assert run_worker_cycle(api, clock) == 1
    assert len(client_messages(fresh, f"reminder:{activity.id}:")) == 2


async def test_configured_reminder_hours_and_sms(
    http, api: FastAPI, world: Booking, fresh, clock: Clock
) -> None:
    await add_trigger(http, world.bu.id, event="reminder", channel="sms", hours_before=2)
    [slot, *_] = await slots(http, world, 0)
    assert (await take(http, world, 0, slot)).status_code == 200
    with fresh() as s:
        window = s.get(Activity, world.activities[0].id).window_start
    clock.now = window - timedelta(hours=3)
    assert run_worker_cycle(api, clock) == 0  # the default 24 h reminder is replaced
    clock.now = window - timedelta(hours=1)
    assert run_worker_cycle(api, clock) == 1
    [sms] = client_messages(fresh, "reminder:")
    assert sms.channel == "sms" and sms.recipient == "+33700000000"
    assert sms.body.startswith("Rappel Test Heating : ") and sms.segments >= 1


# --- closure ---------------------------------------------------------------------------


async def test_closure_sends_the_report_and_the_survey(
    http, api: FastAPI, db, world: Booking, fresh, clock: Clock
) -> None:
    form = factories.form(db, world.bu, name="Satisfaction")
    world.type.portal_actions = [*ACTIONS, {**SURVEY, "form_id": form.id}]
    db.merge(world.type)
    db.commit()
    activity_id = world.activities[1].id
    with api.state.sessionmaker() as s:
        begin_write(s)
        activity = s.get(Activity, activity_id)
        activity.status = "done"
        triggers.activity_closed(s, activity, clock.now)
        triggers.activity_closed(s, activity, clock.now)  # a retry of the same closure
        s.commit()
    [report] = client_messages(fresh, f"closed:{activity_id}:0:report:")
    [survey] = client_messages(fresh, f"closed:{activity_id}:survey:")
    assert report.language == survey.language == "en"
    assert report.subject == f"Intervention report – Boiler service (ref. {activity_id})"
    assert "Its report is in your client portal." in report.body
    assert "Rate the visit" in survey.body and "/app/" in survey.body


async def test_a_visit_closed_again_after_a_reopening_sends_its_new_report(
    http, world: Booking, fresh
) -> None:
    activity_id = world.activities[1].id
    url = f"/staff/activities/{activity_id}/closure"
    r = await http.post(url, json={"summary": "First visit."}, headers=STAFF)
    assert r.status_code in (200, 201), r.text
    r = await http.post(url, json={"summary": "Again."}, headers=STAFF)
    assert r.status_code == 409  # closed: reopen first
    r = await http.patch(
        f"/staff/activities/{activity_id}", json={"status": "in_progress"}, headers=STAFF
    )
    assert r.status_code == 200, r.text
    r = await http.post(url, json={"summary": "Part replaced on the second visit."}, headers=STAFF)
    assert r.status_code in (200, 201), r.text
    reports = [
        m
        for m in client_messages(fresh, f"closed:{activity_id}:")
        if ":report:" in (m.dedupe_key or "")
    ]
    assert len(reports) == 2
    assert len({m.dedupe_key for m in reports}) == 2


# --- planning notice -------------------------------------------------------------------


async def test_planning_notice_goes_to_the_configured_contact(http, world: Booking, fresh) -> None:
    await add_trigger(
        http,
        world.bu.id,
        event="planning_notice",
        recipient="planning@test-heating.example",
        templates={"fr": {"subject": "Portail : {client.name} – {notice.summary}"}},
    )
    [slot, *_] = await slots(http, world, 0)  # the reschedule action notifies planning
    assert (await take(http, world, 0, slot)).status_code == 200
    later = [s for s in await slots(http, world, 0) if s["window_start"] != slot["window_start"]]
    assert (await take(http, world, 0, later[0], kind="reschedule")).status_code == 200
    notices = messages(fresh, recipient="planning@test-heating.example")
    [notice] = notices
    # In the unit's language (French), with the new date in its time zone.
    assert notice.subject.startswith("Portail : Client 0 – rendez-vous déplacé au ")
    assert notices[0].language == "fr" and "Client 0 a agi" in notices[0].body


# --- staff API -------------------------------------------------------------------------


async def test_unknown_codes_are_refused_naming_the_field(http, world: Booking) -> None:
    url = f"/staff/business-units/{world.bu.id}/triggers"
    r = await http.post(
        url,
        json={"event": "report", "templates": {"fr": {"body": "Bonjour {client.nom}"}}},
        headers=STAFF,
    )
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "templates", "fr", "body"]
    assert "client.nom" in error["msg"]
    r = await http.post(url, json={"event": "report", "hours_before": 3}, headers=STAFF)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "hours_before"]
    r = await http.post(url, json={"event": "planning_notice", "channel": "sms"}, headers=STAFF)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "channel"]


async def test_trigger_crud_and_preview(http, world: Booking) -> None:
    created = await add_trigger(http, world.bu.id, event="reminder", hours_before=48)
    twin = await http.post(
        f"/staff/business-units/{world.bu.id}/triggers",
        json={"event": "reminder", "hours_before": 48},
        headers=STAFF,
    )
    assert twin.status_code == 409 and f"/staff/triggers/{created['id']}" in twin.text
    listed = (await http.get(f"/staff/business-units/{world.bu.id}/triggers", headers=STAFF)).json()
    assert [t["id"] for t in listed["items"]] == [created["id"]]
    assert "reminder" not in {d["event"] for d in listed["defaults"]}
    assert "portal_link" in listed["codes"]
    r = await http.patch(
        f"/staff/triggers/{created['id']}",
        json={"templates": {"en": {"subject": "See you {activity.date}"}}},
        headers=STAFF,
    )
    assert r.status_code == 200 and r.json()["templates"]["en"]["subject"].startswith("See")
    r = await http.patch(
        f"/staff/triggers/{created['id']}",
        json={"templates": {"en": {"subject": "{oops}"}}},
        headers=STAFF,
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "templates", "en", "subject"]
    activity = world.activities[0]
    start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    await http.patch(
        f"/staff/activities/{activity.id}",
        json={
            "status": "scheduled",
            "scheduled_start": start.isoformat(),
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(),
        },
        headers=STAFF,
    )
    r = await http.get(
        f"/staff/triggers/{created['id']}/preview",
        params={"activity_id": activity.id},
        headers=STAFF,
    )
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["en"]["subject"] == "See you Thu, Nov 26, 2026"  # in the unit's zone
    assert preview["fr"]["subject"] == "Rappel : Boiler service le jeu. 26 nov. 2026"
    assert "\njeu. 26 nov. 2026, créneau d'arrivée 10:00 – 12:00\n" in preview["fr"]["text"]
    assert preview["fr"]["recipients"] == [{"channel": "email", "recipient": "c0@example.com"}]
    assert "<html" in preview["en"]["html"]
    # A draft as staff type, and another unit's activity.
    r = await http.post(
        f"/staff/business-units/{world.bu.id}/triggers/preview",
        json={"event": "portal_access", "client_id": world.clients[0].id},
        headers=STAFF,
    )
    assert r.status_code == 200 and "/login/link#…" in r.json()["fr"]["text"]
    r = await http.get(
        f"/staff/triggers/{created['id']}/preview", params={"activity_id": 999}, headers=STAFF
    )
    assert r.status_code == 404
    assert (await http.delete(f"/staff/triggers/{created['id']}", headers=STAFF)).status_code == 204
    assert (await http.delete(f"/staff/triggers/{created['id']}", headers=STAFF)).status_code == 404


async def test_the_demo_unit_starts_with_every_trigger_written_out(
    http, api: FastAPI, clock: Clock
) -> None:
    with api.state.sessionmaker() as s:
        begin_write(s)
        generate(s, DemoSize(technicians=2, clients=5, activities=10), now=clock.now)
        s.commit()
        bu_id = s.scalar(select(func.min(Client.business_unit_id)))
    r = await http.get(f"/staff/business-units/{bu_id}/triggers", headers=STAFF)
    listed = r.json()
    assert sorted(t["event"] for t in listed["items"]) == sorted(triggers.config.EVENTS)
    assert listed["defaults"] == []
    channels = {t["event"]: t["channel"] for t in listed["items"]}
    assert channels["portal_access"] == channels["reminder"] == "both"


@pytest.mark.skipif(
    not test_postgres.POSTGRES_URL, reason="needs PORTAL_TEST_POSTGRES_URL (.ci/run starts one)"
)
async def test_bulk_access_booking_and_reminders_on_postgres(
    pg_api: FastAPI,
    pg_http: httpx.AsyncClient,
    pg_settings,
    clock: Clock,
) -> None:
    with pg_api.state.sessionmaker() as s:
        w = Booking(s, pg_settings, clock.now)
        bu_id = w.bu.id
    with pg_api.state.sessionmaker() as s:
        begin_write(s)
        fired = triggers.portal_access_granted_many(s, bu_id, select(Client.id), clock.now)
        s.commit()
        assert fired == 3
        assert triggers.due_reminders(s, clock.now) == 3
        s.commit()
    [slot, *_] = await slots(pg_http, w, 0)
    mutation = new_id()
    assert (await take(pg_http, w, 0, slot, mutation_id=mutation)).status_code == 200
    assert (await take(pg_http, w, 0, slot, mutation_id=mutation)).status_code == 200
    with pg_api.state.sessionmaker() as s:
        window = s.get(Activity, w.activities[0].id).window_start
        keys = list(s.scalars(select(OutgoingMessage.dedupe_key).order_by(OutgoingMessage.id)))
    assert sum(k.startswith("access:") for k in keys) == 3
    assert sum(k.startswith(f"visit:{w.activities[0].id}:booked:") for k in keys) == 1
    clock.now = window - timedelta(hours=2)
    for expected in (1, 0):
        with pg_api.state.sessionmaker() as s:
            begin_write(s)
            assert triggers.due_reminders(s, clock.now) == expected
            s.commit()

"""Each trigger end to end through a real SMTP server (aiosmtpd, started by the test).

API call -> queued message -> the delivery worker's cycle (``deliver_due``,
which also runs ``triggers.due_reminders``) -> the email as the SMTP server
received it: subject, language, text, HTML and attachments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from email.message import Message as EmailMessage
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from backend.core.config import Settings
from backend.models import Activity
from backend.services import transports as tx
from backend.services.delivery import deliver_due
from tests import factories
from tests.backend.delivery_fakes import RecordingSmtp
from tests.backend.test_booking import Booking, new_id, slots, take
from tests.backend.test_delivery_providers import smtp_api
from tests.backend.test_documents_api import closure_body
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}


@pytest.fixture
def smtp() -> Iterator[RecordingSmtp]:
    server = RecordingSmtp().start()
    yield server
    server.stop()


@pytest.fixture
def mail_api(settings: Settings, clock: Clock, smtp: RecordingSmtp) -> Iterator[FastAPI]:
    app = smtp_api(settings, clock, smtp.port)
    yield app
    app.state.engine.dispose()


@pytest.fixture
async def client(mail_api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=mail_api, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as c:
        yield c


@pytest.fixture
def world(mail_api: FastAPI, settings: Settings, clock: Clock) -> Booking:
    with mail_api.state.sessionmaker() as db:
        w = Booking(db, settings, clock.now)
        form = factories.form(db, w.bu, name="Satisfaction")
        w.type.portal_actions = [
            *w.type.portal_actions,
            {
                "key": "survey",
                "kind": "survey",
                "label": "Donnez votre avis",
                "form_id": form.id,
                "notify_planning": False,
                "conditions": {"statuses": ["done"], "timing": "any", "min_hours_before": 0},
            },
        ]
        w.clients[1].preferred_language = "en"
        w.clients[2].portal_access = False
        db.commit()
        return w


def deliver(api: FastAPI, settings: Settings, clock: Clock) -> Any:
    report = deliver_due(
        api.state.sessionmaker, settings, tx.transports_from_settings(settings), clock=clock
    )
    assert not report.errors, report.errors
    return report


def received(smtp: RecordingSmtp, to: str) -> list[EmailMessage]:
    return [m for m in smtp.messages if to in m["To"]]


def parts(message: EmailMessage) -> dict[str, EmailMessage]:
    return {p.get_content_type(): p for p in message.walk()}


def text_of(message: EmailMessage, kind: str = "text/plain") -> str:
    return parts(message)[kind].get_payload(decode=True).decode()


async def test_access_booking_reminder_and_cancellation_by_smtp(
    client, mail_api: FastAPI, settings: Settings, clock: Clock, world: Booking, smtp
) -> None:
    # Portal access granted -> the link, in French.
    bob = world.clients[2]
    r = await client.patch(f"/staff/clients/{bob.id}", json={"portal_access": True}, headers=STAFF)
    assert r.status_code == 200, r.text
    deliver(mail_api, settings, clock)
    [access] = received(smtp, "c2@example.com")
    assert access["Subject"] == "Votre espace client – Test Heating"
    assert "/login/link#" in text_of(access) and "/login/link#" in text_of(access, "text/html")
    # Booked (English client) -> confirmation with the calendar file. (The
    # latest slot: one inside the reminder's 24 hours gets its reminder at once.)
    slot = max(await slots(client, world, 1), key=lambda s: s["window_start"])
    assert (await take(client, world, 1, slot)).status_code == 200
    deliver(mail_api, settings, clock)
    [booked] = received(smtp, "c1@example.com")
    assert booked["Subject"].startswith("Appointment confirmed: ")
    ics = parts(booked)["text/calendar"]
    assert ics.get_filename() == f"appointment-{world.activities[1].id}.ics"
    assert b"BEGIN:VEVENT" in ics.get_payload(decode=True)
    # The reminder, by the worker's own cycle, once.
    with mail_api.state.sessionmaker() as s:
        window = s.get(Activity, world.activities[1].id).window_start
    clock.now = window - timedelta(hours=23)
    assert deliver(mail_api, settings, clock).reminders == 1
    assert deliver(mail_api, settings, clock).reminders == 0
    reminder = received(smtp, "c1@example.com")[-1]
    assert reminder["Subject"].startswith("Reminder: Boiler service on ")
    # Cancelled -> a confirmation without a calendar file.
    clock.now = window - timedelta(days=3)
    r = await client.post(
        f"/activities/{world.activities[1].id}/cancel",
        json={"mutation_id": new_id(), "reason": "Away"},
        headers=world.auth(1),
    )
    assert r.status_code == 200, r.text
    deliver(mail_api, settings, clock)
    cancelled = received(smtp, "c1@example.com")[-1]
    assert cancelled["Subject"] == "Appointment cancelled – Boiler service"
    assert "text/calendar" not in parts(cancelled)
    # Every message went out exactly once.
    assert len(smtp.messages) == 4


async def test_closure_sends_the_report_pdf_and_the_survey_by_smtp(
    client, mail_api: FastAPI, settings: Settings, clock: Clock, world: Booking, smtp
) -> None:
    activity = world.activities[0]
    start = clock.now - timedelta(hours=3)
    r = await client.patch(
        f"/staff/activities/{activity.id}",
        json={
            "status": "scheduled",
            "scheduled_start": start.isoformat(),
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(),
            "technician_id": world.karim.id,
        },
        headers=STAFF,
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/staff/activities/{activity.id}/closure", json=closure_body(photos=1), headers=STAFF
    )
    assert r.status_code in (200, 201), r.text
    # The technician's retry of the same closure is refused and sends nothing more.
    again = await client.post(
        f"/staff/activities/{activity.id}/closure", json=closure_body(photos=1), headers=STAFF
    )
    assert again.status_code == 409
    deliver(mail_api, settings, clock)
    by_subject = {m["Subject"]: m for m in received(smtp, "c0@example.com")}
    report = by_subject[f"Compte-rendu d'intervention – Boiler service (réf. {activity.id})"]
    pdf = parts(report)["application/pdf"]
    assert pdf.get_payload(decode=True).startswith(b"%PDF")
    assert "Son compte-rendu est joint à ce message" in text_of(report)
    survey = by_subject["Votre avis – Boiler service"]
    assert "Donnez votre avis" in text_of(survey)
    assert len(by_subject) == 3  # the booking confirmation, the report, the survey


async def test_planning_notice_by_smtp(
    client, mail_api: FastAPI, settings: Settings, clock: Clock, world: Booking, smtp
) -> None:
    [slot, *_] = await slots(client, world, 0)
    assert (await take(client, world, 0, slot)).status_code == 200
    later = [s for s in await slots(client, world, 0) if s["window_start"] != slot["window_start"]]
    assert (await take(client, world, 0, later[0], kind="reschedule")).status_code == 200
    deliver(mail_api, settings, clock)
    [notice] = received(smtp, "office@test-heating.example")
    assert notice["Subject"].startswith("[Portail] Client 0 : rendez-vous déplacé au ")
    assert "Client 0 a agi dans l'espace client." in text_of(notice)
    with mail_api.state.sessionmaker() as s:
        moved = s.scalar(
            select(Activity.reschedule_count).where(Activity.id == world.activities[0].id)
        )
    assert moved == 1

"""The delivery queue: segments, credit, dedupe, retries and dead letters, templates.

Real SQLite file, the real queueing sender and worker functions, a controllable
clock; providers are the local fake SMS server (tests/backend/delivery_fakes.py)
where a transport is needed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import jinja2
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api.main import create_app
from backend.core.config import Settings
from backend.core.db import begin_write
from backend.message_templates import render_message, render_part
from backend.models import BusinessUnit, OutgoingMessage
from backend.services import transports as tx
from backend.services.delivery import (
    NO_CREDIT,
    QueueingSender,
    deliver_due,
    retry_delay,
)
from backend.services.messaging import Attachment, Message
from backend.sms_segments import cost_centicredits, segments, sms_size
from tests import factories
from tests.backend.delivery_fakes import FakeSmsProvider
from tests.conftest import Clock

# --- segments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("é" * 160, 1),  # é, è, à, ù, ì, ò, É, Ç are GSM-7
        ("€" * 80, 1),  # extension characters take two septets
        ("€" * 81, 2),
        ("{}" * 40 + "a", 2),
        # The escape pair never straddles two parts: 152 + 2 > 153 starts part 2.
        ("a" * 152 + "€" + "a" * 10, 2),
        ("a" * 151 + "€" + "a" * 153, 2),
        ("a" * 152 + "€" + "a" * 152, 3),
        ("ç" * 70, 1),  # lowercase ç is not GSM-7: UCS-2
        ("ç" * 71, 2),
        ("ç" * 134, 2),
        ("ç" * 135, 3),
        ("😀" * 35, 1),  # two UTF-16 units each
        ("😀" * 36, 2),
        ("a" * 66 + "😀", 1),
        ("a" * 66 + "😀" + "a" * 4, 2),  # 71 units, the emoji stays whole in part 1 or 2
    ],
)
def test_segments(text: str, expected: int) -> None:
    assert segments(text) == expected


def test_encoding_and_units() -> None:
    assert sms_size("Prix : 5 €").encoding == "gsm7"
    assert sms_size("Prix : 5 €").units == 11
    assert sms_size("Ça coûte 5 €").encoding == "ucs2"  # û is not GSM-7
    assert cost_centicredits("a" * 200, 20) == 40


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture
def provider() -> Iterator[FakeSmsProvider]:
    fake = FakeSmsProvider(token="sms-token").start()
    yield fake
    fake.stop()


@pytest.fixture
def live_settings(settings: Settings, provider: FakeSmsProvider) -> Settings:
    settings.sms_url = provider.url
    settings.sms_token = "sms-token"
    settings.sms_sender = "TestHeat"
    settings.sms_timeout_seconds = 0.5
    settings.delivery_max_attempts = 3
    settings.delivery_backoff_base_seconds = 30
    settings.delivery_backoff_cap_seconds = 600
    settings.delivery_lease_seconds = 60
    return settings


@pytest.fixture
def live_api(live_settings: Settings, clock: Clock) -> Iterator[FastAPI]:
    app = create_app(live_settings, clock=clock)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def bu_id(live_api: FastAPI) -> int:
    with live_api.state.sessionmaker() as db:
        begin_write(db)
        bu = factories.business_unit(db, sms_centicredits=100)
        db.commit()
        return bu.id


def queue(api: FastAPI, message: Message, now: datetime) -> None:
    """What a request does: send inside its write transaction, then commit."""
    with api.state.sessionmaker() as db:
        begin_write(db)
        api.state.sender.send(db, message, now)
        db.commit()


def rows(api: FastAPI) -> list[OutgoingMessage]:
    with api.state.sessionmaker() as db:
        return list(db.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id)))


def credit(api: FastAPI, bu_id: int) -> int:
    with api.state.sessionmaker() as db:
        return db.get(BusinessUnit, bu_id).sms_centicredits


def sms(bu_id: int, text: str = "Hello", **kwargs: Any) -> Message:
    return Message(
        channel="sms",
        recipient="+33612345678",
        subject="",
        body=text,
        business_unit_id=bu_id,
        **kwargs,
    )


def work(api: FastAPI, settings: Settings, clock: Clock, **kwargs: Any) -> Any:
    return deliver_due(
        api.state.sessionmaker,
        settings,
        tx.transports_from_settings(settings),
        clock=clock,
        rng=random.Random(7),
        **kwargs,
    )


# --- queueing, credit, dedupe ------------------------------------------------------


def test_an_sms_costs_its_segments_once_and_is_sent_with_its_key(
    live_api: FastAPI, live_settings: Settings, clock: Clock, bu_id: int, provider
) -> None:
    queue(live_api, sms(bu_id, "a" * 200), clock.now)  # 2 segments
    (row,) = rows(live_api)
    assert (row.status, row.segments, row.cost_centicredits) == ("queued", 2, 40)
    assert credit(live_api, bu_id) == 60
    report = work(live_api, live_settings, clock)
    assert (report.claimed, report.sent) == (1, 1)
    (row,) = rows(live_api)
    assert (row.status, row.attempts, row.provider_id) == ("sent", 1, "prov-1")
    assert row.sent_at == clock.now
    (request,) = provider.requests
    assert request["to"] == "+33612345678" and request["from"] == "TestHeat"
    assert request["text"] == "a" * 200
    assert request["idempotency_key"] == request["header_key"] == row.idempotency_key
    assert request["authorization"] == "Bearer sms-token"
    assert credit(live_api, bu_id) == 60


def test_without_credit_an_sms_is_not_sent_and_staff_see_why(
    live_api: FastAPI, live_settings: Settings, clock: Clock, bu_id: int, provider
) -> None:
    queue(live_api, sms(bu_id, "a" * 400), clock.now)  # 3 segments: 60 of 100
    queue(live_api, sms(bu_id, "b" * 200), clock.now)  # 2 segments: the last 40
    queue(live_api, sms(bu_id, "c"), clock.now)  # 20 with nothing left
    statuses = [(r.status, r.reason, r.cost_centicredits) for r in rows(live_api)]
    assert statuses == [("queued", "", 60), ("queued", "", 40), ("not_sent", NO_CREDIT, 0)]
    assert rows(live_api)[2].body == ""
    assert credit(live_api, bu_id) == 0
    work(live_api, live_settings, clock)
    assert len(provider.requests) == 2


async def test_the_staff_log_shows_state_attempts_error_and_cost(
    live_api: FastAPI, live_settings: Settings, clock: Clock, bu_id: int, provider
) -> None:
    queue(live_api, sms(bu_id, "a" * 200), clock.now)
    provider.script.append("error")
    work(live_api, live_settings, clock)
    transport = httpx.ASGITransport(app=live_api)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        r = await http.get(
            f"/staff/business-units/{bu_id}/messages",
            headers={"X-Staff-Token": "test-staff-token"},
        )
    assert r.status_code == 200, r.text
    (entry,) = r.json()
    assert entry["status"] == "failed" and entry["attempts"] == 1
    assert "503" in entry["last_error"] and entry["channel"] == "sms"
    assert entry["cost_credits"] == 0.4 and entry["segments"] == 2
    assert entry["next_attempt_at"] is not None and entry["sent_at"] is None


def test_a_rolled_back_request_queues_nothing_and_costs_nothing(
    live_api: FastAPI, clock: Clock, bu_id: int
) -> None:
    with live_api.state.sessionmaker() as db:
        begin_write(db)
        live_api.state.sender.send(db, sms(bu_id), clock.now)
        db.rollback()
    assert rows(live_api) == []
    assert credit(live_api, bu_id) == 100


def test_a_second_message_for_the_same_event_is_dropped(
    live_api: FastAPI, clock: Clock, bu_id: int
) -> None:
    queue(live_api, sms(bu_id, dedupe_key="closed:1:survey:sms"), clock.now)
    queue(live_api, sms(bu_id, "other", dedupe_key="closed:1:survey:sms"), clock.now)
    assert [r.body for r in rows(live_api)] == ["Hello"]
    assert credit(live_api, bu_id) == 80


def test_without_a_provider_messages_land_in_the_development_outbox(
    api: FastAPI, clock: Clock
) -> None:
    assert isinstance(api.state.sender, QueueingSender)
    with api.state.sessionmaker() as db:
        begin_write(db)
        bu = factories.business_unit(db, sms_centicredits=20)
        db.commit()
    attachment = Attachment("visit.ics", "text/calendar", b"BEGIN:VCALENDAR")
    queue(
        api,
        Message(
            channel="email",
            recipient="a@example.com",
            subject="Hi",
            body="Code 123456",
            html="<p>Code 123456</p>",
            business_unit_id=bu.id,
            attachments=(attachment,),
            language="en",
        ),
        clock.now,
    )
    queue(api, sms(bu.id, "Code 654321"), clock.now)
    email, text = rows(api)
    assert (email.status, email.body, email.sent_at) == ("sent", "Code 123456", clock.now)
    assert (text.status, text.cost_centicredits) == ("sent", 20)
    with api.state.sessionmaker() as db:
        stored = db.get(OutgoingMessage, email.id)
        assert [(a.filename, a.content) for a in stored.attachments] == [
            ("visit.ics", b"BEGIN:VCALENDAR")
        ]
    assert credit(api, bu.id) == 0


# --- retries, backoff, dead letters ----------------------------------------------------


def test_retry_delay_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        ceiling = min(600.0, 30.0 * 2 ** (attempt - 1))
        for _ in range(20):
            delay = retry_delay(attempt, 30, 600, rng)
            assert ceiling / 2 <= delay <= ceiling
    assert retry_delay(100, 30, 600, rng) <= 600
    # Jitter: messages failing together do not come back together.
    assert len({round(retry_delay(3, 30, 600, rng), 6) for _ in range(10)}) == 10


def test_provider_down_then_up(
    live_api: FastAPI, live_settings: Settings, clock: Clock, bu_id: int, provider
) -> None:
    queue(live_api, sms(bu_id), clock.now)
    provider.default = "error"
    report = work(live_api, live_settings, clock)
    assert (report.claimed, report.retried) == (1, 1)
    (row,) = rows(live_api)
    assert row.status == "failed" and "503" in row.last_error
    first_delay = (row.next_attempt_at - clock.now).total_seconds()
    assert 15 <= first_delay <= 30
    # Not due yet: nothing is claimed.
    assert work(live_api, live_settings, clock).claimed == 0
    provider.default = "accept"
    clock.advance(seconds=first_delay)
    assert work(live_api, live_settings, clock).sent == 1
    (row,) = rows(live_api)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")
    keys = {r["idempotency_key"] for r in provider.requests}
    assert keys == {row.idempotency_key} and len(provider.requests) == 2
    assert sum(provider.delivered.values()) == 1
    assert credit(live_api, bu_id) == 80  # charged once


def test_rate_limit_honours_retry_after(
    live_api: FastAPI, live_settings: Settings, clock: Clock, bu_id: int, provider
) -> None:
    queue(live_api, sms(bu_id), clock.now)
    provider.script.append("rate_limit")
    work(live_api, live_settings, clock)
    (row,) = rows(live_api)
    assert row.status == "failed" and "429" in row.last_error
    assert row.next_attempt_at >= clock.now + timedelta(seconds=120)


def test_a_timeout_is_retried(
    live_api: FastAPI, live_settings: Settings, clock: Clock, bu_id: int, provider
) -> None:
    queue(live_api, sms(bu_id), clock.now)
    provider.script.append("hang")
    work(live_api, live_settings, clock)
    provider.release()
    (row,) = rows(live_api)
    assert row.status == "failed" and "timed out" in row.last_error


def test_a_refusal_is_dead_at_once_and_gives_the_credit_back(
    live_api: FastAPI, live_settings: Settings, clock: Clock, bu_id: int, provider
) -> None:
    queue(live_api, sms(bu_id, "a" * 200), clock.now)
    assert credit(live_api, bu_id) == 60
    provider.script.append("reject")
    report = work(live_api, live_settings, clock)
    assert report.dead == 1
    (row,) = rows(live_api)
    assert (row.status, row.attempts) == ("dead", 1)
    assert "400" in row.last_error and "invalid number" in row.last_error
    assert credit(live_api, bu_id) == 100
    clock.advance(days=1)
    assert work(live_api, live_settings, clock).claimed == 0
    assert credit(live_api, bu_id) == 100  # refunded once


def test_dead_after_the_last_attempt_with_the_last_error(
    live_api: FastAPI, live_settings: Settings, clock: Clock, bu_id: int, provider
) -> None:
    queue(live_api, sms(bu_id), clock.now)
    provider.default = "error"
    for _ in range(live_settings.delivery_max_attempts):
        work(live_api, live_settings, clock)
        clock.advance(seconds=live_settings.delivery_backoff_cap_seconds)
    (row,) = rows(live_api)
    assert (row.status, row.attempts) == ("dead", 3)
    assert "503" in row.last_error and row.next_attempt_at is None
    assert len(provider.requests) == 3
    assert credit(live_api, bu_id) == 100


def test_a_claim_left_by_a_dead_worker_is_retried_after_its_lease(
    live_api: FastAPI, live_settings: Settings, clock: Clock, bu_id: int, provider
) -> None:
    from backend.services.delivery import claim_due

    queue(live_api, sms(bu_id), clock.now)
    with live_api.state.sessionmaker() as db:
        (claimed,) = claim_due(db, live_settings, clock.now, 10)  # then the worker "dies"
    assert rows(live_api)[0].status == "sending"
    assert work(live_api, live_settings, clock).claimed == 0  # its lease holds
    clock.advance(seconds=live_settings.delivery_lease_seconds)
    assert work(live_api, live_settings, clock).sent == 1
    (row,) = rows(live_api)
    assert (row.status, row.attempts) == ("sent", 2)
    assert provider.requests[0]["idempotency_key"] == claimed.idempotency_key


def test_a_worker_lost_on_the_last_attempt_leaves_a_dead_letter(
    live_api: FastAPI, live_settings: Settings, clock: Clock, bu_id: int
) -> None:
    from backend.services.delivery import WORKER_LOST, claim_due

    live_settings.delivery_max_attempts = 1
    queue(live_api, sms(bu_id), clock.now)
    with live_api.state.sessionmaker() as db:
        claim_due(db, live_settings, clock.now, 10)
    clock.advance(seconds=live_settings.delivery_lease_seconds)
    assert work(live_api, live_settings, clock).lost == 1
    (row,) = rows(live_api)
    assert (row.status, row.last_error) == ("dead", WORKER_LOST)
    assert credit(live_api, bu_id) == 100


def test_the_worker_calls_the_reminders_each_cycle(
    live_api: FastAPI, live_settings: Settings, clock: Clock, monkeypatch
) -> None:
    from backend.services import triggers

    seen: list[datetime] = []

    def due(db: Session, now: datetime) -> int:
        seen.append(now)
        return 0

    monkeypatch.setattr(triggers, "due_reminders", due)
    work(live_api, live_settings, clock)
    assert seen == [clock.now]


# --- templates -------------------------------------------------------------------------

TEMPLATES: dict[str, dict[str, Any]] = {
    "login_code": {"business_unit": "Chauffage & Fils", "code": "482913", "lifetime": "10 minutes"},
    "login_link": {
        "business_unit": "Chauffage & Fils",
        "lifetime": "15 minutes",
        "link": "https://portal.example/login/link#tok",
    },
}
PARTS_OF = {"login_code": ("subject", "txt", "html", "sms"), "login_link": ("sms",)}
WORDS = {
    ("login_code", "en"): "sign-in code",
    ("login_code", "fr"): "code de connexion",
    ("login_link", "en"): "sign-in link",
    ("login_link", "fr"): "lien de connexion",
}


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_templates_use_every_variable_in_each_language(name: str, lang: str) -> None:
    context = TEMPLATES[name]
    texts = render_message(name, lang, context, tz="Europe/Paris")
    for part in PARTS_OF[name]:
        text = {"subject": texts.subject, "txt": texts.text, "html": texts.html, "sms": texts.sms}[
            part
        ]
        assert WORDS[(name, lang)] in text.lower(), (part, text)
        for key, value in context.items():
            if part == "subject" and key != "business_unit":
                continue
            shown = value.replace("&", "&amp;") if part == "html" else value
            assert shown in text, (part, key)
    for key in context:
        # Every variable is needed: leaving one out is an error, never a blank.
        partial = {k: v for k, v in context.items() if k != key}
        with pytest.raises(jinja2.UndefinedError):
            render_message(name, lang, partial)


def test_sms_templates_fit_one_segment() -> None:
    for lang in ("en", "fr"):
        code = render_part("login_code", "sms", lang, TEMPLATES["login_code"])
        assert segments(code) == 1
        link = render_part(
            "login_link",
            "sms",
            lang,
            {**TEMPLATES["login_link"], "link": "http://127.0.0.1:8000/login/link#" + "x" * 43},
        )
        assert segments(link) == 1, link


def test_html_is_escaped_and_text_is_not() -> None:
    texts = render_message(
        "login_code", "en", {"business_unit": "<b>A</b>", "code": "1", "lifetime": "1 minute"}
    )
    assert "<b>A</b>" in texts.text and "<b>A</b>" not in texts.html
    assert "&lt;b&gt;A&lt;/b&gt;" in texts.html


def test_filters_format_in_the_clients_locale_and_the_units_zone() -> None:
    from backend.message_templates import environment

    template = environment().from_string(
        "{{ when|date }} | {{ when|time }} | {{ amount|money('EUR') }} | {{ n|number }}"
    )
    when = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
    fr = template.render(
        when=when, amount=Decimal("1234.5"), n=1234.5, locale="fr", tz="Europe/Paris"
    )
    en = template.render(
        when=when, amount=Decimal("1234.5"), n=1234.5, locale="en", tz="America/New_York"
    )
    assert fr.startswith("lun. 23 nov. 2026 | 14:30 | 1\u00a0234,50\u00a0€ | 1\u00a0234,5"), fr
    assert re.match(r"Mon, Nov 23, 2026 \| 8:30\u00a0AM \| €1,234.50 \| 1,234.5", en), en


def test_an_unknown_language_falls_back_to_english() -> None:
    texts = render_message("login_code", "de", TEMPLATES["login_code"])
    assert texts.subject.startswith("Your sign-in code")


def test_a_queued_message_without_a_provider_any_more_goes_to_the_development_outbox(
    live_api: FastAPI, live_settings: Settings, clock: Clock, bu_id: int, provider
) -> None:
    queue(live_api, sms(bu_id, "Rappel : demain 8h"), clock.now)
    # The provider setting was removed before the worker ran (e.g. a restart).
    report = deliver_due(live_api.state.sessionmaker, live_settings, {}, clock=clock)
    assert report.sent == 1 and provider.requests == []
    (row,) = rows(live_api)
    assert (row.status, row.body, row.sent_at) == ("sent", "Rappel : demain 8h", clock.now)

"""Staff send a client the portal link: by email a permanent link when the unit allows them,
else a single-use link valid 72 hours; by SMS a 15-minute single-use link. The texts come
from backend/message_templates in the client's language."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.core.db import begin_write
from backend.models import BusinessUnit, Client, ClientContact, LoginLink, OutgoingMessage
from tests.backend.conftest import Seed

STAFF = {"X-Staff-Token": "test-staff-token"}


def _contact_id(db: Session, client_id: int, kind: str) -> int:
    return db.scalars(
        select(ClientContact.id).where(
            ClientContact.client_id == client_id, ClientContact.kind == kind
        )
    ).one()


async def _send(http: httpx.AsyncClient, client_id: int, channel: str, contact_id: int) -> int:
    r = await http.post(
        f"/staff/clients/{client_id}/send-portal-link",
        json={"channel": channel, "contact_id": contact_id},
        headers=STAFF,
    )
    assert r.status_code == 202, r.text
    return r.json()["message_id"]


def _message(fresh, message_id: int) -> OutgoingMessage:
    with fresh() as s:
        return s.get(OutgoingMessage, message_id)


def _token(text: str) -> str:
    found = re.search(r"/login/link#([A-Za-z0-9_-]+)", text)
    assert found, text
    return found.group(1)


async def _sign_ins(http: httpx.AsyncClient, client_id: int) -> list[tuple[str, str | None]]:
    r = await http.get(f"/staff/clients/{client_id}", headers=STAFF)
    return [(s["method"], s["contact"]) for s in r.json()["recent_sign_ins"]]


async def test_email_sends_a_permanent_link_in_french_when_the_unit_allows_them(
    http: httpx.AsyncClient, db: Session, seed: Seed, fresh
) -> None:
    message_id = await _send(
        http, seed.client_id, "email", _contact_id(db, seed.client_id, "email")
    )
    sent = _message(fresh, message_id)
    assert sent.channel == "email" and sent.recipient == seed.email and sent.language == "fr"
    assert sent.subject == "Votre espace client Test Heating"
    assert "Bonjour Alice Martin" in sent.body and "reste valable" in sent.body
    token = _token(sent.body)
    assert f"/login/link#{token}" in sent.html and "Ouvrir mon espace" in sent.html
    with fresh() as s:
        link = s.scalars(select(LoginLink)).one()
        assert (link.kind, link.expires_at, link.contact) == ("permanent", None, seed.email)
        assert link.label == f"Sent by email to {seed.email}"
    # Permanent: it opens the portal again and again, each sign-in naming the address.
    for _ in range(2):
        assert (await http.post(f"/auth/link/{token}/confirm")).status_code == 200
    assert await _sign_ins(http, seed.client_id) == [("permanent_link", seed.email)] * 2
    listed = await http.get(f"/staff/clients/{seed.client_id}", headers=STAFF)
    assert [p["label"] for p in listed.json()["permanent_links"]] == [
        f"Sent by email to {seed.email}"
    ]


async def test_email_without_permanent_links_is_single_use_for_72_hours_in_english(
    http: httpx.AsyncClient, db: Session, seed: Seed, fresh, clock, settings: Settings
) -> None:
    with fresh() as s:
        begin_write(s)
        s.get(BusinessUnit, seed.bu_id).permanent_links_allowed = False
        s.get(Client, seed.client_id).preferred_language = "en"
    email_id = _contact_id(db, seed.client_id, "email")
    first = _message(fresh, await _send(http, seed.client_id, "email", email_id))
    assert first.language == "en" and first.subject == "Your Test Heating client portal"
    assert "Hello Alice Martin" in first.body
    assert "works once, until" in first.body and "Nov 26, 2026" in first.body  # 23 Nov + 72 h
    with fresh() as s:
        link = s.scalars(select(LoginLink)).one()
        assert link.kind == "email" and link.contact == seed.email
        assert link.expires_at == clock.now + timedelta(hours=72)
        assert settings.email_link_ttl_seconds == 72 * 3600
    token = _token(first.body)
    clock.advance(hours=71)  # still valid long after an SMS link would have died
    assert (await http.post(f"/auth/link/{token}/confirm")).status_code == 200
    assert (await http.post(f"/auth/link/{token}/confirm")).status_code == 404  # used up
    assert await _sign_ins(http, seed.client_id) == [("email_link", seed.email)]
    # A later link left unopened dies after 72 hours.
    late = _token(_message(fresh, await _send(http, seed.client_id, "email", email_id)).body)
    clock.advance(hours=72, seconds=1)
    assert (await http.post(f"/auth/link/{late}/confirm")).status_code == 404


async def test_sms_link_stays_a_15_minute_single_use_link_naming_the_phone(
    http: httpx.AsyncClient, db: Session, seed: Seed, fresh, clock
) -> None:
    message_id = await _send(http, seed.client_id, "sms", _contact_id(db, seed.client_id, "phone"))
    sent = _message(fresh, message_id)
    assert sent.channel == "sms" and sent.html == ""
    with fresh() as s:
        link = s.scalars(select(LoginLink)).one()
        assert link.kind == "sms" and link.expires_at == clock.now + timedelta(minutes=15)
    token = _token(sent.body)
    assert (await http.post(f"/auth/link/{token}/confirm")).status_code == 200
    assert (await http.post(f"/auth/link/{token}/confirm")).status_code == 404
    assert await _sign_ins(http, seed.client_id) == [("sms_link", seed.phone)]

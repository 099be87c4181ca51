"""The client record's recent sign-ins say which contact each session signed in with."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.models import AuthSession
from tests.backend.conftest import Seed

STAFF = {"X-Staff-Token": "test-staff-token"}


async def _sign_ins(http: httpx.AsyncClient, client_id: int) -> list[dict[str, object]]:
    r = await http.get(f"/staff/clients/{client_id}", headers=STAFF)
    assert r.status_code == 200, r.text
    return [{k: s[k] for k in ("method", "contact")} for s in r.json()["recent_sign_ins"]]


async def _code_sign_in(http: httpx.AsyncClient, last_code, identifier: str, to: str) -> None:
    assert (await http.post("/auth/code/request", json={"identifier": identifier})).status_code
    r = await http.post("/auth/code/verify", json={"identifier": identifier, "code": last_code(to)})
    assert r.status_code == 200, r.text


async def test_codes_and_links_record_their_contact(
    http: httpx.AsyncClient, seed: Seed, last_code, outbox, fresh, clock
) -> None:
    await _code_sign_in(http, last_code, " Alice@Example.com ", seed.email)
    await _code_sign_in(http, last_code, "06 12 34 56 78", seed.phone)
    clock.advance(minutes=5)  # past the per-number resend delay
    assert (await http.post("/auth/link/request", json={"phone": "0612345678"})).status_code == 202
    sms = [m for m in outbox(seed.phone) if m.status == "sent"][-1].body
    token = re.search(r"/login/link#([A-Za-z0-9_-]+)", sms).group(1)
    assert (await http.post(f"/auth/link/{token}/confirm")).status_code == 200
    # A permanent link handed over by staff was sent to no one in particular.
    made = await http.post(
        f"/staff/clients/{seed.client_id}/permanent-links", json={}, headers=STAFF
    )
    assert made.status_code == 201, made.text
    permanent = made.json()["url"].split("#", 1)[1]
    assert (await http.post(f"/auth/link/{permanent}/confirm")).status_code == 200

    assert await _sign_ins(http, seed.client_id) == [
        {"method": "permanent_link", "contact": None},
        {"method": "sms_link", "contact": seed.phone},
        {"method": "code", "contact": seed.phone},
        {"method": "code", "contact": seed.email},
    ]
    with fresh() as s:
        assert len(s.scalars(select(AuthSession.contact)).all()) == 4


async def test_a_session_opened_without_a_contact_shows_none(
    http: httpx.AsyncClient, seed: Seed, db: Session, settings: Settings, clock
) -> None:
    from backend.core.db import begin_write
    from backend.services.sessions import create_session

    begin_write(db)
    create_session(db, settings, seed.client_id, "code", clock.now)
    db.commit()
    assert await _sign_ins(http, seed.client_id) == [{"method": "code", "contact": None}]

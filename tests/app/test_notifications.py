"""The client chooses which automatic messages they receive (Account screen), and the
server honours it: PUT /me/notifications, the synced profile, the triggers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.messages import Message
from app.state import AppState
from app.sync.api import PortalApi
from app.sync.engine import open_store
from app.sync.tokens import MemoryTokenStore
from backend.core.config import Settings
from backend.models import OutgoingMessage
from tests.app.conftest import no_sleep
from tests.backend.test_mutations import World, build_world
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


class Switch(httpx.AsyncBaseTransport):
    def __init__(self, api: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=api)
        self.offline = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.offline:
            raise httpx.ConnectError("no network", request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
def network(api: FastAPI) -> Switch:
    return Switch(api)


@pytest.fixture
async def state(
    network: Switch, tmp_path: Path, clock: Clock, world: World
) -> AsyncIterator[AppState]:
    client = httpx.AsyncClient(transport=network, base_url="http://portal.test")
    tokens = MemoryTokenStore()
    tokens.set(world.alice_token)
    s = AppState(
        PortalApi(client), open_store(tmp_path / "c.sqlite3"), tokens, clock=clock, sleep=no_sleep
    )
    await s.start()
    assert await s.refresh() is not None
    yield s
    await s.api.aclose()


def reports_to(api: FastAPI, activity_id: int) -> list[OutgoingMessage]:
    with api.state.sessionmaker() as db:
        return list(
            db.scalars(
                select(OutgoingMessage).where(
                    OutgoingMessage.dedupe_key.like(f"closed:{activity_id}:%:report:%")
                )
            )
        )


async def test_a_client_who_turns_emails_off_gets_no_report_by_email(
    state: AppState, http: httpx.AsyncClient, api: FastAPI, world: World
) -> None:
    before = state.notifications.current()
    assert before.email is True
    assert await state.notifications.change(email=False, sms=False) is None
    # The synced profile says so (the Account screen reads it).
    after = state.notifications.current()
    assert (after.email, after.sms) == (False, False)
    closed = await http.post(
        f"/staff/activities/{world.scheduled.id}/closure",
        json={"summary": "Done."},
        headers=STAFF,
    )
    assert closed.status_code in (200, 201), closed.text
    assert reports_to(api, world.scheduled.id) == []
    # Turned back on, the next closure's report goes.
    assert await state.notifications.change(email=True, sms=False) is None
    assert state.notifications.current().email is True


async def test_offline_the_choice_is_not_saved_and_says_so(
    state: AppState, network: Switch
) -> None:
    network.offline = True
    assert await state.notifications.change(email=False, sms=False) == Message(
        "notifications.offline"
    )
    assert state.notifications.current().email is True


async def test_the_endpoint_checks_its_body_and_its_caller(
    http: httpx.AsyncClient, world: World
) -> None:
    r = await http.put("/me/notifications", json={"email": False, "sms": True})
    assert r.status_code == 401
    r = await http.put("/me/notifications", json={"email": "no"}, headers=world.auth())
    assert r.status_code == 422
    assert {tuple(e["loc"]) for e in r.json()["detail"]} >= {("body", "email"), ("body", "sms")}
    r = await http.put(
        "/me/notifications", json={"email": False, "sms": True}, headers=world.auth()
    )
    assert r.status_code == 200
    assert r.json()["profile"]["notifications"] == {"email": False, "sms": True}

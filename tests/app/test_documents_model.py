"""The Documents screens' model (app.documents) against the real backend in-process:
staff close a visit, the client's app lists the report, opens it, opens it again
offline, gets the newer version after a sync, and forgets it at sign-out."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from app.messages import Message
from app.state import AppState
from app.sync.api import PortalApi
from app.sync.engine import open_store
from app.sync.tokens import MemoryTokenStore
from backend.core.config import Settings
from tests.app.conftest import no_sleep
from tests.backend.test_mutations import SIGNATURE, World, build_world
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


class Switch(httpx.AsyncBaseTransport):
    """A transport that fails like a lost connection while ``offline`` is set."""

    def __init__(self, api: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=api)
        self.offline = False
        self.downloads = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.offline:
            raise httpx.ConnectError("no network", request=request)
        if "/documents/" in request.url.path:
            self.downloads += 1
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
        PortalApi(client),
        open_store(tmp_path / "cache.sqlite3"),
        tokens,
        clock=clock,
        sleep=no_sleep,
    )
    await s.start()
    assert await s.refresh() is not None
    yield s
    await s.api.aclose()


async def close_visit(http: httpx.AsyncClient, activity_id: int) -> None:
    answer = await http.post(
        f"/staff/activities/{activity_id}/closure",
        json={
            "summary": "Chaudière nettoyée, brûleur réglé.",
            "work_done": ["Nettoyage du corps de chauffe", "Réglage du brûleur"],
            "answers": [{"label": "Pression", "value": "1,5 bar"}],
            "technician_signature": SIGNATURE,
            "technician_name": "Paul",
            "client_signature": SIGNATURE,
            "client_signer_name": "Alice",
        },
        headers=STAFF,
    )
    assert answer.status_code in (200, 201), answer.text


async def test_a_closed_visits_report_opens_then_opens_again_offline(
    state: AppState, network: Switch, http: httpx.AsyncClient, world: World
) -> None:
    visit = str(world.scheduled.id)
    assert await state.documents.all_rows() == []
    await close_visit(http, world.scheduled.id)
    assert await state.refresh() is not None

    rows = await state.documents.all_rows()
    reports = [r for r in rows if r.ref.activity_id == visit and r.ref.kind == "report"]
    assert reports, [r.ref for r in rows]
    report = reports[0]
    assert not report.offline
    detail = await state.activities.activity_detail(visit)
    assert detail is not None and report in detail.documents

    got = await state.documents.open(report.ref)
    assert not isinstance(got, Message)
    name, data = got
    assert name == report.ref.filename
    assert hashlib.sha256(data).hexdigest() == report.ref.sha256
    assert data[:4] in (b"%PDF", b"PK\x03\x04")
    assert network.downloads == 1

    # Offline: the kept copy opens, without the network.
    network.offline = True
    again = await state.documents.open(report.ref)
    assert again == (name, data)
    assert network.downloads == 1
    [kept] = [r for r in await state.documents.all_rows() if r.ref == report.ref]
    assert kept.offline
    # A document never opened cannot be had offline: a sentence, not an error.
    others = [r for r in await state.documents.all_rows() if r.ref != report.ref]
    for other in others:
        assert await state.documents.open(other.ref) == Message("documents.offline")


async def test_the_newest_version_replaces_the_kept_one_after_a_sync(
    state: AppState, network: Switch, http: httpx.AsyncClient, world: World
) -> None:
    visit = str(world.scheduled.id)
    await close_visit(http, world.scheduled.id)
    await state.refresh()
    [report] = [
        r
        for r in await state.documents.all_rows()
        if r.ref.activity_id == visit and r.ref.kind == "report"
    ][:1]
    got = await state.documents.open(report.ref)
    assert not isinstance(got, Message)
    old_text = got[1]

    # The client switches to English: the server renders the report again.
    await state.language.set_language("en" if state.tr.language != "en" else "fr")
    result = await state.refresh()
    assert result is not None
    await state.documents.refresh_kept()
    [newer] = [
        r
        for r in await state.documents.all_rows()
        if r.ref.key == report.ref.key and r.ref.activity_id == visit
    ]
    assert newer.ref.sha256 != report.ref.sha256
    assert newer.offline, "the newer version was fetched in the background and kept"
    network.offline = True
    got = await state.documents.open(newer.ref)
    assert not isinstance(got, Message) and got[1] != old_text


async def test_sign_out_forgets_the_kept_documents(
    state: AppState, http: httpx.AsyncClient, world: World, tmp_path: Path
) -> None:
    await close_visit(http, world.scheduled.id)
    await state.refresh()
    [report] = [r for r in await state.documents.all_rows() if r.ref.kind == "report"][:1]
    assert not isinstance(await state.documents.open(report.ref), Message)
    assert state.documents.files.kept()
    await state.sign_out()
    assert state.documents.files.kept() == {}

"""Client Portal Access: the console shows the client's portal with the client app's
own screens, filled from the same feed, and nothing can be done with it.

The preview and the client's app are built side by side on the same backend
and the visible texts of every screen are compared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.activities import ActionItem
from app.i18n import Translator
from app.staff.preview import ClientPreview, PreviewSession
from app.staff.views.preview import PreviewScreen
from app.state import AppState
from app.sync.api import PortalApi
from app.sync.engine import open_store
from app.sync.tokens import MemoryTokenStore
from app.views.shell import Shell
from backend.core.config import Settings
from backend.staff_models import AuditEntry
from tests.app.conftest import no_sleep
from tests.app.control_texts import shown_texts
from tests.backend.test_mutations import World, build_world
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


async def open_session(http: httpx.AsyncClient, client_id: int) -> PreviewSession:
    answer = await http.post(f"/staff/clients/{client_id}/preview-session", headers=STAFF)
    assert answer.status_code == 201, answer.text
    return PreviewSession.from_json(answer.json())


@pytest.fixture
async def client_app(
    http: httpx.AsyncClient, tmp_path: Path, clock: Clock, world: World
) -> AsyncIterator[AppState]:
    tokens = MemoryTokenStore()
    tokens.set(world.alice_token)
    state = AppState(
        PortalApi(http),
        open_store(tmp_path / "client.sqlite3"),
        tokens,
        clock=clock,
        sleep=no_sleep,
    )
    await state.start()
    assert await state.refresh() is not None
    yield state
    state.store.close()


async def noop(*_args: object) -> None:
    return None


def screens(shell: Shell) -> dict[str, list[str]]:
    """The visible texts of every tab."""
    found: dict[str, list[str]] = {}
    for tab in ("home", "activities", "documents", "account"):
        shell.set_tab(tab)
        found[tab] = shown_texts(shell.content)
    return found


async def test_the_preview_shows_what_the_clients_app_shows(
    http: httpx.AsyncClient, clock: Clock, world: World, client_app: AppState
) -> None:
    preview = ClientPreview(await open_session(http, world.alice.id), http, clock=clock)
    assert await preview.open()
    mine = Shell(client_app, noop, noop)
    theirs = Shell(preview.state, noop, noop)
    for shell in (mine, theirs):
        shell.set_width(390)
        shell.documents.rows = await shell.state.documents.all_rows()
        shell.refresh_all()
    seen = screens(theirs)
    assert seen == screens(mine)
    # Not an empty portal on both sides: the client's appointments are there.
    title = client_app.store.get("activities", str(world.scheduled.id))["title"]
    assert title in seen["activities"]
    for activity in (world.scheduled, world.done):
        a = await client_app.activities.activity_detail(str(activity.id))
        b = await preview.state.activities.activity_detail(str(activity.id))
        assert a is not None and b == a
        mine.detail.show(a)
        theirs.detail.show(b)
        assert shown_texts(theirs.detail.control) == shown_texts(mine.detail.control)
    await preview.close()
    assert not preview.store.path.exists()


async def test_the_preview_token_reads_the_feed_and_nothing_else(
    http: httpx.AsyncClient, api: FastAPI, clock: Clock, world: World
) -> None:
    session = await open_session(http, world.alice.id)
    bearer = {"Authorization": f"Bearer {session.token}"}
    page = await http.get("/preview/sync", headers=bearer)
    assert page.status_code == 200
    mine = await http.get("/sync", headers=world.auth())
    assert page.json()["changes"] == mine.json()["changes"]
    # Not a session: every client route refuses it.
    for method, path in [
        ("GET", "/sync"),
        ("GET", "/me"),
        ("GET", "/activities"),
        ("GET", f"/activities/{world.scheduled.id}"),
        ("GET", f"/activities/{world.scheduled.id}/slots"),
        ("POST", "/mutations"),
        ("POST", "/auth/logout"),
    ]:
        answer = await http.request(method, path, headers=bearer, json={"items": []})
        assert answer.status_code == 401, (method, path, answer.status_code)
    # Forged (another client's id under the same signature) or expired: refused.
    prefix, rest = session.token[:4], session.token[4:]
    forged = prefix + str(world.bob.id) + rest[rest.index(".") :]
    answer = await http.get("/preview/sync", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401
    clock.advance(minutes=16)
    answer = await http.get("/preview/sync", headers=bearer)
    assert answer.status_code == 401
    assert "preview has ended" in answer.json()["detail"]


async def test_opening_a_preview_needs_staff_and_is_in_the_audit_log(
    http: httpx.AsyncClient, db: Session, world: World
) -> None:
    answer = await http.post(f"/staff/clients/{world.alice.id}/preview-session")
    assert answer.status_code == 401
    answer = await http.post(
        f"/staff/clients/{world.alice.id}/preview-session", headers=world.auth()
    )
    assert answer.status_code == 401  # a client's session is not a staff one
    answer = await http.post("/staff/clients/999999/preview-session", headers=STAFF)
    assert answer.status_code == 404
    await open_session(http, world.alice.id)
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "client.preview")).all()
    assert [(e.target_kind, e.target_id) for e in entries] == [("client", world.alice.id)]


async def test_actions_show_but_do_nothing_in_a_preview(
    http: httpx.AsyncClient, clock: Clock, world: World
) -> None:
    tr = Translator()
    tr.set_language("en")

    async def back() -> None:
        return None

    screen = PreviewScreen(await open_session(http, world.alice.id), http, tr, back)
    screen.preview.state.clock = clock
    await screen.load()
    detail = await screen.preview.state.activities.activity_detail(str(world.scheduled.id))
    assert detail is not None and detail.actions, "the client has actions on this visit"
    # What the client app would send refuses in a preview.
    outbox_before = screen.preview.state.outbox.pending_count()
    with pytest.raises(Exception, match="nothing is sent"):
        await screen.preview.api.push_mutations([{"id": "x"}])
    assert screen.preview.state.outbox.pending_count() == outbox_before

    class Page:
        def __init__(self) -> None:
            self.shown: list[str] = []

        def show_dialog(self, dialog: object) -> None:
            self.shown.append(getattr(getattr(dialog, "content", None), "value", ""))

    page = Page()
    await screen._action(page, str(world.scheduled.id), ActionItem("book", "book", "Book"))  # type: ignore[arg-type]
    assert page.shown == [
        'In the client\'s app, "Book" opens here. Nothing is sent from a preview.'
    ]
    banner = shown_texts(screen.banner)
    assert f"Preview of {world.alice.name}'s portal — nothing you do here is sent" in banner
    await screen.close()


def test_tokens_expire_after_a_short_while() -> None:
    from datetime import UTC, datetime

    from backend.services import preview

    now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    token, expires = preview.issue(b"k" * 32, 42, now)
    assert expires - now == timedelta(minutes=15)
    assert preview.verify(b"k" * 32, token, now) == 42
    assert preview.verify(b"other-key" * 4, token, now) is None
    assert preview.verify(b"k" * 32, token, expires) is None
    assert preview.verify(b"k" * 32, token.replace("prv_", "sst_"), now) is None
    assert preview.verify(b"k" * 32, token + "0", now) is None

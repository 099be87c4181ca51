"""The appointment list's paging and patching, on a cached state (no browser, no network).

The screens are built with Flet controls but never attached to a page: the
tests read what the controls hold and which ones ``sync_rows`` says to send.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import flet as ft
import pytest

from app.state import ACTIVITIES, AppState, MemoryTokenStore
from app.sync.api import PortalApi
from app.sync.engine import META_CURSOR, META_LAST_SYNC, SyncResult, open_store
from app.sync.store import Store
from app.views.activities import ActivitiesView
from app.views.shell import tab_for_route

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
UPCOMING = 70
PAST = 30


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def activity(i: int, *, technician: str = "Nicolas") -> dict[str, Any]:
    """Activities 1..70 are upcoming (1 soonest), 71..100 past (71 latest)."""
    if i <= UPCOMING:
        start, status = NOW + timedelta(hours=i), "scheduled"
    else:
        start, status = NOW - timedelta(hours=i - UPCOMING), "done"
    return {
        "id": i, "title": f"Visit {i}", "status": status, "type_name": "Visit",
        "scheduled_start": z(start), "scheduled_end": z(start + timedelta(hours=1)),
        "window_start": None, "window_end": None,
        "technician": {"first_name": technician}, "steps": [], "actions": [],
    }


def fill(store: Store, count: int, *, synced: bool = True) -> None:
    with store.transaction():
        store.put("profile", "me", {"id": 1, "name": "Claire", "preferred_language": "en"})
        store.put("branding", "bu", {"id": 1, "name": "Heating", "timezone": "Europe/Paris"})
        store.put_many(ACTIVITIES, [(str(i), activity(i)) for i in range(1, count + 1)])
        if synced:
            store.set_meta(META_CURSOR, "c1")
            store.set_meta(META_LAST_SYNC, NOW.isoformat())


async def cached_state(path: Path, count: int, *, synced: bool = True) -> AppState:
    store = open_store(path)
    fill(store, count, synced=synced)
    tokens = MemoryTokenStore()
    tokens.set("token")
    state = AppState(PortalApi.remote("http://127.0.0.1:9"), store, tokens, clock=lambda: NOW)
    await state.start()
    return state


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[AppState]:
    s = await cached_state(tmp_path / "cache.sqlite3", UPCOMING + PAST)
    yield s
    await s.api.aclose()
    s.store.close()


async def no_open(_id: str) -> None:
    return None


def keys(view: ActivitiesView) -> list[str]:
    """The row ids in the list, in order."""
    return [str(c.key) for c in view.list.controls if isinstance(c, ft.Card)]


def texts(view: ActivitiesView) -> list[str]:
    return [c.value for c in view.list.controls if isinstance(c, ft.Text)]


async def test_first_page_then_show_more_appends(state: AppState) -> None:
    view = ActivitiesView(state, no_open, page_size=30)
    view.refresh()

    upcoming = [str(i) for i in range(1, 31)]
    past = [str(i) for i in range(71, 101)]
    assert keys(view) == upcoming + past
    assert len(view.rows) == 60  # rows not shown are not built
    assert view.more_upcoming in view.list.controls
    assert view.more_upcoming.content == "Show more (40 left)"
    assert view.more_past not in view.list.controls  # the 30 past rows all fit
    first_rows = {i: view.rows[i] for i in upcoming}

    dirty = view.show_more(upcoming=True)
    assert dirty == [view.list]
    assert keys(view) == [str(i) for i in range(1, 61)] + past
    assert view.more_upcoming.content == "Show more (10 left)"
    # The first page's rows are kept, not rebuilt.
    assert all(view.rows[i] is row for i, row in first_rows.items())

    view.show_more(upcoming=True)
    assert keys(view) == [str(i) for i in range(1, 71)] + past
    assert view.more_upcoming not in view.list.controls
    assert len(view.rows) == 100

    view.reset_pages()
    view.refresh()
    assert keys(view) == upcoming + past
    assert len(view.rows) == 60


async def test_show_more_button_is_translated(state: AppState) -> None:
    view = ActivitiesView(state, no_open, page_size=30)
    await state.set_language("fr")
    view.refresh()
    assert view.more_upcoming.content == "Afficher plus (40 restants)"
    assert texts(view)[:1] == ["À venir"]


async def change(state: AppState, i: int) -> set[str]:
    """A sync changed activity ``i`` (new technician); return the changed ids."""
    await asyncio.to_thread(state.store.put, ACTIVITIES, str(i), activity(i, technician="Julien"))
    changed = {str(i)}
    await state._on_sync_change(SyncResult(changed=1, changed_ids={ACTIVITIES: changed}))
    return changed


async def test_sync_patches_only_changed_shown_rows(state: AppState) -> None:
    view = ActivitiesView(state, no_open, page_size=30)
    view.refresh()
    row = view.rows["5"]

    dirty = view.sync_rows(await change(state, 5))
    assert dirty == [row.control]  # one row, not the list
    assert view.rows["5"] is row
    assert row.technician.value == "Technician: Julien"

    # A row not shown yet: nothing to build, nothing to send.
    dirty = view.sync_rows(await change(state, 50))
    assert dirty == []
    assert "50" not in view.rows

    view.show_more(upcoming=True)
    assert view.rows["50"].technician.value == "Technician: Julien"


async def test_empty_states_are_kept(tmp_path: Path) -> None:
    synced = await cached_state(tmp_path / "synced.sqlite3", 0)
    view = ActivitiesView(synced, no_open)
    view.refresh()
    assert texts(view) == [
        "Upcoming",
        "No upcoming appointment. To book one, contact the company from the Home tab.",
        "Past",
        "No past appointment yet.",
    ]
    assert view.more_upcoming not in view.list.controls

    never = await cached_state(tmp_path / "never.sqlite3", 0, synced=False)
    view = ActivitiesView(never, no_open)
    view.refresh()
    assert texts(view)[1].startswith("Your appointments have not been downloaded yet.")
    assert texts(view)[-1] == "Past"
    for s in (synced, never):
        await s.api.aclose()
        s.store.close()


def test_web_address_picks_the_first_tab() -> None:
    assert tab_for_route("/activities") == "activities"
    assert tab_for_route("/activities/") == "activities"
    assert tab_for_route("/activities?x=1") == "activities"
    assert tab_for_route("/account") == "account"
    assert tab_for_route("/") == "home"
    assert tab_for_route("") == "home"
    assert tab_for_route(None) == "home"
    assert tab_for_route("/login/link#abc") == "home"

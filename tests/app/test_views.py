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

from app.activities import ACTIVITIES
from app.state import AppState
from app.sync.api import PortalApi
from app.sync.engine import META_CURSOR, META_LAST_SYNC, SyncResult, open_store
from app.sync.store import Store
from app.sync.tokens import MemoryTokenStore
from app.views.account import AccountView
from app.views.activities import ActivitiesView
from app.views.home import HomeView
from app.views.shell import tab_for_route
from app.views.sign_in import SignInView
from app.views.theme import color_scheme, contrast_ratio

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
        "id": i,
        "title": f"Visit {i}",
        "status": status,
        "type_name": "Visit",
        "scheduled_start": z(start),
        "scheduled_end": z(start + timedelta(hours=1)),
        "window_start": None,
        "window_end": None,
        "technician": {"first_name": technician},
        "steps": [],
        "actions": [],
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


async def no_open_all() -> None:
    return None


def keys(view: ActivitiesView) -> list[str]:
    """The row ids in the list, in order."""
    return [str(c.key) for c in view.list.controls if isinstance(c, ft.Card)]


def texts(view: ActivitiesView) -> list[str]:
    """The list's own texts (section titles, empty states)."""
    found: list[str] = []
    for c in view.list.controls:
        if isinstance(c, ft.Text):
            found.append(c.value)
    return found


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
    await state.language.set_language("fr")
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
        "History: done and cancelled",
        "Nothing in your history yet.",
    ]
    assert view.more_upcoming not in view.list.controls

    never = await cached_state(tmp_path / "never.sqlite3", 0, synced=False)
    view = ActivitiesView(never, no_open)
    view.refresh()
    assert texts(view)[1].startswith("Your appointments have not been downloaded yet.")
    assert texts(view)[-1] == "History: done and cancelled"
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


# --- first hour: sign-in, account, home, theme ------------------------------------


def control_texts(control: ft.Control) -> list[str]:
    """Every string a control tree shows (values, labels, button texts)."""
    found: list[str] = []
    stack: list[object] = [control]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
            continue
        if not isinstance(item, ft.Control) or not getattr(item, "visible", True):
            continue
        for name in ("value", "label", "content", "controls"):
            child = getattr(item, name, None)
            if isinstance(child, list):
                stack.extend(child)
            elif child is not None:
                stack.append(child)
    return found


@pytest.fixture
async def world_state(tmp_path: Path, api: Any, settings: Any, clock: Any) -> AsyncIterator[Any]:
    """A signed-out state on the real backend in-process (two clients, one company)."""
    from tests.backend.portal_setup import build_world

    with api.state.sessionmaker() as db:
        build_world(db, settings, clock.now)
        db.commit()
    store = open_store(tmp_path / "cache.sqlite3")
    s = AppState(PortalApi.embedded(api), store, MemoryTokenStore(), clock=clock)
    await s.start()
    yield s
    await s.api.aclose()
    store.close()


async def test_sign_in_shows_one_state_and_minutes(world_state: AppState) -> None:
    view = SignInView(world_state)
    assert await world_state.sign_in.request_code("alice@example.com")
    view.refresh()
    assert view.title.value == "We sent you a code"
    assert not view.error.visible
    # A long wait is told in minutes, never "2724 s".
    world_state.sign_in.form.resend_at = world_state.monotonic() + 2724
    view.refresh()
    assert view.countdown.value == "You can ask for a new code in 46 min"
    world_state.sign_in.form.resend_at = world_state.monotonic() + 42.5
    view.refresh()
    assert view.countdown.value == "You can ask for a new code in 43 s"
    # Flutter's untranslated "6 characters remaining" counter comes with max_length.
    assert view.code.max_length is None


async def test_a_wrong_code_is_cleared_from_the_field(world_state: AppState) -> None:
    view = SignInView(world_state)
    assert await world_state.sign_in.request_code("alice@example.com")
    view.code.value = "000000"
    await view._verify(None)  # type: ignore[arg-type]
    assert world_state.sign_in.form.error is not None
    assert world_state.sign_in.form.error.key == "signin.error.wrong_code"
    assert view.code.value == ""


async def test_session_in_memory_is_said_calmly_in_account_only(world_state: AppState) -> None:
    assert not world_state.token_persistent
    sign_in = SignInView(world_state)
    await world_state.company.load_public_branding()
    sign_in.refresh()
    shown = " ".join(control_texts(sign_in.control))
    assert "session" not in shown.lower()
    assert "English" in shown and "Français" in shown  # a language can be picked here

    account = AccountView(world_state)
    account.refresh()
    assert account.memory_note.visible
    assert account.memory_note.color != ft.Colors.ERROR
    assert "sécurité" in str(account.memory_note.value)  # the company's language: French


async def test_sign_in_language_buttons_switch_the_screen(world_state: AppState) -> None:
    view = SignInView(world_state)
    await world_state.company.load_public_branding()
    view.refresh()
    assert view.title.value == "Connexion"
    await view.language_buttons["en"].on_click(None)  # type: ignore[misc]
    view.refresh()
    assert view.title.value == "Sign in"
    assert view.language_buttons["en"].icon == ft.Icons.CHECK


async def test_home_does_not_repeat_the_company_name(state: AppState) -> None:
    home = HomeView(state, no_open, no_open_all)
    home.refresh()
    shown = control_texts(home.control)
    assert "Heating" not in shown  # the header above every tab shows it
    assert "Hello Claire" in shown


def test_the_primary_colour_is_the_brand_colour_exactly() -> None:
    scheme = color_scheme("#D84315")
    assert scheme.primary == "#D84315"
    # Text on the orange must read (WCAG AA): white gives 4.4:1, black 4.7:1.
    assert contrast_ratio("#D84315", str(scheme.on_primary)) >= 4.5
    assert scheme.on_primary == "#000000"
    assert color_scheme("#1565C0").on_primary == "#FFFFFF"  # a dark brand: white text
    assert color_scheme("#FFEB3B").on_primary == "#000000"  # a light brand: dark text
    assert color_scheme("brown").primary == "#1565C0"  # malformed: the default

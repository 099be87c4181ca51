"""The app's view-model against the real backend in-process (no Flet, no UI).

The API runs through ``PortalApi.embedded`` on a SQLite file per test; codes
are read from the development outbox table like a person reads their mail.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.messages import message_for
from app.sign_in import SignInStep, link_token_from
from app.state import AppState
from app.sync.api import Offline, PortalApi, RateLimited, Rejected
from app.sync.engine import open_store
from app.sync.store import Store
from app.sync.tokens import MemoryTokenStore
from backend.core.config import Settings
from backend.models import Client, OutgoingMessage
from backend.services.auth import issue_permanent_link, link_url
from tests.app.conftest import last_code, no_sleep, sign_in
from tests.backend.portal_setup import World, build_world
from tests.conftest import Clock


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    from backend.services import feed

    w = build_world(db, settings, clock.now)
    w.bu.logo = "logo.png"  # served by the backend's /assets route
    for c in (w.alice, w.bob):
        feed.refresh_client(db, c.id)
    db.commit()
    return w


@pytest.fixture
async def state(api: FastAPI, store: Store, clock: Clock) -> AsyncIterator[AppState]:
    portal = PortalApi.embedded(api)

    s = AppState(portal, store, MemoryTokenStore(), clock=clock, sleep=no_sleep)
    await s.start()
    yield s
    await portal.aclose()


# --- sign in ------------------------------------------------------------------


async def test_sign_in_with_code_then_sync_lists_activities(
    state: AppState, api: FastAPI, world: World
) -> None:
    events: list[str] = []

    async def listen(event: str, _data: object) -> None:
        events.append(event)

    state.subscribe(listen)
    assert not state.signed_in
    assert await state.sign_in.request_code("alice@example.com")
    assert state.sign_in.form.step == SignInStep.CODE
    assert state.sign_in.form.resend_seconds_left(state.monotonic()) > 50
    assert await state.sign_in.verify_code(last_code(api, "alice@example.com"))
    assert state.signed_in
    assert state.tokens.get() and state.api.token == state.tokens.get()
    assert "session" in events

    result = await state.refresh()
    assert result is not None and result.changed > 0
    assert state.activities.upcoming_ids == [str(world.upcoming.id)]
    # Cancelled visits are history, even when their date is still ahead.
    assert state.activities.past_ids == [str(world.cancelled.id), str(world.past.id)]
    assert str(world.bobs.id) not in state.activities.items  # another client's visit
    assert state.activities.next_appointment and state.activities.next_appointment.id == str(
        world.upcoming.id
    )
    assert state.company.branding and state.company.branding.name == world.bu.name
    assert state.company.branding.tel_url and state.company.branding.tel_url.startswith("tel:+33")
    assert state.client_name == world.alice.name
    assert state.company.logo  # downloaded from /assets/logo.png and cached
    assert state.sync_status.state == "idle"
    assert "data" in events and "status" in events


async def test_items_are_formatted_in_the_business_unit_zone(
    state: AppState, api: FastAPI, world: World
) -> None:
    await sign_in(state, api)
    await state.refresh()
    await state.language.set_language("en")
    item = state.activities.items[str(world.upcoming.id)]
    assert item.status_label == "Scheduled"
    assert " at " in item.date_text
    await state.language.set_language("fr")
    item = state.activities.items[str(world.upcoming.id)]
    assert item.status_label == "Planifié"
    assert " à " in item.date_text
    detail = await state.activities.activity_detail(str(world.upcoming.id))
    assert detail is not None
    # 3 days before the visit: reschedule is usable (it needs 24 h), and so is
    # the access form (available before the visit).
    assert [a.key for a in detail.actions] == ["reschedule", "access"]
    assert detail.address_lines and detail.maps_url


async def test_actions_follow_the_clock(
    state: AppState, api: FastAPI, world: World, clock: Clock
) -> None:
    await sign_in(state, api)
    await state.refresh()
    clock.advance(days=2, hours=12)  # 12 h before the visit: too late to reschedule
    detail = await state.activities.activity_detail(str(world.upcoming.id))
    assert detail is not None
    # The access form is still welcome before the visit; moving it is not.
    assert [a.key for a in detail.actions] == ["access"]
    assert detail.change_note and world.bu.phone in detail.change_note  # says whom to call


async def test_wrong_code_says_how_many_tries_are_left(
    state: AppState, api: FastAPI, world: World
) -> None:
    await state.sign_in.request_code("alice@example.com")
    good = last_code(api, "alice@example.com")
    wrong = "000000" if good != "000000" else "111111"
    assert not await state.sign_in.verify_code(wrong)
    assert state.sign_in.form.error is not None
    assert state.sign_in.form.error.key == "signin.error.wrong_code"
    assert state.sign_in.form.error.params == {"tries": 2}
    assert "2" in state.sign_in.form.error.text(state.tr)
    assert not await state.sign_in.verify_code("12ab")
    assert state.sign_in.form.error.key == "signin.error.bad_code_format"


async def test_code_dies_after_three_wrong_tries(
    state: AppState, api: FastAPI, world: World
) -> None:
    await state.sign_in.request_code("alice@example.com")
    good = last_code(api, "alice@example.com")
    wrong = "000000" if good != "000000" else "111111"
    for _ in range(3):
        await state.sign_in.verify_code(wrong)
    assert state.sign_in.form.error is not None
    assert state.sign_in.form.error.key == "signin.error.code_dead"
    assert not await state.sign_in.verify_code(good)
    assert not state.signed_in


async def test_expired_code_is_explained(
    state: AppState, api: FastAPI, world: World, clock: Clock
) -> None:
    await state.sign_in.request_code("alice@example.com")
    code = last_code(api, "alice@example.com")
    clock.advance(minutes=11)
    assert not await state.sign_in.verify_code(code)
    assert state.sign_in.form.error is not None
    assert state.sign_in.form.error.key == "signin.error.code_expired"


async def test_resend_too_soon_gives_retry_minutes(
    state: AppState, api: FastAPI, world: World
) -> None:
    await state.sign_in.request_code("alice@example.com")
    # The countdown stops a resend in the app itself...
    assert not await state.sign_in.resend_code()
    # ...and the server's 429 a moment after a code was sent is the code form
    # with its countdown, not an error beside "we sent you a code".
    await state.sign_in.request_code("alice@example.com")
    assert state.sign_in.form.error is None
    assert state.sign_in.form.step == SignInStep.CODE
    assert 0 < state.sign_in.form.resend_seconds_left(state.monotonic()) <= 60


async def test_unknown_identifier_looks_the_same(state: AppState, world: World) -> None:
    assert await state.sign_in.request_code("nobody@example.com")
    assert state.sign_in.form.error is None
    assert not await state.sign_in.request_code("   ")
    assert (
        state.sign_in.form.error and state.sign_in.form.error.key == "signin.error.empty_identifier"
    )


def test_error_mapping() -> None:
    limited = message_for(RateLimited("slow down", retry_after=600, status=429))
    assert (limited.key, limited.params) == ("signin.error.rate_limited", {"minutes": 10})
    dead_link = message_for(Rejected("gone", status=404, message_key="error.link_invalid"))
    assert dead_link.key == "error.link_invalid"


def test_link_token_from_pasted_text() -> None:
    assert link_token_from("https://p.example/login/link#abc_DEF-1") == "abc_DEF-1"
    assert link_token_from("  abc_DEF-1 ") == "abc_DEF-1"
    assert link_token_from("https://p.example/auth/link/xyz") == "xyz"


async def test_sign_in_with_permanent_link(
    state: AppState, api: FastAPI, world: World, settings: Settings, clock: Clock
) -> None:
    with api.state.sessionmaker() as db:
        token = issue_permanent_link(db, settings, world.alice.id, clock.now, "test")
        db.commit()
    assert not await state.sign_in.use_link("https://portal.example/login/link#not-a-real-token")
    assert state.sign_in.form.error and state.sign_in.form.error.key == "error.link_invalid"
    assert await state.sign_in.use_link(link_url(settings, token))
    assert state.signed_in


async def sms_link_token(api: FastAPI, phone: str = "+33612345678") -> str:
    """Ask the backend to text a sign-in link and read the token off the SMS."""
    import httpx

    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        sent = await http.post("/auth/link/request", json={"phone": phone})
    assert sent.status_code == 202
    with api.state.sessionmaker() as db:
        body = db.scalars(
            select(OutgoingMessage.body)
            .where(OutgoingMessage.recipient == phone)
            .order_by(OutgoingMessage.id.desc())
        ).first()
    assert body, "no SMS sent"
    return link_token_from(re.findall(r"\S+/login/link#\S+", body)[0])


async def test_an_opened_link_waits_for_the_person_to_confirm(
    state: AppState, api: FastAPI, world: World
) -> None:
    token = await sms_link_token(api)
    # Opening (even twice, as a link scanner would) asks first and uses nothing.
    for _ in range(2):
        assert await state.sign_in.open_link(token)
        assert state.sign_in.form.step == SignInStep.CONFIRM_LINK
        assert state.sign_in.form.link_business_unit == world.bu.name
        assert not state.signed_in
    assert await state.sign_in.confirm_opened_link()
    assert state.signed_in


async def test_an_opened_link_already_used_is_explained_on_the_link_form(
    state: AppState, api: FastAPI, world: World
) -> None:
    token = await sms_link_token(api)
    assert await state.sign_in.open_link(token)
    assert await state.sign_in.confirm_opened_link()
    await state.sign_out()
    assert not await state.sign_in.open_link(token)
    assert state.sign_in.form.step == SignInStep.LINK
    assert state.sign_in.form.error and state.sign_in.form.error.key == "error.link_invalid"
    assert not state.sign_in.form.busy


async def test_a_link_used_elsewhere_between_open_and_confirm_lands_on_the_link_form(
    state: AppState, api: FastAPI, world: World
) -> None:
    token = await sms_link_token(api)
    assert await state.sign_in.open_link(token)
    other = PortalApi.embedded(api)
    await other.confirm_link(token)  # the same SMS link used on another device
    await other.aclose()
    assert not await state.sign_in.confirm_opened_link()
    assert state.sign_in.form.step == SignInStep.LINK
    assert state.sign_in.form.opened_link is None
    assert state.sign_in.form.error and state.sign_in.form.error.key == "error.link_invalid"


async def test_the_sign_in_screen_shows_the_company_before_sign_in(
    state: AppState, api: FastAPI, world: World
) -> None:
    assert state.company.name is None and state.company.logo is None
    await state.company.load_public_branding()
    assert state.company.name == world.bu.name
    assert state.company.color == world.bu.primary_color
    assert state.company.logo and state.company.logo.startswith(b"\x89PNG")
    await sign_in(state, api)
    await state.sign_out()
    await state.company.load_public_branding()
    assert state.company.name == world.bu.name and state.company.logo


async def test_no_public_company_leaves_the_sign_in_screen_neutral(
    tmp_path: Path, clock: Clock
) -> None:
    dead = PortalApi.remote("http://127.0.0.1:9")
    s = AppState(dead, open_store(tmp_path / "c.sqlite3"), MemoryTokenStore(), clock=clock)
    await s.start()
    await s.company.load_public_branding()  # offline: no error, nothing shown
    assert s.company.name is None and s.company.logo is None
    await dead.aclose()


async def test_choosing_a_language_renders_the_titles_in_it(
    state: AppState, api: FastAPI, world: World, db: Session
) -> None:
    from backend.services import feed

    world.boiler.title_template = "{type.name} {activity.date}"
    db.commit()
    feed.refresh_client(db, world.alice.id)
    db.commit()
    await sign_in(state, api)
    await state.refresh()
    upcoming = str(world.upcoming.id)
    french = state.activities.items[upcoming].title
    assert state.tr.language == "fr"  # Alice's profile says French

    # Offline at first: the choice applies on the device and waits.
    real = state.api.set_language

    async def offline(_language: str) -> None:
        raise Offline("no network")

    state.api.set_language = offline  # type: ignore[method-assign]
    await state.language.set_language("en")
    assert state.tr.language == "en"
    assert state.activities.items[upcoming].title == french
    assert state.store.get_meta("ui_language_unsent") == "1"

    # Back online: the next sync sends it and brings the re-rendered titles.
    state.api.set_language = real  # type: ignore[method-assign]
    await state.refresh()
    english = state.activities.items[upcoming].title
    assert english != french and english.startswith("Boiler service ")
    assert state.store.get_meta("ui_language_unsent") is None
    with api.state.sessionmaker() as check:
        assert check.get(Client, world.alice.id).preferred_language == "en"


# --- offline, sign out -----------------------------------------------------------


async def test_offline_start_shows_cache_and_last_update(
    api: FastAPI, world: World, tmp_path: Path, clock: Clock
) -> None:
    tokens = MemoryTokenStore()
    path = tmp_path / "cache.sqlite3"
    online_store = open_store(path)
    online = AppState(PortalApi.embedded(api), online_store, tokens, clock=clock)
    await online.start()
    await sign_in(online, api)
    await online.refresh()
    await online.api.aclose()
    online_store.close()

    # Restart with the same token and cache, but the server is unreachable.
    clock.advance(hours=3)
    store = open_store(path)
    dead = PortalApi.remote("http://127.0.0.1:9", timeout=2.0)

    offline = AppState(dead, store, tokens, clock=clock, sleep=no_sleep)
    await offline.start()
    assert offline.signed_in
    assert offline.activities.upcoming_ids == [str(world.upcoming.id)]
    assert offline.company.branding is not None and offline.company.logo
    assert await offline.refresh() is None
    assert offline.offline
    await offline.language.set_language("en")
    text = offline.sync_status_text()
    # The sync happened at 09:00 UTC = 10:00 in Paris (clock fixture date).
    assert text == "Offline — last updated 10:00\u00a0AM"  # Babel: no-break space
    await offline.language.set_language("fr")
    assert offline.sync_status_text() == "Hors ligne — dernière mise à jour 10:00"
    await dead.aclose()
    store.close()


async def test_offline_start_without_any_cache_is_explained(tmp_path: Path, clock: Clock) -> None:
    store = open_store(tmp_path / "empty.sqlite3")
    tokens = MemoryTokenStore()
    tokens.set("some-token")
    dead = PortalApi.remote("http://127.0.0.1:9", timeout=2.0)

    state = AppState(dead, store, tokens, clock=clock, sleep=no_sleep)
    await state.start()
    await state.refresh(max_attempts=2)
    assert state.offline and state.never_synced
    state.tr.set_language("en")
    assert state.sync_status_text() == "Offline — nothing downloaded yet"
    await dead.aclose()
    store.close()


async def test_sign_out_clears_token_and_cache(state: AppState, api: FastAPI, world: World) -> None:
    await sign_in(state, api)
    await state.refresh()
    await state.language.set_language("en")
    token = state.tokens.get()
    assert state.store.count("activities") > 0
    await state.sign_out()
    assert not state.signed_in
    assert state.tokens.get() is None and state.api.token is None
    assert state.store.count("activities") == 0
    assert state.store.get("profile", "me") is None
    assert state.store.get_meta("cursor") is None
    assert state.activities.items == {} and state.company.branding is None
    assert state.tr.language == "en"  # the language choice survives
    # The server session is dead too.
    state.api.token = token
    with pytest.raises(Exception):  # noqa: B017 - any ApiError subclass
        await state.api.me()
    state.api.token = None


async def test_revoked_session_goes_back_to_sign_in(
    state: AppState, api: FastAPI, world: World
) -> None:
    await sign_in(state, api)
    await state.refresh()
    await state.api.logout()  # the session dies elsewhere
    assert await state.refresh() is None
    assert not state.signed_in
    assert state.sign_in.form.error and state.sign_in.form.error.key == "error.session_ended"
    assert state.store.count("activities") == 0


async def test_another_client_on_the_same_device_never_sees_old_data(
    state: AppState, api: FastAPI, world: World
) -> None:
    await sign_in(state, api)
    await state.refresh()
    # Sign in as Bob without signing out (token replaced, e.g. link opened).
    await state.sign_in.request_code("bob@example.com")
    assert await state.sign_in.verify_code(last_code(api, "bob@example.com"))
    assert str(world.upcoming.id) not in state.activities.items
    await state.refresh()
    assert str(world.bobs.id) in state.activities.items
    assert not {str(world.upcoming.id), str(world.past.id)} & set(state.activities.items)


async def test_incremental_sync_reports_only_changed_rows(
    state: AppState, api: FastAPI, world: World, clock: Clock
) -> None:
    from backend.models import Activity
    from backend.services import feed

    await sign_in(state, api)
    await state.refresh()
    before = dict(state.activities.items)
    with api.state.sessionmaker() as db:
        activity = db.get(Activity, world.upcoming.id)
        activity.scheduled_start = activity.scheduled_start + timedelta(hours=2)
        activity.scheduled_end = activity.scheduled_end + timedelta(hours=2)
        feed.refresh_client(db, world.alice.id)
        db.commit()
    result = await state.refresh()
    assert result is not None
    assert result.changed_ids.get("activities") == {str(world.upcoming.id)}
    assert state.activities.items[str(world.past.id)] is before[str(world.past.id)]  # kept as is
    assert state.activities.items[str(world.upcoming.id)] != before[str(world.upcoming.id)]


def test_now_is_timezone_aware() -> None:
    assert datetime.now(UTC).tzinfo is not None


# --- first hour: one state at a time, one language ------------------------------


async def test_the_hourly_limit_is_said_on_the_first_form_only(
    state: AppState, api: FastAPI, world: World, clock: Clock
) -> None:
    for _ in range(5):  # five codes an hour
        assert await state.sign_in.request_code("alice@example.com")
        clock.advance(seconds=61)
    await state.sign_in.show_step(SignInStep.IDENTIFIER)
    assert not await state.sign_in.request_code("alice@example.com")
    assert state.sign_in.form.step == SignInStep.IDENTIFIER  # never "we sent you a code"
    assert state.sign_in.form.error is not None
    assert state.sign_in.form.error.key == "signin.error.rate_limited"
    assert state.sign_in.form.error.params["minutes"] > 1

    # Asking again from the code form: the countdown tells the wait, no error.
    state.sign_in.form.step = SignInStep.CODE
    state.sign_in.form.error = None
    await state.sign_in.request_code("alice@example.com")
    assert state.sign_in.form.step == SignInStep.CODE
    assert state.sign_in.form.error is None
    assert state.sign_in.form.resend_seconds_left(state.monotonic()) > 60


async def test_too_many_wrong_codes_lands_on_the_first_form(
    state: AppState, api: FastAPI, world: World, clock: Clock
) -> None:
    wrong_tries = 0
    while (
        state.sign_in.form.error is None
        or state.sign_in.form.error.key != "signin.error.rate_limited"
    ):
        assert wrong_tries < 20, "the server never limited the failures"
        if wrong_tries % 3 == 0:  # a code dies after three wrong tries: ask another
            clock.advance(seconds=61)
            await state.sign_in.show_step(SignInStep.IDENTIFIER)
            assert await state.sign_in.request_code("alice@example.com")
        good = last_code(api, "alice@example.com")
        await state.sign_in.verify_code("000000" if good != "000000" else "111111")
        wrong_tries += 1
    assert state.sign_in.form.step == SignInStep.IDENTIFIER


async def test_sign_in_speaks_the_company_language_like_the_screens_after_it(
    state: AppState, api: FastAPI, world: World
) -> None:
    assert state.tr.language == "en"  # nothing known yet
    await state.company.load_public_branding()
    assert state.tr.language == "fr"  # the company's language (world.bu.locale)
    await sign_in(state, api)
    assert state.tr.language == "fr"  # Alice's profile agrees


async def test_a_language_chosen_on_the_sign_in_screen_wins_and_is_saved(
    state: AppState, api: FastAPI, world: World
) -> None:
    await state.company.load_public_branding()
    await state.language.set_language("en")  # on the sign-in screen, before anyone is known
    await sign_in(state, api)  # Alice's profile says French
    assert state.tr.language == "en"
    await state.refresh()
    assert state.tr.language == "en"
    with api.state.sessionmaker() as check:
        assert check.get(Client, world.alice.id).preferred_language == "en"
    assert state.store.get_meta("ui_language_unsent") is None

    # The device keeps the choice: the next person signing in here sees English,
    # and their profile is told, so messages and titles agree with the screens.
    await state.sign_out()
    await state.company.load_public_branding()
    assert state.tr.language == "en"
    await sign_in(state, api, "bob@example.com")
    await state.refresh()
    assert state.tr.language == "en"
    with api.state.sessionmaker() as check:
        assert check.get(Client, world.bob.id).preferred_language == "en"

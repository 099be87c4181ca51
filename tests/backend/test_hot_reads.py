"""The hot read routes' fast paths give the same answers as the slow ones.

/sync, /activities and /activities/{id} resolve the session and read the feed
in one statement on the driver (``backend.services.hot_reads``) instead of
the ORM lookup and queries, answer an up-to-date cursor without loading
documents (``feed.quiet_page``) and build their bodies once. Each fast path
is checked here against the path it shortcuts: same session verdicts, same
pages, same bodies, and every dead session refused on every hot route.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, event, update
from sqlalchemy.orm import Session

from backend.api.schemas import SyncPage
from backend.core.config import Settings
from backend.models import AuthSession, BusinessUnit, Client, FeedEntry, RevisionCounter
from backend.services import feed, hot_reads
from backend.services.feed import Cursor, encode_cursor
from backend.services.sessions import create_session, lookup_session, revoke_client_sessions
from tests.backend.portal_setup import World, build_world
from tests.conftest import Clock

KEY = b"test-secret-key"
STAFF = {"X-Staff-Token": "test-staff-token"}


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


async def up_to_date_cursor(http: httpx.AsyncClient, token: str) -> str:
    """Pull everything; the cursor of the last page."""
    cursor: str | None = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        r = await http.get("/sync", params=params, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        page = r.json()
        cursor = page["cursor"]
        if not page["has_more"]:
            return cursor


# --- sessions: one rule, two lookups ------------------------------------------

# Each way a session dies (DESIGN.md §5), applied to Alice's session.
DEATHS = {
    "revoked": lambda db, w, now: revoke_client_sessions(db, [w.alice.id], now),
    "client lost portal access": lambda db, w, now: db.execute(
        update(Client).where(Client.id == w.alice.id).values(portal_access=False)
    ),
    "business unit closed the portal": lambda db, w, now: db.execute(
        update(BusinessUnit).where(BusinessUnit.id == w.bu.id).values(portal_enabled=False)
    ),
    "idle too long": lambda db, w, now: db.execute(
        update(AuthSession)
        .where(AuthSession.client_id == w.alice.id)
        .values(last_seen_at=now - timedelta(days=15))
    ),
    "past its absolute lifetime": lambda db, w, now: db.execute(
        update(AuthSession)
        .where(AuthSession.client_id == w.alice.id)
        .values(expires_at=now - timedelta(seconds=1))
    ),
}


def run_hot(api: FastAPI, read: hot_reads.HotRead[Any], settings: Settings, clock: Clock) -> Any:
    """What ``read`` answers now (as ``deps.hot_read`` runs it, minus the 401)."""
    with api.state.hot_read_engine.connect() as conn:
        return read.answer(read.query.rows(conn, read.params), settings, clock.now)


def both_lookups(api: FastAPI, settings: Settings, token: str, clock: Clock) -> tuple[Any, Any]:
    """(ORM lookup, hot lookup) of ``token`` now, on fresh connections."""
    with api.state.sessionmaker() as db:
        slow = lookup_session(db, settings, token, clock.now)
    fast = run_hot(api, hot_reads.session(KEY, token), settings, clock)
    return slow, None if fast is None else fast[0]


@pytest.mark.parametrize("death", list(DEATHS))
def test_both_lookups_refuse_every_dead_session(
    api: FastAPI, db: Session, settings: Settings, clock: Clock, world: World, death: str
) -> None:
    slow, fast = both_lookups(api, settings, world.alice_token, clock)
    assert slow is not None and fast is not None
    assert (fast.session_id, fast.client_id, fast.touch_due) == (slow[0].id, slow[1].id, slow[2])
    DEATHS[death](db, world, clock.now)
    db.commit()
    assert both_lookups(api, settings, world.alice_token, clock) == (None, None)
    # Bob's session is untouched unless his business unit closed.
    slow, fast = both_lookups(api, settings, world.bob_token, clock)
    assert (slow is None) == (fast is None) == (death == "business unit closed the portal")


def test_both_lookups_agree_on_when_the_last_use_is_due(
    api: FastAPI, settings: Settings, clock: Clock, world: World
) -> None:
    for seconds, due in ((0, False), (59, False), (60, True), (3600, True)):
        later = Clock(clock.now + timedelta(seconds=seconds))
        slow, fast = both_lookups(api, settings, world.alice_token, later)
        assert slow[2] is fast.touch_due is due, seconds
    unknown = both_lookups(api, settings, "not-a-token", clock)
    assert unknown == (None, None)


async def read_hot_routes(
    http: httpx.AsyncClient, world: World, cursor: str
) -> list[httpx.Response]:
    headers = world.auth(world.alice_token)
    return [
        await http.get("/sync", params={"cursor": cursor}, headers=headers),
        await http.get("/sync", headers=headers),
        await http.get("/activities", headers=headers),
        await http.get(f"/activities/{world.upcoming.id}", headers=headers),
    ]


@pytest.mark.parametrize("death", list(DEATHS))
async def test_every_hot_route_refuses_a_dead_session(
    http: httpx.AsyncClient, db: Session, clock: Clock, world: World, death: str
) -> None:
    cursor = await up_to_date_cursor(http, world.alice_token)
    assert [r.status_code for r in await read_hot_routes(http, world, cursor)] == [200] * 4
    DEATHS[death](db, world, clock.now)
    db.commit()
    for r in await read_hot_routes(http, world, cursor):
        assert r.status_code == 401, (r.request.url, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json() == {"detail": "Your session has ended. Please sign in again."}


async def test_staff_turning_access_off_is_seen_by_the_next_hot_read(
    http: httpx.AsyncClient, world: World
) -> None:
    """No per-process copy of a session survives a change made through the API."""
    cursor = await up_to_date_cursor(http, world.alice_token)
    r = await http.patch(
        f"/staff/clients/{world.alice.id}", json={"portal_access": False}, headers=STAFF
    )
    assert r.status_code == 200
    assert [r.status_code for r in await read_hot_routes(http, world, cursor)] == [401] * 4


async def test_a_missing_token_is_refused_like_before(
    http: httpx.AsyncClient, world: World
) -> None:
    for path in ("/sync", "/activities", f"/activities/{world.upcoming.id}"):
        for headers in ({}, {"Authorization": "Basic YWxpY2U6eA=="}):
            r = await http.get(path, headers=headers)
            assert r.status_code == 401
            assert r.json() == {"detail": "Sign in required."}
            assert r.headers["www-authenticate"] == "Bearer"


# --- /sync: the quiet page is the page pull would give ------------------------


def cursors(world: World, head: int) -> dict[str, str | None]:
    """Every kind of cursor a client may send, by name."""
    alice = world.alice.id

    def signed(client_id: int, rev: int, epoch: str = "1") -> str:
        return encode_cursor(KEY, Cursor(epoch=epoch, client_id=client_id, rev=rev))

    return {
        "none": None,
        "garbage": "abc",
        "foreign": signed(world.bob.id, head),
        "other epoch": signed(alice, head, epoch="2"),
        "ahead": signed(alice, head + 1),
        "zero": signed(alice, 0),
        "behind": signed(alice, 1),
        "up to date": signed(alice, head),
        "padded up to date": signed(alice, head) + "==",
    }


class SqliteTrace:
    """The statements SQLite itself runs (the hot reads bypass SQLAlchemy's events)."""

    def __init__(self, api: FastAPI) -> None:
        self.engine = api.state.engine
        self.statements: list[str] = []

    def _on(self, dbapi_connection: Any, *_args: Any) -> None:
        dbapi_connection.set_trace_callback(self.statements.append)

    def _off(self, dbapi_connection: Any, *_args: Any) -> None:
        dbapi_connection.set_trace_callback(None)

    def __enter__(self) -> SqliteTrace:
        event.listen(self.engine, "checkout", self._on)
        event.listen(self.engine, "checkin", self._off)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "checkout", self._on)
        event.remove(self.engine, "checkin", self._off)

    def starting(self, *verbs: str) -> list[str]:
        return [s for s in self.statements if s.lstrip().upper().startswith(verbs)]


def test_the_quiet_page_is_pull_s_page_and_only_for_up_to_date_cursors(
    api: FastAPI, db: Session, settings: Settings, clock: Clock, world: World
) -> None:
    head = feed.current_revision(db)
    quiet: list[str] = []
    for name, text in cursors(world, head).items():
        found = run_hot(api, hot_reads.sync_page(KEY, world.alice_token, text), settings, clock)
        assert found is not None
        signed, page = found
        assert signed.client_id == world.alice.id
        if page is not None:
            quiet.append(name)
            with api.state.hot_read_engine.connect() as conn:
                assert page == feed.pull(conn, KEY, "1", world.alice.id, text, 7), name
    assert quiet == ["up to date", "padded up to date"]


def test_tombstones_after_the_cursor_are_not_a_quiet_page(
    api: FastAPI, db: Session, settings: Settings, clock: Clock, world: World
) -> None:
    head = feed.current_revision(db)
    text = encode_cursor(KEY, Cursor(epoch="1", client_id=world.alice.id, rev=head))
    read = hot_reads.sync_page(KEY, world.alice_token, text)
    assert run_hot(api, read, settings, clock)[1] is not None
    feed.mark_all_deleted(db, world.alice.id)  # only tombstones after the cursor
    db.commit()
    assert run_hot(api, read, settings, clock)[1] is None


def test_quiet_page_refuses_what_pull_would_reset() -> None:
    cursor = Cursor(epoch="1", client_id=7, rev=40)
    assert feed.quiet_page(KEY, "1", 7, cursor, head=40, newer=False) is not None
    assert feed.quiet_page(KEY, "1", 8, cursor, head=40, newer=False) is None  # foreign
    assert feed.quiet_page(KEY, "2", 7, cursor, head=40, newer=False) is None  # other epoch
    assert feed.quiet_page(KEY, "1", 7, cursor, head=39, newer=False) is None  # ahead
    assert feed.quiet_page(KEY, "1", 7, cursor, head=None, newer=False) is None  # no counter
    assert feed.quiet_page(KEY, "1", 7, cursor, head=41, newer=True) is None  # changes


async def test_up_to_date_sync_answers_the_bytes_of_pull_without_loading_documents(
    api: FastAPI, http: httpx.AsyncClient, db: Session, world: World
) -> None:
    cursor = await up_to_date_cursor(http, world.alice_token)
    with SqliteTrace(api) as trace:
        r = await http.get(
            "/sync", params={"cursor": cursor}, headers=world.auth(world.alice_token)
        )
    assert r.status_code == 200
    expected = feed.pull(db, KEY, "1", world.alice.id, cursor, 500)
    assert (
        r.content
        == SyncPage.model_validate(expected, from_attributes=True).model_dump_json().encode()
    )
    assert r.headers["content-type"] == "application/json"
    # One statement: the session, the revision counter and the feed's index.
    [read] = trace.starting("SELECT")
    assert "body" not in read
    assert trace.starting("INSERT", "UPDATE", "DELETE") == []


async def test_a_change_after_the_cursor_still_arrives(
    http: httpx.AsyncClient, db: Session, world: World
) -> None:
    cursor = await up_to_date_cursor(http, world.alice_token)
    r = await http.patch(
        f"/staff/activities/{world.upcoming.id}",
        json={"status": "in_progress"},
        headers=STAFF,
    )
    assert r.status_code == 200, r.text
    r = await http.get("/sync", params={"cursor": cursor}, headers=world.auth(world.alice_token))
    page = r.json()
    assert [(c["kind"], c["key"]) for c in page["changes"]] == [
        ("activity", str(world.upcoming.id))
    ]
    assert page["changes"][0]["body"]["status"] == "in_progress"
    # Bob's up-to-date cursor stays quiet.
    bob = await up_to_date_cursor(http, world.bob_token)
    r = await http.get("/sync", params={"cursor": bob}, headers=world.auth(world.bob_token))
    assert r.json()["changes"] == [] and r.json()["cursor"] == bob


async def test_cursor_ahead_is_still_a_reset(
    http: httpx.AsyncClient, db: Session, world: World
) -> None:
    cursor = await up_to_date_cursor(http, world.alice_token)
    db.execute(update(RevisionCounter).values(value=1))
    db.commit()
    r = await http.get("/sync", params={"cursor": cursor}, headers=world.auth(world.alice_token))
    assert r.json()["reset"] is True and r.json()["reset_reason"] == "cursor_ahead"


# --- /activities: the feed and the live projection give the same answer -------


@pytest.fixture
def unmaterialized(db: Session, world: World) -> Iterator[None]:
    """Drop Alice's feed rows: her reads fall back to the live projection."""
    db.execute(delete(FeedEntry).where(FeedEntry.client_id == world.alice.id))
    db.commit()
    yield


async def activity_answers(http: httpx.AsyncClient, world: World) -> dict[str, Any]:
    headers = world.auth(world.alice_token)
    answers: dict[str, Any] = {}
    for scope in ("all", "upcoming", "past"):
        r = await http.get("/activities", params={"scope": scope}, headers=headers)
        assert r.status_code == 200, r.text
        answers[scope] = r.json()
    r = await http.get("/activities", params={"limit": 1, "offset": 1}, headers=headers)
    answers["page"] = r.json()
    for activity in (world.upcoming, world.past, world.cancelled, world.internal, world.bobs):
        r = await http.get(f"/activities/{activity.id}", headers=headers)
        answers[f"detail {activity.id}"] = (r.status_code, r.json())
    return answers


async def test_feed_and_live_projection_answer_the_same(
    http: httpx.AsyncClient, db: Session, world: World, clock: Clock
) -> None:
    from_feed = await activity_answers(http, world)
    assert from_feed["all"]["total"] == 3
    assert from_feed[f"detail {world.upcoming.id}"][0] == 200
    assert from_feed[f"detail {world.internal.id}"][0] == 404  # type not shown
    assert from_feed[f"detail {world.bobs.id}"][0] == 404  # Bob's
    db.execute(delete(FeedEntry).where(FeedEntry.client_id == world.alice.id))
    db.commit()
    assert await activity_answers(http, world) == from_feed


async def test_activity_bodies_keep_the_wire_shape(http: httpx.AsyncClient, world: World) -> None:
    """The documented model's fields, in its order; the feed's own extras stay out."""
    from backend.api.schemas import ActivityOut

    r = await http.get(f"/activities/{world.upcoming.id}", headers=world.auth(world.alice_token))
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == list(ActivityOut.model_fields)
    assert body["available_actions"] == ["reschedule", "access"]
    listed = (await http.get("/activities", headers=world.auth(world.alice_token))).json()
    assert {item["id"] for item in listed["items"]} == {
        world.past.id,
        world.upcoming.id,
        world.cancelled.id,
    }
    assert all(list(item) == list(ActivityOut.model_fields) for item in listed["items"])


async def test_a_new_session_of_a_client_without_a_feed_still_reads(
    http: httpx.AsyncClient,
    db: Session,
    settings: Settings,
    clock: Clock,
    world: World,
    unmaterialized: None,
) -> None:
    token = create_session(db, settings, world.alice.id, "code", clock.now)
    db.commit()
    r = await http.get("/activities", headers=world.auth(token))
    assert r.status_code == 200 and r.json()["total"] == 3

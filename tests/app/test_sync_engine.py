"""The sync engine: the real backend in-process, real SQLite files for the app store."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from app.sync.api import Offline, PortalApi, Rejected, ServerError
from app.sync.engine import (
    COLLECTIONS,
    MAX_RESETS_PER_RUN,
    SyncEngine,
    SyncResult,
    SyncStatus,
    apply_page,
    backoff_delay,
    open_store,
)
from app.sync.outbox import Outbox
from app.sync.store import Store
from backend.core.config import Settings
from tests.backend.portal_setup import World, build_world
from tests.conftest import Clock

REPO_ROOT = Path(__file__).resolve().parents[2]
STAFF = {"X-Staff-Token": "test-staff-token"}
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "app" / "cache.sqlite3"


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    with open_store(store_path) as opened:
        yield opened


@pytest.fixture
async def portal(api: FastAPI, world: World) -> AsyncIterator[PortalApi]:
    client = PortalApi.embedded(api)
    client.token = world.alice_token
    yield client
    await client.aclose()


class Recorder:
    """Collects what the engine reports and how long it asked to sleep."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.statuses: list[SyncStatus] = []
        self.changes: list[SyncResult] = []
        self.unauthorized = 0

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def on_status(self, status: SyncStatus) -> None:
        self.statuses.append(status)

    async def on_change(self, result: SyncResult) -> None:
        self.changes.append(result)

    async def on_unauthorized(self) -> None:
        self.unauthorized += 1

    def states(self) -> list[str]:
        return [s.state for s in self.statuses]


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def make_engine(store: Store, api: Any, rec: Recorder, **kwargs: Any) -> SyncEngine:
    return SyncEngine(
        store,
        api,
        on_unauthorized=rec.on_unauthorized,
        on_change=rec.on_change,
        on_status=rec.on_status,
        sleep=rec.sleep,
        clock=lambda: NOW,
        **kwargs,
    )


async def server_activity_ids(http: httpx.AsyncClient, token: str) -> set[str]:
    r = await http.get(
        "/activities", params={"limit": 500}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"])
    return {str(item["id"]) for item in body["items"]}


def local_ids(store: Store, collection: str) -> set[str]:
    return {str(doc["id"]) for doc in store.query(collection)}


# -- pulling ------------------------------------------------------------------------


async def test_full_sync_fills_the_store(http, world: World, store, portal, rec) -> None:
    engine = make_engine(store, portal, rec)
    result = await engine.sync()
    assert result is not None and result.reset and result.pages == 1
    expected = await server_activity_ids(http, world.alice_token)
    assert len(expected) == 3
    assert local_ids(store, "activities") == expected
    assert result.changed_ids["activities"] == expected
    assert store.get("profile", "me")["id"] == world.alice.id
    assert store.get("branding", "bu")["name"] == world.bu.name
    assert local_ids(store, "activity_types") == {str(world.boiler.id)}
    assert local_ids(store, "forms") == {str(world.access_form.id)}
    assert store.get_meta("cursor")
    assert engine.last_sync_at() == NOW
    assert rec.states() == ["syncing", "idle"]
    assert rec.statuses[-1].last_sync_at == NOW and rec.statuses[-1].message_key is None
    assert len(rec.changes) == 1 and rec.changes[0].changed == 7


async def test_paging_with_small_pages(http, world: World, store, portal, rec) -> None:
    engine = make_engine(store, portal, rec, page_limit=2)
    result = await engine.sync_once()
    assert result.pages == 4 and result.changed == 7 and result.reset
    assert local_ids(store, "activities") == await server_activity_ids(http, world.alice_token)
    # Activities are indexed where the views query them.
    plan = " ".join(store.explain("activities", order_by="scheduled_start"))
    assert "ix_doc_scheduled_start" in plan


async def test_incremental_sync_after_staff_change(http, world: World, store, portal, rec) -> None:
    engine = make_engine(store, portal, rec)
    await engine.sync_once()
    before = {doc["id"]: doc for doc in store.query("activities")}
    r = await http.patch(
        f"/staff/activities/{world.upcoming.id}", json={"status": "in_progress"}, headers=STAFF
    )
    assert r.status_code == 200, r.text
    result = await engine.sync_once()
    assert not result.reset and result.changed == 1
    assert result.changed_ids == {"activities": {str(world.upcoming.id)}}
    after = {doc["id"]: doc for doc in store.query("activities")}
    assert after[world.upcoming.id]["status"] == "in_progress"
    assert {k: v for k, v in after.items() if k != world.upcoming.id} == {
        k: v for k, v in before.items() if k != world.upcoming.id
    }
    assert rec.changes[-1].changed_ids == {"activities": {str(world.upcoming.id)}}
    # Nothing changed since: an empty page, and no on_change call.
    calls = len(rec.changes)
    nothing = await engine.sync_once()
    assert nothing.changed == 0 and nothing.pages == 1 and len(rec.changes) == calls


async def test_tombstone_deletes_the_document(http, world: World, store, portal, rec) -> None:
    engine = make_engine(store, portal, rec)
    await engine.sync_once()
    r = await http.delete(f"/staff/activities/{world.past.id}", headers=STAFF)
    assert r.status_code == 204
    result = await engine.sync_once()
    assert result.changed_ids == {"activities": {str(world.past.id)}}
    assert store.get("activities", str(world.past.id)) is None
    assert local_ids(store, "activities") == await server_activity_ids(http, world.alice_token)


async def test_reset_clears_and_refills_but_keeps_the_outbox(
    http, world: World, store, portal, rec
) -> None:
    engine = make_engine(store, portal, rec)
    await engine.sync_once()
    queued = Outbox(store).enqueue("reschedule", {"activity_id": world.upcoming.id})
    store.put("activities", "99999", {"id": 99999, "title": "left over from another account"})
    store.put("drafts", "d1", {"id": "d1", "text": "not synced, not ours to clear"})
    store.set_meta("cursor", "garbage-cursor")
    result = await engine.sync_once()
    assert result.reset and result.pages == 1
    assert local_ids(store, "activities") == await server_activity_ids(http, world.alice_token)
    assert store.get("activities", "99999") is None
    assert store.get("drafts", "d1") is not None
    assert Outbox(store).get(queued.mutation_id).status == "pending"
    assert store.get_meta("cursor") != "garbage-cursor"
    # The new cursor is good: the next pull is incremental, not another reset.
    again = await engine.sync_once()
    assert not again.reset and again.changed == 0


async def test_restart_from_cache(api, store_path: Path, world: World, portal, rec) -> None:
    with open_store(store_path) as store:
        await make_engine(store, portal, rec).sync_once()
        cursor = store.get_meta("cursor")
        count = store.count("activities")
    with open_store(store_path) as store:
        assert store.count("activities") == count == 3
        assert store.get_meta("cursor") == cursor
        engine = make_engine(store, portal, rec)
        assert engine.last_sync_at() == NOW
        assert engine.status.last_sync_at == NOW  # shown before the first pull
        result = await engine.sync_once()
        assert not result.reset and result.changed == 0
        assert store.count("activities") == 3


# -- failures and retries ----------------------------------------------------------------


class ScriptedApi:
    """Raises the scripted errors first, then delegates to a real client."""

    def __init__(self, errors: list[Exception], real: PortalApi | None = None) -> None:
        self.errors = list(errors)
        self.real = real
        self.calls = 0

    async def sync_page(self, cursor: str | None, limit: int | None = None) -> dict[str, Any]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        assert self.real is not None
        return await self.real.sync_page(cursor, limit)


def test_backoff_delay_grows_and_is_capped() -> None:
    delays = [backoff_delay(a, random=1.0, base=1.0, cap=60.0) for a in range(10)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert backoff_delay(3, random=0.25, base=1.0, cap=60.0) == 2.0
    assert backoff_delay(10_000, random=0.5, base=1.0, cap=60.0) == 30.0


async def test_backoff_sequence_then_gives_up_offline(store, rec) -> None:
    api = ScriptedApi([Offline() for _ in range(10)])
    randoms = iter([0.5, 0.9, 0.1, 0.99, 0.5])
    engine = make_engine(store, api, rec, random=lambda: next(randoms), max_backoff=5.0)
    assert await engine.sync(max_attempts=6) is None
    assert api.calls == 6
    # random * min(cap, 2**attempt): 1, 2, 4, then capped at 5.
    assert rec.sleeps == pytest.approx([0.5 * 1, 0.9 * 2, 0.1 * 4, 0.99 * 5, 0.5 * 5])
    assert engine.status.state == "offline"
    assert engine.status.message_key == "error.offline"
    assert rec.unauthorized == 0


async def test_unreachable_server_gives_up_offline(store, rec) -> None:
    portal = PortalApi.remote("http://127.0.0.1:9", timeout=2.0)
    portal.token = "t"
    try:
        engine = make_engine(store, portal, rec, random=lambda: 0.0)
        assert await engine.sync(max_attempts=3) is None
    finally:
        await portal.aclose()
    assert len(rec.sleeps) == 2 and engine.status.state == "offline"
    assert engine.last_sync_at() is None


async def test_unauthorized_signs_out_once(world: World, store, portal, rec) -> None:
    portal.token = "not-a-session"
    engine = make_engine(store, portal, rec)
    assert await engine.sync() is None
    assert rec.unauthorized == 1 and rec.sleeps == []
    assert engine.status.state == "signed_out"
    assert engine.status.message_key == "error.session_ended"


async def test_server_errors_then_success_recovers(world: World, store, portal, rec) -> None:
    api = ScriptedApi([ServerError(status=503), Offline()], real=portal)
    engine = make_engine(store, api, rec, random=lambda: 1.0)
    result = await engine.sync()
    assert result is not None and result.changed == 7
    assert rec.sleeps == [1.0, 2.0]
    assert rec.states() == ["syncing", "error", "syncing", "offline", "syncing", "idle"]
    assert engine.status.state == "idle" and engine.status.message_key is None


async def test_permanent_refusal_stops_without_retry(store, rec) -> None:
    api = ScriptedApi([Rejected(status=422, message_key="error.invalid_input")])
    engine = make_engine(store, api, rec)
    assert await engine.sync() is None
    assert api.calls == 1 and rec.sleeps == [] and engine.status.state == "error"


async def test_pages_applied_before_a_failure_are_kept(world: World, store, portal, rec) -> None:
    class FailsOnSecondPage(ScriptedApi):
        async def sync_page(self, cursor, limit=None):
            self.calls += 1
            if self.calls == 2:
                raise Offline()
            return await portal.sync_page(cursor, limit)

    engine = make_engine(store, FailsOnSecondPage([]), rec, page_limit=2)
    with pytest.raises(Offline):
        await engine.sync_once()
    first_cursor = store.get_meta("cursor")
    assert first_cursor and sum(store.count(c) for c in COLLECTIONS.values()) == 2
    assert len(rec.changes) == 1 and rec.changes[0].changed == 2
    # Resuming continues from the saved cursor: no reset, the rest arrives.
    result = await make_engine(store, portal, rec, page_limit=2).sync_once()
    assert not result.reset and result.changed == 5


class ResetForever:
    """A broken server: every page says reset and has_more."""

    def __init__(self) -> None:
        self.calls = 0

    async def sync_page(self, cursor: str | None, limit: int | None = None) -> dict[str, Any]:
        self.calls += 1
        return {"reset": True, "changes": [], "cursor": f"c{self.calls}", "has_more": True}


async def test_never_loops_on_a_server_that_keeps_resetting(store, rec) -> None:
    api = ResetForever()
    with pytest.raises(ServerError):
        await make_engine(store, api, rec).sync_once()
    assert api.calls == MAX_RESETS_PER_RUN + 1


async def test_stops_when_has_more_does_not_move_the_cursor(store, rec) -> None:
    class Stuck:
        async def sync_page(self, cursor, limit=None):
            return {"reset": False, "changes": [], "cursor": "same", "has_more": True}

    store.set_meta("cursor", "same")
    result = await make_engine(store, Stuck(), rec).sync_once()
    assert result.pages == 1


async def test_run_periodic_syncs_until_stopped(world: World, store, portal, rec) -> None:
    engine = make_engine(store, portal, rec)
    stop = asyncio.Event()
    syncs = 0

    async def on_status(status: SyncStatus) -> None:
        nonlocal syncs
        if status.state == "idle":
            syncs += 1
            if syncs == 3:
                stop.set()

    engine._on_status = on_status
    await asyncio.wait_for(engine.run_periodic(0.01, stop), timeout=10)
    assert syncs == 3 and store.count("activities") == 3


async def test_run_periodic_ends_when_signed_out(world: World, store, portal, rec) -> None:
    portal.token = "not-a-session"
    engine = make_engine(store, portal, rec)
    await asyncio.wait_for(engine.run_periodic(0.01, asyncio.Event()), timeout=10)
    assert rec.unauthorized == 1 and engine.status.state == "signed_out"


async def test_status_counts_pending_outbox_items(world: World, store, portal, rec) -> None:
    Outbox(store).enqueue("reschedule", {"activity_id": 1})
    engine = make_engine(store, portal, rec)
    await engine.sync()
    assert engine.status.pending == 1


# -- apply_page -----------------------------------------------------------------------------


def activity_doc(n: int, title: str = "Visit") -> dict[str, Any]:
    return {"id": n, "title": f"{title} {n}", "status": "scheduled", "scheduled_start": None}


def change(kind: str, key: str, body: dict[str, Any] | None, rev: int = 1) -> dict[str, Any]:
    return {"kind": kind, "key": key, "rev": rev, "deleted": body is None, "body": body}


OLD_PAGE = {
    "reset": True,
    "changes": [change("activity", str(n), activity_doc(n)) for n in range(1, 6)]
    + [change("profile", "me", {"id": 1, "name": "Alice"})],
    "cursor": "cursor-old",
    "has_more": False,
}
NEW_PAGES = {
    # A full resync: clear, then 50 other documents.
    "reset": {
        "reset": True,
        "changes": [change("activity", str(n), activity_doc(n, "New")) for n in range(100, 150)]
        + [change("profile", "me", {"id": 1, "name": "Alice B."})],
        "cursor": "cursor-new",
        "has_more": False,
    },
    # An incremental page: updates, a new one, tombstones.
    "incremental": {
        "reset": False,
        "changes": [change("activity", str(n), activity_doc(n, "Moved")) for n in (1, 2)]
        + [change("activity", "7", activity_doc(7)), change("form", "3", {"id": 3, "fields": []})]
        + [change("activity", str(n), None) for n in (4, 5)],
        "cursor": "cursor-new",
        "has_more": False,
    },
}


def snapshot(path: Path) -> tuple[dict[tuple[str, str], str], str | None]:
    with open_store(path) as store:
        rows = store.fetchall("SELECT collection, id, body FROM documents")
        return {(r[0], r[1]): r[2] for r in rows}, store.get_meta("cursor")


def test_apply_page_handles_unknown_kinds_and_coalesces(store) -> None:
    page = {
        "reset": False,
        "changes": [
            change("activity", "1", activity_doc(1)),
            change("gizmo", "x", {"id": "x"}),
            change("activity", "1", None, rev=2),
        ],
        "cursor": "c",
        "has_more": False,
    }
    result = apply_page(store, page, NOW)
    assert result.changed == 1 and result.changed_ids == {"activities": {"1"}}
    assert store.count("activities") == 0 and store.get_meta("cursor") == "c"


CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    from datetime import UTC, datetime
    from app.sync.engine import apply_page, open_store

    path, page_file, point = sys.argv[1:4]
    page = json.loads(open(page_file).read())
    store = open_store(path)

    def die():
        # Prove how far the transaction got, as seen from inside it.
        rows = store.fetchall("SELECT collection, id, body FROM documents")
        docs = {f"{r[0]}/{r[1]}": r[2] for r in rows}
        print(json.dumps({"docs": docs, "cursor": store.get_meta("cursor")}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    put_many, set_meta = store.put_many, store.set_meta

    def put_many_then_die(collection, docs):
        count = put_many(collection, docs)
        if point == "after_first_batch":
            die()
        return count

    def set_meta_hooked(key, value):
        if key == "cursor" and point == "before_cursor":
            die()
        set_meta(key, value)
        if key == "last_sync_at" and point == "before_commit":
            die()

    store.put_many = put_many_then_die
    store.set_meta = set_meta_hooked
    apply_page(store, page, datetime.now(UTC))
    if point == "after_commit":
        die()
    print("finished", flush=True)
    """
)


@pytest.mark.parametrize("kind", ["reset", "incremental"])
@pytest.mark.parametrize(
    "point", ["after_first_batch", "before_cursor", "before_commit", "after_commit"]
)
def test_page_and_cursor_are_atomic_under_sigkill(tmp_path: Path, kind: str, point: str) -> None:
    path = tmp_path / "cache.sqlite3"
    expected_path = tmp_path / "expected.sqlite3"
    new_page = NEW_PAGES[kind]
    for target in (path, expected_path):
        with open_store(target) as store:
            apply_page(store, OLD_PAGE, NOW)
    old = snapshot(path)
    with open_store(expected_path) as store:
        apply_page(store, new_page, NOW)
    new = snapshot(expected_path)
    assert old != new and new[1] == "cursor-new"

    page_file = tmp_path / "page.json"
    page_file.write_text(json.dumps(new_page))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(page_file), point],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert child.returncode == -9, child.stderr  # SIGKILLed, not an exception
    inside = json.loads(child.stdout.strip().splitlines()[-1])
    inside_docs = {tuple(key.split("/", 1)): body for key, body in inside["docs"].items()}
    after = snapshot(path)
    if point == "after_commit":
        assert after == new
        return
    # The child had written part or all of the page when it died…
    assert inside_docs != old[0]
    if point != "after_first_batch":
        assert inside_docs == new[0]
    if point == "before_commit":
        assert inside["cursor"] == "cursor-new"
    # …yet none of it survived: the old documents and the old cursor, intact.
    assert after == old

"""The app pushes its outbox to POST /mutations: the real backend in-process, real store files.

Push before pull, batches of 100, a lost answer replayed once, a poison item
rejected once while the queue drains past it, two devices signing or filling
the same form, the body limit, server errors backing off, the status, the
device id and channel, the per-activity view of the outbox and the refusal
sentences in the client's language.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.i18n import MESSAGES, Translator
from app.refusals import REFUSAL_KEYS, refusal_errors, refusal_text
from app.state import AppState
from app.sync.api import PortalApi
from app.sync.device import device_id
from app.sync.engine import SyncEngine, SyncResult, open_store
from app.sync.outbox import PENDING, REJECTED, SENT, Mutation, Outbox
from app.sync.store import Store, StoreError
from app.sync.tokens import MemoryTokenStore
from backend import forms
from backend.api.main import create_app
from backend.core.config import Settings
from backend.models import FormSubmission, ValidationEvent
from backend.services.sessions import create_session
from tests.app.conftest import no_sleep
from tests.backend.test_mutations import SIGNATURE, World, build_world
from tests.conftest import Clock

ROOT = Path(__file__).resolve().parents[2]
STAFF = {"X-Staff-Token": "test-staff-token"}


# --- helpers shared with test_push_faults -------------------------------------------------


class Wire(httpx.AsyncBaseTransport):
    """The backend in-process, with a record of every request and injectable faults.

    ``calls``: (path, mutation ids sent) per request. ``lose_answers``: that
    many /mutations answers are lost *after* the server committed (a read
    timeout). ``offline``: every request fails to connect. ``fail_ids``:
    items the server answers ``error`` for (they never reach it).
    ``status_for_push``: answer /mutations with this HTTP status, untouched.
    """

    def __init__(self, app: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self.calls: list[tuple[str, list[str]]] = []
        self.sizes: list[int] = []
        self.lose_answers = 0
        self.offline = False
        self.fail_ids: set[str] = set()
        self.status_for_push: int | None = None

    def pushes(self) -> list[list[str]]:
        """The mutation ids of each /mutations request, in order."""
        return [ids for path, ids in self.calls if path == "/mutations"]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        push = request.url.path == "/mutations"
        body = json.loads(request.content) if push else None
        ids = [m["mutation_id"] for m in body["mutations"]] if body else []
        self.calls.append((request.url.path, ids))
        if push:
            self.sizes.append(len(request.content))
        if self.offline:
            raise httpx.ConnectError("no network")
        if push and self.status_for_push is not None:
            return httpx.Response(self.status_for_push, json={"detail": "Not Found"})
        if push and body and self.fail_ids & set(ids):
            return await self._with_errors(request, body)
        response = await self.inner.handle_async_request(request)
        if push and self.lose_answers:
            self.lose_answers -= 1
            await response.aread()  # the server finished and committed…
            raise httpx.ReadTimeout("the answer was lost on the way back")
        return response

    async def _with_errors(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        # The failing items never reach the server; they get the server's
        # "error" answer (nothing recorded) at their place in the results.
        kept = [m for m in body["mutations"] if m["mutation_id"] not in self.fail_ids]
        results: list[dict[str, Any]] = []
        if kept:
            forwarded = httpx.Request(
                "POST", request.url, headers=dict(request.headers), json={"mutations": kept}
            )
            response = await self.inner.handle_async_request(forwarded)
            await response.aread()
            results = response.json()["results"]
        answered = iter(results)
        merged = []
        for index, item in enumerate(body["mutations"]):
            if item["mutation_id"] in self.fail_ids:
                answer = {
                    "mutation_id": item["mutation_id"],
                    "status": "error",
                    "code": "server_error",
                    "detail": "Something went wrong on our side; this change will be sent again.",
                    "params": {},
                }
            else:
                answer = next(answered)
            merged.append({**answer, "index": index})
        return httpx.Response(200, json={"results": merged})


def portal_for(wire: Wire, token: str) -> PortalApi:
    return PortalApi(httpx.AsyncClient(transport=wire, base_url="http://embedded"), token)


def access(activity_id: int, door_code: str = "12A34", **answers: Any) -> dict[str, Any]:
    """A fill_form item of the test world's "access" action."""
    return {
        "activity_id": activity_id,
        "action_key": "access",
        "payload": {"answers": {"door_code": door_code, "signature": SIGNATURE, **answers}},
    }


def survey(activity_id: int) -> dict[str, Any]:
    return {
        "activity_id": activity_id,
        "action_key": "survey",
        "payload": {"answers": {"overall": 4}},
    }


def signing(store: Store, world: World) -> dict[str, Any]:
    """A validate_document item hashed from this device's synced documents, as the app does."""
    activity = store.get("activities", str(world.scheduled.id))
    form = store.get("forms", str(world.quote_form.id))
    assert activity is not None and form is not None, "pull first"
    digest = forms.sha256_of(forms.document_for(activity, form))
    return {
        "activity_id": world.scheduled.id,
        "action_key": "sign_quote",
        "payload": {
            "decision": "accepted",
            "document_sha256": digest,
            "answers": {"accept": True, "signature": SIGNATURE},
        },
    }


def count(api: FastAPI, model: type) -> int:
    with api.state.sessionmaker() as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def submitted_ids(api: FastAPI) -> list[str]:
    """Mutation ids of every form submission on the server, oldest first."""
    with api.state.sessionmaker() as db:
        return list(db.scalars(select(FormSubmission.mutation_id).order_by(FormSubmission.id)))


def statuses(store: Store) -> dict[str, int]:
    rows = store.fetchall("SELECT status, COUNT(*) FROM outbox GROUP BY status")
    return {row[0]: row[1] for row in rows}


class Changes:
    """What the engine reported through on_change."""

    def __init__(self) -> None:
        self.seen: list[SyncResult] = []

    async def __call__(self, result: SyncResult) -> None:
        self.seen.append(result)


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


@pytest.fixture
def wire(api: FastAPI) -> Wire:
    return Wire(api)


@pytest.fixture
async def portal(wire: Wire, world: World) -> AsyncIterator[PortalApi]:
    client = portal_for(wire, world.alice_token)
    yield client
    await client.aclose()


@pytest.fixture
def changes() -> Changes:
    return Changes()


@pytest.fixture
def engine(store: Store, portal: PortalApi, clock: Clock, changes: Changes) -> SyncEngine:
    return SyncEngine(store, portal, clock=clock, sleep=no_sleep, on_change=changes)


@pytest.fixture
def outbox(store: Store, clock: Clock) -> Outbox:
    return Outbox(store, clock=clock)


def second_store(tmp_path: Path, name: str) -> Store:
    return open_store(tmp_path / name / "app-cache.sqlite3")


# --- push before pull, one request per batch ----------------------------------------------


async def test_push_goes_before_pull_and_the_screen_has_the_answer_at_once(
    engine: SyncEngine,
    outbox: Outbox,
    store: Store,
    wire: Wire,
    world: World,
    http: httpx.AsyncClient,
    changes: Changes,
) -> None:
    await engine.sync_once()
    aid = world.scheduled.id
    queued = outbox.enqueue("fill_form", access(aid))
    wire.calls.clear()

    result = await engine.sync_once()

    assert [path for path, _ in wire.calls] == ["/mutations", "/sync"]
    assert wire.pushes() == [[queued.mutation_id]]
    assert result.sent == 1 and result.refused == 0
    assert result.changed_ids["outbox"] == {str(aid)}
    assert str(aid) in result.changed_ids["activities"]
    assert changes.seen[-1] is result
    sent = outbox.get(queued.mutation_id)
    assert sent is not None and sent.status == SENT
    assert sent.result["submission"]["version"] == 1 and "activity" not in sent.result
    doc = store.get("activities", str(aid))
    assert doc is not None and doc["submissions"]["access"]["state"] == "sent"
    assert "available_actions" not in doc  # the feed's shape, as the pull writes it
    # The server knows which device and channel it came from.
    r = await http.get(f"/staff/activities/{aid}/submissions", headers=STAFF)
    (row,) = r.json()["submissions"]
    assert row["mutation_id"] == queued.mutation_id
    assert row["device_id"] == device_id(store) and row["channel"] == "app"


async def test_the_answer_and_its_document_are_written_together_before_the_pull(
    store: Store, portal: PortalApi, outbox: Outbox, world: World, clock: Clock, api: FastAPI
) -> None:
    class PullFails(Exception):
        pass

    def fault(point: str) -> None:
        if point == "pull.received":
            raise PullFails(point)

    plain = SyncEngine(store, portal, clock=clock, sleep=no_sleep)
    await plain.sync_once()
    queued = outbox.enqueue("fill_form", access(world.scheduled.id))
    engine = SyncEngine(store, portal, clock=clock, sleep=no_sleep, fault=fault)
    with pytest.raises(PullFails):
        await engine.sync_once()
    # The pull never ran, yet the screen already has the server's document.
    doc = store.get("activities", str(world.scheduled.id))
    assert doc is not None and doc["submissions"]["access"]["version"] == 1
    assert outbox.get(queued.mutation_id).status == SENT  # type: ignore[union-attr]

    # When writing the document fails, the answer is not recorded either:
    # the item stays pending and the next push replays it (no second version).
    again = outbox.enqueue("fill_form", access(world.scheduled.id, "99B"))
    real_put_many = store.put_many

    def broken_put_many(collection: str, docs: Any) -> int:
        raise OSError("disk full")

    store.put_many = broken_put_many  # type: ignore[method-assign]
    with pytest.raises(OSError):
        await plain.sync_once()
    store.put_many = real_put_many  # type: ignore[method-assign]
    assert outbox.get(again.mutation_id).status == PENDING  # type: ignore[union-attr]
    result = await plain.sync_once()
    assert result.sent == 1
    assert outbox.get(again.mutation_id).result["status"] == "already_applied"  # type: ignore[union-attr]
    assert submitted_ids(api) == [queued.mutation_id, again.mutation_id]


async def test_150_items_go_in_two_requests_oldest_first(
    engine: SyncEngine, outbox: Outbox, wire: Wire, world: World, api: FastAPI
) -> None:
    await engine.sync_once()
    queued = [
        outbox.enqueue("fill_form", access(world.scheduled.id, f"door-{n}")).mutation_id
        for n in range(150)
    ]
    result = await engine.sync_once()
    assert [len(ids) for ids in wire.pushes()] == [100, 50]
    assert [i for ids in wire.pushes() for i in ids] == queued
    assert result.sent == 150
    # Applied in the order they were queued: version n is the n-th item.
    assert submitted_ids(api) == queued
    assert outbox.pending_count() == 0


async def test_batches_stay_under_the_byte_budget(
    store: Store, portal: PortalApi, outbox: Outbox, wire: Wire, world: World, clock: Clock
) -> None:
    engine = SyncEngine(store, portal, clock=clock, sleep=no_sleep, max_batch_bytes=1000)
    await engine.sync_once()
    for n in range(6):
        outbox.enqueue("fill_form", access(world.scheduled.id, f"door-{n}"))
    result = await engine.sync_once()
    assert result.sent == 6
    assert len(wire.pushes()) > 1 and all(size <= 1000 for size in wire.sizes)


# --- exactly once -------------------------------------------------------------------------


async def test_a_lost_answer_is_replayed_with_the_same_id_and_applied_once(
    engine: SyncEngine, outbox: Outbox, wire: Wire, world: World, api: FastAPI
) -> None:
    await engine.sync_once()
    queued = outbox.enqueue("fill_form", access(world.scheduled.id))
    wire.lose_answers = 1

    assert await engine.sync(max_attempts=1) is None
    assert engine.status.state == "offline" and engine.status.pending == 1
    item = outbox.get(queued.mutation_id)
    assert item is not None and item.status == PENDING and item.attempts == 0
    assert count(api, FormSubmission) == 1  # the server did apply it

    result = await engine.sync_once()
    assert wire.pushes() == [[queued.mutation_id], [queued.mutation_id]]
    assert result.sent == 1
    item = outbox.get(queued.mutation_id)
    assert item is not None and item.status == SENT
    assert item.result["status"] == "already_applied" and item.result["replayed"] is True
    assert submitted_ids(api) == [queued.mutation_id]


async def test_a_poison_item_is_rejected_once_and_the_queue_drains_past_it(
    engine: SyncEngine, outbox: Outbox, store: Store, wire: Wire, world: World, api: FastAPI
) -> None:
    await engine.sync_once()
    aid = world.scheduled.id
    first = outbox.enqueue("fill_form", access(aid, "first"))
    poison = outbox.enqueue(
        "fill_form",
        {"activity_id": aid, "action_key": "access", "payload": {"answers": {"floor": 99}}},
    )
    shapeless = outbox.enqueue("fill_form", {"action_key": "access", "payload": {}})
    last = outbox.enqueue("fill_form", access(aid, "last"))

    result = await engine.sync_once()
    assert result.sent == 2 and result.refused == 2
    assert submitted_ids(api) == [first.mutation_id, last.mutation_id]
    refused = outbox.get(poison.mutation_id)
    assert refused is not None and refused.status == REJECTED
    assert refused.result["code"] == "invalid_answers"
    errors = refusal_errors(refused)
    assert {e["code"] for e in errors["door_code"]} == {"required"}
    assert {e["code"] for e in errors["floor"]} == {"above_max"}
    assert refused.reason == "Some answers need your attention."
    other = outbox.get(shapeless.mutation_id)
    assert other is not None and other.status == REJECTED
    assert other.result["code"] == "invalid_mutation"

    # Never sent again: the next sync only pulls.
    wire.calls.clear()
    await engine.sync()
    assert wire.pushes() == []
    assert engine.status.pending == 0 and engine.status.rejected == 2

    # Fixed and sent again under a new id (the old one is bound to its refusal).
    answers = {"door_code": "7B", "floor": 4, "signature": SIGNATURE}
    fixed = outbox.replace_rejected(poison.mutation_id, {"answers": answers})
    assert fixed.mutation_id != poison.mutation_id
    assert fixed.payload == {
        "activity_id": aid,
        "action_key": "access",
        "payload": {"answers": answers},
    }
    assert outbox.get(poison.mutation_id) is None
    result = await engine.sync_once()
    assert result.sent == 1
    assert submitted_ids(api) == [first.mutation_id, last.mutation_id, fixed.mutation_id]
    outbox.dismiss(shapeless.mutation_id)
    assert statuses(store) == {SENT: 3}


async def test_a_server_error_backs_off_and_holds_back_only_its_own_action(
    engine: SyncEngine, outbox: Outbox, wire: Wire, world: World, api: FastAPI, clock: Clock
) -> None:
    await engine.sync_once()
    broken = outbox.enqueue("fill_form", access(world.scheduled.id, "v1"))
    wire.fail_ids = {broken.mutation_id}
    await engine.sync_once()
    item = outbox.get(broken.mutation_id)
    assert item is not None and item.status == PENDING and item.attempts == 1
    assert item.last_error == "server_error" and item.next_attempt_at is not None

    # Backing off: the next version of the same form waits behind it, the
    # survey of another appointment goes.
    later = outbox.enqueue("fill_form", access(world.scheduled.id, "v2"))
    other = outbox.enqueue("survey", survey(world.done.id))
    wire.calls.clear()
    await engine.sync_once()
    assert wire.pushes() == [[other.mutation_id]]
    assert outbox.get(later.mutation_id).status == PENDING  # type: ignore[union-attr]

    clock.advance(seconds=3)
    wire.fail_ids = set()
    await engine.sync_once()
    assert wire.pushes()[-1] == [broken.mutation_id, later.mutation_id]
    assert submitted_ids(api) == [other.mutation_id, broken.mutation_id, later.mutation_id]


async def test_an_item_over_the_body_limit_is_rejected_alone_and_the_rest_goes(
    store: Store, outbox: Outbox, world: World, clock: Clock, settings: Settings, api: FastAPI
) -> None:
    small = create_app(settings.model_copy(update={"max_body_bytes": 20_000}), clock=clock)
    wire = Wire(small)
    portal = portal_for(wire, world.alice_token)
    try:
        engine = SyncEngine(store, portal, clock=clock, sleep=no_sleep)
        await engine.sync_once()
        png = b"\x89PNG\r\n\x1a\n" + bytes(22_000)
        photo = {"media_type": "image/png", "data": base64.b64encode(png).decode()}
        aid = world.scheduled.id
        good = [outbox.enqueue("fill_form", access(aid, f"d{n}")) for n in range(3)]
        big = outbox.enqueue("fill_form", access(aid, "big", photo=photo))
        good.append(outbox.enqueue("fill_form", access(aid, "after")))

        result = await engine.sync_once()

        assert result.sent == 4 and result.refused == 1
        assert submitted_ids(api) == [m.mutation_id for m in good]
        item = outbox.get(big.mutation_id)
        assert item is not None and item.status == REJECTED
        assert item.result["code"] == "too_large"
        assert refusal_text(item, Translator("en")) == (
            "This answer is too large to send. Please use smaller photos."
        )
        assert refusal_text(item, Translator("fr")).startswith("Cette réponse est trop volumineuse")
    finally:
        await portal.aclose()
        small.state.engine.dispose()


async def test_a_server_that_refuses_the_whole_push_still_lets_the_pull_run(
    engine: SyncEngine, outbox: Outbox, wire: Wire, world: World, http: httpx.AsyncClient
) -> None:
    # An older server without POST /mutations answers 404: nothing was applied,
    # the items wait, and the appointments still update.
    await engine.sync_once()
    queued = outbox.enqueue("fill_form", access(world.scheduled.id))
    wire.status_for_push = 404
    r = await http.patch(
        f"/staff/activities/{world.scheduled.id}", json={"description": "New"}, headers=STAFF
    )
    assert r.status_code == 200, r.text
    assert await engine.sync(max_attempts=1) is None
    assert engine.status.state == "error" and engine.status.pending == 1
    assert outbox.get(queued.mutation_id).status == PENDING  # type: ignore[union-attr]
    doc = engine.store.get("activities", str(world.scheduled.id))
    assert doc is not None and doc["description"] == "New"


async def test_sent_items_are_forgotten_a_day_later(
    engine: SyncEngine, outbox: Outbox, world: World, clock: Clock
) -> None:
    queued = outbox.enqueue("fill_form", access(world.scheduled.id))
    await engine.sync_once()
    clock.advance(hours=23)
    await engine.sync_once()
    assert [m.mutation_id for m in outbox.for_activity(world.scheduled.id)] == [queued.mutation_id]
    clock.advance(hours=2)
    await engine.sync_once()
    assert outbox.for_activity(world.scheduled.id) == []


async def test_other_outbox_kinds_are_not_pushed(
    engine: SyncEngine, outbox: Outbox, wire: Wire, world: World
) -> None:
    other = outbox.enqueue("reschedule", {"activity_id": world.scheduled.id})
    await engine.sync()
    assert wire.pushes() == [] and engine.status.pending == 1
    assert outbox.get(other.mutation_id).status == PENDING  # type: ignore[union-attr]


# --- two devices of one client ------------------------------------------------------------


async def device(
    api: FastAPI, store: Store, token: str, clock: Clock, channel: str = "app"
) -> tuple[AppState, Wire]:
    wire = Wire(api)
    tokens = MemoryTokenStore()
    tokens.set(token)
    state = AppState(
        portal_for(wire, token), store, tokens, clock=clock, sleep=no_sleep, channel=channel
    )
    await state.start()
    assert await state.refresh() is not None
    return state, wire


@pytest.fixture
def second_token(db: Session, settings: Settings, world: World, clock: Clock) -> str:
    token = create_session(db, settings, world.alice.id, "code", clock.now)
    db.commit()
    return token


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    a, b = second_store(tmp_path, "phone"), second_store(tmp_path, "laptop")
    yield a, b
    a.close()
    b.close()


async def test_two_devices_sign_the_same_document_the_second_hears_when_in_french(
    api: FastAPI,
    world: World,
    clock: Clock,
    second_token: str,
    stores: tuple[Store, Store],
) -> None:
    phone, _ = await device(api, stores[0], world.alice_token, clock)
    laptop, _ = await device(api, stores[1], second_token, clock)
    assert laptop.tr.language == "fr"  # the company's language; the client chose none
    # Both sign offline, from the same synced document.
    first = phone.outbox.enqueue("validate_document", signing(phone.store, world))
    second = laptop.outbox.enqueue("validate_document", signing(laptop.store, world))
    await phone.refresh()
    clock.advance(hours=1)
    await laptop.refresh()

    assert phone.outbox.get(first.mutation_id).status == SENT  # type: ignore[union-attr]
    refused = laptop.outbox.get(second.mutation_id)
    assert refused is not None and refused.status == REJECTED
    assert refused.result["code"] == "already_signed"
    assert refusal_text(refused, laptop.tr) == "Ce document a déjà été signé le lun. 23 nov. 2026."
    assert refusal_text(refused, Translator("en", "Europe/Paris")) == (
        "This document was already signed on Mon, Nov 23, 2026."
    )
    assert laptop.sync_status.rejected == 1 and laptop.sync_status.pending == 0
    assert count(api, ValidationEvent) == 1
    await phone.api.aclose()
    await laptop.api.aclose()


async def test_two_devices_fill_the_same_form_and_staff_see_both_versions(
    api: FastAPI,
    world: World,
    clock: Clock,
    second_token: str,
    stores: tuple[Store, Store],
    http: httpx.AsyncClient,
) -> None:
    phone, _ = await device(api, stores[0], world.alice_token, clock)
    browser, _ = await device(api, stores[1], second_token, clock, channel="web")
    aid = world.scheduled.id
    phone.outbox.enqueue("fill_form", access(aid, "from-the-phone"))
    browser.outbox.enqueue("fill_form", access(aid, "from-the-browser"))
    await phone.refresh()
    await browser.refresh()

    r = await http.get(f"/staff/activities/{aid}/submissions", headers=STAFF)
    rows = r.json()["submissions"]
    assert [(s["version"], s["answers"]["door_code"], s["channel"]) for s in rows] == [
        (1, "from-the-phone", "app"),
        (2, "from-the-browser", "web"),
    ]
    assert rows[0]["device_id"] == device_id(phone.store)
    assert rows[1]["device_id"] == device_id(browser.store)
    assert rows[0]["device_id"] != rows[1]["device_id"]
    # Each device shows the latest version once it has pulled again.
    await phone.refresh()
    doc = phone.store.get("activities", str(aid))
    assert doc is not None and doc["submissions"]["access"]["version"] == 2
    await phone.api.aclose()
    await browser.api.aclose()


# --- AppState: push_now, sign-out, device id ----------------------------------------------


async def test_push_now_returns_at_once_and_folds_calls_into_one_more_sync(
    api: FastAPI, store: Store, world: World, clock: Clock
) -> None:
    state, wire = await device(api, store, world.alice_token, clock)
    events: list[str] = []

    async def listen(event: str, data: Any) -> None:
        events.append(event)

    state.subscribe(listen)
    first = state.outbox.enqueue("fill_form", access(world.scheduled.id, "one"))
    task = await state.push_now()
    assert task is not None and not task.done()  # the screen did not wait
    second = state.outbox.enqueue("fill_form", access(world.scheduled.id, "two"))
    assert await state.push_now() is task  # folded into the running one
    await task
    sent = [i for ids in wire.pushes() for i in ids]
    assert sent == [first.mutation_id, second.mutation_id]
    assert state.sync_status.pending == 0
    assert "data" in events and "status" in events
    await state.api.aclose()


async def test_sign_out_pushes_first_and_keeps_the_device_id(
    api: FastAPI, store: Store, world: World, clock: Clock
) -> None:
    state, _ = await device(api, store, world.alice_token, clock)
    before = device_id(store)
    queued = state.outbox.enqueue("fill_form", access(world.scheduled.id))
    await state.sign_out()
    assert submitted_ids(api) == [queued.mutation_id]
    assert store.count("activities") == 0 and state.outbox.pending_count() == 0
    assert device_id(store) == before
    assert await state.push_now() is None  # signed out: nothing to do
    await state.api.aclose()


# --- the outbox seen from an activity's screen --------------------------------------------


def test_for_activity_lists_its_items_oldest_first(outbox: Outbox) -> None:
    a1 = outbox.enqueue("fill_form", access(7, "one"))
    outbox.enqueue("survey", survey(8))
    a2 = outbox.enqueue(
        "validate_document", {"activity_id": 7, "action_key": "sign", "payload": {}}
    )
    a3 = outbox.enqueue("fill_form", access(7, "three"))
    outbox.mark_sent(a1.mutation_id, {"status": "applied"})
    outbox.mark_rejected(a2.mutation_id, "no", {"code": "already_signed"})
    items = outbox.for_activity(7)
    assert [(m.mutation_id, m.status) for m in items] == [
        (a1.mutation_id, SENT),
        (a2.mutation_id, REJECTED),
        (a3.mutation_id, PENDING),
    ]
    assert [(m.activity_id, m.action_key) for m in items] == [
        (7, "access"),
        (7, "sign"),
        (7, "access"),
    ]


def test_replace_rejected_only_replaces_a_rejected_item(outbox: Outbox, store: Store) -> None:
    pending = outbox.enqueue("fill_form", access(7))
    with pytest.raises(StoreError):
        outbox.replace_rejected(pending.mutation_id, {"answers": {}})
    outbox.mark_rejected(pending.mutation_id, "no", {"code": "invalid_answers"})
    with pytest.raises(ValueError):
        outbox.replace_rejected(pending.mutation_id, access(7))  # the envelope, not the payload
    # A failure inside the transaction keeps the refusal (nothing half-done).
    with pytest.raises(StoreError), store.transaction():
        outbox.replace_rejected(pending.mutation_id, {"answers": {"door_code": "x"}})
        raise StoreError("the draft could not be deleted")
    assert outbox.get(pending.mutation_id).status == REJECTED  # type: ignore[union-attr]
    assert outbox.pending_count() == 0


# --- refusals in the client's language ----------------------------------------------------


def backend_refusal_codes() -> set[str]:
    """Every refusal code the backend can answer a pushed item with (read from its source)."""
    services = ROOT / "backend" / "services"
    source = (services / "submissions.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'Refused\(\s*\d+,\s*"([a-z_]+)"', source))
    codes |= set(re.findall(r'code = "([a-z_]+)"', (services / "mutations.py").read_text()))
    route = (ROOT / "backend" / "api" / "routes" / "mutations.py").read_text(encoding="utf-8")
    codes |= set(re.findall(r'"status": "refused",\s*"code": "([a-z_]+)"', route))
    return codes


def rejected(code: str, detail: str = "", **params: Any) -> Mutation:
    return Mutation(
        seq=1,
        mutation_id="m",
        kind="fill_form",
        payload={},
        status=REJECTED,
        created_at=None,  # type: ignore[arg-type]
        attempts=0,
        next_attempt_at=None,
        last_error=None,
        result={"code": code, "detail": detail, "params": params, "errors": {}},
        reason=detail,
        finished_at=None,
    )


def test_every_refusal_code_of_the_backend_has_a_sentence_in_every_language() -> None:
    codes = backend_refusal_codes()
    assert {"already_signed", "action_unavailable", "activity_cancelled"} <= codes
    assert len(codes) >= 13, codes
    assert codes <= set(REFUSAL_KEYS), codes - set(REFUSAL_KEYS)
    keys = {*REFUSAL_KEYS.values(), "push.refused.form_missing_phone"}
    keys |= {"push.refused.invalid_reason", "push.refused.unknown"}
    for language in ("en", "fr"):
        assert keys <= set(MESSAGES[language]), keys - set(MESSAGES[language])
        tr = Translator(language)
        for code in codes:
            text = refusal_text(rejected(code, "English detail", at="2026-11-20T14:00:00Z"), tr)
            assert text and text != "English detail" and "{" not in text, (language, code)


def test_refusal_sentences_use_their_details() -> None:
    fr = Translator("fr", "Europe/Paris")
    dated = rejected("already_answered", "You already answered on …", at="2026-11-20T14:00:00Z")
    assert refusal_text(dated, fr) == "Vous avez déjà répondu le ven. 20 nov. 2026."
    assert refusal_text(rejected("form_missing"), fr, phone="04 72 00 00 00") == (
        "Ce formulaire n’est plus disponible. Appelez-nous au 04 72 00 00 00."
    )
    reason = rejected("invalid_payload")
    reason.result["errors"] = {"reason": [{"code": "invalid", "params": {}, "message": "…"}]}
    assert refusal_text(reason, fr).startswith("Dites-nous pourquoi vous refusez")
    # Unknown codes (a newer server) fall back to its English sentence.
    assert refusal_text(rejected("brand_new", "Something new."), fr) == "Something new."
    assert refusal_text(rejected("brand_new"), fr) == "Cette réponse n’a pas été acceptée."
    # A date that cannot be read: the server's sentence rather than a blank.
    assert refusal_text(rejected("already_signed", "Signed on Monday."), fr) == "Signed on Monday."
    pending = dataclasses.replace(rejected("x"), status=PENDING)
    assert refusal_text(pending, fr) == "" and refusal_errors(pending) == {}

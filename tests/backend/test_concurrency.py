"""The backend under concurrent traffic: reads never wait for writers, no circular
waits between threads and connections, polite 503s past the admission limit.

DESIGN §5b. The 100-request test runs a real uvicorn server on loopback.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from backend.api.main import create_app
from backend.core.config import Settings
from backend.models import Activity
from backend.services.booking import ScheduleCache
from tests.backend.portal_setup import World, build_world
from tests.backend.test_booking import Booking
from tests.conftest import Clock


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process-like writer that keeps SQLite's write lock."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    conn.execute("BEGIN IMMEDIATE")
    return conn


@pytest.fixture
def impatient(tmp_path: Path, settings: Settings, clock: Clock) -> Iterator[FastAPI]:
    """The API with a 0.2 s busy timeout: waiting for the write lock fails fast."""
    quick = settings.model_copy(update={"sqlite_busy_timeout_seconds": 0.2})
    app = create_app(quick, clock=clock)
    yield app
    app.state.engine.dispose()


async def test_reads_never_wait_for_the_write_lock(
    impatient: FastAPI, world: World, settings: Settings, clock: Clock
) -> None:
    transport = httpx.ASGITransport(app=impatient)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        writer = _hold_write_lock(settings.data_dir / "portal.db")
        try:
            for path in ("/me", "/activities", f"/activities/{world.upcoming.id}", "/sync"):
                r = await http.get(path, headers=world.auth(world.alice_token))
                assert r.status_code == 200, (path, r.text)
            # Past a minute the session's last use is due: a busy writer must
            # not turn the read into an error.
            clock.advance(minutes=2)
            r = await http.get("/activities", headers=world.auth(world.alice_token))
            assert r.status_code == 200, r.text
        finally:
            writer.rollback()
            writer.close()


async def test_session_last_use_is_written_at_most_once_a_minute(
    api: FastAPI, http: httpx.AsyncClient, world: World, clock: Clock
) -> None:
    writes: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    event.listen(api.state.engine, "before_cursor_execute", spy)
    try:
        headers = world.auth(world.alice_token)
        for _ in range(5):
            for path in ("/me", "/activities", "/sync"):
                assert (await http.get(path, headers=headers)).status_code == 200
        assert writes == []
        clock.advance(seconds=61)
        for _ in range(3):
            assert (await http.get("/activities", headers=headers)).status_code == 200
        assert len(writes) == 1 and writes[0].startswith("UPDATE sessions SET last_seen_at")
    finally:
        event.remove(api.state.engine, "before_cursor_execute", spy)


async def test_a_committed_booking_is_answered_200_even_if_follow_up_work_fails(
    http: httpx.AsyncClient,
    db: Session,
    settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    booking_world = Booking(db, settings, clock.now, clients=2)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("cache patch failed")

    monkeypatch.setattr(ScheduleCache, "after_change", broken)
    headers = booking_world.auth(0)
    activity_id = booking_world.activities[0].id
    r = await http.get(f"/activities/{activity_id}/slots", headers=headers)
    slot = r.json()["proposals"][0]
    r = await http.post(
        f"/activities/{activity_id}/book",
        json={
            "mutation_id": str(uuid.uuid4()),
            "technician_id": slot["technician_id"],
            "window_start": slot["window_start"],
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text
    db.expire_all()
    assert db.get_one(Activity, activity_id).status == "scheduled"
    # The dropped cache is rebuilt: the taken slot is no longer proposed to others.
    other = booking_world.activities[1].id
    r = await http.get(f"/activities/{other}/slots", headers=booking_world.auth(1))
    assert r.status_code == 200
    taken = (slot["technician_id"], slot["window_start"])
    assert taken not in {(p["technician_id"], p["window_start"]) for p in r.json()["proposals"]}


def _app_with_gate(settings: Settings, clock: Clock, **limits: Any) -> tuple[FastAPI, Any]:
    app = create_app(settings.model_copy(update=limits), clock=clock)
    gate: dict[str, asyncio.Event] = {}

    async def slow() -> dict[str, str]:
        await gate["open"].wait()
        return {"status": "done"}

    app.add_api_route("/test/slow", slow)
    return app, gate


async def test_past_the_limit_the_server_answers_503_with_retry_after(
    settings: Settings, clock: Clock
) -> None:
    app, gate = _app_with_gate(settings, clock, max_concurrent_requests=1, max_queued_requests=0)
    gate["open"] = asyncio.Event()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        first = asyncio.create_task(http.get("/test/slow"))
        await asyncio.sleep(0.05)
        busy = await http.get("/public/branding")
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert "busy" in busy.json()["detail"]
        # Liveness is answered even at the limit.
        assert (await http.get("/health")).status_code == 200
        gate["open"].set()
        assert (await first).status_code == 200
        assert (await http.get("/health")).status_code == 200
    app.state.engine.dispose()


async def test_a_request_that_waited_too_long_in_line_gets_503(
    settings: Settings, clock: Clock
) -> None:
    app, gate = _app_with_gate(
        settings,
        clock,
        max_concurrent_requests=1,
        max_queued_requests=10,
        queue_timeout_seconds=0.1,
    )
    gate["open"] = asyncio.Event()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
        first = asyncio.create_task(http.get("/test/slow"))
        await asyncio.sleep(0.05)
        waited = await http.get("/test/slow")
        assert waited.status_code == 503
        gate["open"].set()
        assert (await first).status_code == 200
        # Once the line is free, requests run again.
        assert (await http.get("/test/slow")).status_code == 200
    app.state.engine.dispose()


# --- a real server, 100 concurrent requests ---------------------------------------


class _Server:
    """uvicorn on a free loopback port, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", backlog=2048)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            threading.Event().wait(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@pytest.mark.slow
async def test_100_concurrent_requests_complete_without_a_500(
    db: Session, settings: Settings, clock: Clock
) -> None:
    clients = 20
    booking_world = Booking(db, settings, clock.now, clients=clients)
    app = create_app(settings, clock=clock)
    statuses: Counter[int] = Counter()

    async def one(http: httpx.AsyncClient, n: int) -> None:
        i = n % clients
        headers = booking_world.auth(i)
        activity_id = booking_world.activities[i].id
        if n % 20 == 0:
            slots = await http.get(f"/activities/{activity_id}/slots", headers=headers)
            statuses[slots.status_code] += 1
            if slots.status_code == 200 and slots.json()["proposals"]:
                slot = slots.json()["proposals"][0]
                r = await http.post(
                    f"/activities/{activity_id}/book",
                    json={
                        "mutation_id": str(uuid.uuid4()),
                        "technician_id": slot["technician_id"],
                        "window_start": slot["window_start"],
                    },
                    headers=headers,
                )
                statuses[r.status_code] += 1
            return
        path = ("/sync", "/activities", f"/activities/{activity_id}", "/me")[n % 4]
        r = await http.get(path, headers=headers)
        statuses[r.status_code] += 1

    with _Server(app) as base_url:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
            # Half the sessions are a minute old: their last use is due.
            clock.advance(seconds=30)
            await asyncio.gather(*(one(http, n) for n in range(100)))
            clock.advance(seconds=45)
            await asyncio.gather(*(one(http, n) for n in range(100, 200)))
    app.state.engine.dispose()
    assert sum(statuses.values()) >= 200
    assert set(statuses) <= {200, 409}, statuses
    booked = db.scalars(select(Activity).where(Activity.status == "scheduled")).all()
    assert booked  # bookings went through alongside the reads

"""The backend on PostgreSQL: migrations, the demo data, a full sync, the booking race.

Skipped unless ``PORTAL_TEST_POSTGRES_URL`` names a throwaway database, e.g.
``postgresql+psycopg://portal@127.0.0.1:54329/portal`` (``.ci/run`` starts
such a server). Every test drops and recreates that database's ``public``
schema, so never point it at data you want to keep.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy import create_engine, delete, event, func, select, text
from sqlalchemy.orm import Session

from backend.api.main import create_app
from backend.api.schemas import SyncPage
from backend.core.config import Settings
from backend.core.db import make_engine, upgrade
from backend.demo import DemoSize, seed_database
from backend.models import Activity, Base, FeedEntry
from backend.services import feed
from backend.services.sessions import create_session
from tests.backend.portal_setup import build_world as build_portal_world
from tests.backend.test_booking import (
    Booking,
    assert_no_double_booking,
    assert_race_outcome,
    new_id,
    race_for_slots,
)
from tests.backend.test_hot_reads import (
    DEATHS,
    activity_answers,
    read_hot_routes,
    up_to_date_cursor,
)
from tests.backend.test_mutations import (
    assert_one_version_each,
    assert_signed_once,
    race,
)
from tests.backend.test_mutations import build_world as build_forms_world
from tests.conftest import Clock

POSTGRES_URL = os.environ.get("PORTAL_TEST_POSTGRES_URL", "")

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="PostgreSQL tests need PORTAL_TEST_POSTGRES_URL (a throwaway database, e.g. "
    "postgresql+psycopg://portal@127.0.0.1:54329/portal); .ci/run starts one",
)

# Tuesday 24 November 2026, 10:00 in Lyon (as in test_demo.py).
DEMO_NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def pg_url() -> str:
    """The test database with an empty ``public`` schema."""
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def pg_settings(pg_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=pg_url,
        secret_key="test-secret-key",
        staff_token="test-staff-token",
        log_messages=False,
    )


@pytest.fixture
def pg_api(pg_settings: Settings, clock: Clock) -> Iterator[FastAPI]:
    app = create_app(pg_settings, clock=clock)
    yield app
    app.state.engine.dispose()
    app.state.hot_reader.close()


@pytest.fixture
def pg_db(pg_api: FastAPI) -> Iterator[Session]:
    session: Session = pg_api.state.sessionmaker()
    yield session
    session.close()


@pytest.fixture
async def pg_http(pg_api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=pg_api, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as client:
        yield client


def test_migrations_match_the_models(pg_url: str) -> None:
    upgrade(pg_url)
    upgrade(pg_url)  # a second upgrade is a no-op
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.dialect.name == "postgresql"
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations disagree on PostgreSQL: {diff}"
    assert len(versions) == 1


async def test_demo_data_and_a_full_sync(pg_url: str, tmp_path: Path) -> None:
    summary = seed_database(
        pg_url, DemoSize(technicians=4, clients=25, activities=90, seed=3), now=DEMO_NOW
    )
    assert summary.created and summary.activities == 90
    assert summary.example_client_id is not None
    settings = Settings(
        data_dir=tmp_path, database_url=pg_url, secret_key="test-secret-key", log_messages=False
    )
    app = create_app(settings, clock=Clock(DEMO_NOW))
    try:
        with app.state.sessionmaker() as db:
            token = create_session(db, settings, summary.example_client_id, "code", DEMO_NOW)
            expected = db.scalar(
                select(func.count())
                .select_from(FeedEntry)
                .where(
                    FeedEntry.client_id == summary.example_client_id,
                    FeedEntry.deleted.is_(False),
                )
            )
            db.commit()
        assert expected, "the demo client sees documents"
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
            changes: list[dict[str, Any]] = []
            params: dict[str, Any] = {"limit": 3}  # several pages
            pages = 0
            while True:
                r = await http.get("/sync", params=params, headers=headers)
                assert r.status_code == 200, r.text
                page = r.json()
                changes.extend(page["changes"])
                pages += 1
                params = {"limit": 3, "cursor": page["cursor"]}
                if not page["has_more"]:
                    break
            assert pages > 1
            assert len(changes) == expected
            assert len({(c["kind"], c["key"]) for c in changes}) == expected
            kinds = {c["kind"] for c in changes}
            assert "activity" in kinds
            again = (await http.get("/sync", params=params, headers=headers)).json()
            assert again["changes"] == [] and not again["has_more"]
    finally:
        app.state.engine.dispose()
        app.state.hot_reader.close()


async def test_demo_clients_can_book_and_sign_in(pg_url: str, tmp_path: Path) -> None:
    """The demo writes explicit ids: the rows the application adds afterwards
    (a booking's step, a sign-in code) must not collide with them."""
    summary = seed_database(
        pg_url, DemoSize(technicians=4, clients=25, activities=90, seed=3), now=DEMO_NOW
    )
    settings = Settings(
        data_dir=tmp_path, database_url=pg_url, secret_key="test-secret-key", log_messages=False
    )
    app = create_app(settings, clock=Clock(DEMO_NOW))
    try:
        with app.state.sessionmaker() as db:
            waiting = db.execute(
                select(Activity.id, Activity.client_id).where(Activity.status == "to_schedule")
            ).all()
            tokens = {c: create_session(db, settings, c, "code", DEMO_NOW) for _, c in waiting}
            db.commit()
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        booked = 0
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as http:
            for activity_id, client_id in waiting:
                headers = {"Authorization": f"Bearer {tokens[client_id]}"}
                r = await http.get(f"/activities/{activity_id}/slots", headers=headers)
                if r.status_code != 200 or not r.json()["proposals"]:
                    continue
                slot = r.json()["proposals"][0]
                r = await http.post(
                    f"/activities/{activity_id}/{r.json()['action']}",
                    json={
                        "mutation_id": new_id(),
                        "technician_id": slot["technician_id"],
                        "window_start": slot["window_start"],
                    },
                    headers=headers,
                )
                assert r.status_code in (200, 409), r.text
                booked += r.status_code == 200
            assert booked >= 1
            email = summary.example_client_email
            r = await http.post("/auth/code/request", json={"identifier": email})
            assert r.status_code == 202, r.text
    finally:
        app.state.engine.dispose()


def test_concurrent_bookings_never_double_book(
    pg_api: FastAPI, pg_db: Session, pg_settings: Settings, clock: Clock
) -> None:
    """Threads race for the same few slots; the technician-day advisory lock serializes them."""
    world = Booking(pg_db, pg_settings, clock.now, clients=24)
    advisory_locks: list[str] = []
    lock = threading.Lock()

    @event.listens_for(pg_api.state.engine, "before_cursor_execute")
    def _spy(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "pg_advisory_xact_lock" in statement:
            with lock:
                advisory_locks.append(statement)

    try:
        results = race_for_slots(pg_api, pg_db, world, clock.now)
    finally:
        event.remove(pg_api.state.engine, "before_cursor_execute", _spy)
    assert len(advisory_locks) == len(results), "every attempt took the technician-day lock"
    assert_race_outcome(pg_db, world, results)


async def test_booking_through_the_api(
    pg_http: httpx.AsyncClient, pg_db: Session, pg_settings: Settings, clock: Clock
) -> None:
    """Slots, book, and the loser's 409 with fresh proposals, end to end on PostgreSQL."""
    world = Booking(pg_db, pg_settings, clock.now)
    pg_db.commit()
    first = await pg_http.get(f"/activities/{world.activities[0].id}/slots", headers=world.auth(0))
    assert first.status_code == 200, first.text
    slot = first.json()["proposals"][0]
    body = {
        "technician_id": slot["technician_id"],
        "window_start": slot["window_start"],
    }
    won = await pg_http.post(
        f"/activities/{world.activities[0].id}/book",
        json={**body, "mutation_id": new_id()},
        headers=world.auth(0),
    )
    assert won.status_code == 200, won.text
    lost = await pg_http.post(
        f"/activities/{world.activities[1].id}/book",
        json={**body, "mutation_id": new_id()},
        headers=world.auth(1),
    )
    assert lost.status_code == 409 and lost.json()["code"] == "slot_taken"
    assert lost.json()["proposals"]
    assert_no_double_booking(pg_db, world)


@pytest.mark.parametrize("kind", ["validate_document", "fill_form"])
def test_concurrent_submissions_sign_once_and_version_every_form(
    pg_api: FastAPI, pg_db: Session, pg_settings: Settings, clock: Clock, kind: str
) -> None:
    """Eight sessions submit to one action at once: the per-action advisory lock
    makes one signature (the others: already signed) and versions 1..8 of a form."""
    world = build_forms_world(pg_db, pg_settings, clock.now)
    results = race(pg_api, pg_db, world, pg_settings, clock.now, kind)
    if kind == "validate_document":
        assert_signed_once(pg_db, results)
    else:
        assert_one_version_each(pg_db, results)


async def test_hot_reads_answer_and_refuse_like_the_slow_paths(
    pg_api: FastAPI,
    pg_http: httpx.AsyncClient,
    pg_db: Session,
    pg_settings: Settings,
    clock: Clock,
) -> None:
    """/sync, /activities and /activities/{id} on PostgreSQL: Core reads on the
    driver in autocommit give the answers of the ORM paths, and a dead session
    is refused everywhere (tests/backend/test_hot_reads.py runs the same on SQLite)."""
    world = build_portal_world(pg_db, pg_settings, clock.now)
    headers = world.auth(world.alice_token)
    cursor = await up_to_date_cursor(pg_http, world.alice_token)
    quiet = await pg_http.get("/sync", params={"cursor": cursor}, headers=headers)
    expected = feed.pull(pg_db, b"test-secret-key", "1", world.alice.id, cursor, 500)
    pg_db.commit()
    assert (
        quiet.content
        == SyncPage.model_validate(expected, from_attributes=True).model_dump_json().encode()
    )
    from_feed = await activity_answers(pg_http, world)
    assert from_feed["all"]["total"] == 3
    pg_db.execute(delete(FeedEntry).where(FeedEntry.client_id == world.alice.id))
    pg_db.commit()
    assert await activity_answers(pg_http, world) == from_feed
    clock.advance(minutes=2)  # the last use is due: written apart, then refused below
    for r in await read_hot_routes(pg_http, world, cursor):
        assert r.status_code == 200, r.text
    DEATHS["revoked"](pg_db, world, clock.now)
    pg_db.commit()
    for r in await read_hot_routes(pg_http, world, cursor):
        assert r.status_code == 401, r.text


async def test_hot_reads_survive_the_server_dropping_their_connections(
    pg_http: httpx.AsyncClient,
    pg_db: Session,
    pg_settings: Settings,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The async connections of the hot reads are kept between requests: when the
    server drops them (a restart, a failover), the next read opens new ones."""
    world = build_portal_world(pg_db, pg_settings, clock.now)
    headers = world.auth(world.alice_token)
    assert (await pg_http.get("/activities", headers=headers)).status_code == 200
    dropped = pg_db.execute(
        text(
            # Only this role's connections: an autovacuum worker may be there too.
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND usename = current_user "
            "AND pid <> pg_backend_pid()"
        )
    ).scalar()
    pg_db.commit()
    assert dropped
    for path in ("/activities", f"/activities/{world.upcoming.id}", "/sync"):
        r = await pg_http.get(path, headers=headers)
        assert r.status_code == 200, (path, r.text)
    assert "connection lost, retrying" in caplog.text

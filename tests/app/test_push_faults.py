"""Exactly once under faults: the push loses nothing and sends nothing twice.

In process: the network fails before the server, the answer is lost after
the server committed (a timeout), the server answers 500 after committing.
Across processes: the app is killed (``os._exit``) at five points of a push
(tests/app/push_child.py), restarted on its store file, and syncs again; the
backend's ``form_submissions`` table then holds every item exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.sync.api import Offline, PortalApi, ServerError
from app.sync.engine import SyncEngine, open_store
from app.sync.outbox import PENDING, SENT, Outbox
from app.sync.store import Store
from backend.core.config import Settings
from backend.models import FormSubmission, ValidationEvent
from tests.app.conftest import no_sleep
from tests.app.push_child import KILLED
from tests.app.test_push import Wire, access, portal_for, signing, submitted_ids, survey
from tests.backend.test_mutations import World, build_world
from tests.conftest import Clock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


class Fails(Wire):
    """The first /mutations request fails in a chosen way; later ones go through."""

    def __init__(self, app: FastAPI, how: str) -> None:
        super().__init__(app)
        self.how = how
        self.failed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/mutations" or self.failed:
            return await super().handle_async_request(request)
        self.failed = True
        self.calls.append((request.url.path, [m["mutation_id"] for m in _items(request)]))
        if self.how == "connect":
            raise httpx.ConnectError("no route to host")  # never reached the server
        response = await self.inner.handle_async_request(request)
        await response.aread()  # the server applied and committed the batch
        if self.how == "timeout":
            raise httpx.ReadTimeout("no answer in time")
        return httpx.Response(500, text="<html>Bad gateway</html>")  # a proxy in between


def _items(request: httpx.Request) -> list[dict[str, Any]]:
    return json.loads(request.content)["mutations"]


@pytest.mark.parametrize(
    ("how", "error", "applied_before_retry"),
    [("connect", Offline, 0), ("timeout", Offline, 2), ("bad_gateway", ServerError, 2)],
)
async def test_a_transport_failure_leaves_the_items_pending_and_the_retry_applies_them_once(
    api: FastAPI,
    store: Store,
    world: World,
    clock: Clock,
    how: str,
    error: type[Exception],
    applied_before_retry: int,
) -> None:
    wire = Fails(api, how)
    portal = portal_for(wire, world.alice_token)
    engine = SyncEngine(store, portal, clock=clock, sleep=no_sleep)
    outbox = Outbox(store, clock=clock)
    queued = [
        outbox.enqueue("fill_form", access(world.scheduled.id)).mutation_id,
        outbox.enqueue("survey", survey(world.done.id)).mutation_id,
    ]
    with pytest.raises(error):
        await engine.sync_once()
    assert len(submitted_ids(api)) == applied_before_retry
    # Untouched: no attempt counted, no backoff; the pull did not run either.
    for mutation in outbox.pending():
        assert mutation.attempts == 0 and mutation.next_attempt_at is None
    assert [path for path, _ in wire.calls] == ["/mutations"]

    result = await engine.sync_once()
    assert wire.pushes() == [queued, queued]  # the same ids, again
    assert result.sent == 2
    assert submitted_ids(api) == queued
    assert all(outbox.get(i).status == SENT for i in queued)  # type: ignore[union-attr]
    await portal.aclose()


# --- kill the app process ----------------------------------------------------------------

# Where the app dies, how many items the server holds at that moment (of the
# 4 queued, sent 2 per batch) and how many the app had recorded as sent.
KILL_POINTS = {
    "push.before_send": (0, 0),
    "server.during_send": (0, 0),
    "server.committed": (2, 0),
    "push.received": (2, 0),
    "pull.received": (4, 4),
}


def server_rows(api: FastAPI) -> tuple[list[str], int]:
    """(mutation ids of form_submissions in order, validation_events count)."""
    with api.state.sessionmaker() as db:
        ids = list(db.scalars(select(FormSubmission.mutation_id).order_by(FormSubmission.id)))
        events = db.scalar(select(func.count()).select_from(ValidationEvent)) or 0
    return ids, events


def outbox_statuses(path: Path) -> dict[str, int]:
    with open_store(path) as store:
        rows = store.fetchall("SELECT status, COUNT(*) FROM outbox GROUP BY status")
    return {row[0]: row[1] for row in rows}


def run_app(config_path: Path, point: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PUSH_KILL_POINT": point}
    return subprocess.run(
        [sys.executable, "-m", "tests.app.push_child", str(config_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.parametrize("point", list(KILL_POINTS))
async def test_killed_at_any_point_of_a_push_nothing_is_lost_or_sent_twice(
    api: FastAPI, settings: Settings, world: World, clock: Clock, tmp_path: Path, point: str
) -> None:
    # The app has synced once and queued four items offline: two versions of
    # a form, a signature (hashed from its synced documents) and a survey.
    store_path = tmp_path / "device" / "app-cache.sqlite3"
    portal = PortalApi.embedded(api)
    portal.token = world.alice_token
    with open_store(store_path) as store:
        await SyncEngine(store, portal, clock=clock, sleep=no_sleep).sync_once()
        outbox = Outbox(store, clock=clock)
        queued = [
            outbox.enqueue("fill_form", access(world.scheduled.id, "first")),
            outbox.enqueue("validate_document", signing(store, world)),
            outbox.enqueue("fill_form", access(world.scheduled.id, "second")),
            outbox.enqueue("survey", survey(world.done.id)),
        ]
    ids = [m.mutation_id for m in queued]
    config = tmp_path / "child.json"
    config.write_text(
        json.dumps(
            {
                "settings": {
                    "data_dir": str(settings.data_dir),
                    "database_url": settings.database_url,
                    "secret_key": settings.secret_key,
                    "staff_token": settings.staff_token,
                    "log_messages": False,
                },
                "now": clock.now.isoformat(),
                "token": world.alice_token,
                "store": str(store_path),
                "batch_size": 2,
            }
        )
    )

    child = run_app(config, point)

    assert child.returncode == KILLED, (child.returncode, child.stdout, child.stderr[-3000:])
    assert "finished" not in child.stdout
    on_server, recorded = KILL_POINTS[point]
    assert len(server_rows(api)[0]) == on_server
    assert outbox_statuses(store_path).get(SENT, 0) == recorded

    # Restart: the store reopened from its file, a new engine, sync again.
    with open_store(store_path) as store:
        engine = SyncEngine(store, portal, clock=clock, sleep=no_sleep)
        await engine.sync()
        assert engine.status.state == "idle"
        outbox = Outbox(store, clock=clock)
        assert outbox.pending_count() == 0 and outbox.rejected() == []
        assert [outbox.get(i).status for i in ids] == [SENT] * 4  # type: ignore[union-attr]
        doc = store.get("activities", str(world.scheduled.id))
        assert doc is not None
        assert doc["submissions"]["access"]["version"] == 2
        assert doc["submissions"]["sign_quote"]["state"] == "signed"
    await portal.aclose()

    # 0 lost, 0 duplicated, in the order they were queued.
    submitted, signatures = server_rows(api)
    assert submitted == ids and signatures == 1
    assert PENDING not in outbox_statuses(store_path)

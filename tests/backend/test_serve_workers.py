"""`portal serve --workers 2` on PostgreSQL: several processes, one correct schedule.

Each worker keeps its own scheduling cache; a booking made through one must
never be proposed again by the other (the caches follow ``schedule_version``
in the database). Skipped without ``PORTAL_TEST_POSTGRES_URL`` (``.ci/run``
starts a throwaway server); the schema of that database is recreated.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.core.config import Settings
from backend.core.db import make_engine, make_sessionmaker, upgrade
from backend.models import Activity, Mutation
from tests.backend.test_booking import Booking, assert_no_double_booking, new_id
from tests.backend.test_postgres import POSTGRES_URL, pg_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="needs PORTAL_TEST_POSTGRES_URL (.ci/run starts a server)"
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "workers-test-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:  # noqa: F811
    upgrade(pg_url)
    port = _free_port()
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": pg_url,
        "PORTAL_SECRET_KEY": SECRET,
        "PORTAL_DATA_DIR": str(tmp_path),
        "PORTAL_LOG_MESSAGES": "false",
    }
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while len(re.findall(r"Application startup complete", log.read_text())) < 2:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield base, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _fresh(base: str, method: str, path: str, **kw: Any) -> httpx.Response:
    # A new connection each time, so the kernel spreads requests over both workers.
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        return await http.request(method, path, **kw)


@pytest.mark.slow
async def test_two_workers_share_one_schedule(server: tuple[str, Path], pg_url: str) -> None:  # noqa: F811
    base, log = server
    engine = make_engine(pg_url)
    settings = Settings(database_url=pg_url, secret_key=SECRET)
    with make_sessionmaker(engine)() as db:
        world = Booking(db, settings, datetime.now(UTC), clients=6)
    pids = set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))
    assert len(pids) == 2, log.read_text()

    async def book(i: int) -> tuple[int, Any]:
        path = f"/activities/{world.activities[i].id}"
        slots = await _fresh(base, "GET", f"{path}/slots", headers=world.auth(i))
        assert slots.status_code == 200, slots.text
        slot = slots.json()["proposals"][0]
        r = await _fresh(
            base,
            "POST",
            f"{path}/book",
            json={
                "mutation_id": new_id(),
                "technician_id": slot["technician_id"],
                "window_start": slot["window_start"],
            },
            headers=world.auth(i),
        )
        return r.status_code, slot

    # Every client races for its best slot at once, through both processes.
    results = await asyncio.gather(*(book(i) for i in range(6)))
    statuses = [status for status, _ in results]
    assert set(statuses) <= {200, 409}, statuses
    assert 200 in statuses
    taken = {(s["technician_id"], s["window_start"]) for status, s in results if status == 200}

    with make_sessionmaker(engine)() as db:
        assert_no_double_booking(db, world)
        booked = db.scalars(select(Activity).where(Activity.status == "scheduled")).all()
        assert len(booked) == statuses.count(200)
        committed = db.scalars(select(Mutation).where(Mutation.status_code == 200)).all()
        assert len(committed) == statuses.count(200)

    # Whichever process answers, a taken window (a visit fills it) is never proposed again.
    waiting = [i for i, (status, _) in enumerate(results) if status != 200]
    for i in waiting * 5:
        r = await _fresh(
            base, "GET", f"/activities/{world.activities[i].id}/slots", headers=world.auth(i)
        )
        assert r.status_code == 200, r.text
        offered = {(p["technician_id"], p["window_start"]) for p in r.json()["proposals"]}
        assert not offered & taken
    engine.dispose()

"""Benchmark delta sync: full vs incremental pulls, /sync latency, applying into the app store.

Usage:
    python bench/bench_sync.py                    # 2,000 activities, 5 rounds
    python bench/bench_sync.py --activities 500 --rounds 3 --quick

One client sees ``--activities`` activities (built with ``backend.models`` on a
temporary SQLite file, then projected with ``backend.services.feed``). The
backend runs in-process behind ``httpx.ASGITransport``, exactly as the
embedded app talks to it. Measured in the same run:

1. full sync (all pages, server page size) then, after 10 activities change
   through the staff API, the incremental sync from the full sync's cursor:
   time and response-body bytes, median over ``--rounds``; ratios
   incremental/full (goals: bytes <= 2 %, time <= 10 %);
2. latency of single ``/sync`` calls: >= 200 incremental calls with nothing
   new, >= 50 first-page calls of a full sync; p50 and p99;
3. the app side: applying the pages into a fresh app ``Store`` (full) and the
   incremental page into a filled one, both through ``SyncEngine`` end to end
   and ``apply_page`` alone.

It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from app.sync.api import PortalApi  # noqa: E402
from app.sync.engine import SyncEngine, apply_page, open_store  # noqa: E402
from backend.api.main import create_app  # noqa: E402
from backend.contacts import normalize_email, normalize_phone  # noqa: E402
from backend.core.config import Settings  # noqa: E402
from backend.models import (  # noqa: E402
    Activity,
    ActivityStep,
    ActivityType,
    BusinessUnit,
    Client,
    ClientContact,
    Site,
    Technician,
)
from backend.services import feed  # noqa: E402
from backend.services.sessions import create_session  # noqa: E402

STAFF_TOKEN = "bench-staff-token"
CHANGED_PER_ROUND = 10
STATUSES = ("scheduled", "done", "to_schedule", "in_progress")


def build_dataset(app: Any, settings: Settings, count: int) -> tuple[str, list[int]]:
    """One business unit, one client with ``count`` visible activities; returns (token, ids)."""
    now = datetime.now(UTC)
    db = app.state.sessionmaker()
    try:
        bu = BusinessUnit(
            name="Bench Heating",
            phone="+33 4 72 00 00 00",
            email="office@bench.example",
            address="1 rue de la République, 69002 Lyon",
            description="Heating and plumbing.",
            logo="logo.png",
        )
        db.add(bu)
        db.flush()
        client = Client(business_unit_id=bu.id, name="Alice Martin", preferred_language="fr")
        client.contacts.append(ClientContact(kind="email", value=normalize_email("a@x.example")))
        client.contacts.append(ClientContact(kind="phone", value=normalize_phone("0612345678")))
        client.sites.append(
            Site(
                label="Home",
                street="10 rue Mercière",
                postal_code="69002",
                city="Lyon",
                latitude=45.7625,
                longitude=4.8320,
            )
        )
        db.add(client)
        tech = Technician(
            business_unit_id=bu.id,
            first_name="Karim",
            last_name="Benali",
            skills=["boiler"],
            home_latitude=45.75,
            home_longitude=4.85,
            working_hours={str(d): [[480, 1080]] for d in range(5)},
        )
        kind = ActivityType(
            business_unit_id=bu.id,
            name="Boiler service",
            default_duration_min=60,
            required_skills=["boiler"],
            portal_shown=True,
            title_template="{type.name} – {site.city}",
            portal_actions=[],
        )
        db.add_all([tech, kind])
        db.flush()
        activities = []
        for n in range(count):
            start = now + timedelta(hours=6 * (n - count // 2))
            activities.append(
                Activity(
                    business_unit_id=bu.id,
                    client_id=client.id,
                    site_id=client.sites[0].id,
                    type_id=kind.id,
                    status=STATUSES[n % len(STATUSES)],
                    scheduled_start=start,
                    scheduled_end=start + timedelta(hours=1),
                    window_start=start,
                    window_end=start + timedelta(hours=2),
                    technician_id=tech.id,
                    description=f"Annual boiler service #{n}: check burner, flue and pressure.",
                )
            )
        db.add_all(activities)
        db.flush()
        for activity in activities:
            db.add(ActivityStep(activity_id=activity.id, at=now, code="created", note=""))
            db.add(ActivityStep(activity_id=activity.id, at=now, code="planned", note="Booked"))
        db.flush()
        feed.refresh_client(db, client.id)
        token = create_session(db, settings, client.id, "code", now)
        db.commit()
        return token, [a.id for a in activities]
    finally:
        db.close()


async def pull(
    http: httpx.AsyncClient, token: str, cursor: str | None
) -> tuple[float, int, int, str, list[dict[str, Any]]]:
    """Follow has_more from ``cursor``; returns (seconds, body bytes, pages, cursor, pages)."""
    headers = {"Authorization": f"Bearer {token}"}
    pages: list[dict[str, Any]] = []
    size = 0
    started = time.perf_counter()
    while True:
        params = {"cursor": cursor} if cursor else {}
        response = await http.get("/sync", params=params, headers=headers)
        response.raise_for_status()
        size += len(response.content)
        page = response.json()
        pages.append(page)
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    return time.perf_counter() - started, size, len(pages), cursor, pages


async def change_activities(http: httpx.AsyncClient, ids: list[int], round_no: int) -> None:
    for activity_id in ids:
        response = await http.patch(
            f"/staff/activities/{activity_id}",
            json={"description": f"Changed in round {round_no}"},
            headers={"X-Staff-Token": STAFF_TOKEN},
        )
        response.raise_for_status()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def latency(
    http: httpx.AsyncClient, token: str, cursor: str | None, calls: int
) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    params = {"cursor": cursor} if cursor else {}
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        response = await http.get("/sync", params=params, headers=headers)
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
    return samples


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


async def run(args: argparse.Namespace, workdir: Path) -> None:
    settings = Settings(
        data_dir=workdir,
        database_url=f"sqlite:///{workdir / 'portal.db'}",
        secret_key="bench-secret-key",
        staff_token=STAFF_TOKEN,
        log_messages=False,
    )
    app = create_app(settings)
    started = time.perf_counter()
    token, ids = build_dataset(app, settings, args.activities)
    build_time = time.perf_counter() - started
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        r = await http.get(
            "/activities", params={"limit": 1}, headers={"Authorization": f"Bearer {token}"}
        )
        visible = r.json()["total"]

        full_times, full_bytes, inc_times, inc_bytes = [], [], [], []
        full_pages = inc_pages = inc_changes = full_changes = 0
        for round_no in range(args.rounds):
            seconds, size, full_pages, cursor, pages = await pull(http, token, None)
            full_changes = sum(len(p["changes"]) for p in pages)
            full_times.append(seconds)
            full_bytes.append(size)
            start = (round_no * CHANGED_PER_ROUND) % len(ids)
            await change_activities(http, ids[start : start + CHANGED_PER_ROUND], round_no)
            seconds, size, inc_pages, _, pages = await pull(http, token, cursor)
            inc_times.append(seconds)
            inc_bytes.append(size)
            inc_changes = sum(len(p["changes"]) for p in pages)

        _, _, _, latest, _ = await pull(http, token, None)
        quiet = await latency(http, token, latest, args.incremental_calls)
        first_pages = await latency(http, token, None, args.full_calls)

        # App side: the engine end to end (HTTP + apply), then apply_page alone.
        portal = PortalApi(http, token=token)
        engine_full, engine_inc, apply_full, apply_inc = [], [], [], []
        for round_no in range(args.rounds):
            store_dir = workdir / f"app-{round_no}"
            with open_store(store_dir / "engine.sqlite3") as store:
                engine = SyncEngine(store, portal)
                started = time.perf_counter()
                result = await engine.sync_once()
                engine_full.append(time.perf_counter() - started)
                assert store.count("activities") == visible, result
                await change_activities(
                    http, ids[-CHANGED_PER_ROUND * (round_no + 1) :][:CHANGED_PER_ROUND], round_no
                )
                started = time.perf_counter()
                result = await engine.sync_once()
                engine_inc.append(time.perf_counter() - started)
                assert result.changed == CHANGED_PER_ROUND, result
            # apply_page alone, on pages fetched beforehand.
            _, _, _, cursor, pages = await pull(http, token, None)
            with open_store(store_dir / "apply.sqlite3") as store:
                now = datetime.now(UTC)
                started = time.perf_counter()
                for page in pages:
                    apply_page(store, page, now)
                apply_full.append(time.perf_counter() - started)
                await change_activities(http, ids[:CHANGED_PER_ROUND], 1000 + round_no)
                _, _, _, _, inc = await pull(http, token, cursor)
                started = time.perf_counter()
                for page in inc:
                    apply_page(store, page, now)
                apply_inc.append(time.perf_counter() - started)

    app.state.engine.dispose()

    med = statistics.median
    print(
        f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"{platform.system()} {platform.machine()}"
    )
    print(
        f"dataset: {visible} visible activities for one client "
        f"(built in {build_time:.1f} s); page size {settings.sync_page_size}; "
        f"{args.rounds} rounds, medians"
    )
    print()
    print(f"{'measure':<46}{'full':>14}{'incremental':>14}{'ratio':>10}  goal")
    print("-" * 92)
    print(f"{'pages':<46}{full_pages:>14}{inc_pages:>14}")
    print(f"{'changes carried':<46}{full_changes:>14}{inc_changes:>14}")
    ratio_bytes = med(inc_bytes) / med(full_bytes)
    print(
        f"{'response bytes':<46}{med(full_bytes):>14,.0f}{med(inc_bytes):>14,.0f}"
        f"{ratio_bytes:>10.2%}  <= 2 %"
    )
    ratio_time = med(inc_times) / med(full_times)
    print(
        f"{'pull time (all pages, in-process HTTP)':<46}{ms(med(full_times)):>14}"
        f"{ms(med(inc_times)):>14}{ratio_time:>10.2%}  <= 10 %"
    )
    print(
        f"{'app: SyncEngine.sync_once (HTTP + store)':<46}{ms(med(engine_full)):>14}"
        f"{ms(med(engine_inc)):>14}{med(engine_inc) / med(engine_full):>10.2%}"
    )
    print(
        f"{'app: apply_page only (store transaction)':<46}{ms(med(apply_full)):>14}"
        f"{ms(med(apply_inc)):>14}{med(apply_inc) / med(apply_full):>10.2%}"
    )
    print()
    print(f"{'/sync latency (one call, in-process)':<46}{'calls':>8}{'p50':>14}{'p99':>14}")
    print("-" * 82)
    print(
        f"{'incremental, nothing new':<46}{len(quiet):>8}"
        f"{ms(percentile(quiet, 0.5)):>14}{ms(percentile(quiet, 0.99)):>14}"
    )
    print(
        f"{f'full, first page of {settings.sync_page_size}':<46}{len(first_pages):>8}"
        f"{ms(percentile(first_pages, 0.5)):>14}{ms(percentile(first_pages, 0.99)):>14}"
    )


def main() -> None:
    """Parse arguments, build the dataset in a temporary directory and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--incremental-calls", type=int, default=200)
    parser.add_argument("--full-calls", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="fewer latency calls")
    args = parser.parse_args()
    if args.quick:
        args.incremental_calls, args.full_calls = 40, 10
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()

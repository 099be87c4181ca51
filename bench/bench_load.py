"""Load benchmark: `portal serve` on loopback under N signed-in clients at once.

    .venv/bin/python bench/bench_load.py                       # SQLite, one process
    .venv/bin/python bench/bench_load.py --database-url postgresql+psycopg://… --workers 2

For each N (default 50, 200, 500) and for ``--duration`` seconds each, N
client loops run back to back (each waits for its answer before the next
request) in three phases:

- ``health``: GET /health, the server's floor;
- ``reads``: authenticated reads (75 % /sync with the client's cursor, 25 %
  activity list or detail);
- ``mix``: 60 % /sync, 20 % activity list/detail, 15 % slots, 5 % bookings
  (slots, then book or reschedule the first proposal).

It prints per route p50/p99 beside a single-client run, the throughput of
each phase, the ratio of authenticated reads to /health at the same N, every
error (5xx, timeout, connection failure) and, at the end, checks the
database: no technician double-booked, and every booking the server
committed was answered 200. Figures go to docs/PERFORMANCE_LOAD.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.core.config import Settings  # noqa: E402
from backend.demo import DemoSize, seed_database  # noqa: E402
from backend.models import Activity, Client, Mutation  # noqa: E402
from backend.services.sessions import create_session  # noqa: E402

SECRET = "bench-load-secret"
TIMEOUT_S = 30.0


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Stats:
    """What one phase observed."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    booked: set[str] = field(default_factory=set)  # mutation ids answered 200
    elapsed: float = 0.0

    def record(self, route: str, started: float, status: int) -> None:
        self.latencies[route].append((time.perf_counter() - started) * 1000)
        self.statuses[f"{route} {status}"] += 1
        if status >= 500:
            self.errors[f"{route} {status}"] += 1

    def count(self, routes: tuple[str, ...] | None = None) -> int:
        return sum(len(v) for k, v in self.latencies.items() if routes is None or k in routes)


@dataclass
class VirtualClient:
    token: str
    client_id: int
    activity_ids: list[int]
    bookable_ids: list[int]
    cursor: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(url: str, clients: int, size: DemoSize) -> list[VirtualClient]:
    """Seed the demo data and open ``clients`` sessions (several per demo client)."""
    seed_database(url, size)
    settings = Settings(database_url=url, secret_key=SECRET)
    engine = create_engine(url)
    now = datetime.now(UTC)
    out: list[VirtualClient] = []
    with Session(engine) as db:
        client_ids = list(db.scalars(select(Client.id).where(Client.portal_access)))
        rows = db.execute(select(Activity.id, Activity.client_id, Activity.status)).all()
        by_client: dict[int, list[int]] = defaultdict(list)
        bookable: dict[int, list[int]] = defaultdict(list)
        for activity_id, client_id, status in rows:
            by_client[client_id].append(activity_id)
            if status in ("to_schedule", "scheduled"):
                bookable[client_id].append(activity_id)
        with_work = [c for c in client_ids if bookable[c]] or client_ids
        for i in range(clients):
            cid = with_work[i % len(with_work)]
            token = create_session(db, settings, cid, "code", now)
            out.append(VirtualClient(token, cid, by_client[cid], bookable[cid]))
        db.commit()
    engine.dispose()
    return out


def start_server(
    env: dict[str, str], port: int, workers: int, log: Path
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    # The server's log goes to a file: an unread pipe would fill up and block it.
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


async def _call(
    http: httpx.AsyncClient, stats: Stats, route: str, method: str, path: str, **kw: Any
) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        r = await http.request(method, path, **kw)
    except httpx.TimeoutException:
        stats.errors[f"{route} timeout"] += 1
        return None
    except httpx.HTTPError as exc:
        stats.errors[f"{route} {type(exc).__name__}"] += 1
        return None
    stats.record(route, started, r.status_code)
    return r


async def op_sync(http: httpx.AsyncClient, vc: VirtualClient, stats: Stats) -> None:
    params = {"cursor": vc.cursor} if vc.cursor else {}
    r = await _call(http, stats, "sync", "GET", "/sync", params=params, headers=vc.headers)
    if r is not None and r.status_code == 200:
        body = r.json()
        vc.cursor = body.get("cursor") or vc.cursor


async def op_list_or_detail(
    http: httpx.AsyncClient, vc: VirtualClient, stats: Stats, rng: random.Random
) -> None:
    if vc.activity_ids and rng.random() < 0.5:
        path = f"/activities/{rng.choice(vc.activity_ids)}"
        await _call(http, stats, "detail", "GET", path, headers=vc.headers)
    else:
        await _call(http, stats, "list", "GET", "/activities", headers=vc.headers)


async def op_slots(
    http: httpx.AsyncClient, vc: VirtualClient, stats: Stats, rng: random.Random
) -> tuple[int, dict[str, Any]] | None:
    if not vc.bookable_ids:
        await op_list_or_detail(http, vc, stats, rng)
        return None
    activity_id = rng.choice(vc.bookable_ids)
    r = await _call(
        http, stats, "slots", "GET", f"/activities/{activity_id}/slots", headers=vc.headers
    )
    if r is None or r.status_code != 200:
        return None
    return activity_id, r.json()


async def op_book(
    http: httpx.AsyncClient, vc: VirtualClient, stats: Stats, rng: random.Random
) -> None:
    found = await op_slots(http, vc, stats, rng)
    if found is None or not found[1]["proposals"]:
        return
    activity_id, body = found
    slot = body["proposals"][0]
    mutation_id = str(uuid.uuid4())
    r = await _call(
        http,
        stats,
        "book",
        "POST",
        f"/activities/{activity_id}/{body['action']}",
        json={
            "mutation_id": mutation_id,
            "technician_id": slot["technician_id"],
            "window_start": slot["window_start"],
        },
        headers=vc.headers,
    )
    if r is not None and r.status_code == 200:
        stats.booked.add(f"{vc.client_id}:{mutation_id}")


async def run_phase(
    base_url: str, phase: str, clients: list[VirtualClient], duration: float, seed: int
) -> Stats:
    """``len(clients)`` loops for ``duration`` seconds; one request in flight per loop."""
    stats = Stats()
    # One connection per client, as each device has its own: a single shared
    # pool of hundreds of connections makes httpx itself the bottleneck.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(TIMEOUT_S, connect=TIMEOUT_S, pool=TIMEOUT_S)
    # One TLS context for every client (the URLs are plain http anyway): each
    # AsyncClient would otherwise load the CA bundle, 45 ms of the generator's
    # CPU per client here, so at N = 500 the first 20 s of every 30 s phase
    # went to creating clients instead of sending requests.
    tls = ssl.create_default_context()
    stop_at = time.perf_counter() + duration

    async def loop(i: int) -> None:
        rng = random.Random(seed * 100_003 + i)
        vc = clients[i]
        async with httpx.AsyncClient(
            base_url=base_url, limits=limits, timeout=timeout, verify=tls
        ) as http:
            await client_loop(http, rng, vc)

    async def client_loop(http: httpx.AsyncClient, rng: random.Random, vc: VirtualClient) -> None:
        while time.perf_counter() < stop_at:
            roll = rng.random()
            if phase == "health":
                await _call(http, stats, "health", "GET", "/health")
            elif phase == "reads":
                if roll < 0.75:
                    await op_sync(http, vc, stats)
                else:
                    await op_list_or_detail(http, vc, stats, rng)
            elif roll < 0.60:
                await op_sync(http, vc, stats)
            elif roll < 0.80:
                await op_list_or_detail(http, vc, stats, rng)
            elif roll < 0.95:
                await op_slots(http, vc, stats, rng)
            else:
                await op_book(http, vc, stats, rng)

    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(len(clients))))
    stats.elapsed = time.perf_counter() - started
    return stats


READ_ROUTES = ("sync", "list", "detail")


def report(n: int, phases: dict[str, Stats], single: Stats) -> dict[str, Any]:
    health_rps = phases["health"].count() / phases["health"].elapsed
    reads_rps = phases["reads"].count(READ_ROUTES) / phases["reads"].elapsed
    mix = phases["mix"]
    print(f"\n## N = {n} concurrent clients")
    for name, st in phases.items():
        errors = sum(st.errors.values())
        print(
            f"  {name:7s} {st.count() / st.elapsed:8.0f} req/s  "
            f"{st.count():7d} answers  errors {errors} {dict(st.errors) or ''}"
        )
    print(f"  authenticated reads / health throughput: {reads_rps / health_rps:.2f}")
    print(f"  {'route':8s} {'p50 ms':>8s} {'p99 ms':>8s}   single-client p50/p99")
    for route in ("sync", "list", "detail", "slots", "book"):
        lat = mix.latencies.get(route, [])
        one = single.latencies.get(route, [])
        print(
            f"  {route:8s} {percentile(lat, 0.5):8.1f} {percentile(lat, 0.99):8.1f}   "
            f"{percentile(one, 0.5):6.1f} / {percentile(one, 0.99):6.1f}   (n={len(lat)})"
        )
    refused = {k: v for k, v in mix.statuses.items() if " 4" in k}
    print(f"  refusals (4xx, expected: slot taken, action no longer available): {refused}")
    return {
        "n": n,
        "errors": sum(sum(p.errors.values()) for p in phases.values()),
        "health_rps": health_rps,
        "reads_rps": reads_rps,
        "ratio": reads_rps / health_rps,
        "mix_rps": mix.count() / mix.elapsed,
    }


def unsound_days(url: str) -> set[tuple[int, Any]]:
    """Technician-days whose booked route breaks a rule (``bench/schedule_check.py``)."""
    from bench.schedule_check import check_schedule

    engine = create_engine(url)
    with Session(engine) as db:
        bu_ids = {bu for (bu,) in db.execute(select(Activity.business_unit_id).distinct())}
        found: set[tuple[int, Any]] = set()
        for bu in bu_ids:
            found |= check_schedule(db, bu).days
    engine.dispose()
    return found


def unanswered_commits(url: str, answered: set[str]) -> int:
    """Bookings the server committed that the bench never saw answered 200."""
    engine = create_engine(url)
    with Session(engine) as db:
        committed = {
            m.id
            for m in db.scalars(
                select(Mutation).where(
                    Mutation.status_code == 200, Mutation.kind.in_(("book", "reschedule"))
                )
            )
        }
    engine.dispose()
    return len(committed - answered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="50,200,500", help="N values (default 50,200,500)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    ns = [int(x) for x in args.clients.split(",")]
    size = DemoSize(technicians=20, clients=600, activities=4000, seed=args.seed)

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'portal.db'}"
        print(
            f"# bench_load: {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}"
        )
        print(
            f"# database {url.split('://')[0]}, workers {args.workers}, "
            f"{args.duration:g} s per phase, demo {size}"
        )
        clients = prepare(url, max(ns), size)
        env = {
            **os.environ,
            "PORTAL_DATA_DIR": tmp,
            "PORTAL_DATABASE_URL": url,
            "PORTAL_SECRET_KEY": SECRET,
            "PORTAL_LOG_MESSAGES": "false",
        }
        port = free_port()
        # The generated demo schedule is checked before and after: only a
        # difference can come from the bookings made here.
        unsound_before = unsound_days(url)
        server_log = Path(tmp) / "server.log"
        server = start_server(env, port, args.workers, server_log)
        base = f"http://127.0.0.1:{port}"
        results = []
        answered: set[str] = set()
        try:
            single = Stats()
            for phase in ("reads", "mix"):
                st = asyncio.run(run_phase(base, phase, clients[:1], min(5.0, args.duration), 1))
                for k, v in st.latencies.items():
                    single.latencies[k].extend(v)
                answered |= st.booked
            for n in ns:
                phases = {}
                for phase in ("health", "reads", "mix"):
                    phases[phase] = asyncio.run(
                        run_phase(base, phase, clients[:n], args.duration, n)
                    )
                    answered |= phases[phase].booked
                results.append(report(n, phases, single))
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        # A technician-day that was sound before and is not now: a double booking.
        doubles = len(unsound_days(url) - unsound_before)
        unanswered = unanswered_commits(url, answered)
        if any(r["errors"] for r in results):
            errors = [line for line in server_log.read_text().splitlines() if "Error" in line]
            print("\n## server errors (last 20 lines naming an error)")
            print("\n".join(errors[-20:]))
        print("\n## summary")
        print(
            f"  {'N':>5s} {'errors':>7s} {'health/s':>9s} {'reads/s':>8s} {'ratio':>6s} "
            f"{'mix/s':>7s}"
        )
        for r in results:
            print(
                f"  {r['n']:5d} {r['errors']:7d} {r['health_rps']:9.0f} {r['reads_rps']:8.0f} "
                f"{r['ratio']:6.2f} {r['mix_rps']:7.0f}"
            )
        print(
            f"  bookings answered 200: {len(answered)}; technician-days made unsound "
            f"(double bookings): {doubles} (before the run: {len(unsound_before)}); "
            f"committed but not answered 200: {unanswered}"
        )
        ok = all(r["errors"] == 0 for r in results) and doubles == 0 and unanswered == 0
        print(
            f"  goal (0 errors, no double booking, every commit answered): "
            f"{'met' if ok else 'NOT met'}; reads/health >= 0.5: "
            f"{'met' if all(r['ratio'] >= 0.5 for r in results) else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of the scheduling engine (prints figures, never asserts on time).

Run:  .venv/bin/python bench/bench_scheduling_engine.py [--quick] [--seed N]

For every size (technicians × days × visits per technician-day) and geography
around Lyon (uniform over a 30 km disc, or clustered around 8 towns) it
generates feasible existing schedules (visits chained with real travel times),
builds a ScheduleIndex once, then times random queries. The brute-force
reference runs on a subset of queries where it finishes in reasonable time, to
report the speed-up and the agreement (same feasible (day, window) set and the
same best cost within 1e-6 min).
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import resource
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.scheduling import reference  # noqa: E402
from backend.scheduling.engine import ScheduleIndex  # noqa: E402
from backend.scheduling.model import (  # noqa: E402
    BookingPolicy,
    Location,
    Technician,
    Visit,
    VisitRequest,
    horizon_days,
    local_instant,
)
from backend.scheduling.travel import HaversineTravel  # noqa: E402

TZ = ZoneInfo("Europe/Paris")
LYON = (45.76, 4.84)
RADIUS_KM = 30.0
SKILLS = ["elec", "gas", "water", "hvac", "solar"]
SHIFT = (420, 1140)  # 07:00-19:00 every day: the heaviest case for the engine
TRAVEL = HaversineTravel()


@dataclass(frozen=True)
class Size:
    techs: int
    days: int
    visits: int
    brute_queries: int  # 0 = skip the brute force

    @property
    def label(self) -> str:
        return f"{self.techs}x{self.days}x{self.visits}"


def _offset(center: tuple[float, float], km_north: float, km_east: float) -> Location:
    lat = center[0] + km_north / 111.32
    lon = center[1] + km_east / (111.32 * math.cos(math.radians(center[0])))
    return Location(lat, lon)


class Geography:
    """Random points around Lyon: 'uniform' over the disc or 'clustered' around towns."""

    def __init__(self, kind: str, rng: random.Random) -> None:
        self.kind = kind
        self.rng = rng
        self.towns = [self._in_disc(RADIUS_KM * 0.8) for _ in range(8)]

    def _in_disc(self, radius: float, center: tuple[float, float] = LYON) -> Location:
        r = radius * math.sqrt(self.rng.random())
        angle = self.rng.random() * 2 * math.pi
        return _offset(center, r * math.cos(angle), r * math.sin(angle))

    def home(self) -> Location:
        if self.kind == "uniform":
            return self._in_disc(RADIUS_KM)
        town = self.rng.choice(self.towns)
        return _offset((town.lat, town.lon), self.rng.gauss(0, 3), self.rng.gauss(0, 3))

    def site_near(self, home: Location) -> Location:
        """A customer a technician of this home would serve (dispatchers keep areas tight)."""
        if self.kind == "uniform":
            return self._in_disc(8.0, (home.lat, home.lon))
        town = min(self.towns, key=lambda t: TRAVEL.minutes(t, home))
        return _offset((town.lat, town.lon), self.rng.gauss(0, 4), self.rng.gauss(0, 4))

    def site(self) -> Location:
        if self.kind == "uniform":
            return self._in_disc(RADIUS_KM)
        town = self.rng.choice(self.towns)
        return _offset((town.lat, town.lon), self.rng.gauss(0, 4), self.rng.gauss(0, 4))


def make_instance(
    size: Size, kind: str, first_day: date, rng: random.Random
) -> tuple[list[Technician], list[Visit]]:
    """Technicians and a feasible chained schedule of up to ``size.visits`` per day."""
    geo = Geography(kind, rng)
    technicians: list[Technician] = []
    visits: list[Visit] = []
    for t in range(size.techs):
        home = geo.home()
        tech = Technician(
            id=f"T{t:05d}",
            name=f"Tech {t}",
            skills=frozenset(rng.sample(SKILLS, rng.randint(1, 4))),
            home=home,
            working_hours={wd: [SHIFT] for wd in range(7)},
        )
        technicians.append(tech)
        for d in range(size.days):
            day = first_day + timedelta(days=d)
            clock = float(SHIFT[0])
            here = home
            for k in range(size.visits):
                site = geo.site_near(home)
                duration = rng.choice([20, 30, 30, 45, 60])
                start = clock + TRAVEL.minutes(here, site) + rng.uniform(0, 10)
                if start + duration + TRAVEL.minutes(site, home) > SHIFT[1]:
                    break
                window_start = max(float(SHIFT[0]), start - rng.uniform(0, 90))
                visits.append(
                    Visit(
                        id=f"T{t:05d}-{d}-{k}",
                        technician_id=tech.id,
                        location=site,
                        start=local_instant(day, start, TZ),
                        duration_min=duration,
                        window_start=local_instant(day, window_start, TZ),
                        window_end=local_instant(day, window_start + 120, TZ),
                    )
                )
                clock = start + duration
                here = site
    return technicians, visits


def make_queries(
    count: int, kind: str, technicians: list[Technician], visits: list[Visit], rng: random.Random
) -> list[VisitRequest]:
    geo = Geography(kind, rng)
    queries = []
    for _ in range(count):
        roll = rng.random()
        queries.append(
            VisitRequest(
                location=geo.site(),
                duration_min=rng.choice([30, 45, 60, 90]),
                required_skills=frozenset(rng.sample(SKILLS, rng.randint(0, 1))),
                preferred_technician_id=rng.choice(technicians).id if roll < 0.3 else None,
                exclude_visit_id=rng.choice(visits).id if roll > 0.9 and visits else None,
            )
        )
    return queries


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_size(size: Size, kind: str, queries: int, seed: int) -> dict[str, object]:
    rng = random.Random(f"{seed}-{size.label}-{kind}")
    now = datetime(2025, 3, 2, 10, 0, tzinfo=TZ)  # horizons cross the 30 March DST change
    policy = BookingPolicy(horizon_days=size.days)
    first_day = horizon_days(now, policy, TZ)[0]
    technicians, visits = make_instance(size, kind, first_day, rng)
    requests = make_queries(queries, kind, technicians, visits, rng)

    gc.collect()
    t0 = time.perf_counter()
    index = ScheduleIndex(technicians, visits, TZ, first_day, size.days, TRAVEL)
    build_s = time.perf_counter() - t0

    for request in requests[:5]:  # warm-up (caches, numpy first-call costs)
        index.propose(request, policy, now)
    timings = []
    for request in requests:
        t0 = time.perf_counter()
        index.propose(request, policy, now)
        timings.append((time.perf_counter() - t0) * 1000)

    brute_ms: list[float] = []
    agree = 0
    for request in requests[: size.brute_queries]:
        t0 = time.perf_counter()
        expected = reference.best_insertions(technicians, visits, request, policy, now, TZ, TRAVEL)
        brute_ms.append((time.perf_counter() - t0) * 1000)
        got = index.best_insertions(request, policy, now)
        same = set(got) == set(expected) and all(
            abs(got[k].cost - expected[k].cost) <= 1e-6 for k in got
        )
        agree += same
    gaps = index.gap_count
    return {
        "size": size.label,
        "geo": kind,
        "visits": len(visits),
        "gaps": gaps,
        "build_s": build_s,
        "p50": statistics.median(timings),
        "p99": _percentile(timings, 0.99),
        "brute_p50": statistics.median(brute_ms) if brute_ms else None,
        "brute_n": len(brute_ms),
        "agree": agree,
        "technicians": technicians,
        "visits_list": visits,
        "requests": requests,
        "policy": policy,
        "now": now,
        "first_day": first_day,
    }


def peak_memory(result: dict[str, object]) -> tuple[float, float]:
    """(tracemalloc peak MB of index build + 50 queries, process max RSS MB)."""
    technicians = result["technicians"]
    visits = result["visits_list"]
    gc.collect()
    tracemalloc.start()
    index = ScheduleIndex(technicians, visits, TZ, result["first_day"], len(  # type: ignore[arg-type]
        horizon_days(result["now"], result["policy"], TZ)  # type: ignore[arg-type]
    ), TRAVEL)  # fmt: skip
    for request in result["requests"][:50]:  # type: ignore[index]
        index.propose(request, result["policy"], result["now"])  # type: ignore[arg-type]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak / 1e6, rss_mb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer queries, no 1000x28")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    queries = 40 if args.quick else 200
    sizes = [
        Size(10, 7, 6, 200 if not args.quick else 20),
        Size(50, 14, 8, 20 if not args.quick else 3),
        Size(200, 14, 8, 5 if not args.quick else 1),
    ]
    if not args.quick:
        sizes.append(Size(1000, 28, 10, 0))

    print(
        f"{'size':>12} {'geo':>9} {'visits':>7} {'gaps':>7} {'build s':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'brute p50 ms':>12} {'speed-up':>9} {'agree':>9}"
    )
    last = None
    for size in sizes:
        for kind in ("uniform", "clustered"):
            r = run_size(size, kind, queries, args.seed)
            brute = r["brute_p50"]
            brute_txt = f"{brute:12.1f}" if brute is not None else f"{'-':>12}"
            speed_txt = f"{brute / r['p50']:8.0f}x" if brute is not None else f"{'-':>9}"
            agree_txt = f"{r['agree']}/{r['brute_n']}".rjust(9) if r["brute_n"] else f"{'-':>9}"
            print(
                f"{r['size']:>12} {r['geo']:>9} {r['visits']:>7} {r['gaps']:>7} "
                f"{r['build_s']:8.2f} {r['p50']:7.2f} {r['p99']:7.2f} {brute_txt} "
                f"{speed_txt} {agree_txt}",
                flush=True,
            )
            last = r
    if last is not None and not args.quick:
        traced, rss = peak_memory(last)
        print(
            f"\npeak memory at {last['size']} ({last['geo']}): tracemalloc peak of index build "
            f"+ 50 queries {traced:.0f} MB; process max RSS {rss:.0f} MB (inputs included)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of ScheduleIndex.replace_day against a full rebuild (prints figures).

Run:  .venv/bin/python bench/bench_engine_patches.py [--quick] [--seed N]

Same instances as bench/bench_scheduling_engine.py (everybody works 07:00-19:00
every day, chained feasible schedules around Lyon, uniform geography). For each
size it builds the index once (the "full rebuild" time), then simulates
bookings: a random request, its best proposal, the technician's route with the
new visit (``insert_route``), and ``replace_day`` for that technician-day. It
reports the replace_day time and the query p50/p99 (``ScheduleIndex.propose``)
with 0, 10 and 50 technician-days patched; after 50 patches it checks that the
patched index answers like a fresh index built on the resulting visits (same
winner per (day, window), cost within 1e-6).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scheduling_engine import (  # noqa: E402
    TRAVEL,
    TZ,
    Size,
    _percentile,
    make_instance,
    make_queries,
)

from backend.scheduling.engine import ScheduleIndex, insert_route  # noqa: E402
from backend.scheduling.model import BookingPolicy, Visit, horizon_days  # noqa: E402


def _query_times(index: ScheduleIndex, requests, policy, now) -> tuple[float, float]:
    timings = []
    for request in requests:
        t0 = time.perf_counter()
        index.propose(request, policy, now)
        timings.append((time.perf_counter() - t0) * 1000)
    return statistics.median(timings), _percentile(timings, 0.99)


def run(size: Size, queries: int, seed: int, kind: str = "uniform") -> dict[str, object]:
    rng = random.Random(f"{seed}-{size.label}-{kind}-patches")
    now = datetime(2025, 3, 2, 10, 0, tzinfo=TZ)
    policy = BookingPolicy(horizon_days=size.days)
    first_day = horizon_days(now, policy, TZ)[0]
    technicians, visits = make_instance(size, kind, first_day, rng)
    by_id = {t.id: t for t in technicians}
    requests = make_queries(queries, kind, technicians, visits, rng)
    bookings = make_queries(200, kind, technicians, visits, rng)
    bookings = [b for b in bookings if b.exclude_visit_id is None]

    gc.collect()
    t0 = time.perf_counter()
    index = ScheduleIndex(technicians, visits, TZ, first_day, size.days, TRAVEL)
    build_s = time.perf_counter() - t0
    for request in requests[:5]:
        index.propose(request, policy, now)

    schedule: dict[tuple[str, date], list[Visit]] = defaultdict(list)
    for v in visits:
        schedule[(v.technician_id, v.start.astimezone(TZ).date())].append(v)

    result: dict[str, object] = {"size": size.label, "visits": len(visits), "build_s": build_s}
    result["q0"] = _query_times(index, requests, policy, now)
    replace_ms: list[float] = []
    booked = 0
    for request in bookings:
        if booked == 50:
            break
        best = index.best_insertions(request, policy, now)
        if not best:
            continue
        insertion = min(best.values(), key=lambda i: i.cost)
        technician = by_id[insertion.technician_id]
        key = (technician.id, insertion.day)
        route = insert_route(
            insertion, technician, schedule[key], request, policy, f"new-{booked}", TZ, TRAVEL
        )
        schedule[key] = route  # one shift interval a day: the route is the whole day
        t0 = time.perf_counter()
        index.replace_day(technician.id, insertion.day, route)
        replace_ms.append((time.perf_counter() - t0) * 1000)
        booked += 1
        if booked == 10:
            result["q10"] = _query_times(index, requests, policy, now)
    result["q50"] = _query_times(index, requests, policy, now)
    result["patches"] = index.patch_count
    result["replace_first_ms"] = statistics.median(replace_ms[:10])
    result["replace_last_ms"] = statistics.median(replace_ms[-10:])

    final = [v for vs in schedule.values() for v in vs]
    t0 = time.perf_counter()
    fresh = ScheduleIndex(technicians, final, TZ, first_day, size.days, TRAVEL)
    result["rebuild_s"] = time.perf_counter() - t0
    agree = 0
    checked = requests[:20]
    for request in checked:
        got = index.best_insertions(request, policy, now)
        want = fresh.best_insertions(request, policy, now)
        agree += set(got) == set(want) and all(
            (got[k].technician_id, got[k].segment, got[k].position)
            == (want[k].technician_id, want[k].segment, want[k].position)
            and abs(got[k].cost - want[k].cost) <= 1e-6
            for k in got
        )
    result["agree"] = f"{agree}/{len(checked)}"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer queries, no 1000x28")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    queries = 40 if args.quick else 200
    sizes = [Size(200, 14, 8, 0)]
    if not args.quick:
        sizes.append(Size(1000, 28, 10, 0))
    print(
        f"{'size':>11} {'visits':>7} {'build s':>7} {'rebuild s':>9} "
        f"{'replace ms (1st 10 / last 10)':>30} "
        f"{'p50/p99 0':>12} {'p50/p99 10':>12} {'p50/p99 50':>12} {'agree':>6}"
    )
    for size in sizes:
        r = run(size, queries, args.seed)
        cols = [f"{r[k][0]:.2f}/{r[k][1]:.2f}" for k in ("q0", "q10", "q50")]  # type: ignore[index]
        replace_txt = f"{r['replace_first_ms']:.2f} / {r['replace_last_ms']:.2f}"
        print(
            f"{r['size']:>11} {r['visits']:>7} {r['build_s']:7.2f} {r['rebuild_s']:9.2f} "
            f"{replace_txt:>30} {cols[0]:>12} {cols[1]:>12} {cols[2]:>12} {r['agree']:>6}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

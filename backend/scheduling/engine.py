"""Travel-aware slot proposals: exact cheapest insertion, vectorised with numpy.

Model (details in docs/SCHEDULING.md):

* a *route* is one shift interval of one technician on one day: leave home at
  the shift start, do the visits in order of scheduled start, be back home by
  the shift end; every visit starts at ``max(arrival, window_start)`` and must
  start by ``window_end`` (waiting is allowed);
* a *gap* is a place where the new visit can be inserted: between home and the
  first visit, between two consecutive visits, or between the last visit and
  home (an empty route has one gap, home → home).

For every gap the index stores, once, the departure time from the stop before
the gap (``dep``, prefix times do not change when we insert after them) and
the latest arrival at the stop after the gap that keeps the rest of the route
feasible (``late``, computed backwards: ``late_k = min(we_k, late_{k+1} - d_k
- t_{k,k+1})``, and ``-inf`` if ``ws_k`` exceeds it). This backward "latest
start" is exactly Savelsbergh's maximum push-forward under waiting semantics.

For a query at site ``N`` with duration ``d`` the new visit can start anywhere
in ``[a, L]`` with ``a = dep + t(prev, N)`` and ``L = late - t(N, next) - d``,
so it fits the window ``[ws, we]`` iff ``a <= L``, ``a <= we`` and
``L >= ws``. Its cost (detour) does not depend on the window, so a query is a
handful of numpy operations over all gaps plus one masked ``argmin`` per
(day, window).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from backend.scheduling.model import (
    REASON_AVAILABLE,
    REASON_EARLIEST,
    REASON_NEARBY,
    REASON_PREFERRED,
    TIME_EPS,
    BookingPolicy,
    Insertion,
    Location,
    Proposal,
    Technician,
    Visit,
    VisitRequest,
    as_zone,
    horizon_days,
    instant_from_minutes,
    local_instant,
    midnight_timestamp,
)
from backend.scheduling.travel import HaversineTravel, TravelProvider, VectorisedTravel

__all__ = [
    "ScheduleIndex",
    "check_insertion",
    "insert_route",
    "propose",
    "rank_insertions",
]


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class _Route:
    """One usable shift interval of a technician-day with its ordered visits."""

    segment: int
    shift_start: float  # minutes since the day's local midnight
    shift_end: float
    visits: list[Visit]


def _absent(technician: Technician, start_ts: float, end_ts: float) -> bool:
    return any(a.timestamp() < end_ts and b.timestamp() > start_ts for a, b in technician.absences)


def _day_routes(
    technician: Technician, day: date, day_visits: Iterable[Visit], tz: ZoneInfo
) -> list[_Route]:
    """Usable routes of a technician-day.

    ``day_visits`` must already be the technician's visits of that local day.
    A visit goes to the last shift interval that starts at or before it (the
    first one if it starts before all of them). Intervals overlapping an
    absence are dropped.
    """
    shifts = technician.shifts(day)
    if not shifts:
        return []
    midnight = midnight_timestamp(day, tz)
    bounds = [
        (
            (local_instant(day, start, tz).timestamp() - midnight) / 60.0,
            (local_instant(day, end, tz).timestamp() - midnight) / 60.0,
        )
        for start, end in shifts
    ]
    ordered = sorted(day_visits, key=lambda v: (v.start.timestamp(), v.id))
    per_segment: list[list[Visit]] = [[] for _ in shifts]
    for visit in ordered:
        start = (visit.start.timestamp() - midnight) / 60.0
        segment = 0
        for index, (shift_start, _) in enumerate(bounds):
            if shift_start <= start:
                segment = index
        per_segment[segment].append(visit)
    return [
        _Route(index, shift_start, shift_end, per_segment[index])
        for index, (shift_start, shift_end) in enumerate(bounds)
        if not _absent(technician, midnight + shift_start * 60.0, midnight + shift_end * 60.0)
    ]


def _gap_rows(
    shift_start: float,
    shift_end: float,
    durations: Sequence[float],
    window_starts: Sequence[float],
    window_ends: Sequence[float],
    legs: Sequence[float],
) -> list[tuple[int, float, float]]:
    """``(position, dep, late)`` of the gaps of one route that can ever be used.

    ``legs[k]`` is the travel time of the k-th leg of the route
    (home → v0 → … → v_{n-1} → home, so ``len(legs) == n + 1``).
    A gap is dropped when the visits before it are already late (prefix times
    do not change on insertion) or when ``dep > late`` (no insertion can fit,
    travel and duration being non-negative).
    """
    n = len(durations)
    # Forward pass: earliest departure after each visit, and prefix feasibility.
    departures = [shift_start]
    prefix_ok = [True]
    clock = shift_start
    ok = True
    for k in range(n):
        start = max(clock + legs[k], window_starts[k])
        ok = ok and start <= window_ends[k] + TIME_EPS
        clock = start + durations[k]
        departures.append(clock)
        prefix_ok.append(ok)
    # Backward pass: latest arrival at stop k+1.. that keeps the suffix feasible.
    # late[k] is for visit k; late[n] is home. Waiting absorbs pushes because a
    # visit starting anywhere in [ws_k, latest_start_k] is fine.
    late = [0.0] * (n + 1)
    late[n] = shift_end + TIME_EPS
    for k in range(n - 1, -1, -1):
        latest_start = min(window_ends[k] + TIME_EPS, late[k + 1] - durations[k] - legs[k + 1])
        late[k] = latest_start if window_starts[k] <= latest_start else -np.inf
    return [
        (p, departures[p], late[p])
        for p in range(n + 1)
        if prefix_ok[p] and departures[p] <= late[p]
    ]


@dataclass
class _GapTable:
    """Struct of arrays, one row per usable gap.

    Rows are sorted by (day, technician rank, segment, position) so that the
    first minimum of a day slice is the deterministic tie-break winner.
    Times are minutes since the local midnight of the gap's day.
    """

    prev: np.ndarray  # stop index before the gap
    next: np.ndarray  # stop index after the gap
    dep: np.ndarray  # departure time from prev
    late: np.ndarray  # latest arrival at next (TIME_EPS included)
    base: np.ndarray  # t(prev, next): the travel the insertion replaces
    tech: np.ndarray  # technician rank
    segment: np.ndarray
    position: np.ndarray
    has_visits: np.ndarray  # the route has existing visits
    day_bounds: np.ndarray  # rows of day i are day_bounds[i]:day_bounds[i+1]

    @staticmethod
    def from_rows(rows: list[tuple], num_days: int, day_of_row: list[int]) -> _GapTable:
        """Build from ``(prev, next, dep, late, base, tech, segment, position, has)`` rows."""
        columns = list(zip(*rows, strict=True)) if rows else [()] * 9
        dtypes = [np.int64, np.int64, np.float64, np.float64, np.float64,
                  np.int32, np.int16, np.int32, np.bool_]  # fmt: skip
        arrays = [np.asarray(col, dtype=dt) for col, dt in zip(columns, dtypes, strict=True)]
        counts = np.bincount(np.asarray(day_of_row, dtype=np.int64), minlength=num_days)
        bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return _GapTable(*arrays, day_bounds=bounds)


# --------------------------------------------------------------------------- index


@dataclass(frozen=True)
class _Best:
    """Winner of one (day, window) inside one gap table."""

    cost: float  # without the earliness term
    order: tuple[int, int, int]  # (technician rank, segment, position) for tie-breaks
    row: int
    start: float
    detour: float


@dataclass
class _LocalTable:
    """Gap table of some routes of one technician-day over local stops (0 = home).

    ``table.day_bounds`` puts every row on ``day_index`` of the index, so that
    ``_evaluate(table, day_index, day_index + 1, ...)`` works like on the main table.
    """

    table: _GapTable
    locations: list[Location]
    coords: np.ndarray | None  # prepared locations (vectorised providers)


@dataclass
class _Patch:
    """A technician-day replaced after the build (see :meth:`ScheduleIndex.replace_day`)."""

    routes: list[_Route]
    local: _LocalTable
    visit_ids: list[str]


_Winners = dict[tuple[int, int], tuple[_Best, _GapTable]]


def _merge_winners(winners: _Winners, extra: _Winners) -> None:
    """Keep the lower (cost, (rank, segment, position)) per key: a fresh index's tie-break."""
    for key, (candidate, table) in extra.items():
        current = winners.get(key)
        if current is None or (candidate.cost, candidate.order) < (
            current[0].cost,
            current[0].order,
        ):
            winners[key] = (candidate, table)


class ScheduleIndex:
    """Prepared schedules of a business unit, reusable for many queries.

    Build it once per business unit and date range (e.g. cache it until the
    visits change or the day rolls over), then call :meth:`propose` per client
    request. Building is O(visits) Python work; a query is O(gaps) numpy work.

    After a booking, :meth:`replace_day` updates one technician-day in place
    (exactly, no rebuild): the day's rows of the main table are masked out and
    its new routes live in a small side table ("patches") merged at query time.
    """

    def __init__(
        self,
        technicians: Sequence[Technician],
        visits: Sequence[Visit],
        tz: ZoneInfo | str,
        first_day: date,
        num_days: int,
        travel: TravelProvider | None = None,
    ) -> None:
        """Index ``num_days`` days from ``first_day`` (local dates in ``tz``)."""
        self.tz = as_zone(tz)
        self.first_day = first_day
        self.num_days = num_days
        self.travel: TravelProvider = travel or HaversineTravel()
        self._fast = isinstance(self.travel, VectorisedTravel)
        self._symmetric = bool(getattr(self.travel, "symmetric", False))
        self.technicians = sorted(technicians, key=lambda t: t.id)
        self._rank = {t.id: i for i, t in enumerate(self.technicians)}
        self._midnights = [
            midnight_timestamp(first_day + timedelta(days=i), self.tz) for i in range(num_days)
        ]
        self._window_cache: dict[tuple[int, int], tuple[float, float]] = {}
        self._build_skills()
        self._build_routes(visits)

    @property
    def gap_count(self) -> int:
        """Number of usable insertion gaps indexed (the size of a query's numpy work)."""
        return len(self._gaps.dep) - int(self._dead.sum()) + len(self._patch_gaps.dep)

    @property
    def patch_count(self) -> int:
        """Number of technician-days replaced by :meth:`replace_day` since the build."""
        return len(self._patches)

    # -- build ---------------------------------------------------------------

    def _build_skills(self) -> None:
        # Skills become bits of uint64 words so a query checks all technicians at once.
        vocabulary = sorted({s for t in self.technicians for s in t.skills})
        self._skill_bit = {s: i for i, s in enumerate(vocabulary)}
        words = max(1, (len(vocabulary) + 63) // 64)
        masks = np.zeros((len(self.technicians), words), dtype=np.uint64)
        for rank, technician in enumerate(self.technicians):
            for skill in technician.skills:
                bit = self._skill_bit[skill]
                masks[rank, bit // 64] |= np.uint64(1 << (bit % 64))
        self._skill_masks = masks

    def _build_routes(self, visits: Sequence[Visit]) -> None:
        grouped: dict[tuple[int, int], list[Visit]] = {}
        for visit in visits:
            rank = self._rank.get(visit.technician_id)
            if rank is None:
                continue
            day_index = (visit.start.astimezone(self.tz).date() - self.first_day).days
            if 0 <= day_index < self.num_days:
                grouped.setdefault((day_index, rank), []).append(visit)

        # Stops: homes first (index = technician rank), then visits in route order,
        # so the visits of a day range are one contiguous block.
        self._stop_locations: list[Location] = [t.home for t in self.technicians]
        self._day_stop_bounds = [len(self._stop_locations)]
        self._routes: list[tuple[int, int, _Route]] = []  # (day, rank, route)
        self._route_of_visit: dict[str, int] = {}
        visit_stop: list[list[int]] = []
        for day_index in range(self.num_days):
            day = self.first_day + timedelta(days=day_index)
            for rank, technician in enumerate(self.technicians):
                day_visits = grouped.get((day_index, rank), [])
                for route in _day_routes(technician, day, day_visits, self.tz):
                    stops = []
                    for visit in route.visits:
                        self._route_of_visit[visit.id] = len(self._routes)
                        stops.append(len(self._stop_locations))
                        self._stop_locations.append(visit.location)
                    self._routes.append((day_index, rank, route))
                    visit_stop.append(stops)
            self._day_stop_bounds.append(len(self._stop_locations))

        if self._fast:
            self._coords = self.travel.prepare(self._stop_locations)  # type: ignore[attr-defined]
        leg_from: list[int] = []
        leg_to: list[int] = []
        for (_, rank, _), stops in zip(self._routes, visit_stop, strict=True):
            path = [rank, *stops, rank]
            leg_from.extend(path[:-1])
            leg_to.extend(path[1:])
        legs = self._pair_minutes(leg_from, leg_to).tolist()

        rows: list[tuple] = []
        day_of_row: list[int] = []
        offset = 0
        for (day_index, rank, route), stops in zip(self._routes, visit_stop, strict=True):
            n = len(stops)
            route_legs = legs[offset : offset + n + 1]
            offset += n + 1
            midnight = self._midnights[day_index]
            path = [rank, *stops, rank]
            for position, dep, late in _gap_rows(
                route.shift_start,
                route.shift_end,
                [v.duration_min for v in route.visits],
                [(v.window_start.timestamp() - midnight) / 60.0 for v in route.visits],
                [(v.window_end.timestamp() - midnight) / 60.0 for v in route.visits],
                route_legs,
            ):
                rows.append(
                    (
                        path[position],
                        path[position + 1],
                        dep,
                        late,
                        route_legs[position],
                        rank,
                        route.segment,
                        position,
                        n > 0,
                    )
                )
                day_of_row.append(day_index)
        self._gaps = _GapTable.from_rows(rows, self.num_days, day_of_row)
        # Gap rows of a route are contiguous; remember them to mask a rescheduled visit's route.
        self._route_rows: list[tuple[int, int]] = []
        by_route = self._route_keys()
        self._routes_of_day: dict[tuple[int, int], list[int]] = {}
        for route_id, (day_index, rank, route) in enumerate(self._routes):
            self._route_rows.append(by_route.get((day_index, rank, route.segment), (0, 0)))
            self._routes_of_day.setdefault((day_index, rank), []).append(route_id)

        # Patches (replace_day): dead rows of the main table, replaced technician-days
        # and their rows concatenated in one side table sorted like the main one.
        self._dead = np.zeros(len(self._gaps.dep), dtype=bool)
        self._patches: dict[tuple[int, int], _Patch] = {}
        self._patch_of_visit: dict[str, tuple[int, int]] = {}
        self._combine_patches()

    def _route_keys(self) -> dict[tuple[int, int, int], tuple[int, int]]:
        gaps = self._gaps
        found: dict[tuple[int, int, int], tuple[int, int]] = {}
        if len(gaps.tech) == 0:
            return found
        days = np.repeat(np.arange(self.num_days), np.diff(gaps.day_bounds))
        key = (days.astype(np.int64) << 40) | (gaps.tech.astype(np.int64) << 16) | gaps.segment
        change = np.flatnonzero(np.diff(key)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(key)]])
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            found[(int(days[s]), int(gaps.tech[s]), int(gaps.segment[s]))] = (s, e)
        return found

    def _pair_minutes(self, origins: Sequence[int], destinations: Sequence[int]) -> np.ndarray:
        """Travel minutes of stop pairs (element-wise)."""
        if not origins:
            return np.zeros(0)
        if self._fast:
            o = self._coords[np.asarray(origins)]
            d = self._coords[np.asarray(destinations)]
            return np.asarray(self.travel.pairwise(o, d), dtype=np.float64)  # type: ignore[attr-defined]
        locs = self._stop_locations
        return np.array(
            [
                self.travel.minutes(locs[a], locs[b])
                for a, b in zip(origins, destinations, strict=True)
            ],
            dtype=np.float64,
        )

    # -- patches -------------------------------------------------------------

    def replace_day(self, technician_id: str, day: date, visits: Sequence[Visit]) -> None:
        """Replace the technician's visits of that local day with ``visits``.

        All the day's shift intervals are replaced at once. Exact: afterwards
        every query answers as an index freshly built on the updated visit set
        (same winners, same tie-breaks). ``visits`` must all belong to
        ``technician_id`` and start on the local ``day`` (else ``ValueError``);
        an empty sequence empties the day. Replacing the same day again replaces
        the previous patch. A day outside the indexed range or a technician the
        index does not know is ignored, like such visits are at build time.
        Visit ids are assumed unique across the index: when a visit moves to
        another technician-day, replace both days. Cost: O(visits of the day)
        Python work plus a concatenation of the patches' rows (a few per patched
        day).
        """
        visits = list(visits)
        for visit in visits:
            if visit.technician_id != technician_id:
                raise ValueError(f"visit {visit.id} belongs to {visit.technician_id}")
            if visit.start.astimezone(self.tz).date() != day:
                raise ValueError(f"visit {visit.id} does not start on {day}")
        rank = self._rank.get(technician_id)
        day_index = (day - self.first_day).days
        if rank is None or not 0 <= day_index < self.num_days:
            return
        key = (day_index, rank)
        # The main table's routes of that technician-day are dead for good.
        for route_id in self._routes_of_day.get(key, ()):
            lo, hi = self._route_rows[route_id]
            self._dead[lo:hi] = True
            for visit in self._routes[route_id][2].visits:
                if self._route_of_visit.get(visit.id) == route_id:
                    del self._route_of_visit[visit.id]
        previous = self._patches.get(key)
        if previous is not None:
            for visit_id in previous.visit_ids:
                if self._patch_of_visit.get(visit_id) == key:
                    del self._patch_of_visit[visit_id]
        routes = _day_routes(self.technicians[rank], day, visits, self.tz)
        visit_ids = [v.id for route in routes for v in route.visits]
        for visit_id in visit_ids:
            # A visit that moved here is no longer found in the main table.
            self._route_of_visit.pop(visit_id, None)
            self._patch_of_visit[visit_id] = key
        self._patches[key] = _Patch(routes, self._local_table(day_index, rank, routes), visit_ids)
        self._combine_patches()

    def _local_table(
        self, day_index: int, rank: int, routes: Sequence[_Route], exclude_id: str | None = None
    ) -> _LocalTable:
        """Gap rows of ``routes`` (one technician-day) without ``exclude_id``, local stops."""
        technician = self.technicians[rank]
        locations = [technician.home]  # local stop 0 = home
        paths: list[list[int]] = []
        kept_per_route: list[list[Visit]] = []
        for route in routes:
            kept = [v for v in route.visits if v.id != exclude_id]
            first = len(locations)
            locations.extend(v.location for v in kept)
            paths.append([0, *range(first, first + len(kept)), 0])
            kept_per_route.append(kept)
        leg_from = [a for path in paths for a in path[:-1]]
        leg_to = [b for path in paths for b in path[1:]]
        coords = None
        if self._fast:
            coords = self.travel.prepare(locations)  # type: ignore[attr-defined]
            legs = (
                np.asarray(
                    self.travel.pairwise(coords[leg_from], coords[leg_to]),  # type: ignore[attr-defined]
                    dtype=np.float64,
                ).tolist()
                if leg_from
                else []
            )
        else:
            legs = [
                self.travel.minutes(locations[a], locations[b])
                for a, b in zip(leg_from, leg_to, strict=True)
            ]
        midnight = self._midnights[day_index]
        rows: list[tuple] = []
        offset = 0
        for route, kept, path in zip(routes, kept_per_route, paths, strict=True):
            route_legs = legs[offset : offset + len(kept) + 1]
            offset += len(kept) + 1
            rows.extend(
                (path[p], path[p + 1], dep, late, route_legs[p], rank, route.segment, p, bool(kept))
                for p, dep, late in _gap_rows(
                    route.shift_start,
                    route.shift_end,
                    [v.duration_min for v in kept],
                    [(v.window_start.timestamp() - midnight) / 60.0 for v in kept],
                    [(v.window_end.timestamp() - midnight) / 60.0 for v in kept],
                    route_legs,
                )
            )
        # A one-day table: its "day 0" is day_index of the index.
        table = _GapTable.from_rows(rows, 1, [0] * len(rows))
        table.day_bounds = np.array([0] * day_index + [0, len(rows)], dtype=np.int64)
        return _LocalTable(table, locations, coords)

    def _combine_patches(self) -> None:
        """Concatenate the patches' rows into one table sorted by (day, rank, segment, position)."""
        keys = sorted(self._patches)
        tables = [self._patches[k].local for k in keys]
        stop_offsets = np.cumsum([0, *(len(t.locations) for t in tables)]).tolist()
        self._patch_locations: list[Location] = [loc for t in tables for loc in t.locations]
        self._patch_coords = (
            np.concatenate([t.coords for t in tables])  # type: ignore[misc]
            if self._fast and tables
            else np.zeros((0, 3))
        )
        # Local stops of each query day: one contiguous block (keys are sorted by day).
        self._patch_day_stops = [0] * (self.num_days + 1)
        self._patch_key_rows: dict[tuple[int, int], tuple[int, int]] = {}
        row_counts = [len(t.table.dep) for t in tables]
        row_offsets = np.cumsum([0, *row_counts]).tolist()
        day_counts = np.zeros(self.num_days, dtype=np.int64)
        for i, key in enumerate(keys):
            self._patch_key_rows[key] = (row_offsets[i], row_offsets[i + 1])
            day_counts[key[0]] += row_counts[i]
            self._patch_day_stops[key[0] + 1] = stop_offsets[i + 1]
        for d in range(1, self.num_days + 1):
            self._patch_day_stops[d] = max(self._patch_day_stops[d], self._patch_day_stops[d - 1])

        def cat(name: str, dtype: type, shift: bool = False) -> np.ndarray:
            parts = [
                getattr(t.table, name) + (stop_offsets[i] if shift else 0)
                for i, t in enumerate(tables)
            ]
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

        self._patch_gaps = _GapTable(
            prev=cat("prev", np.int64, shift=True),
            next=cat("next", np.int64, shift=True),
            dep=cat("dep", np.float64),
            late=cat("late", np.float64),
            base=cat("base", np.float64),
            tech=cat("tech", np.int32),
            segment=cat("segment", np.int16),
            position=cat("position", np.int32),
            has_visits=cat("has_visits", np.bool_),
            day_bounds=np.concatenate([[0], np.cumsum(day_counts)]).astype(np.int64),
        )

    def _local_site_minutes(
        self, locations: list[Location], coords: np.ndarray | None, site: Location
    ) -> tuple[np.ndarray, np.ndarray]:
        """(stop → site, site → stop) minutes of a few local stops, like the main table's."""
        if not locations:
            return np.zeros(0), np.zeros(0)
        if self._fast:
            here = self.travel.prepare([site])[0]  # type: ignore[attr-defined]
            to_site = np.asarray(self.travel.pairwise(coords, here), dtype=np.float64)  # type: ignore[attr-defined]
            from_site = (
                to_site
                if self._symmetric
                else np.asarray(self.travel.pairwise(here, coords), dtype=np.float64)  # type: ignore[attr-defined]
            )
            return to_site, from_site
        to_site = np.asarray(self.travel.matrix(locations, [site]), dtype=np.float64)[:, 0]
        from_site = np.asarray(self.travel.matrix([site], locations), dtype=np.float64)[0]
        return to_site, from_site

    # -- query ---------------------------------------------------------------

    def _window(self, day_index: int, minute: int) -> tuple[float, float]:
        """(POSIX timestamp, minutes since midnight) of a local window start; cached."""
        key = (day_index, minute)
        cached = self._window_cache.get(key)
        if cached is None:
            day = self.first_day + timedelta(days=day_index)
            ts = local_instant(day, minute, self.tz).timestamp()
            cached = (ts, (ts - self._midnights[day_index]) / 60.0)
            self._window_cache[key] = cached
        return cached

    def _skill_ok(self, required: frozenset[str]) -> np.ndarray | None:
        """Per-rank bool array, or ``None`` when every technician qualifies."""
        if not required:
            return None
        if any(s not in self._skill_bit for s in required):
            return np.zeros(len(self.technicians), dtype=bool)
        need = np.zeros(self._skill_masks.shape[1], dtype=np.uint64)
        for skill in required:
            bit = self._skill_bit[skill]
            need[bit // 64] |= np.uint64(1 << (bit % 64))
        ok = np.all((self._skill_masks & need) == need, axis=1)
        return None if ok.all() else ok

    def _site_minutes(
        self, site: Location, stop_ranges: list[tuple[int, int]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(stop → site, site → stop) minutes, filled only on ``stop_ranges``."""
        total = len(self._stop_locations)
        to_site = np.zeros(total)
        from_site = np.zeros(total)
        if self._fast:
            here = self.travel.prepare([site])[0]  # type: ignore[attr-defined]
            for lo, hi in stop_ranges:
                if hi > lo:
                    to_site[lo:hi] = self.travel.pairwise(self._coords[lo:hi], here)  # type: ignore[attr-defined]
                    from_site[lo:hi] = (
                        to_site[lo:hi]
                        if self._symmetric
                        else self.travel.pairwise(here, self._coords[lo:hi])  # type: ignore[attr-defined]
                    )
        else:
            for lo, hi in stop_ranges:
                if hi > lo:
                    locs = self._stop_locations[lo:hi]
                    to_site[lo:hi] = np.asarray(self.travel.matrix(locs, [site]))[:, 0]
                    from_site[lo:hi] = np.asarray(self.travel.matrix([site], locs))[0]
        return to_site, from_site

    def best_insertions(
        self, request: VisitRequest, policy: BookingPolicy, now: datetime
    ) -> dict[tuple[date, int], Insertion]:
        """Cheapest feasible insertion of every bookable (day, window start minute).

        Keys absent from the result have no feasible insertion. Ties go to the
        lowest technician id, then segment, then position. Raises
        ``ValueError`` if the policy horizon is not covered by the index.
        """
        days = horizon_days(now, policy, self.tz)
        d0 = (days[0] - self.first_day).days
        d1 = d0 + len(days)
        if d0 < 0 or d1 > self.num_days:
            raise ValueError(
                f"index covers {self.first_day} + {self.num_days} days, "
                f"query needs {days[0]}..{days[-1]}"
            )
        skill_ok = self._skill_ok(request.required_skills)
        if skill_ok is not None and not skill_ok.any():
            return {}

        # Windows: local minute -> (timestamp, minutes since midnight) per day.
        notice_ts = now.timestamp() + policy.min_notice_hours * 3600.0
        windows: list[list[tuple[int, float] | None]] = []
        for d in range(d0, d1):
            row: list[tuple[int, float] | None] = []
            for minute in policy.window_starts:
                ts, rel = self._window(d, minute)
                row.append((minute, rel) if ts >= notice_ts else None)
            windows.append(row)
        if all(w is None for row in windows for w in row):
            return {}

        pref_rank = self._rank.get(request.preferred_technician_id or "", -1)

        # Rescheduling: the excluded visit's route is re-derived without it
        # ("overlay") and its original rows are masked out of its table: the main
        # one, or the patch table when its technician-day was replaced.
        exclude_id = request.exclude_visit_id or ""
        excluded_rows: tuple[int, int] | None = None
        excluded_patch_rows: tuple[int, int] | None = None
        overlay: tuple[_GapTable, np.ndarray, np.ndarray, int] | None = None
        patch_key = self._patch_of_visit.get(exclude_id)
        route_id = self._route_of_visit.get(exclude_id)
        if patch_key is not None:
            day_index, rank = patch_key
            if d0 <= day_index < d1:
                excluded_patch_rows = self._patch_key_rows[patch_key]
                local = self._local_table(
                    day_index, rank, self._patches[patch_key].routes, exclude_id
                )
                o_to, o_from = self._local_site_minutes(
                    local.locations, local.coords, request.location
                )
                overlay = (local.table, o_to, o_from, day_index)
        elif route_id is not None and d0 <= self._routes[route_id][0] < d1:
            excluded_rows = self._route_rows[route_id]
            overlay = self._overlay(route_id, request)

        stop_ranges = [(0, len(self.technicians))]
        stop_ranges.append((self._day_stop_bounds[d0], self._day_stop_bounds[d1]))
        to_site, from_site = self._site_minutes(request.location, stop_ranges)

        winners = self._evaluate(
            self._gaps, d0, d1, to_site, from_site, request, policy, windows,
            skill_ok, pref_rank, excluded_rows, dead=self._dead if self._patches else None,
        )  # fmt: skip
        patch_gaps = self._patch_gaps
        if patch_gaps.day_bounds[d1] > patch_gaps.day_bounds[d0]:
            lo, hi = self._patch_day_stops[d0], self._patch_day_stops[d1]
            p_to = np.zeros(len(self._patch_locations))
            p_from = np.zeros(len(self._patch_locations))
            p_to[lo:hi], p_from[lo:hi] = self._local_site_minutes(
                self._patch_locations[lo:hi],
                self._patch_coords[lo:hi] if self._fast else None,
                request.location,
            )
            extra = self._evaluate(
                patch_gaps, d0, d1, p_to, p_from, request, policy, windows,
                skill_ok, pref_rank, excluded_patch_rows,
            )  # fmt: skip
            _merge_winners(winners, extra)
        if overlay is not None:
            table, o_to, o_from, day_index = overlay
            extra = self._evaluate(
                table, day_index, day_index + 1, o_to, o_from, request, policy,
                [windows[day_index - d0]], skill_ok, pref_rank, None, day_offset=day_index - d0,
            )  # fmt: skip
            _merge_winners(winners, extra)

        result: dict[tuple[date, int], Insertion] = {}
        for (offset, minute), (best, table) in winners.items():
            day = days[offset]
            rank = int(table.tech[best.row])
            result[(day, minute)] = Insertion(
                technician_id=self.technicians[rank].id,
                day=day,
                window_start_min=minute,
                segment=int(table.segment[best.row]),
                position=int(table.position[best.row]),
                start_min=best.start,
                detour_minutes=best.detour,
                cost=best.cost + policy.earliness_weight * offset,
                route_has_visits=bool(table.has_visits[best.row]),
            )
        return result

    def _overlay(
        self, route_id: int, request: VisitRequest
    ) -> tuple[_GapTable, np.ndarray, np.ndarray, int]:
        """Gap table of one route without ``request.exclude_visit_id``, with site travel."""
        day_index, rank, route = self._routes[route_id]
        local = self._local_table(day_index, rank, [route], request.exclude_visit_id)
        to_site, from_site = self._local_site_minutes(
            local.locations, local.coords, request.location
        )
        return local.table, to_site, from_site, day_index

    def _evaluate(
        self,
        gaps: _GapTable,
        d0: int,
        d1: int,
        to_site: np.ndarray,
        from_site: np.ndarray,
        request: VisitRequest,
        policy: BookingPolicy,
        windows: list[list[tuple[int, float] | None]],
        skill_ok: np.ndarray | None,
        pref_rank: int,
        excluded_rows: tuple[int, int] | None,
        day_offset: int = 0,
        dead: np.ndarray | None = None,
    ) -> _Winners:
        """Per (day offset, window minute) winner among the rows of days ``d0..d1``."""
        g0 = int(gaps.day_bounds[d0])
        g1 = int(gaps.day_bounds[d1])
        if g1 == g0:
            return {}
        into = to_site[gaps.prev[g0:g1]]  # prev -> site
        out = from_site[gaps.next[g0:g1]]  # site -> next
        earliest = gaps.dep[g0:g1] + into
        latest = gaps.late[g0:g1] - out - request.duration_min
        valid = earliest <= latest
        if skill_ok is not None:
            valid &= skill_ok[gaps.tech[g0:g1]]
        if dead is not None:
            valid &= ~dead[g0:g1]  # rows of technician-days replaced by patches
        if excluded_rows is not None:
            lo, hi = excluded_rows
            valid[max(lo - g0, 0) : max(hi - g0, 0)] = False
        rows = np.flatnonzero(valid)
        if len(rows) == 0:
            return {}
        # Work on the compressed candidate set from here on.
        earliest = earliest[rows]
        latest = latest[rows]
        detour = into[rows] + out[rows] - gaps.base[g0:g1][rows]
        cost = detour * policy.detour_weight
        if pref_rank >= 0:
            cost = cost - np.where(
                gaps.tech[g0:g1][rows] == pref_rank, policy.preferred_technician_bonus, 0.0
            )
        bounds = np.searchsorted(rows, gaps.day_bounds[d0 : d1 + 1] - g0).tolist()

        # Most days map local minutes 1:1 to elapsed minutes; DST days differ and
        # are re-masked with their own thresholds.
        masked = np.empty_like(cost)
        winners: _Winners = {}
        for w, minute in enumerate(policy.window_starts):
            per_day = [row[w] for row in windows]
            live = [i for i, entry in enumerate(per_day) if entry is not None]
            live = [i for i in live if bounds[i + 1] > bounds[i]]
            if not live:
                continue
            common = float(minute)
            mask = (earliest <= common + policy.window_minutes + TIME_EPS) & (latest >= common)
            for i in live:
                rel = per_day[i][1]  # type: ignore[index]
                if rel != common:
                    s, e = bounds[i], bounds[i + 1]
                    mask[s:e] = (earliest[s:e] <= rel + policy.window_minutes + TIME_EPS) & (
                        latest[s:e] >= rel
                    )
            masked.fill(np.inf)
            np.copyto(masked, cost, where=mask)
            for i in live:
                s, e = bounds[i], bounds[i + 1]
                j = int(np.argmin(masked[s:e])) + s
                value = float(masked[j])
                if value == np.inf:
                    continue
                row = int(rows[j]) + g0
                rel = per_day[i][1]  # type: ignore[index]
                winners[(i + day_offset, minute)] = (
                    _Best(
                        cost=value,
                        order=(
                            int(gaps.tech[row]),
                            int(gaps.segment[row]),
                            int(gaps.position[row]),
                        ),
                        row=row,
                        start=max(float(earliest[j]), rel),
                        detour=float(detour[j]),
                    ),
                    gaps,
                )
        return winners

    def propose(
        self, request: VisitRequest, policy: BookingPolicy, now: datetime
    ) -> list[Proposal]:
        """Ranked proposals for ``request`` (best first), at most ``policy.proposals``."""
        return rank_insertions(self.best_insertions(request, policy, now), request, policy, self.tz)


# --------------------------------------------------------------------------- ranking


def rank_insertions(
    best: dict[tuple[date, int], Insertion],
    request: VisitRequest,
    policy: BookingPolicy,
    tz: ZoneInfo | str,
) -> list[Proposal]:
    """Turn per-(day, window) winners into proposals: lowest score first.

    Ties on score go to the earlier (day, window). Reason codes, first match
    wins: ``nearby`` (small detour on a route that already has visits),
    ``preferred_technician``, ``earliest`` (the earliest feasible slot of the
    whole horizon), ``available``.
    """
    zone = as_zone(tz)
    if not best:
        return []
    earliest_key = min(best)
    ranked = sorted(best.items(), key=lambda item: (item[1].cost, item[0]))
    proposals = []
    for key, insertion in ranked[: max(policy.proposals, 0)]:
        if insertion.route_has_visits and insertion.detour_minutes < policy.nearby_threshold_min:
            reason = REASON_NEARBY
        elif insertion.technician_id == request.preferred_technician_id:
            reason = REASON_PREFERRED
        elif key == earliest_key:
            reason = REASON_EARLIEST
        else:
            reason = REASON_AVAILABLE
        window_start = local_instant(insertion.day, insertion.window_start_min, zone)
        window_start_rel = (window_start.timestamp() - midnight_timestamp(insertion.day, zone)) / 60
        proposals.append(
            Proposal(
                technician_id=insertion.technician_id,
                day=insertion.day,
                window_start=window_start.astimezone(zone),
                window_end=instant_from_minutes(
                    insertion.day, window_start_rel + policy.window_minutes, zone
                ),
                expected_arrival=instant_from_minutes(insertion.day, insertion.start_min, zone),
                detour_minutes=insertion.detour_minutes,
                score=insertion.cost,
                reason_code=reason,
            )
        )
    return proposals


# --------------------------------------------------------------------------- one-shot API


def propose(
    technicians: Sequence[Technician],
    visits: Sequence[Visit],
    request: VisitRequest,
    policy: BookingPolicy,
    now: datetime,
    tz: ZoneInfo | str,
    travel: TravelProvider | None = None,
) -> list[Proposal]:
    """Build a one-off :class:`ScheduleIndex` over the policy horizon and query it."""
    zone = as_zone(tz)
    days = horizon_days(now, policy, zone)
    index = ScheduleIndex(technicians, visits, zone, days[0], len(days), travel)
    return index.propose(request, policy, now)


def _window_minute(instant: datetime, day: date, tz: ZoneInfo) -> int | None:
    """Local minute of ``instant`` if it is exactly a local minute of ``day``."""
    local = instant.astimezone(tz)
    if local.date() != day or local.second or local.microsecond:
        return None
    minute = local.hour * 60 + local.minute
    if local_instant(day, minute, tz).timestamp() != instant.timestamp():
        return None
    return minute


def check_insertion(
    proposal: Proposal,
    technician: Technician,
    visits: Sequence[Visit],
    request: VisitRequest,
    policy: BookingPolicy,
    now: datetime,
    tz: ZoneInfo | str,
    travel: TravelProvider | None = None,
) -> Insertion | None:
    """Re-check that ``technician`` can still do ``request`` in the proposal's window.

    ``visits`` are the *current* visits (at least those of this technician);
    the window must be one the policy offers on a bookable day and must still
    respect the minimum notice. Returns the cheapest feasible insertion for
    that technician and window (to pass to :func:`insert_route`), or ``None``.
    Call it inside the booking transaction.
    """
    zone = as_zone(tz)
    if proposal.technician_id != technician.id:
        return None
    minute = _window_minute(proposal.window_start, proposal.day, zone)
    if minute is None or minute not in policy.window_starts:
        return None
    days = horizon_days(now, policy, zone)
    if proposal.day not in days:
        return None
    mine = [v for v in visits if v.technician_id == technician.id]
    index = ScheduleIndex([technician], mine, zone, days[0], len(days), travel)
    return index.best_insertions(request, policy, now).get((proposal.day, minute))


def insert_route(
    insertion: Insertion,
    technician: Technician,
    visits: Sequence[Visit],
    request: VisitRequest,
    policy: BookingPolicy,
    new_visit_id: str,
    tz: ZoneInfo | str,
    travel: TravelProvider | None = None,
) -> list[Visit]:
    """The insertion's route with the new visit, re-timed with earliest starts.

    Returns the visits of that technician's shift interval in order, the new
    one (``new_visit_id``, window = the offered window) at
    ``insertion.position``; existing visits keep their ids and windows, only
    ``start`` changes. Raises ``ValueError`` if the route became infeasible
    (call :func:`check_insertion` first).
    """
    zone = as_zone(tz)
    travel = travel or HaversineTravel()
    day = insertion.day
    mine = [
        v
        for v in visits
        if v.technician_id == technician.id
        and v.id != request.exclude_visit_id
        and v.start.astimezone(zone).date() == day
    ]
    routes = [r for r in _day_routes(technician, day, mine, zone) if r.segment == insertion.segment]
    if not routes or not 0 <= insertion.position <= len(routes[0].visits):
        raise ValueError("insertion does not match the technician's current routes")
    route = routes[0]
    window_start = local_instant(day, insertion.window_start_min, zone)
    midnight = midnight_timestamp(day, zone)
    # Elapsed minutes, not wall-clock: aware datetime + timedelta is wall-clock arithmetic.
    window_end = instant_from_minutes(
        day, (window_start.timestamp() - midnight) / 60.0 + policy.window_minutes, zone
    )
    new_visit = Visit(
        id=new_visit_id,
        technician_id=technician.id,
        location=request.location,
        start=window_start,  # placeholder, re-timed below
        duration_min=request.duration_min,
        window_start=window_start,
        window_end=window_end,
    )
    ordered = list(route.visits)
    ordered.insert(insertion.position, new_visit)
    clock = route.shift_start
    here = technician.home
    result: list[Visit] = []
    for visit in ordered:
        clock += travel.minutes(here, visit.location)
        start = max(clock, (visit.window_start.timestamp() - midnight) / 60.0)
        if start > (visit.window_end.timestamp() - midnight) / 60.0 + TIME_EPS:
            raise ValueError(f"visit {visit.id} would start after its window")
        result.append(
            Visit(
                id=visit.id,
                technician_id=visit.technician_id,
                location=visit.location,
                start=instant_from_minutes(day, start, zone),
                duration_min=visit.duration_min,
                window_start=visit.window_start,
                window_end=visit.window_end,
            )
        )
        clock = start + visit.duration_min
        here = visit.location
    if clock + travel.minutes(here, technician.home) > route.shift_end + TIME_EPS:
        raise ValueError("the technician would be back home after the shift end")
    return result

"""Brute-force reference of the scheduling engine.

Deliberately naive: for every technician, bookable day, shift interval,
offered window and insertion position it rebuilds the route with the new visit
and re-simulates it from scratch, checking every constraint. It shares no
feasibility code with :mod:`backend.scheduling.engine`, only the value objects
and the final ranking of per-(day, window) winners, so the property tests can
compare the two. Far too slow for production (it is O(techs × days × windows ×
positions × route length) travel calls).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from backend.scheduling.model import (
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
    local_instant,
    minutes_since_midnight,
)
from backend.scheduling.travel import HaversineTravel, TravelProvider

# One stop of a route: location, duration, window start, window end (minutes
# since the local midnight of the route's day).
_Stop = tuple[Location, float, float, float]


def simulate(
    home: Location,
    shift_start: float,
    shift_end: float,
    stops: Sequence[_Stop],
    travel: TravelProvider,
) -> list[float] | None:
    """Start minute of every stop, or ``None`` if the route breaks a constraint.

    The technician leaves home at ``shift_start``, drives to each stop in
    order, waits for its window to open, must start by its window end, and
    must be back home by ``shift_end``.
    """
    clock = shift_start
    here = home
    starts: list[float] = []
    for location, duration, window_start, window_end in stops:
        clock += travel.minutes(here, location)
        start = max(clock, window_start)
        if start > window_end + TIME_EPS:
            return None
        starts.append(start)
        clock = start + duration
        here = location
    clock += travel.minutes(here, home)
    if clock > shift_end + TIME_EPS:
        return None
    return starts


def _overlaps_absence(technician: Technician, start: datetime, end: datetime) -> bool:
    return any(
        a_start.timestamp() < end.timestamp() and a_end.timestamp() > start.timestamp()
        for a_start, a_end in technician.absences
    )


def _routes_of_day(
    technician: Technician,
    day: date,
    visits: Sequence[Visit],
    exclude_visit_id: str | None,
    tz: ZoneInfo,
) -> list[tuple[int, datetime, datetime, list[Visit]]]:
    """(segment, shift start, shift end, ordered visits) of the usable shift intervals."""
    shifts = [
        (local_instant(day, start, tz), local_instant(day, end, tz))
        for start, end in technician.shifts(day)
    ]
    if not shifts:
        return []
    mine = [
        v
        for v in visits
        if v.technician_id == technician.id
        and v.id != exclude_visit_id
        and v.start.astimezone(tz).date() == day
    ]
    mine.sort(key=lambda v: (v.start.timestamp(), v.id))
    per_segment: list[list[Visit]] = [[] for _ in shifts]
    for visit in mine:
        # A visit belongs to the last shift interval that started at or before it.
        segment = 0
        for index, (shift_start, _) in enumerate(shifts):
            if shift_start.timestamp() <= visit.start.timestamp():
                segment = index
        per_segment[segment].append(visit)
    return [
        (index, shift_start, shift_end, per_segment[index])
        for index, (shift_start, shift_end) in enumerate(shifts)
        if not _overlaps_absence(technician, shift_start, shift_end)
    ]


def _evaluate(
    technician: Technician,
    day: date,
    day_index: int,
    window_start_min: int,
    route: tuple[int, datetime, datetime, list[Visit]],
    position: int,
    request: VisitRequest,
    policy: BookingPolicy,
    now: datetime,
    tz: ZoneInfo,
    travel: TravelProvider,
) -> Insertion | None:
    """Fully check one candidate insertion into ``route`` and price it; ``None`` if infeasible."""
    segment, shift_start, shift_end, route_visits = route
    if not request.required_skills <= technician.skills:
        return None
    window_start = local_instant(day, window_start_min, tz)
    if window_start.timestamp() < now.timestamp() + policy.min_notice_hours * 3600.0:
        return None
    if not 0 <= position <= len(route_visits):
        return None

    def rel(instant: datetime) -> float:
        return minutes_since_midnight(instant, day, tz)

    new_window_start = rel(window_start)
    stops: list[_Stop] = [
        (v.location, v.duration_min, rel(v.window_start), rel(v.window_end)) for v in route_visits
    ]
    new_stop: _Stop = (
        request.location,
        request.duration_min,
        new_window_start,
        new_window_start + policy.window_minutes,
    )
    stops.insert(position, new_stop)
    starts = simulate(technician.home, rel(shift_start), rel(shift_end), stops, travel)
    if starts is None:
        return None
    before = technician.home if position == 0 else route_visits[position - 1].location
    after = technician.home if position == len(route_visits) else route_visits[position].location
    detour = (
        travel.minutes(before, request.location)
        + travel.minutes(request.location, after)
        - travel.minutes(before, after)
    )
    cost = detour * policy.detour_weight + policy.earliness_weight * day_index
    if technician.id == request.preferred_technician_id:
        cost -= policy.preferred_technician_bonus
    return Insertion(
        technician_id=technician.id,
        day=day,
        window_start_min=window_start_min,
        segment=segment,
        position=position,
        start_min=starts[position],
        detour_minutes=detour,
        cost=cost,
        route_has_visits=bool(route_visits),
    )


def best_insertions(
    technicians: Sequence[Technician],
    visits: Sequence[Visit],
    request: VisitRequest,
    policy: BookingPolicy,
    now: datetime,
    tz: ZoneInfo | str,
    travel: TravelProvider | None = None,
) -> dict[tuple[date, int], Insertion]:
    """Best feasible insertion of every bookable (day, window start minute), by brute force.

    Ties keep the first candidate in (technician id, segment, position) order.
    """
    zone = as_zone(tz)
    travel = travel or HaversineTravel()
    by_technician: dict[str, list[Visit]] = {}
    for visit in visits:
        by_technician.setdefault(visit.technician_id, []).append(visit)
    best: dict[tuple[date, int], Insertion] = {}
    for day_index, day in enumerate(horizon_days(now, policy, zone)):
        for technician in sorted(technicians, key=lambda t: t.id):
            mine = by_technician.get(technician.id, [])
            for route in _routes_of_day(technician, day, mine, request.exclude_visit_id, zone):
                for window_start_min in policy.window_starts:
                    for position in range(len(route[3]) + 1):
                        candidate = _evaluate(
                            technician,
                            day,
                            day_index,
                            window_start_min,
                            route,
                            position,
                            request,
                            policy,
                            now,
                            zone,
                            travel,
                        )
                        key = (day, window_start_min)
                        if candidate is not None and (
                            key not in best or candidate.cost < best[key].cost
                        ):
                            best[key] = candidate
    return best


def check(
    insertion: Insertion,
    technicians: Sequence[Technician],
    visits: Sequence[Visit],
    request: VisitRequest,
    policy: BookingPolicy,
    now: datetime,
    tz: ZoneInfo | str,
    travel: TravelProvider | None = None,
) -> Insertion | None:
    """Re-check one insertion from scratch; returns it re-priced, or ``None`` if infeasible."""
    zone = as_zone(tz)
    days = horizon_days(now, policy, zone)
    if insertion.day not in days or insertion.window_start_min not in policy.window_starts:
        return None
    matching = [t for t in technicians if t.id == insertion.technician_id]
    if not matching:
        return None
    technician = matching[0]
    routes = _routes_of_day(technician, insertion.day, visits, request.exclude_visit_id, zone)
    for route in routes:
        if route[0] == insertion.segment:
            return _evaluate(
                technician,
                insertion.day,
                days.index(insertion.day),
                insertion.window_start_min,
                route,
                insertion.position,
                request,
                policy,
                now,
                zone,
                travel or HaversineTravel(),
            )
    return None


def propose(
    technicians: Sequence[Technician],
    visits: Sequence[Visit],
    request: VisitRequest,
    policy: BookingPolicy,
    now: datetime,
    tz: ZoneInfo | str,
    travel: TravelProvider | None = None,
) -> list[Proposal]:
    """Proposals computed from the brute-force winners with the engine's ranking."""
    # Imported here: the ranking is shared on purpose, the feasibility is not.
    from backend.scheduling.engine import rank_insertions

    zone = as_zone(tz)
    best = best_insertions(technicians, visits, request, policy, now, zone, travel)
    return rank_insertions(best, request, policy, zone)

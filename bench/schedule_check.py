"""Independent check of a booked schedule, for benchmarks that book under load.

Each shift interval of a technician's day is its own route from home and back
(``backend/scheduling/model.py``). A technician-day is counted once for each
way it breaks: two visits overlapping, a visit starting outside its arrival
window, or a shift route the reference simulator cannot drive (travel
included), or a visit outside every shift.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Activity, BusinessUnit, Site, Technician
from backend.scheduling import Location
from backend.scheduling.reference import simulate
from backend.services import booking


@dataclass
class ScheduleProblems:
    """What is wrong with the booked schedule (all zero when it is sound)."""

    overlaps: int = 0
    out_of_window: int = 0
    infeasible_routes: int = 0
    outside_shifts: int = 0
    visits: int = 0
    tech_days: int = 0
    days: set[tuple[int, date]] = field(default_factory=set)  # the technician-days at fault

    @property
    def total(self) -> int:
        return self.overlaps + self.out_of_window + self.infeasible_routes + self.outside_shifts


def check_schedule(db: Session, bu_id: int) -> ScheduleProblems:
    """Every booked technician-day of ``bu_id`` against the rules the engine promises."""
    bu = db.get_one(BusinessUnit, bu_id)
    tz = ZoneInfo(bu.timezone)
    _, _, travel = booking.policy_of(bu)
    techs = {
        t.id: t for t in db.scalars(select(Technician).where(Technician.business_unit_id == bu_id))
    }
    rows = db.execute(
        select(
            Activity.technician_id,
            Activity.scheduled_start,
            Activity.scheduled_end,
            Activity.window_start,
            Activity.window_end,
            Site.latitude,
            Site.longitude,
        )
        .join(Site, Site.id == Activity.site_id)
        .where(
            Activity.business_unit_id == bu_id,
            Activity.status.in_(booking.BOOKED_STATUSES),
            Activity.technician_id.is_not(None),
            Activity.scheduled_start.is_not(None),
        )
    ).all()
    days: dict[tuple[int, date], list[Any]] = defaultdict(list)
    for row in rows:
        days[(row.technician_id, row.scheduled_start.astimezone(tz).date())].append(row)
    found = ScheduleProblems(visits=len(rows), tech_days=len(days))
    slack = timedelta(seconds=1)
    for (tech_id, day), visits in days.items():
        before_count = found.total
        visits.sort(key=lambda r: r.scheduled_start)
        for before, after in zip(visits, visits[1:], strict=False):
            if before.scheduled_end > after.scheduled_start + slack:
                found.overlaps += 1
        for v in visits:
            if v.window_start is not None and not (
                v.window_start - slack <= v.scheduled_start <= v.window_end + slack
            ):
                found.out_of_window += 1
        tech = techs[tech_id]
        midnight = datetime.combine(day, datetime.min.time(), tz)

        def minutes(t: datetime, midnight: datetime = midnight) -> float:
            return (t - midnight).total_seconds() / 60

        shifts = sorted(tuple(s) for s in tech.working_hours.get(str(day.weekday())) or [])
        routes: dict[tuple[int, int], list[Any]] = defaultdict(list)
        for v in visits:
            start = minutes(v.scheduled_start)
            shift = next((s for s in shifts if s[0] <= start <= s[1]), None)
            if shift is None:
                found.outside_shifts += 1
            else:
                routes[shift].append(v)
        home = Location(tech.home_latitude, tech.home_longitude)
        for (shift_start, shift_end), stops in routes.items():
            route = [
                (
                    Location(v.latitude, v.longitude),
                    (v.scheduled_end - v.scheduled_start).total_seconds() / 60,
                    minutes(v.window_start or v.scheduled_start),
                    minutes(v.window_end or v.scheduled_start),
                )
                for v in stops
            ]
            if simulate(home, shift_start, shift_end, route, travel) is None:
                found.infeasible_routes += 1
        if found.total > before_count:
            found.days.add((tech_id, day))
    db.commit()
    return found

"""Value objects of the scheduling assistant.

Everything here is a frozen dataclass so that inputs can be shared between the
engine, the brute-force reference and a cache without defensive copies.

Time conventions (see docs/SCHEDULING.md):

* every ``datetime`` is timezone-aware; the business unit time zone is passed
  separately (a ``zoneinfo.ZoneInfo``);
* working hours and offered windows are *local* minutes of the day
  (``0..1440``) and are turned into instants with :func:`local_instant`;
* internally the engine works in *elapsed* minutes since the local midnight of
  the day (:func:`minutes_since_midnight`), so a 25-hour DST day is handled
  exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Tolerance (minutes) of every time comparison, shared by the engine and the
#: reference so that both round the same way on exact boundaries.
TIME_EPS = 1e-6

REASON_NEARBY = "nearby"
REASON_PREFERRED = "preferred_technician"
REASON_EARLIEST = "earliest"
REASON_AVAILABLE = "available"


@dataclass(frozen=True, slots=True)
class Location:
    """A point in WGS84 degrees."""

    lat: float
    lon: float


@dataclass(frozen=True)
class Technician:
    """A technician with a home base, skills, weekly working hours and absences.

    ``working_hours`` maps a weekday (0 = Monday) to the shift intervals of that
    day as ``(start_minute, end_minute)`` in local time. Each interval is an
    independent route that starts and ends at ``home``.
    ``absences`` are ``(start, end)`` aware datetimes; a shift interval that
    overlaps an absence is not offered at all.
    """

    id: str
    name: str
    skills: frozenset[str]
    home: Location
    working_hours: Mapping[int, Sequence[tuple[int, int]]]
    absences: Sequence[tuple[datetime, datetime]] = ()

    def __post_init__(self) -> None:
        for weekday, intervals in self.working_hours.items():
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday out of range: {weekday}")
            previous_end = -1
            for start, end in sorted(intervals):
                if not 0 <= start < end <= 1440:
                    raise ValueError(f"bad shift interval {(start, end)} on weekday {weekday}")
                if start < previous_end:
                    raise ValueError(f"overlapping shift intervals on weekday {weekday}")
                previous_end = end
        for start, end in self.absences:
            if start.tzinfo is None or end.tzinfo is None:
                raise ValueError("absence datetimes must be timezone-aware")

    def shifts(self, day: date) -> list[tuple[int, int]]:
        """Shift intervals (local minutes) of ``day``, sorted by start."""
        return sorted(self.working_hours.get(day.weekday(), ()))


@dataclass(frozen=True)
class Visit:
    """An already booked visit.

    ``start`` is the scheduled start; the engine only uses it to order the
    visits of a technician-day and to find their day, then re-simulates the
    route with earliest-start semantics inside ``[window_start, window_end]``.
    """

    id: str
    technician_id: str
    location: Location
    start: datetime
    duration_min: float
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True)
class VisitRequest:
    """What the client asks for.

    ``exclude_visit_id`` is set when rescheduling: that visit is ignored, as if
    it were already cancelled.
    """

    location: Location
    duration_min: float
    required_skills: frozenset[str] = frozenset()
    preferred_technician_id: str | None = None
    exclude_visit_id: str | None = None

    def __post_init__(self) -> None:
        if self.duration_min < 0:
            raise ValueError("duration_min must be >= 0")


@dataclass(frozen=True)
class BookingPolicy:
    """Which slots are offered and how they are ranked (per business unit).

    Costs are in minutes: ``detour_weight`` multiplies the added travel,
    ``earliness_weight`` is added per day after the first bookable day (so
    earlier days win ties of a few minutes) and ``preferred_technician_bonus``
    is subtracted when the client's usual technician does the visit.
    """

    horizon_days: int = 14
    min_notice_hours: float = 24.0
    window_minutes: int = 120
    window_starts: tuple[int, ...] = (480, 600, 780, 900)
    proposals: int = 6
    detour_weight: float = 1.0
    earliness_weight: float = 2.0
    preferred_technician_bonus: float = 15.0
    #: A detour below this (minutes) on a day that already has visits is "nearby".
    nearby_threshold_min: float = 15.0

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ValueError("horizon_days must be >= 1")
        if self.window_minutes < 0:
            raise ValueError("window_minutes must be >= 0")
        if list(self.window_starts) != sorted(set(self.window_starts)):
            raise ValueError("window_starts must be strictly increasing")
        if any(not 0 <= m < 1440 for m in self.window_starts):
            raise ValueError("window_starts must be local minutes in [0, 1440)")


@dataclass(frozen=True)
class Insertion:
    """The best feasible way to serve one (day, window): where and at what cost.

    ``segment`` indexes the technician's shift intervals of that day,
    ``position`` is the number of existing visits of that route done before the
    new one. ``start_min`` is the new visit's earliest start in elapsed minutes
    since the local midnight of ``day``. ``cost`` includes the earliness term
    and the preferred-technician bonus.
    """

    technician_id: str
    day: date
    window_start_min: int
    segment: int
    position: int
    start_min: float
    detour_minutes: float
    cost: float
    route_has_visits: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Proposal:
    """A slot offered to the client. ``score`` is a cost: lower is better.

    ``reason_code`` is one of ``nearby``, ``preferred_technician``,
    ``earliest``, ``available``; the caller translates it for the client.
    ``expected_arrival`` is when the technician is expected to start the
    visit (travel and waiting included).
    """

    technician_id: str
    day: date
    window_start: datetime
    window_end: datetime
    expected_arrival: datetime
    detour_minutes: float
    score: float
    reason_code: str


def as_zone(tz: ZoneInfo | str) -> ZoneInfo:
    """Accept a ``ZoneInfo`` or an IANA name such as ``'Europe/Paris'``."""
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def local_instant(day: date, minute: float, tz: ZoneInfo) -> datetime:
    """The aware instant at local wall-clock ``minute`` of ``day``.

    Wall-clock minutes that do not exist (spring-forward gap) or exist twice
    (fall-back) resolve with ``fold=0``, i.e. with the offset in force before
    the transition, as ``zoneinfo`` does.
    """
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    return naive.replace(tzinfo=tz)


def midnight_timestamp(day: date, tz: ZoneInfo) -> float:
    """POSIX timestamp (seconds) of the local midnight that starts ``day``."""
    return datetime.combine(day, time(), tzinfo=tz).timestamp()


def minutes_since_midnight(instant: datetime, day: date, tz: ZoneInfo) -> float:
    """Elapsed (not wall-clock) minutes from the local midnight of ``day`` to ``instant``.

    Uses POSIX timestamps because subtracting two datetimes that share a
    ``tzinfo`` ignores their UTC offsets.
    """
    return (instant.timestamp() - midnight_timestamp(day, tz)) / 60.0


def instant_from_minutes(day: date, minutes: float, tz: ZoneInfo) -> datetime:
    """Inverse of :func:`minutes_since_midnight`, as an aware local datetime."""
    utc = datetime.fromtimestamp(midnight_timestamp(day, tz) + minutes * 60.0, tz=UTC)
    return utc.astimezone(tz)


def horizon_days(now: datetime, policy: BookingPolicy, tz: ZoneInfo) -> list[date]:
    """Bookable days: from the day after ``now`` (local) for ``policy.horizon_days`` days."""
    today = now.astimezone(tz).date()
    return [today + timedelta(days=i) for i in range(1, policy.horizon_days + 1)]

"""The JSON instance of ``portal scheduling propose``, validated field by field.

Pure (pydantic only, no web or database imports). Strict: numbers are JSON
numbers (no ``"3"``, no ``null``, no ``2.5`` where a whole number is meant,
no NaN or infinities), lists are lists (``"required_skills": "gas"`` is not
three skills), unknown fields are refused, and every value is checked
against what the engine can compute with: coordinates on Earth, non-negative
durations, intervals and windows that end after they start, distinct
technician ids, datetimes with an offset between the years 1900 and 2199.

:func:`describe` turns a validation error into the one line the command
prints, naming the field (``policy.horizon_days: ...``, ``missing field:
request``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# Python datetimes stop at years 1 and 9999; an offset or a horizon added to an
# extreme value overflows. Appointments are nowhere near those years.
FIRST_YEAR = 1900
LAST_YEAR = 2199
MINUTES_PER_DAY = 1440
MAX_HORIZON_DAYS = 366


def _parse_moment(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # datetime validation refuses it with its own message
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 datetime: {value!r}") from None


def _checked_moment(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a UTC offset (e.g. +02:00 or Z)")
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # not found, malformed, a directory...
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


Moment = Annotated[datetime, BeforeValidator(_parse_moment), AfterValidator(_checked_moment)]
Id = Annotated[str, Field(min_length=1, max_length=200)]
Skill = Annotated[str, Field(min_length=1, max_length=100)]
Minute = Annotated[int, Field(ge=0, le=MINUTES_PER_DAY)]
Duration = Annotated[float, Field(ge=0, le=MINUTES_PER_DAY)]
Weight = Annotated[float, Field(ge=0, le=1e6)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class LocationIn(_Strict):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class TravelIn(_Strict):
    model: str = "haversine"
    circuity: Annotated[float, Field(ge=1.0, le=10.0)] = 1.3
    speed_kmh: Annotated[float, Field(gt=0, le=1000)] = 30.0

    @field_validator("model")
    @classmethod
    def _haversine_only(cls, value: str) -> str:
        if value != "haversine":
            raise ValueError(f"unknown travel model {value!r} (only 'haversine')")
        return value


class PolicyIn(_Strict):
    horizon_days: Annotated[int, Field(ge=1, le=MAX_HORIZON_DAYS)] = 14
    min_notice_hours: Annotated[float, Field(ge=0, le=24 * MAX_HORIZON_DAYS)] = 24.0
    window_minutes: Annotated[int, Field(ge=0, le=MINUTES_PER_DAY)] = 120
    window_starts: Annotated[
        list[Annotated[int, Field(ge=0, lt=MINUTES_PER_DAY)]], Field(min_length=1)
    ] = [480, 600, 780, 900]
    proposals: Annotated[int, Field(ge=1, le=10_000)] = 6
    detour_weight: Weight = 1.0
    earliness_weight: Weight = 2.0
    preferred_technician_bonus: Weight = 15.0
    nearby_threshold_min: Weight = 15.0

    @field_validator("window_starts")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if value != sorted(set(value)):
            raise ValueError("must be strictly increasing minutes of the day")
        return value


Interval = Annotated[list[Minute], Field(min_length=2, max_length=2)]


def _weekday(value: str) -> str:
    if value not in {"0", "1", "2", "3", "4", "5", "6"}:
        raise ValueError("weekdays are '0' (Monday) to '6' (Sunday)")
    return value


Weekday = Annotated[str, AfterValidator(_weekday)]


class TechnicianIn(_Strict):
    id: Id
    name: Annotated[str, Field(max_length=200)] | None = None
    skills: list[Skill] = []
    home: LocationIn
    working_hours: dict[Weekday, list[Interval]] = {}
    absences: list[Annotated[list[Moment], Field(min_length=2, max_length=2)]] = []

    @field_validator("working_hours")
    @classmethod
    def _shifts(cls, value: dict[str, list[list[int]]]) -> dict[str, list[list[int]]]:
        for weekday, intervals in value.items():
            previous_end = -1
            for start, end in sorted(intervals):
                if start >= end:
                    raise ValueError(
                        f"day {weekday}: interval [{start}, {end}] ends before it starts"
                    )
                if start < previous_end:
                    raise ValueError(f"day {weekday}: intervals overlap")
                previous_end = end
        return value

    @field_validator("absences")
    @classmethod
    def _absences(cls, value: list[list[datetime]]) -> list[list[datetime]]:
        for index, (start, end) in enumerate(value):
            if end <= start:
                raise ValueError(f"absence {index} ends before it starts")
        return value


class VisitIn(_Strict):
    id: Id
    technician_id: Id
    location: LocationIn
    start: Moment
    duration_min: Duration
    window_start: Moment
    window_end: Moment

    @model_validator(mode="after")
    def _window(self) -> VisitIn:
        if self.window_end < self.window_start:
            raise ValueError("window_end is before window_start")
        return self


class RequestIn(_Strict):
    location: LocationIn
    duration_min: Duration
    required_skills: list[Skill] = []
    preferred_technician_id: Id | None = None
    exclude_visit_id: Id | None = None


class InstanceIn(_Strict):
    timezone: Annotated[str, AfterValidator(_known_zone)]
    now: Moment
    travel: TravelIn = TravelIn()
    policy: PolicyIn = PolicyIn()
    technicians: Annotated[list[TechnicianIn], Field(max_length=10_000)] = []
    visits: Annotated[list[VisitIn], Field(max_length=1_000_000)] = []
    request: RequestIn

    @field_validator("technicians")
    @classmethod
    def _distinct_technicians(cls, value: list[TechnicianIn]) -> list[TechnicianIn]:
        _distinct([t.id for t in value], "technician")
        return value

    @field_validator("visits")
    @classmethod
    def _distinct_visits(cls, value: list[VisitIn]) -> list[VisitIn]:
        _distinct([v.id for v in value], "visit")
        return value

    @model_validator(mode="after")
    def _known_technicians(self) -> InstanceIn:
        known = {t.id for t in self.technicians}
        for index, visit in enumerate(self.visits):
            if visit.technician_id not in known:
                raise ValueError(
                    f"visits[{index}].technician_id: unknown technician {visit.technician_id!r}"
                )
        return self


def _distinct(ids: list[str], what: str) -> None:
    first: dict[str, int] = {}
    for index, value in enumerate(ids):
        if value in first:
            raise ValueError(f"duplicate {what} id {value!r} (entries {first[value]} and {index})")
        first[value] = index


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _short(value: Any) -> str | None:
    """The offending value when it is a short scalar worth quoting."""
    if isinstance(value, dict | list):
        return None
    shown = "null" if value is None else repr(value)
    return shown if len(shown) <= 40 else None


def describe(error: ValidationError) -> str:
    """One line naming the (first) field at fault, and how many other problems there are."""
    problems = error.errors(include_url=False)
    first = problems[0]
    loc = tuple(first["loc"])
    where = _where(loc)
    if loc[-1:] == ("[key]",):  # a mapping's key is at fault: name the mapping and the key
        where = f"{_where(loc[:-2])}: key {loc[-2]!r}"
    kind = first["type"]
    message = str(first["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        line = f"missing field: {where}"
    elif kind == "extra_forbidden":
        line = f"unknown field: {where}"
    elif kind == "json_invalid":
        line = f"not valid JSON: {message.removeprefix('Invalid JSON: ')}"
    else:
        line = f"{where}: {message}" if where else message
        got = _short(first.get("input")) if kind != "value_error" else None
        if got is not None:
            line += f" (got {got})"
    if len(problems) > 1:
        more = len(problems) - 1
        line += f" (and {more} more problem{'s' if more > 1 else ''})"
    return line

"""JSON instance format of the scheduling assistant, and its command line.

``portal scheduling propose INSTANCE.json`` (or
``python -m backend.scheduling.instance propose INSTANCE.json``) prints the
proposals as JSON. The format is documented in docs/SCHEDULING.md; in short::

    {
      "timezone": "Europe/Paris",
      "now": "2024-10-24T10:00:00+02:00",
      "travel": {"model": "haversine", "circuity": 1.3, "speed_kmh": 30.0},
      "policy": {"horizon_days": 14, "window_starts": [480, 600, 780, 900], ...},
      "technicians": [{"id": "t1", "name": "Ana", "skills": ["gas"],
                       "home": {"lat": 45.76, "lon": 4.84},
                       "working_hours": {"0": [[480, 1020]], ...},
                       "absences": [["2024-10-28T00:00:00+01:00", "2024-10-29T00:00:00+01:00"]]}],
      "visits": [{"id": "v1", "technician_id": "t1", "location": {"lat": 45.7, "lon": 4.8},
                  "start": "...", "duration_min": 60, "window_start": "...", "window_end": "..."}],
      "request": {"location": {...}, "duration_min": 60, "required_skills": ["gas"],
                  "preferred_technician_id": null, "exclude_visit_id": null}
    }
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from backend.scheduling import engine, reference
from backend.scheduling.instance_schema import InstanceIn, LocationIn, describe
from backend.scheduling.model import (
    BookingPolicy,
    Location,
    Proposal,
    Technician,
    Visit,
    VisitRequest,
)
from backend.scheduling.travel import HaversineTravel


@dataclass(frozen=True)
class Instance:
    """Everything one proposal computation needs."""

    technicians: list[Technician]
    visits: list[Visit]
    request: VisitRequest
    policy: BookingPolicy
    now: datetime
    tz: ZoneInfo
    travel: HaversineTravel


def _loc_json(location: Location) -> dict[str, float]:
    return {"lat": location.lat, "lon": location.lon}


def _location(data: LocationIn) -> Location:
    return Location(data.lat, data.lon)


def _instance(data: InstanceIn) -> Instance:
    policy = data.policy
    return Instance(
        technicians=[
            Technician(
                id=t.id,
                name=t.name if t.name is not None else t.id,
                skills=frozenset(t.skills),
                home=_location(t.home),
                working_hours={
                    int(weekday): [(start, end) for start, end in intervals]
                    for weekday, intervals in t.working_hours.items()
                },
                absences=tuple((start, end) for start, end in t.absences),
            )
            for t in data.technicians
        ],
        visits=[
            Visit(
                id=v.id,
                technician_id=v.technician_id,
                location=_location(v.location),
                start=v.start,
                duration_min=v.duration_min,
                window_start=v.window_start,
                window_end=v.window_end,
            )
            for v in data.visits
        ],
        request=VisitRequest(
            location=_location(data.request.location),
            duration_min=data.request.duration_min,
            required_skills=frozenset(data.request.required_skills),
            preferred_technician_id=data.request.preferred_technician_id,
            exclude_visit_id=data.request.exclude_visit_id,
        ),
        policy=BookingPolicy(
            horizon_days=policy.horizon_days,
            min_notice_hours=policy.min_notice_hours,
            window_minutes=policy.window_minutes,
            window_starts=tuple(policy.window_starts),
            proposals=policy.proposals,
            detour_weight=policy.detour_weight,
            earliness_weight=policy.earliness_weight,
            preferred_technician_bonus=policy.preferred_technician_bonus,
            nearby_threshold_min=policy.nearby_threshold_min,
        ),
        now=data.now,
        tz=ZoneInfo(data.timezone),
        travel=HaversineTravel(circuity=data.travel.circuity, speed_kmh=data.travel.speed_kmh),
    )


def load(data: Any) -> Instance:
    """Validate decoded JSON (see :mod:`backend.scheduling.instance_schema`) into an instance.

    Raises ``pydantic.ValidationError`` (a ``ValueError``) naming the field at fault.
    """
    return _instance(InstanceIn.model_validate(data))


def loads(text: str | bytes) -> Instance:
    """Like :func:`load`, from JSON text (parse errors and nesting limits included)."""
    return _instance(InstanceIn.model_validate_json(text))


def dump(instance: Instance) -> dict[str, Any]:
    """Inverse of :func:`load` (JSON-ready)."""
    policy = asdict(instance.policy)
    policy["window_starts"] = list(instance.policy.window_starts)
    return {
        "timezone": instance.tz.key,
        "now": instance.now.isoformat(),
        "travel": {
            "model": "haversine",
            "circuity": instance.travel.circuity,
            "speed_kmh": instance.travel.speed_kmh,
        },
        "policy": policy,
        "technicians": [
            {
                "id": t.id,
                "name": t.name,
                "skills": sorted(t.skills),
                "home": _loc_json(t.home),
                "working_hours": {
                    str(weekday): [[s, e] for s, e in intervals]
                    for weekday, intervals in sorted(t.working_hours.items())
                },
                "absences": [[a.isoformat(), b.isoformat()] for a, b in t.absences],
            }
            for t in instance.technicians
        ],
        "visits": [
            {
                "id": v.id,
                "technician_id": v.technician_id,
                "location": _loc_json(v.location),
                "start": v.start.isoformat(),
                "duration_min": v.duration_min,
                "window_start": v.window_start.isoformat(),
                "window_end": v.window_end.isoformat(),
            }
            for v in instance.visits
        ],
        "request": {
            "location": _loc_json(instance.request.location),
            "duration_min": instance.request.duration_min,
            "required_skills": sorted(instance.request.required_skills),
            "preferred_technician_id": instance.request.preferred_technician_id,
            "exclude_visit_id": instance.request.exclude_visit_id,
        },
    }


def proposal_json(proposal: Proposal) -> dict[str, Any]:
    """A proposal as JSON-ready data (ISO 8601 datetimes with offsets)."""
    return {
        "technician_id": proposal.technician_id,
        "day": proposal.day.isoformat(),
        "window_start": proposal.window_start.isoformat(),
        "window_end": proposal.window_end.isoformat(),
        "expected_arrival": proposal.expected_arrival.isoformat(),
        "detour_minutes": round(proposal.detour_minutes, 3),
        "score": round(proposal.score, 3),
        "reason_code": proposal.reason_code,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``propose INSTANCE.json [--reference]``: print ``{"proposals": [...]}``."""
    parser = argparse.ArgumentParser(prog="portal scheduling")
    commands = parser.add_subparsers(dest="command", required=True)
    propose_cmd = commands.add_parser("propose", help="print the proposals of an instance")
    propose_cmd.add_argument("instance", type=Path, help="instance JSON file ('-' for stdin)")
    propose_cmd.add_argument(
        "--reference", action="store_true", help="use the brute-force reference (slow)"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        text = sys.stdin.read() if str(args.instance) == "-" else args.instance.read_bytes()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(f"cannot read {args.instance}: {reason}", file=sys.stderr)
        return 2
    try:
        instance = loads(text)
    except ValidationError as exc:
        print(f"invalid instance: {describe(exc)}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a rule of the value objects the schema does not repeat
        print(f"invalid instance: {exc}", file=sys.stderr)
        return 2
    solver = reference.propose if args.reference else engine.propose
    proposals = solver(
        instance.technicians,
        instance.visits,
        instance.request,
        instance.policy,
        instance.now,
        instance.tz,
        instance.travel,
    )
    try:
        json.dump({"proposals": [proposal_json(p) for p in proposals]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (``| head``): no traceback, and none at exit
        # when Python flushes stdout again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

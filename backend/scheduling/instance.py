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
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from backend.scheduling import engine, reference
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


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"datetime without UTC offset: {text!r}")
    return value


def _location(data: dict[str, Any]) -> Location:
    return Location(float(data["lat"]), float(data["lon"]))


def _loc_json(location: Location) -> dict[str, float]:
    return {"lat": location.lat, "lon": location.lon}


def load(data: dict[str, Any]) -> Instance:
    """Parse an instance from decoded JSON; raises ``ValueError``/``KeyError`` on bad input."""
    tz = ZoneInfo(data["timezone"])
    travel_data = dict(data.get("travel") or {})
    model = travel_data.pop("model", "haversine")
    if model != "haversine":
        raise ValueError(f"unknown travel model {model!r}")
    travel = HaversineTravel(**travel_data)
    policy_data = dict(data.get("policy") or {})
    if "window_starts" in policy_data:
        policy_data["window_starts"] = tuple(policy_data["window_starts"])
    known = {f.name for f in fields(BookingPolicy)}
    unknown = set(policy_data) - known
    if unknown:
        raise ValueError(f"unknown policy fields: {sorted(unknown)}")
    policy = BookingPolicy(**policy_data)
    technicians = [
        Technician(
            id=str(t["id"]),
            name=str(t.get("name", t["id"])),
            skills=frozenset(t.get("skills", ())),
            home=_location(t["home"]),
            working_hours={
                int(weekday): [(int(s), int(e)) for s, e in intervals]
                for weekday, intervals in t.get("working_hours", {}).items()
            },
            absences=tuple((_aware(a), _aware(b)) for a, b in t.get("absences", ())),
        )
        for t in data.get("technicians", [])
    ]
    visits = [
        Visit(
            id=str(v["id"]),
            technician_id=str(v["technician_id"]),
            location=_location(v["location"]),
            start=_aware(v["start"]),
            duration_min=float(v["duration_min"]),
            window_start=_aware(v["window_start"]),
            window_end=_aware(v["window_end"]),
        )
        for v in data.get("visits", [])
    ]
    r = data["request"]
    request = VisitRequest(
        location=_location(r["location"]),
        duration_min=float(r["duration_min"]),
        required_skills=frozenset(r.get("required_skills", ())),
        preferred_technician_id=r.get("preferred_technician_id"),
        exclude_visit_id=r.get("exclude_visit_id"),
    )
    return Instance(technicians, visits, request, policy, _aware(data["now"]), tz, travel)


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
        text = sys.stdin.read() if str(args.instance) == "-" else args.instance.read_text("utf-8")
        instance = load(json.loads(text))
    except (OSError, ValueError, KeyError, TypeError) as exc:
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
    json.dump({"proposals": [proposal_json(p) for p in proposals]}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

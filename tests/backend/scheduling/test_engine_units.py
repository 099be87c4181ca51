"""Unit tests of the scheduling engine: constraints, time zones, booking re-check."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from backend.scheduling import instance as instance_module
from backend.scheduling import reference
from backend.scheduling.engine import ScheduleIndex, check_insertion, insert_route, propose
from backend.scheduling.model import (
    BookingPolicy,
    Location,
    Technician,
    Visit,
    VisitRequest,
    local_instant,
)
from backend.scheduling.travel import HaversineTravel, TravelProvider, VectorisedTravel

PARIS = ZoneInfo("Europe/Paris")
LYON = Location(45.76, 4.84)
NEAR = Location(45.77, 4.85)  # ~1.4 km from LYON
FAR = Location(45.95, 5.10)  # ~29 km from LYON
ALL_WEEK = {wd: [(480, 1020)] for wd in range(7)}
NOW = datetime(2025, 6, 9, 9, 0, tzinfo=PARIS)  # a Monday
TOMORROW = date(2025, 6, 10)
POLICY = BookingPolicy(horizon_days=3, min_notice_hours=0, window_starts=(480, 780))


def tech(tech_id: str, home: Location = LYON, **kwargs: object) -> Technician:
    fields: dict[str, object] = {"skills": frozenset({"gas"}), "working_hours": ALL_WEEK}
    fields.update(kwargs)
    return Technician(id=tech_id, name=tech_id, home=home, **fields)  # type: ignore[arg-type]


def visit(
    visit_id: str, tech_id: str, day: date, start: int, location: Location = LYON, **kw: int
) -> Visit:
    """A visit starting at local minute ``start`` with a window of ``kw['window']`` minutes."""
    window = kw.get("window", 0)
    return Visit(
        id=visit_id,
        technician_id=tech_id,
        location=location,
        start=local_instant(day, start, PARIS),
        duration_min=kw.get("duration", 60),
        window_start=local_instant(day, start, PARIS),
        window_end=local_instant(day, start + window, PARIS),
    )


def keys(proposals: list) -> set[tuple[date, int]]:
    return {(p.day, p.window_start.hour * 60 + p.window_start.minute) for p in proposals}


def all_slots(technicians, visits, request, policy=POLICY, now=NOW):
    policy = replace(policy, proposals=1000)
    return propose(technicians, visits, request, policy, now, PARIS)


# --------------------------------------------------------------------------- travel


def test_haversine_model_lyon_paris() -> None:
    travel = HaversineTravel()
    paris = Location(48.8566, 2.3522)
    # Great-circle Lyon-Paris is ~392 km; x1.3 circuity at 30 km/h.
    assert travel.minutes(LYON, paris) == pytest.approx(392.0 * 1.3 / 30 * 60, rel=0.01)
    assert travel.minutes(LYON, paris) == pytest.approx(travel.minutes(paris, LYON))
    assert travel.minutes(LYON, LYON) == 0.0
    faster = HaversineTravel(circuity=1.0, speed_kmh=60.0)
    assert faster.minutes(LYON, paris) == pytest.approx(travel.minutes(LYON, paris) / 2.6)


def test_haversine_matrix_and_pairwise_agree_with_minutes() -> None:
    travel = HaversineTravel()
    points = [LYON, NEAR, FAR, Location(-33.9, 151.2)]
    matrix = travel.matrix(points, points[:2])
    assert matrix.shape == (4, 2)
    for i, a in enumerate(points):
        for j, b in enumerate(points[:2]):
            assert matrix[i, j] == pytest.approx(travel.minutes(a, b), abs=1e-9)
    prepared = travel.prepare(points)
    np.testing.assert_allclose(travel.pairwise(prepared, prepared[0]), matrix[:, 0], atol=1e-9)
    assert isinstance(travel, VectorisedTravel)
    assert isinstance(travel, TravelProvider)


# --------------------------------------------------------------------------- constraints


def test_empty_schedule_offers_every_window_of_the_horizon() -> None:
    got = all_slots([tech("a")], [], VisitRequest(NEAR, 60))
    days = [TOMORROW + timedelta(days=i) for i in range(3)]
    assert keys(got) == {(d, m) for d in days for m in (480, 780)}
    best = min(got, key=lambda p: p.score)
    assert best.day == TOMORROW and best.reason_code == "earliest"
    assert best.detour_minutes == pytest.approx(2 * HaversineTravel().minutes(LYON, NEAR))


def test_min_notice_hides_windows_that_start_too_soon() -> None:
    # now 09:00 Monday + 30 h = Tuesday 15:00: Tuesday 08:00 and 13:00 are too soon.
    policy = replace(POLICY, min_notice_hours=30)
    got = all_slots([tech("a")], [], VisitRequest(NEAR, 60), policy)
    assert (TOMORROW, 480) not in keys(got) and (TOMORROW, 780) not in keys(got)
    assert (TOMORROW + timedelta(days=1), 480) in keys(got)
    # Exactly at the notice limit is allowed.
    policy = replace(POLICY, min_notice_hours=23)  # Tuesday 08:00 sharp
    assert (TOMORROW, 480) in keys(all_slots([tech("a")], [], VisitRequest(NEAR, 60), policy))


def test_horizon_starts_tomorrow_and_ends_after_horizon_days() -> None:
    got = all_slots([tech("a")], [], VisitRequest(NEAR, 60))
    days = {p.day for p in got}
    assert min(days) == TOMORROW
    assert max(days) == TOMORROW + timedelta(days=2)


def test_skills_must_cover_the_request() -> None:
    technicians = [tech("a", skills=frozenset({"elec"})), tech("b", skills=frozenset({"gas"}))]
    got = all_slots(technicians, [], VisitRequest(NEAR, 60, frozenset({"gas"})))
    assert got and {p.technician_id for p in got} == {"b"}
    assert all_slots(technicians, [], VisitRequest(NEAR, 60, frozenset({"gas", "elec"}))) == []
    assert all_slots(technicians, [], VisitRequest(NEAR, 60, frozenset({"roof"}))) == []


def test_absence_overlapping_a_shift_blocks_that_shift_only() -> None:
    absence = (local_instant(TOMORROW, 900, PARIS), local_instant(TOMORROW, 960, PARIS))
    split = {wd: [(480, 720), (780, 1020)] for wd in range(7)}
    technicians = [tech("a", working_hours=split, absences=(absence,))]
    got = keys(all_slots(technicians, [], VisitRequest(NEAR, 60)))
    assert (TOMORROW, 480) in got  # morning shift untouched
    assert (TOMORROW, 780) not in got  # afternoon shift overlaps the absence
    assert (TOMORROW + timedelta(days=1), 780) in got


def test_working_hours_and_return_home_by_shift_end() -> None:
    # Shift 08:00-12:00 with a job ~75 min away: the job must leave time to drive back.
    short = {wd: [(480, 720)] for wd in range(7)}
    technicians = [tech("a", working_hours=short)]
    travel = HaversineTravel()
    far_minutes = travel.minutes(LYON, FAR)
    assert 60 < far_minutes < 100
    assert all_slots(technicians, [], VisitRequest(FAR, 240 - 2 * far_minutes + 1)) == []
    got = all_slots(technicians, [], VisitRequest(FAR, 240 - 2 * far_minutes - 1))
    assert keys(got) == {(TOMORROW + timedelta(days=i), 480) for i in range(3)}


def test_existing_visits_push_the_new_one_and_must_stay_on_time() -> None:
    # Fixed visit 09:00-10:00 at home; a 60-minute job at home in the 08:00 window
    # fits before it (08:00-09:00) or after it (10:00, still within 08:00-10:00).
    existing = [visit("v1", "a", TOMORROW, 540)]
    policy = replace(POLICY, window_starts=(480,))
    got = [p for p in all_slots([tech("a")], existing, VisitRequest(LYON, 60), policy)]
    first = [p for p in got if p.day == TOMORROW][0]
    assert first.expected_arrival == local_instant(TOMORROW, 480, PARIS)
    # A 61-minute job before v1 would make v1 late, so it goes after v1 and starts at
    # 10:00, which is the window end and still allowed.
    got = all_slots([tech("a")], existing, VisitRequest(LYON, 61), policy)
    first = [p for p in got if p.day == TOMORROW][0]
    assert first.expected_arrival == local_instant(TOMORROW, 600, PARIS)


def test_preferred_technician_and_nearby_reasons() -> None:
    technicians = [tech("a"), tech("b", home=FAR)]
    existing = [visit("v1", "a", TOMORROW, 600, NEAR, window=240)]
    got = propose(technicians, existing, VisitRequest(NEAR, 30), POLICY, NOW, PARIS)
    assert got[0].reason_code == "nearby" and got[0].technician_id == "a"
    request = VisitRequest(FAR, 30, preferred_technician_id="b")
    got = propose(technicians, [], request, POLICY, NOW, PARIS)
    assert got[0].technician_id == "b" and got[0].reason_code == "preferred_technician"
    # Without a preference, b (who lives there) still wins; the first slot is the earliest.
    got = propose(technicians, [], VisitRequest(FAR, 30), POLICY, NOW, PARIS)
    assert got[0].technician_id == "b" and got[0].reason_code == "earliest"


def test_ties_go_to_the_lowest_technician_id() -> None:
    technicians = [tech("b"), tech("a"), tech("c")]
    got = all_slots(technicians, [], VisitRequest(NEAR, 30))
    assert {p.technician_id for p in got} == {"a"}


def test_proposals_are_limited_and_sorted_by_score() -> None:
    policy = replace(POLICY, proposals=4)
    got = propose([tech("a")], [], VisitRequest(NEAR, 30), policy, NOW, PARIS)
    assert len(got) == 4
    assert [p.score for p in got] == sorted(p.score for p in got)
    assert got[0].day == TOMORROW  # the earliness term favours earlier days


# --------------------------------------------------------------------------- time zone / DST


def test_dst_end_day_in_paris_uses_real_elapsed_time() -> None:
    # Sunday 27 October 2024: clocks go back at 03:00 -> 02:00, the day lasts 25 h.
    dst_day = date(2024, 10, 27)
    now = datetime(2024, 10, 26, 8, 0, tzinfo=UTC)
    policy = BookingPolicy(horizon_days=1, min_notice_hours=0, window_starts=(480,))
    existing = [visit("v1", "a", dst_day, 480, duration=90)]  # 08:00-09:30 at home
    got = propose([tech("a")], existing, VisitRequest(LYON, 30), policy, now, PARIS)
    assert len(got) == 1
    slot = got[0]
    assert slot.day == dst_day
    assert slot.window_start.isoformat() == "2024-10-27T08:00:00+01:00"
    assert slot.window_end.isoformat() == "2024-10-27T10:00:00+01:00"
    # Shift starts 08:00 local; the existing visit takes 08:00-09:30.
    assert slot.expected_arrival.isoformat() == "2024-10-27T09:30:00+01:00"
    assert (slot.window_end - slot.window_start) == timedelta(hours=2)
    # The engine and the brute force agree on that day too.
    expected = reference.propose([tech("a")], existing, VisitRequest(LYON, 30), policy, now, PARIS)
    assert expected == got


def test_dst_start_day_window_after_the_gap() -> None:
    # Sunday 30 March 2025: 02:00 -> 03:00, the day lasts 23 h.
    now = datetime(2025, 3, 29, 8, 0, tzinfo=PARIS)
    policy = BookingPolicy(horizon_days=1, min_notice_hours=0, window_starts=(600,))
    got = propose([tech("a")], [], VisitRequest(LYON, 30), policy, now, PARIS)
    assert got[0].window_start.isoformat() == "2025-03-30T10:00:00+02:00"
    assert got[0].expected_arrival == got[0].window_start


# --------------------------------------------------------------------------- reschedule


def test_reschedule_ignores_the_visit_being_moved() -> None:
    # A 9-hour visit fills Tuesday; moving it must be able to reuse its own day.
    big = visit("v1", "a", TOMORROW, 480, duration=540)
    policy = replace(POLICY, horizon_days=1)
    assert all_slots([tech("a")], [big], VisitRequest(LYON, 60), policy) == []
    request = VisitRequest(LYON, 60, exclude_visit_id="v1")
    assert keys(all_slots([tech("a")], [big], request, policy)) == {
        (TOMORROW, 480),
        (TOMORROW, 780),
    }
    # The prepared index gives the same answer as the one-shot function.
    index = ScheduleIndex([tech("a")], [big], PARIS, TOMORROW, 5)
    assert keys(index.propose(request, replace(policy, proposals=99), NOW)) == {
        (TOMORROW, 480),
        (TOMORROW, 780),
    }


def test_index_refuses_a_horizon_it_does_not_cover() -> None:
    index = ScheduleIndex([tech("a")], [], PARIS, TOMORROW, 2)
    with pytest.raises(ValueError, match="index covers"):
        index.propose(VisitRequest(LYON, 30), POLICY, NOW)


# --------------------------------------------------------------------------- booking


def test_check_insertion_rejects_a_slot_taken_meanwhile() -> None:
    technician = tech("a")
    policy = replace(POLICY, window_starts=(480,), horizon_days=1)
    request = VisitRequest(NEAR, 60)
    proposal = propose([technician], [], request, policy, NOW, PARIS)[0]
    ok = check_insertion(proposal, technician, [], request, policy, NOW, PARIS)
    assert ok is not None and ok.position == 0
    # Someone else booked 08:00-16:00 at the other end of town in the meantime.
    conflict = visit("v9", "a", TOMORROW, 480, FAR, duration=480)
    assert check_insertion(proposal, technician, [conflict], request, policy, NOW, PARIS) is None
    # A tampered window that the policy never offers is refused too.
    odd = replace(proposal, window_start=proposal.window_start + timedelta(minutes=5))
    assert check_insertion(odd, technician, [], request, policy, NOW, PARIS) is None
    # So is a slot whose notice has run out.
    late_now = NOW + timedelta(days=1)
    assert check_insertion(proposal, technician, [], request, policy, late_now, PARIS) is None


def test_insert_route_returns_the_retimed_schedule() -> None:
    technician = tech("a")
    policy = replace(POLICY, window_starts=(480,), horizon_days=1)
    existing = [visit("v1", "a", TOMORROW, 540, NEAR, window=120)]
    request = VisitRequest(LYON, 60)
    proposal = propose([technician], existing, request, policy, NOW, PARIS)[0]
    insertion = check_insertion(proposal, technician, existing, request, policy, NOW, PARIS)
    assert insertion is not None
    route = insert_route(insertion, technician, existing, request, policy, "new", PARIS)
    assert [v.id for v in route] == ["new", "v1"]
    assert route[0].start == proposal.expected_arrival == local_instant(TOMORROW, 480, PARIS)
    assert route[0].window_end - route[0].window_start == timedelta(minutes=120)
    travel = HaversineTravel().minutes(LYON, NEAR)
    assert route[1].start.timestamp() == pytest.approx(
        local_instant(TOMORROW, 540 + travel, PARIS).timestamp()
    )
    # The route no longer fits if the existing visit's window is made impossible.
    crowded = [*existing, visit("v2", "a", TOMORROW, 480, FAR, duration=400)]
    with pytest.raises(ValueError):
        insert_route(insertion, technician, crowded, request, policy, "new", PARIS)


# --------------------------------------------------------------------------- instance / CLI


def test_instance_round_trip_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inst = instance_module.Instance(
        technicians=[tech("a"), tech("b", home=FAR, absences=((NOW, NOW + timedelta(days=2)),))],
        visits=[visit("v1", "a", TOMORROW, 600, NEAR, window=60)],
        request=VisitRequest(NEAR, 45, frozenset({"gas"}), "b", None),
        policy=POLICY,
        now=NOW,
        tz=PARIS,
        travel=HaversineTravel(),
    )
    data = instance_module.dump(inst)
    assert instance_module.load(json.loads(json.dumps(data))) == inst
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert instance_module.main(["propose", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)["proposals"]
    assert printed and printed[0]["technician_id"] in {"a", "b"}
    assert set(printed[0]) == {
        "technician_id",
        "day",
        "window_start",
        "window_end",
        "expected_arrival",
        "detour_minutes",
        "score",
        "reason_code",
    }
    assert instance_module.main(["propose", str(path), "--reference"]) == 0
    assert json.loads(capsys.readouterr().out)["proposals"] == printed
    path.write_text("{}", encoding="utf-8")
    assert instance_module.main(["propose", str(path)]) == 2

"""Property tests: the vectorised engine equals the brute-force reference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.scheduling import reference
from backend.scheduling.engine import ScheduleIndex, rank_insertions
from backend.scheduling.model import (
    BookingPolicy,
    Location,
    Technician,
    Visit,
    VisitRequest,
    horizon_days,
    local_instant,
)
from backend.scheduling.travel import HaversineTravel, TravelProvider

PARIS = ZoneInfo("Europe/Paris")
# Weeks around both 2024 DST changes (31 March, 27 October) and a plain summer week.
BASE_DAYS = [date(2024, 3, 29), date(2024, 10, 25), date(2024, 10, 26), date(2025, 6, 10)]
SKILLS = ["elec", "gas", "water"]


@dataclass(frozen=True)
class SlopeTravel:
    """Asymmetric, non-vectorised provider (uphill costs more); breaks the triangle inequality."""

    inner: HaversineTravel = HaversineTravel()

    def minutes(self, a: Location, b: Location) -> float:
        return self.inner.minutes(a, b) + max(0.0, b.lat - a.lat) * 300.0

    def matrix(self, origins: Sequence[Location], destinations: Sequence[Location]) -> np.ndarray:
        return np.array([[self.minutes(o, d) for d in destinations] for o in origins])


@dataclass(frozen=True)
class Instance:
    technicians: list[Technician]
    visits: list[Visit]
    request: VisitRequest
    policy: BookingPolicy
    now: datetime
    travel: TravelProvider


locations = st.builds(
    lambda i, j: Location(45.70 + 0.02 * i, 4.80 + 0.02 * j),
    st.integers(0, 5),
    st.integers(0, 5),
)
shift_options = st.sampled_from(
    [[], [(480, 1020)], [(420, 720), (780, 1080)], [(600, 900)], [(360, 1200)], [(540, 660)]]
)


@st.composite
def instances(draw: st.DrawFn) -> Instance:
    base = draw(st.sampled_from(BASE_DAYS))
    now_local = datetime(base.year, base.month, base.day, tzinfo=PARIS) - timedelta(days=1)
    now = now_local.replace(hour=draw(st.integers(0, 23)), minute=draw(st.sampled_from([0, 30])))
    if draw(st.booleans()):
        now = now.astimezone(UTC)
    ids = draw(st.permutations(["t1", "t2", "t3", "t4", "t5"]))[: draw(st.integers(1, 5))]
    technicians: list[Technician] = []
    visits: list[Visit] = []
    for tech_id in ids:
        hours = {wd: draw(shift_options) for wd in range(7)}
        absences = []
        for _ in range(draw(st.integers(0, 2))):
            start = now + timedelta(hours=draw(st.integers(0, 120)))
            absences.append((start, start + timedelta(hours=draw(st.integers(1, 30)))))
        technicians.append(
            Technician(
                id=tech_id,
                name=tech_id.upper(),
                skills=frozenset(draw(st.sets(st.sampled_from(SKILLS)))),
                home=draw(locations),
                working_hours=hours,
                absences=tuple(absences),
            )
        )
        for k in range(draw(st.integers(0, 12))):
            day = base + timedelta(days=draw(st.integers(0, 4)))
            start_min = draw(st.integers(28, 72)) * 15
            ws_min = start_min - 30 * draw(st.integers(0, 3))
            we_min = ws_min + 30 * draw(st.integers(0, 6))
            visits.append(
                Visit(
                    id=f"{tech_id}-v{k}",
                    technician_id=tech_id,
                    location=draw(locations),
                    start=local_instant(day, start_min, PARIS),
                    duration_min=15 * draw(st.integers(1, 8)),
                    window_start=local_instant(day, ws_min, PARIS),
                    window_end=local_instant(day, we_min, PARIS),
                )
            )
    request = VisitRequest(
        location=draw(locations),
        duration_min=15 * draw(st.integers(0, 12)),
        required_skills=frozenset(draw(st.sets(st.sampled_from(SKILLS), max_size=2))),
        preferred_technician_id=draw(st.one_of(st.none(), st.sampled_from(ids))),
        exclude_visit_id=draw(
            st.one_of(st.none(), st.sampled_from([v.id for v in visits] or ["nope"]))
        ),
    )
    policy = BookingPolicy(
        horizon_days=draw(st.integers(1, 4)),
        min_notice_hours=6 * draw(st.integers(0, 8)),
        window_minutes=draw(st.sampled_from([0, 60, 120, 180])),
        window_starts=tuple(
            sorted(draw(st.sets(st.sampled_from(range(360, 1140, 60)), min_size=1, max_size=5)))
        ),
        proposals=draw(st.integers(1, 6)),
        detour_weight=draw(st.sampled_from([1.0, 0.5, 2.0])),
        earliness_weight=draw(st.sampled_from([0.0, 0.5, 2.0])),
        preferred_technician_bonus=draw(st.sampled_from([0.0, 15.0])),
    )
    travel = draw(st.sampled_from([HaversineTravel(), HaversineTravel(1.0, 50.0), SlopeTravel()]))
    return Instance(technicians, visits, request, policy, now, travel)


def _index(inst: Instance, margin: int) -> ScheduleIndex:
    days = horizon_days(inst.now, inst.policy, PARIS)
    first = days[0] - timedelta(days=margin)
    return ScheduleIndex(
        inst.technicians, inst.visits, PARIS, first, len(days) + 2 * margin, inst.travel
    )


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(inst=instances(), margin=st.integers(0, 1))
def test_engine_matches_brute_force(inst: Instance, margin: int) -> None:
    args = (inst.technicians, inst.visits, inst.request, inst.policy, inst.now, PARIS, inst.travel)
    expected = reference.best_insertions(*args)
    got = _index(inst, margin).best_insertions(inst.request, inst.policy, inst.now)

    # No feasible (day, window) missed, none invented.
    assert set(got) == set(expected)
    for key, insertion in got.items():
        assert insertion.cost == pytest.approx(expected[key].cost, abs=1e-6), key
        # The engine's own choice is feasible by the brute-force check, with the same price
        # and the same earliest start.
        rechecked = reference.check(insertion, *args)
        assert rechecked is not None, key
        assert rechecked.cost == pytest.approx(insertion.cost, abs=1e-6)
        assert rechecked.start_min == pytest.approx(insertion.start_min, abs=1e-6)
        assert rechecked.detour_minutes == pytest.approx(insertion.detour_minutes, abs=1e-6)

    # Ranking: same number of proposals and the same scores in order.
    proposals = rank_insertions(got, inst.request, inst.policy, PARIS)
    reference_proposals = rank_insertions(expected, inst.request, inst.policy, PARIS)
    assert len(proposals) == min(inst.policy.proposals, len(expected))
    assert [p.score for p in proposals] == pytest.approx(
        [p.score for p in reference_proposals], abs=1e-6
    )
    assert [p.score for p in proposals] == sorted(p.score for p in proposals)

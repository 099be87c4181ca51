"""ScheduleIndex.replace_day: a patched index answers exactly like a fresh one."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.scheduling.engine import ScheduleIndex
from backend.scheduling.model import (
    BookingPolicy,
    Insertion,
    Visit,
    VisitRequest,
    horizon_days,
    local_instant,
)

from .test_engine_units import LYON, NEAR, NOW, PARIS, POLICY, TOMORROW, tech, visit
from .test_engine_vs_reference import SKILLS, Instance, instances, locations

Key = tuple[str, date]


def _assert_same(got: dict[tuple[date, int], Insertion], want: dict[tuple[date, int], Insertion]):
    assert set(got) == set(want)
    for key, a in got.items():
        b = want[key]
        assert (a.technician_id, a.day, a.window_start_min, a.segment, a.position) == (
            b.technician_id,
            b.day,
            b.window_start_min,
            b.segment,
            b.position,
        ), key
        assert a.route_has_visits == b.route_has_visits, key
        assert a.cost == pytest.approx(b.cost, abs=1e-6), key
        assert a.start_min == pytest.approx(b.start_min, abs=1e-6), key
        assert a.detour_minutes == pytest.approx(b.detour_minutes, abs=1e-6), key


@st.composite
def day_visit(draw: st.DrawFn, visit_id: str, tech_id: str, day: date, like: Visit | None) -> Visit:
    """A visit of ``tech_id`` on local ``day``; keeps ``like``'s id, place and duration."""
    start_min = draw(st.integers(28, 72)) * 15
    ws_min = start_min - 30 * draw(st.integers(0, 3))
    we_min = ws_min + 30 * draw(st.integers(0, 6))
    return Visit(
        id=like.id if like else visit_id,
        technician_id=tech_id,
        location=like.location if like else draw(locations),
        start=local_instant(day, start_min, PARIS),
        duration_min=like.duration_min if like else 15 * draw(st.integers(1, 8)),
        window_start=local_instant(day, ws_min, PARIS),
        window_end=local_instant(day, we_min, PARIS),
    )


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(inst=instances(), margin=st.integers(0, 1), data=st.data())
def test_patched_index_matches_a_fresh_index(inst: Instance, margin: int, data: st.DataObject):
    if data.draw(st.booleans(), label="shared home"):
        # Everybody lives at the same place and works the same hours: many exact cost
        # ties across technicians, which exercises the main table / patches tie-break.
        model = inst.technicians[0]
        clones = [
            replace(
                t,
                home=model.home,
                working_hours=model.working_hours,
                skills=model.skills,
                absences=model.absences,
            )
            for t in inst.technicians
        ]
        inst = replace(inst, technicians=clones)
    days = horizon_days(inst.now, inst.policy, PARIS)
    first = days[0] - timedelta(days=margin)
    num_days = len(days) + 2 * margin
    index = ScheduleIndex(inst.technicians, inst.visits, PARIS, first, num_days, inst.travel)

    # The visit set as the booking service sees it, per (technician, local day).
    schedule: dict[Key, list[Visit]] = defaultdict(list)
    for v in inst.visits:
        schedule[(v.technician_id, v.start.astimezone(PARIS).date())].append(v)
    tech_ids = [t.id for t in inst.technicians]
    patched_in_range: set[Key] = set()

    def apply(key: Key, new: list[Visit]) -> None:
        schedule[key] = new
        index.replace_day(key[0], key[1], new)
        if 0 <= (key[1] - first).days < num_days:
            patched_in_range.add(key)

    for op in range(data.draw(st.integers(1, 4), label="ops")):
        tech_id = data.draw(st.sampled_from(tech_ids), label="tech")
        offset = data.draw(st.integers(-1, num_days), label="day offset")  # -1, num_days: outside
        day = first + timedelta(days=offset)
        key = (tech_id, day)
        kept = [
            v for v in schedule[key] if data.draw(st.booleans(), label=f"keep {v.id}")
        ]  # may empty the day
        fresh = [
            data.draw(day_visit(f"n{op}-{k}", tech_id, day, None), label="new visit")
            for k in range(data.draw(st.integers(0, 4), label="new visits"))
        ]
        moved: list[Visit] = []
        sources: list[Key] = []
        elsewhere = [(k, v) for k, vs in schedule.items() if k != key for v in vs]
        if elsewhere and 0 <= offset < num_days and data.draw(st.booleans(), label="move"):
            # A visit that existed elsewhere moves here; its old day is replaced too.
            source, old = data.draw(st.sampled_from(elsewhere), label="moved visit")
            moved.append(data.draw(day_visit(old.id, tech_id, day, old), label="moved to"))
            schedule[source] = [v for v in schedule[source] if v.id != old.id]
            sources.append(source)
        before = data.draw(st.booleans(), label="source first")
        if before:
            for source in sources:
                apply(source, schedule[source])
        apply(key, kept + fresh + moved)
        if not before:
            for source in sources:
                apply(source, schedule[source])

    assert index.patch_count == len(patched_in_range)
    final = [v for vs in schedule.values() for v in vs]
    fresh_index = ScheduleIndex(inst.technicians, final, PARIS, first, num_days, inst.travel)
    assert index.gap_count == fresh_index.gap_count

    patched_visits = sorted(v.id for key in patched_in_range for v in schedule[key])
    all_ids = sorted(v.id for v in final)
    for _ in range(data.draw(st.integers(1, 3), label="queries")):
        exclude = data.draw(
            st.one_of(
                st.none(),
                st.sampled_from(patched_visits or ["nope"]),
                st.sampled_from(all_ids or ["nope"]),
            ),
            label="exclude",
        )
        request = VisitRequest(
            location=data.draw(locations, label="site"),
            duration_min=15 * data.draw(st.integers(0, 12), label="duration"),
            required_skills=frozenset(
                data.draw(st.sets(st.sampled_from(SKILLS), max_size=2), label="skills")
            ),
            preferred_technician_id=data.draw(
                st.one_of(st.none(), st.sampled_from(tech_ids)), label="preferred"
            ),
            exclude_visit_id=exclude,
        )
        _assert_same(
            index.best_insertions(request, inst.policy, inst.now),
            fresh_index.best_insertions(request, inst.policy, inst.now),
        )


# --------------------------------------------------------------------------- units

ALL = replace(POLICY, proposals=1000)
DAY2 = TOMORROW + timedelta(days=1)


def _pair(technicians, visits, *, num_days: int = 3) -> ScheduleIndex:
    return ScheduleIndex(technicians, visits, PARIS, TOMORROW, num_days)


def _check(index: ScheduleIndex, technicians, visits, request: VisitRequest) -> None:
    fresh = _pair(technicians, visits, num_days=index.num_days)
    _assert_same(index.best_insertions(request, ALL, NOW), fresh.best_insertions(request, ALL, NOW))


def test_patch_count_and_replacing_the_same_day_twice() -> None:
    technicians = [tech("a"), tech("b")]
    v1 = visit("v1", "a", TOMORROW, 540, NEAR)
    v2 = visit("v2", "b", TOMORROW, 600, NEAR)
    index = _pair(technicians, [v1, v2])
    assert index.patch_count == 0
    v3 = visit("v3", "a", TOMORROW, 720, LYON, window=60)
    index.replace_day("a", TOMORROW, [v1, v3])
    assert index.patch_count == 1
    _check(index, technicians, [v1, v2, v3], VisitRequest(NEAR, 45))
    # Same day again: the patch is replaced, not stacked.
    v4 = visit("v4", "a", TOMORROW, 800, NEAR)
    index.replace_day("a", TOMORROW, [v4])
    assert index.patch_count == 1
    _check(index, technicians, [v2, v4], VisitRequest(NEAR, 45))
    _check(index, technicians, [v2, v4], VisitRequest(NEAR, 45, exclude_visit_id="v4"))
    # v1 and v3 are gone: excluding them changes nothing.
    _check(index, technicians, [v2, v4], VisitRequest(NEAR, 45, exclude_visit_id="v1"))
    index.replace_day("b", DAY2, [])
    assert index.patch_count == 2
    _check(index, technicians, [v2, v4], VisitRequest(LYON, 30, preferred_technician_id="b"))


def test_emptying_a_day_frees_it() -> None:
    technicians = [tech("a")]
    # A full morning: 08:00-12:00 fixed, the 08:00 window has no room on day 1.
    busy = [visit("v1", "a", TOMORROW, 480, duration=240), visit("v2", "a", TOMORROW, 780)]
    policy = replace(ALL, window_starts=(480,))
    index = _pair(technicians, busy)
    assert (TOMORROW, 480) not in index.best_insertions(VisitRequest(NEAR, 60), policy, NOW)
    index.replace_day("a", TOMORROW, [])
    got = index.best_insertions(VisitRequest(NEAR, 60), policy, NOW)
    assert got[(TOMORROW, 480)].route_has_visits is False
    _check(index, technicians, [], VisitRequest(NEAR, 60))
    assert "v1" not in index._route_of_visit and "v2" not in index._route_of_visit


def test_out_of_range_day_and_unknown_technician_are_ignored() -> None:
    technicians = [tech("a")]
    v1 = visit("v1", "a", TOMORROW, 540, NEAR)
    index = _pair(technicians, [v1])
    before = index.best_insertions(VisitRequest(NEAR, 45), ALL, NOW)
    for day in (TOMORROW - timedelta(days=1), TOMORROW + timedelta(days=3)):
        index.replace_day("a", day, [visit("x", "a", day, 600)])
    index.replace_day("zz", TOMORROW, [visit("y", "zz", TOMORROW, 600)])
    assert index.patch_count == 0
    _assert_same(index.best_insertions(VisitRequest(NEAR, 45), ALL, NOW), before)


def test_visits_must_match_the_technician_and_day() -> None:
    index = _pair([tech("a"), tech("b")], [])
    with pytest.raises(ValueError):
        index.replace_day("a", TOMORROW, [visit("v", "b", TOMORROW, 600)])
    with pytest.raises(ValueError):
        index.replace_day("a", TOMORROW, [visit("v", "a", DAY2, 600)])
    assert index.patch_count == 0


def test_visit_moved_into_a_patch_leaves_the_main_table() -> None:
    technicians = [tech("a"), tech("b", home=NEAR)]
    v1 = visit("v1", "a", TOMORROW, 540, NEAR)
    index = _pair(technicians, [v1])
    moved = visit("v1", "b", DAY2, 600, NEAR, window=120)
    index.replace_day("b", DAY2, [moved])
    assert "v1" not in index._route_of_visit
    # Excluding v1 now re-derives b's patched day without it; a's main route keeps
    # its (stale) copy until a's day is replaced as well.
    stale = replace(v1, id="v1-old")
    request = VisitRequest(NEAR, 30, exclude_visit_id="v1")
    _check(index, technicians, [stale, moved], request)
    index.replace_day("a", TOMORROW, [])
    _check(index, technicians, [moved], request)
    _check(index, technicians, [moved], VisitRequest(NEAR, 30, preferred_technician_id="a"))


def test_ties_across_main_table_and_patches_go_to_the_lowest_id() -> None:
    technicians = [tech("a"), tech("b"), tech("c")]  # same home, same empty days
    request = VisitRequest(NEAR, 30)
    index = _pair(technicians, [])
    index.replace_day("b", TOMORROW, [])  # b's day now lives in the patch table
    got = index.best_insertions(request, ALL, NOW)
    assert {i.technician_id for i in got.values()} == {"a"}
    index.replace_day("a", TOMORROW, [])
    got = index.best_insertions(request, ALL, NOW)
    assert {i.technician_id for i in got.values()} == {"a"}
    index.replace_day("a", TOMORROW, [visit("v", "a", TOMORROW, 480, duration=540)])
    _check(index, technicians, [visit("v", "a", TOMORROW, 480, duration=540)], request)
    assert {i.technician_id for k, i in index.best_insertions(request, ALL, NOW).items()
            if k[0] == TOMORROW} == {"b"}  # fmt: skip


def test_split_shifts_and_dst_day_patch() -> None:
    split = {wd: [(420, 720), (780, 1080)] for wd in range(7)}
    technicians = [tech("a", working_hours=split), tech("b", working_hours=split)]
    dst = date(2025, 3, 30)
    now = local_instant(dst - timedelta(days=1), 600, PARIS)
    policy = BookingPolicy(horizon_days=2, min_notice_hours=0, proposals=1000)
    first = horizon_days(now, policy, PARIS)[0]
    index = ScheduleIndex(technicians, [], PARIS, first, 2)
    new = [visit("m", "a", dst, 540, NEAR), visit("e", "a", dst, 900, NEAR, window=60)]
    index.replace_day("a", dst, new)
    fresh = ScheduleIndex(technicians, new, PARIS, first, 2)
    for request in (VisitRequest(NEAR, 60), VisitRequest(NEAR, 60, exclude_visit_id="e")):
        _assert_same(
            index.best_insertions(request, policy, now), fresh.best_insertions(request, policy, now)
        )


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(2, 4),
    busy=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), max_size=6),
    patches=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 2), st.booleans()), min_size=1, max_size=4
    ),
    preferred=st.one_of(st.none(), st.integers(0, 3)),
)
def test_patched_ties_break_like_a_fresh_index(
    count: int,
    busy: list[tuple[int, int]],
    patches: list[tuple[int, int, bool]],
    preferred: int | None,
) -> None:
    """Identical technicians: every empty day ties, across the main table and the patches."""
    technicians = [tech(f"t{i}") for i in range(count)]
    schedule: dict[Key, list[Visit]] = defaultdict(list)
    for n, (t, d) in enumerate(busy):
        day = TOMORROW + timedelta(days=d)
        if t < count:
            schedule[(f"t{t}", day)].append(visit(f"b{n}", f"t{t}", day, 600, NEAR))
    index = _pair(technicians, [v for vs in schedule.values() for v in vs])
    for n, (t, d, empty) in enumerate(patches):
        if t >= count:
            continue
        day = TOMORROW + timedelta(days=d)
        new = [] if empty else [visit(f"p{n}", f"t{t}", day, 600, NEAR)]
        schedule[(f"t{t}", day)] = new
        index.replace_day(f"t{t}", day, new)
    pref = f"t{preferred}" if preferred is not None else None
    final = [v for vs in schedule.values() for v in vs]
    for site in (NEAR, LYON):
        _check(index, technicians, final, VisitRequest(site, 30, preferred_technician_id=pref))

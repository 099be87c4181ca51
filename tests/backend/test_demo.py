"""The demo dataset: shape, validity, feasibility of schedules, determinism, scale."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.contacts import normalize_email, normalize_phone
from backend.core.db import make_engine, make_sessionmaker
from backend.demo import DemoError, DemoSize, DemoSummary, generate, main, seed_database
from backend.domain import ACTIVITY_STATUSES, FieldType, FormSpec, PortalAction
from backend.models import (
    Absence,
    Activity,
    ActivityStep,
    ActivityType,
    Base,
    BusinessUnit,
    Client,
    ClientContact,
    FormDefinition,
    Site,
    Technician,
)
from backend.templates import validate_template

PARIS = ZoneInfo("Europe/Paris")
# Tuesday 24 November 2026, 10:00 in Lyon: technicians are out on visits.
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
STEP_CODES = {
    "created",
    "scheduled",
    "technician_assigned",
    "on_the_way",
    "started",
    "completed",
    "cancelled",
    "rescheduled",
}


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, DemoSummary]]:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    summary = seed_database(_url(path), now=NOW)
    engine = make_engine(_url(path))
    with make_sessionmaker(engine)() as db:
        yield db, summary
    engine.dispose()


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _local_minutes(moment: datetime) -> tuple[int, int]:
    local = moment.astimezone(PARIS)
    return local.weekday(), local.hour * 60 + local.minute


def test_counts_match_the_default_size(demo: tuple[Session, DemoSummary]) -> None:
    db, summary = demo
    assert summary.created
    assert db.scalar(select(BusinessUnit.name)) == "Rhône Chauffage Services"
    assert len(db.scalars(select(Technician)).all()) == 8
    assert len(db.scalars(select(Client)).all()) == 60
    activities = db.scalars(select(Activity)).all()
    assert len(activities) == 220
    statuses = {a.status for a in activities}
    assert statuses == set(ACTIVITY_STATUSES)
    assert summary.activities == 220
    assert sum(summary.activities_by_status.values()) == 220
    assert all(n > 0 for n in summary.activities_by_status.values())

    types = db.scalars(select(ActivityType)).all()
    assert sum(t.portal_shown for t in types) >= 3
    assert sum(not t.portal_shown for t in types) == 1
    disabled = db.scalars(select(Client).where(Client.portal_access.is_(False))).all()
    assert 3 <= len(disabled) <= 8
    assert summary.disabled_client_id in {c.id for c in disabled}
    english = db.scalars(select(Client).where(Client.preferred_language == "en")).all()
    assert 3 <= len(english) <= 20
    assert len(db.scalars(select(Absence)).all()) >= 2


def test_business_unit_branding(demo: tuple[Session, DemoSummary]) -> None:
    db, _ = demo
    bu = db.scalars(select(BusinessUnit)).one()
    assert bu.logo == "logo.png"
    assert (Path(__file__).resolve().parents[2] / "assets" / "logo.png").read_bytes()[:8] == (
        b"\x89PNG\r\n\x1a\n"
    )
    assert bu.timezone == "Europe/Paris" and bu.locale == "fr"
    assert "Lyon" in bu.address and bu.description and bu.phone and "@" in bu.email
    assert bu.portal_enabled and bu.permanent_links_allowed and bu.sms_links_allowed
    assert bu.show_cancelled_activities
    assert bu.sms_centicredits == 5000
    assert bu.booking["window_minutes"] == 120


def test_configuration_validates(demo: tuple[Session, DemoSummary]) -> None:
    db, _ = demo
    forms = db.scalars(select(FormDefinition)).all()
    field_types: set[str] = set()
    for form in forms:
        spec = FormSpec.model_validate({"fields": form.fields})
        field_types |= {f.type for f in spec.fields}
    assert field_types == set(get_args(FieldType))

    form_ids = {f.id for f in forms}
    kinds: set[str] = set()
    for activity_type in db.scalars(select(ActivityType)):
        validate_template(activity_type.title_template)
        keys = []
        for raw in activity_type.portal_actions:
            action = PortalAction.model_validate(raw)
            kinds.add(action.kind)
            keys.append(action.key)
            assert action.form_id is None or action.form_id in form_ids
        assert len(keys) == len(set(keys))
    assert kinds == {
        "book",
        "reschedule",
        "cancel",
        "fill_form",
        "validate_document",
        "survey",
        "request",
    }


def test_contacts_are_normalized_and_unique(demo: tuple[Session, DemoSummary]) -> None:
    db, summary = demo
    contacts = db.scalars(select(ClientContact)).all()
    per_client: dict[int, int] = defaultdict(int)
    for contact in contacts:
        per_client[contact.client_id] += 1
        if contact.kind == "email":
            assert normalize_email(contact.value) == contact.value
            assert contact.value.split("@")[1] in {
                "example.fr",
                "example.com",
                "example.org",
                "example.net",
            }
        else:
            assert contact.kind == "phone"
            assert normalize_phone(contact.value) == contact.value
            assert contact.value[:4] in {"+336", "+337"} and len(contact.value) == 12
    assert len({(c.kind, c.value) for c in contacts}) == len(contacts)
    assert set(per_client.values()) <= {1, 2}
    assert len(per_client) == 60

    assert summary.example_client_id is not None
    example = db.get(Client, summary.example_client_id)
    assert example is not None and example.portal_access
    values = {c.value for c in example.contacts}
    assert summary.example_client_email in values and summary.example_client_phone in values
    # The showcase client has something to look at in every portal tab.
    shown = [
        a
        for a in db.scalars(select(Activity).where(Activity.client_id == example.id))
        if a.type.portal_shown
    ]
    assert len(shown) >= 5
    assert {"to_schedule", "scheduled", "done"} <= {a.status for a in shown}


def test_sites_are_around_lyon(demo: tuple[Session, DemoSummary]) -> None:
    db, _ = demo
    sites = db.scalars(select(Site)).all()
    per_client: dict[int, int] = defaultdict(int)
    for site in sites:
        per_client[site.client_id] += 1
        assert _distance_km(45.7640, 4.8357, site.latitude, site.longitude) < 15
        assert site.street and site.postal_code.startswith("69") and site.city
    assert set(per_client.values()) <= {1, 2}
    for tech in db.scalars(select(Technician)):
        assert _distance_km(45.7640, 4.8357, tech.home_latitude, tech.home_longitude) < 15
        assert tech.skills and set(tech.skills) <= {
            "boiler",
            "heat_pump",
            "plumbing",
            "air_conditioning",
            "gas",
        }


def test_schedules_are_feasible(demo: tuple[Session, DemoSummary]) -> None:
    db, _ = demo
    techs = {t.id: t for t in db.scalars(select(Technician))}
    absences: dict[int, list[Absence]] = defaultdict(list)
    for absence in db.scalars(select(Absence)):
        absences[absence.technician_id].append(absence)
    by_tech: dict[int, list[Activity]] = defaultdict(list)
    for activity in db.scalars(select(Activity)):
        if activity.status == "to_schedule":
            assert activity.scheduled_start is None and activity.technician_id is None
            assert activity.window_start is None
            continue
        start, end = activity.scheduled_start, activity.scheduled_end
        assert start is not None and end is not None and activity.technician_id is not None
        assert start.tzinfo is not None
        assert end - start == timedelta(minutes=activity.type.default_duration_min)
        assert activity.window_start is not None and activity.window_end is not None
        assert activity.window_end - activity.window_start == timedelta(hours=2)
        assert activity.window_start <= start < activity.window_end
        assert NOW - timedelta(days=31) <= start <= NOW + timedelta(days=22)

        tech = techs[activity.technician_id]
        assert set(activity.type.required_skills) <= set(tech.skills)
        weekday, start_min = _local_minutes(start)
        _, end_min = _local_minutes(end)
        intervals = tech.working_hours.get(str(weekday), [])
        assert any(s <= start_min and end_min <= e for s, e in intervals), (
            activity.id,
            weekday,
            start_min,
            end_min,
            intervals,
        )
        for absence in absences[tech.id]:
            assert end <= absence.start or start >= absence.end
        by_tech[tech.id].append(activity)

        if activity.status == "scheduled":
            assert start > NOW
        elif activity.status == "in_progress":
            assert start <= NOW < end
            assert start.astimezone(PARIS).date() == NOW.astimezone(PARIS).date()
        elif activity.status == "done":
            assert end <= NOW
            assert activity.closure_report["summary"]
            assert activity.closure_report["work_done"]
            assert activity.closure_report["report_pdf"] is None

    for visits in by_tech.values():
        visits.sort(key=lambda a: a.scheduled_start)  # type: ignore[arg-type, return-value]
        for before, after in zip(visits, visits[1:], strict=False):
            assert before.scheduled_end <= after.scheduled_start  # type: ignore[operator]


def test_steps_follow_the_status(demo: tuple[Session, DemoSummary]) -> None:
    db, _ = demo
    for activity in db.scalars(select(Activity)):
        steps = activity.steps
        codes = [s.code for s in steps]
        assert set(codes) <= STEP_CODES
        assert codes[0] == "created"
        times = [s.at for s in steps]
        assert times == sorted(times)
        assert all(t <= NOW for t in times)
        assert activity.created_at == times[0] and activity.updated_at == times[-1]
        expected = {
            "to_schedule": ["created"],
            "scheduled": ["created", "scheduled", "technician_assigned"],
            "in_progress": ["created", "scheduled", "technician_assigned", "on_the_way", "started"],
            "done": [
                "created",
                "scheduled",
                "technician_assigned",
                "on_the_way",
                "started",
                "completed",
            ],
            "cancelled": ["created", "scheduled", "technician_assigned", "cancelled"],
        }[activity.status]
        assert [c for c in codes if c not in ("rescheduled", "on_the_way")] == [
            c for c in expected if c != "on_the_way"
        ]
        assert ("rescheduled" in codes) == (activity.reschedule_count == 1)


def test_office_steps_happen_in_office_hours(demo: tuple[Session, DemoSummary]) -> None:
    """Requests, scheduling and cancellations are logged 8:00–18:00, Paris time,
    except a last-minute one squeezed in before an early visit that same morning."""
    db, _ = demo
    office_codes = {"created", "scheduled", "technician_assigned", "rescheduled", "cancelled"}
    checked = 0
    for activity in db.scalars(select(Activity)):
        start = activity.scheduled_start
        for step in activity.steps:
            if step.code not in office_codes:
                continue
            checked += 1
            local = step.at.astimezone(PARIS)
            if 8 <= local.hour < 18 or local.time() == dt_time(18):
                continue
            assert start is not None and step.at < start, (activity.id, step.code, local)
            assert local.date() == start.astimezone(PARIS).date(), (activity.id, step.code)
    assert checked > 400


def _dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(url)
    tables: list[type[Base]] = [
        BusinessUnit,
        Technician,
        Absence,
        Client,
        ClientContact,
        Site,
        FormDefinition,
        ActivityType,
        Activity,
        ActivityStep,
    ]
    try:
        with make_sessionmaker(engine)() as db:
            dump = {}
            for model in tables:
                table = model.__table__
                rows = db.execute(select(table).order_by(table.c.id)).all()
                dump[table.name] = [tuple(row) for row in rows]
            return dump
    finally:
        engine.dispose()


def test_same_seed_and_now_give_identical_data(tmp_path: Path) -> None:
    a, b, c = (_url(tmp_path / f"{name}.db") for name in "abc")
    seed_database(a, now=NOW)
    seed_database(b, now=NOW)
    seed_database(c, DemoSize(seed=7), now=NOW)
    assert _dump(a) == _dump(b)
    assert _dump(a)["activities"] != _dump(c)["activities"]


def test_seeding_is_idempotent_and_generate_refuses_a_filled_database(tmp_path: Path) -> None:
    url = _url(tmp_path / "demo.db")
    first = seed_database(url, now=NOW)
    again = seed_database(url, DemoSize(clients=5), now=NOW)
    assert first.created and not again.created
    assert again.clients == 60 and again.activities == first.activities
    assert again.example_client_id == first.example_client_id
    engine = make_engine(url)
    with make_sessionmaker(engine)() as db, pytest.raises(DemoError):
        generate(db, now=NOW)
    engine.dispose()


def test_night_and_weekend_have_no_visit_under_way(tmp_path: Path) -> None:
    sunday_night = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)
    summary = seed_database(_url(tmp_path / "demo.db"), now=sunday_night)
    assert summary.activities == 220
    assert summary.activities_by_status["in_progress"] == 0


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cli.db"
    argv = ["--db", str(path), "--technicians", "3", "--clients", "12", "--activities", "40"]
    assert main(argv) == 0
    assert "Created" in capsys.readouterr().out
    assert main(argv) == 0
    assert "Already present" in capsys.readouterr().out
    summary = seed_database(_url(path))
    assert (summary.technicians, summary.clients, summary.activities) == (3, 12, 40)


@pytest.mark.slow
def test_scaled_run(tmp_path: Path) -> None:
    size = DemoSize(technicians=100, clients=2000, activities=10_000, seed=3)
    summary = seed_database(_url(tmp_path / "big.db"), size, now=NOW)
    assert (summary.technicians, summary.clients, summary.activities) == (100, 2000, 10_000)
    assert all(n > 0 for n in summary.activities_by_status.values())
    # Packing leaves only a few visits without a date beyond the planned 12 %.
    assert summary.activities_by_status["to_schedule"] <= 1_500

    engine = make_engine(_url(tmp_path / "big.db"))
    with make_sessionmaker(engine)() as db:
        rows = db.execute(
            select(Activity.technician_id, Activity.scheduled_start, Activity.scheduled_end)
            .where(Activity.technician_id.is_not(None))
            .order_by(Activity.technician_id, Activity.scheduled_start)
        ).all()
    engine.dispose()
    for before, after in zip(rows, rows[1:], strict=False):
        if before.technician_id == after.technician_id:
            assert before.scheduled_end <= after.scheduled_start


def test_seeded_database_has_every_clients_sync_feed(tmp_path) -> None:
    """A demo client can sync right after seeding: the feed is built with the data."""
    from sqlalchemy import func as sa_func
    from sqlalchemy import select as sa_select

    from backend.core.db import make_engine, make_sessionmaker
    from backend.demo import seed_database
    from backend.models import Activity, FeedEntry
    from backend.services import projection

    url = f"sqlite:///{tmp_path / 'feed.db'}"
    summary = seed_database(url, now=NOW)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as db:
        client = projection.load_client(db, summary.example_client_id)
        assert client is not None
        visible = projection.visible_activities(db, client, client.business_unit)
        synced = db.scalar(
            sa_select(sa_func.count())
            .select_from(FeedEntry)
            .where(FeedEntry.client_id == client.id, FeedEntry.kind == "activity")
        )
        assert synced == len(visible) > 0
        assert db.scalar(sa_select(sa_func.count()).select_from(Activity)) >= 200
    engine.dispose()


def test_quotes_on_the_activities_whose_type_has_one_to_sign(
    demo: tuple[Session, DemoSummary],
) -> None:
    import hashlib

    from sqlalchemy.orm import undefer

    from backend.models import ActivityQuote
    from backend.quotes import parse_quote, quote_document
    from backend.services.quotes import PDF_MAGIC, PDF_MAX_BYTES

    db, _ = demo
    signing = {
        t.id
        for t in db.scalars(select(ActivityType))
        if any(a["kind"] == "validate_document" for a in t.portal_actions)
    }
    assert signing
    quotes = {
        q.activity_id: q
        for q in db.scalars(select(ActivityQuote).options(undefer(ActivityQuote.pdf)))
    }
    activities = db.scalars(select(Activity)).all()
    assert {a.id for a in activities if a.type_id in signing} == set(quotes)
    rates: set[str] = set()
    for quote in quotes.values():
        doc = quote.document
        assert doc["currency"] == "EUR" and 2 <= len(doc["lines"]) <= 5
        rates |= {line["tax_rate"] for line in doc["lines"]}
        # Exactly what the staff API would have stored for these lines.
        sent = {k: doc[k] for k in ("number", "issued_on", "valid_until", "currency", "note")}
        sent["lines"] = [{k: v for k, v in x.items() if k != "total"} for x in doc["lines"]]
        assert quote_document(parse_quote(sent)) == doc
    assert rates == {"10", "20"}
    with_pdf = [q for q in quotes.values() if q.pdf is not None]
    assert 0 < len(with_pdf) < len(quotes)
    for quote in with_pdf:
        assert quote.pdf is not None and quote.pdf.startswith(PDF_MAGIC)
        assert quote.pdf_size == len(quote.pdf) <= PDF_MAX_BYTES
        assert quote.pdf_sha256 == hashlib.sha256(quote.pdf).hexdigest()
        assert "Rhône Chauffage Services".encode("cp1252") in quote.pdf

"""Booking in a real Chromium: book, see it in the list, add to calendar, reschedule,
cancel with a reason; and lose a race for a slot, then pick a fresh proposal.

The app runs its embedded backend on a SQLite file; a "rival" in this test
process opens the same file through the same API (``create_app`` in-process,
FastAPI's TestClient: Playwright's sync API rules out an event loop here) to
book what another client books meanwhile.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.main import create_app
from backend.core.config import Settings
from backend.models import Activity, ActivityType, BusinessUnit, ClientContact
from backend.scheduling import Proposal, check_insertion
from backend.services import booking
from backend.services.sessions import create_session
from tests.e2e.conftest import DESKTOP, PHONE, open_app, scroll_to, shot, start_app

pytestmark = pytest.mark.e2e

WINDOW = re.compile(r"Arrivée entre \d\d:\d\d et \d\d:\d\d")


class Rival:
    """The same backend database, reached through the API from this process."""

    def __init__(self, db_path: Path, tmp: Path) -> None:
        settings = Settings(
            data_dir=tmp,
            database_url=f"sqlite:///{db_path}",
            secret_key=secrets.token_urlsafe(16),
            staff_token=secrets.token_urlsafe(16),
            log_messages=False,
        )
        self.api = create_app(settings, migrate=False)
        self.settings = settings
        self.http = TestClient(self.api, base_url="http://rival")

    def db(self) -> Any:
        return self.api.state.sessionmaker()

    def client_id(self, email: str) -> int:
        with self.db() as db:
            return int(
                db.scalar(select(ClientContact.client_id).where(ClientContact.value == email))
            )

    def bookable(self, client_id: int | None, kinds: set[str]) -> list[int]:
        """To-schedule activities (of ``client_id``, or anyone's) whose type has these actions."""
        with self.db() as db:
            query = (
                select(Activity.id, ActivityType.portal_actions)
                .join(ActivityType, ActivityType.id == Activity.type_id)
                .where(Activity.status == "to_schedule", ActivityType.portal_shown.is_(True))
                .order_by(Activity.id)
            )
            if client_id is not None:
                query = query.where(Activity.client_id == client_id)
            return [
                row.id
                for row in db.execute(query)
                if kinds <= {a.get("kind") for a in row.portal_actions or []}
            ]

    def token_for(self, activity_id: int) -> str:
        with self.db() as db:
            activity = db.get(Activity, activity_id)
            token = create_session(db, self.settings, activity.client_id, "code", datetime.now(UTC))
            db.commit()
            return token

    def slots(self, activity_id: int) -> list[dict[str, Any]]:
        r = self.http.get(
            f"/activities/{activity_id}/slots",
            headers={"Authorization": f"Bearer {self.token_for(activity_id)}"},
        )
        assert r.status_code == 200, r.text
        return r.json()["proposals"]

    def book(self, activity_id: int, slot: dict[str, Any]) -> int:
        r = self.http.post(
            f"/activities/{activity_id}/book",
            json={
                "mutation_id": secrets.token_hex(16),
                "technician_id": slot["technician_id"],
                "window_start": slot["window_start"],
            },
            headers={"Authorization": f"Bearer {self.token_for(activity_id)}"},
        )
        return r.status_code

    def still_free(self, activity_id: int, slot: dict[str, Any]) -> bool:
        """Whether ``activity_id`` still fits into ``slot`` (the server's own check)."""
        with self.db() as db:
            activity = db.get(Activity, activity_id)
            bu = db.get(BusinessUnit, activity.business_unit_id)
            _, policy, travel = booking.policy_of(bu)
            tz = ZoneInfo(bu.timezone)
            start = datetime.fromisoformat(slot["window_start"])
            day = start.astimezone(tz).date()
            tech_id = int(slot["technician_id"])
            technicians = booking.load_technicians(db, bu.id, tech_id)
            visits = booking.load_visits(db, bu.id, *booking._local_range(day, 1, tz), tech_id)
            request = booking.visit_request(db, activity, "book", with_preference=False)
            proposal = Proposal(
                technician_id=booking.tech_key(tech_id),
                day=day,
                window_start=start,
                window_end=start,
                expected_arrival=start,
                detour_minutes=0.0,
                score=0.0,
                reason_code="",
            )
            fits = check_insertion(
                proposal, technicians[0], visits, request, policy, datetime.now(UTC), tz, travel
            )
            return fits is not None

    def take(self, victim: int, slot: dict[str, Any]) -> None:
        """Book other clients' visits into ``slot`` until ``victim`` no longer fits."""
        for other in self.bookable(None, {"book"}):
            if not self.still_free(victim, slot):
                return
            if other != victim:
                self.book(other, slot)
        raise AssertionError("could not fill the slot")

    def close(self) -> None:
        self.http.close()
        self.api.state.engine.dispose()


def sign_in_with_code(page, app) -> None:
    """Sign in as the demo client, whichever language the sign-in screen shows."""
    email = app.demo_email()
    try:
        box = page.get_by_role("textbox", name=re.compile("^(Email or phone number|E-mail ou )"))
        box.wait_for(timeout=30_000)
        box.click()
        page.keyboard.type(email)
        page.get_by_role("button", name=re.compile("^(Send me a code|Recevoir un code)$")).click()
        code = page.get_by_role("textbox", name=re.compile("^(6-digit code|Code à 6 chiffres)"))
        code.wait_for(timeout=20_000)
        code.click()
        page.keyboard.type(app.last_code(email))
        page.get_by_role("button", name=re.compile("^(Sign in|Se connecter)$")).click()
        code.wait_for(state="detached", timeout=30_000)
    except Exception:
        shot(page, "failure_booking_sign_in")
        raise


def slot_cards(page) -> Any:
    return page.get_by_role("button").filter(has_text=re.compile("Arrivée entre"))


def wait_for_slots(page, name: str) -> str:
    """Wait for the proposals; return the first one's arrival window."""
    try:
        slot_cards(page).first.wait_for(timeout=30_000)
    finally:
        shot(page, name)
    return WINDOW.search(slot_cards(page).first.inner_text()).group(0)


def pick_first_slot(page, confirm_title: str) -> None:
    slot_cards(page).first.click()
    page.get_by_text(confirm_title).wait_for()
    page.get_by_role("button", name="Confirmer").click()


@pytest.fixture
def rival_app(tmp_path: Path) -> Any:
    app = start_app(tmp_path, tmp_path / "data")
    rival = Rival(app.backend_db, tmp_path / "rival")
    yield app, rival
    app.stop()


def test_book_see_it_in_the_list_calendar_reschedule_cancel(
    browser, rival_app, tmp_path: Path
) -> None:
    app, rival = rival_app
    phone_or_desktop = "phone"
    client_id = rival.client_id(app.demo_email())
    target = rival.bookable(client_id, {"book", "reschedule", "cancel"})[0]
    page = open_app(browser, f"{app.url}/activities/{target}", PHONE)
    try:
        sign_in_with_code(page, app)
        book = page.get_by_role("button", name="Prendre rendez-vous")
        book.wait_for(timeout=30_000)
        title = page.get_by_text(re.compile("^Entretien chaudière")).first.inner_text()
        shot(page, "booking_phone_01_to_schedule")
        # No dead button anywhere: the forms without a screen are not offered.
        assert page.get_by_role("button", name="Informations d'accès").count() == 0
        assert page.get_by_text("Bientôt disponible").count() == 0

        book.click()
        page.get_by_text("Choisissez un créneau").wait_for()
        window = wait_for_slots(page, "booking_phone_02_slots")
        assert page.get_by_text(re.compile(r"^(lun|mar|mer|jeu|ven|sam|dim)\. ")).count()
        pick_first_slot(page, "Réserver ce créneau ?")
        page.get_by_text(re.compile("^Réservé : ")).first.wait_for(timeout=30_000)
        page.get_by_role("button", name="Changer de créneau").wait_for()
        assert page.get_by_text(window).count() >= 1  # the detail shows the new window
        shot(page, "booking_phone_03_booked_detail")

        # Add to calendar: the browser downloads an .ics in the unit's time zone.
        with page.expect_download(timeout=30_000) as download:
            page.get_by_role("button", name="Ajouter au calendrier").click()
        ics = Path(download.value.path()).read_bytes()
        assert download.value.suggested_filename == f"appointment-{target}.ics"
        start = window.split()[2].replace(":", "")  # "Arrivée entre 08:00 et 10:00"
        assert re.search(rb"DTSTART;TZID=Europe/Paris:\d{8}T" + start.encode(), ics), ics
        assert b"BEGIN:VTIMEZONE" in ics and b"DESCRIPTION:" in ics

        # The list shows it at once with its date (no sync needed).
        page.get_by_role("button", name="Retour aux rendez-vous").click()
        page.get_by_text("À venir", exact=True).wait_for()
        # Its reference tells it apart from another visit with the same title
        # and window (the demo has some, e.g. one due today).
        row = (
            page.get_by_role("button")
            .filter(has_text=title)
            .filter(has_text=re.compile(rf"Réf\. {target}\b"))
            .filter(has_text=window)
        )
        row.first.wait_for(timeout=15_000)
        assert row.first.inner_text().count("Planifié") == 1
        shot(page, "booking_phone_04_list")

        # Reschedule: the current date and the guardrails come first.
        row.first.click()
        page.get_by_role("button", name="Changer de créneau").click()
        page.get_by_text("Choisissez un nouveau créneau").wait_for()
        page.get_by_text(re.compile("^Rendez-vous actuel : ")).wait_for()
        page.get_by_text(re.compile("^Vous pouvez le modifier en ligne jusqu’au ")).wait_for()
        page.get_by_text(re.compile("^Modifications encore possibles en ligne : ")).wait_for()
        wait_for_slots(page, "booking_phone_05_reschedule")
        slot_cards(page).last.click()
        page.get_by_text("Déplacer votre rendez-vous ?").wait_for()
        page.get_by_role("button", name="Confirmer").click()
        page.get_by_text(re.compile("^Réservé : ")).first.wait_for(timeout=30_000)
        page.get_by_text("Rendez-vous modifié").wait_for()  # the follow-up step
        shot(page, "booking_phone_06_rescheduled")

        # Cancel: a reason is required, then it goes to the history with it.
        page.get_by_role("button", name="Annuler le rendez-vous").click()
        page.get_by_text("Annuler ce rendez-vous ?").wait_for()
        page.get_by_role("button", name="Annuler le rendez-vous").last.click()
        page.get_by_text("Veuillez choisir une raison.").wait_for()
        shot(page, "booking_phone_07_cancel_needs_reason")
        page.get_by_role("radio", name="Je ne serai pas disponible").click()
        page.get_by_role("button", name="Annuler le rendez-vous").last.click()
        page.get_by_text("Votre rendez-vous est annulé.").first.wait_for(timeout=30_000)
        page.get_by_text("Motif de l’annulation").wait_for()
        page.get_by_text("Je ne serai pas disponible").first.wait_for()
        assert page.get_by_role("button", name="Changer de créneau").count() == 0
        shot(page, "booking_phone_08_cancelled")
        with rival.db() as db:
            activity = db.get(Activity, target)
            assert activity.status == "cancelled"
            assert [s.note for s in activity.steps if s.code == "cancelled"] == [
                "Je ne serai pas disponible"
            ]
        assert "Traceback" not in app.log_path.read_text()
    except Exception:
        shot(page, f"failure_booking_{phone_or_desktop}")
        raise
    finally:
        rival.close()


def test_back_after_booking_goes_to_the_list_not_the_slots(
    browser, rival_app, tmp_path: Path
) -> None:
    """List → appointment → book: the browser's Back then returns to the list.

    Before, the slots screen kept its history entry after the booking, so Back
    from the booked appointment reopened it ("choose a new slot").
    """
    app, rival = rival_app
    client_id = rival.client_id(app.demo_email())
    target = rival.bookable(client_id, {"book"})[0]
    page = open_app(browser, f"{app.url}/activities", DESKTOP)
    try:
        sign_in_with_code(page, app)
        page.get_by_text("À venir", exact=True).wait_for(timeout=30_000)
        row = page.get_by_role("button").filter(has_text=re.compile(rf"Réf\. {target}\b"))
        scroll_to(page, row).click()
        page.wait_for_url(re.compile(rf"/activities/{target}$"))
        page.get_by_role("button", name="Prendre rendez-vous").click()
        wait_for_slots(page, "booking_desktop_04_slots_from_the_list")
        pick_first_slot(page, "Réserver ce créneau ?")
        page.get_by_text(re.compile("^Réservé : ")).first.wait_for(timeout=30_000)
        assert page.url.endswith(f"/activities/{target}")

        page.go_back()
        page.get_by_text("À venir", exact=True).wait_for(timeout=15_000)
        page.wait_for_url(re.compile(r"/activities$"))
        assert page.get_by_text(re.compile("^Choisissez un (nouveau )?créneau")).count() == 0
        shot(page, "booking_desktop_05_back_to_the_list")
        assert "Traceback" not in app.log_path.read_text()
    except Exception:
        shot(page, "failure_booking_back")
        raise
    finally:
        rival.close()


def test_lose_the_race_then_pick_a_fresh_proposal(browser, rival_app, tmp_path: Path) -> None:
    app, rival = rival_app
    phone_or_desktop = "desktop"
    client_id = rival.client_id(app.demo_email())
    target = rival.bookable(client_id, {"book"})[0]
    page = open_app(browser, f"{app.url}/activities/{target}/book", DESKTOP)
    try:
        sign_in_with_code(page, app)
        page.get_by_text("Choisissez un créneau").wait_for(timeout=30_000)
        first = wait_for_slots(page, "booking_desktop_01_slots")
        # Another client books that very slot (through the API) first.
        best = rival.slots(target)[0]
        rival.take(target, best)
        pick_first_slot(page, "Réserver ce créneau ?")
        page.get_by_text(
            "Ce créneau vient d’être pris : voici les créneaux encore libres."
        ).first.wait_for(timeout=30_000)
        shot(page, "booking_desktop_02_conflict")
        assert slot_cards(page).count() >= 1
        assert page.url.endswith(f"/activities/{target}/book")  # no reload, same screen
        pick_first_slot(page, "Réserver ce créneau ?")
        page.get_by_text(re.compile("^Réservé : ")).first.wait_for(timeout=30_000)
        shot(page, "booking_desktop_03_booked")
        with rival.db() as db:
            assert db.get(Activity, target).status == "scheduled"
        assert first  # the first proposal was shown before the race
        assert "Traceback" not in app.log_path.read_text()
    except Exception:
        shot(page, f"failure_booking_{phone_or_desktop}")
        raise
    finally:
        rival.close()

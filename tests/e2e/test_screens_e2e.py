"""The appointment screens in a real Chromium: the defects a walk-through found.

Each test describes one defect of issue 8 ("Screens made right") and failed on
the code before its fix.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, open_app, scroll_to, shot, start_app
from tests.e2e.test_app_e2e import ROLES, nav, type_into

# The demo client's first site, as the request form lists it.
SITE_OPTION = re.compile(r"^Domicile, ")

pytestmark = pytest.mark.e2e


def sign_in(page, app) -> None:
    """Sign in as the demo client with a one-time code, the app in English."""
    email = app.demo_email()
    page.get_by_role("button", name="English").click(timeout=30_000)
    page.get_by_role("button", name="Send me a code").wait_for()
    type_into(page, "Email or phone number", email)
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_role("textbox", name="6-digit code").wait_for(timeout=20_000)
    page.get_by_text(re.compile(r"new code in \d+ s")).wait_for(timeout=10_000)
    type_into(page, "6-digit code", app.last_code(email))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("textbox", name="6-digit code").wait_for(state="detached", timeout=30_000)


def choose(page, label: str, option: str | re.Pattern[str]) -> None:
    """Pick ``option`` in the dropdown labelled ``label``."""
    field = page.get_by_role("button", name=label).or_(page.get_by_role("textbox", name=label))
    field.first.click()
    # Flutter's menu entries are buttons named by their text.
    item = page.get_by_role("button", name=option)
    try:
        item.first.click(timeout=10_000)
    except Exception:
        print(page.evaluate(ROLES))
        raise


def page_errors(page) -> list[str]:
    """Collect the page's uncaught errors (Flutter reports them as page errors)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Error" in m.text or "Exception" in m.text else None,
    )
    return errors


def test_finished_then_unscheduled_detail_is_not_blank(browser, tmp_path: Path) -> None:
    """Item 1: open a finished appointment, go back, open an unscheduled one."""
    app = start_app(tmp_path, tmp_path / "data")
    try:
        page = open_app(browser, app.url + "/activities", PHONE)
        errors = page_errors(page)
        sign_in(page, app)
        page.get_by_text("Upcoming", exact=True).wait_for(timeout=20_000)
        done = page.get_by_role("button").filter(has_text="Done")
        scroll_to(page, done).click()
        page.get_by_text("Follow-up", exact=True).wait_for()
        shot(page, "screens_phone_01_done_detail")
        page.get_by_role("button", name="Back to appointments").click()
        page.get_by_text("Upcoming", exact=True).wait_for()
        scroll_to(page, page.get_by_role("button").filter(has_text="To schedule")).click()
        try:
            page.get_by_text("Follow-up", exact=True).wait_for(timeout=15_000)
            page.get_by_text("Address", exact=True).wait_for(timeout=5_000)
        finally:
            shot(page, "screens_phone_02_unscheduled_detail")
        assert errors == []
        assert "Traceback" not in app.log_path.read_text()
    finally:
        app.stop()


def test_reopening_an_appointment_shows_its_timeline_once(browser, tmp_path: Path) -> None:
    """Item 2: finished A, back, unscheduled B, back, A again showed A's steps twice."""
    app = start_app(tmp_path, tmp_path / "data")
    try:
        # A tall window: every step is on screen, so each one is in the semantics tree.
        page = open_app(browser, app.url + "/activities", {"width": 390, "height": 2400})
        sign_in(page, app)
        page.get_by_text("Upcoming", exact=True).wait_for(timeout=20_000)
        done = page.get_by_role("button").filter(has_text="Done")
        unscheduled = page.get_by_role("button").filter(has_text="To schedule")

        def steps_shown() -> tuple[int, int]:
            page.get_by_text("Follow-up", exact=True).wait_for()
            page.wait_for_timeout(1_000)  # let any late patch land
            return (
                page.get_by_text("Request received", exact=True).count(),
                page.get_by_text("Work completed", exact=True).count(),
            )

        def back() -> None:
            page.get_by_role("button", name="Back to appointments").click()
            page.get_by_text("Upcoming", exact=True).wait_for()

        scroll_to(page, done).click()
        assert steps_shown() == (1, 1)
        back()
        scroll_to(page, unscheduled).click()
        page.wait_for_timeout(1_500)  # (item 1's blank screen, before its fix)
        back()
        scroll_to(page, done).click()
        shown = steps_shown()
        shot(page, "screens_phone_03_reopened_detail")
        assert shown == (1, 1)
    finally:
        app.stop()


def demo_activity(app, status: str) -> tuple[str, str]:
    """(id, type name) of one of the demo client's activities with ``status``."""
    email = app.demo_email()
    with sqlite3.connect(app.backend_db) as db:
        row = db.execute(
            "SELECT a.id, t.name FROM activities a JOIN activity_types t ON t.id = a.type_id"
            " JOIN client_contacts c ON c.client_id = a.client_id"
            " WHERE c.value = ? AND a.status = ? AND t.portal_shown = 1 ORDER BY a.id LIMIT 1",
            (email, status),
        ).fetchone()
    assert row, f"no {status} activity for {email}"
    return str(row[0]), str(row[1])


def test_deep_link_and_back_button_stay_in_the_app(browser, tmp_path: Path) -> None:
    """Item 8: a link to an appointment opens it after sign-in; Back goes back in the app."""
    app = start_app(tmp_path, tmp_path / "data")
    try:
        activity_id, _ = demo_activity(app, "done")
        page = open_app(browser, f"{app.url}/activities/{activity_id}", PHONE)
        sign_in(page, app)
        # The report's section (its PDF is listed under Documents with the same title).
        page.get_by_text("Intervention report").first.wait_for(timeout=30_000)
        assert page.url.endswith(f"/activities/{activity_id}")
        shot(page, "screens_phone_04_deep_link_detail")
        page.get_by_role("button", name="Back to appointments").click()
        page.get_by_text("Upcoming", exact=True).wait_for()
        page.wait_for_url(re.compile(r"/activities$"))
        nav(page, "Account")
        page.get_by_text("Signed in as").wait_for()
        page.wait_for_url(re.compile(r"/account$"))
        # The browser's Back button: the list, then the appointment, inside the app.
        page.go_back()
        page.get_by_text("Upcoming", exact=True).wait_for()
        assert page.url.endswith("/activities")
        page.go_back()
        page.get_by_text("Intervention report").first.wait_for()
        assert page.url.endswith(f"/activities/{activity_id}")
        page.go_forward()
        page.get_by_text("Upcoming", exact=True).wait_for()
        # The refresh control is a named button for screen readers (item 10).
        page.get_by_role("button", name="Refresh").wait_for()
        assert "Traceback" not in app.log_path.read_text()
    finally:
        app.stop()


def test_request_a_new_intervention_with_a_slot(browser, tmp_path: Path) -> None:
    """A new request from the list: site, type, description, then a slot; listed as booked."""
    app = start_app(tmp_path, tmp_path / "data")
    try:
        page = open_app(browser, app.url + "/activities", PHONE)
        errors = page_errors(page)
        sign_in(page, app)
        page.get_by_text("Upcoming", exact=True).wait_for(timeout=30_000)
        try:
            page.get_by_role("button", name="New request").click()
            page.get_by_text("Request an intervention").wait_for(timeout=20_000)
            page.wait_for_url(re.compile(r"/requests/new$"))
            page.get_by_role("button", name="Send the request").wait_for()
            shot(page, "screens_phone_05_new_request")
            # Sending with nothing filled in names what is missing.
            # (the messages under each field are checked in tests/app/test_new_request.py)
            page.get_by_role("button", name="Send the request").click()
            page.wait_for_timeout(1_000)
            assert page.url.endswith("/requests/new")
            shot(page, "screens_phone_06_new_request_errors")
            # Leave and come back: a new, blank form with its choices.
            page.get_by_role("button", name="Back to appointments").click()
            page.get_by_text("Upcoming", exact=True).wait_for()
            page.get_by_role("button", name="New request").click()
            page.wait_for_url(re.compile(r"/requests/new$"))
            choose(page, "Where", SITE_OPTION)
            choose(page, "Type of intervention", "Entretien chaudière")
            page.get_by_text("Next, you choose the date of the visit.").wait_for()
            type_into(page, "Describe the problem", "The boiler makes a loud noise.")
            shot(page, "screens_phone_07_new_request_filled")
            page.get_by_role("button", name="Continue: choose a date").click()
            # The slots screen opens at the new appointment's address (no entry
            # of its own, so that Back after booking does not reopen it).
            page.wait_for_url(re.compile(r"/activities/\d+$"), timeout=30_000)
            activity_id = page.url.rstrip("/").split("/")[-1]
            slots = page.get_by_role("button").filter(has_text=re.compile("Arrival between"))
            slots.first.wait_for(timeout=30_000)
            shot(page, "screens_phone_08_request_slots")
            slots.first.click()
            page.get_by_role("button", name="Confirm").click()
            page.get_by_text(re.compile("^Booked: ")).first.wait_for(timeout=30_000)
            page.wait_for_url(re.compile(rf"/activities/{activity_id}$"))
            page.get_by_text("Request sent online").wait_for()
            shot(page, "screens_phone_09_request_booked")
        except Exception:
            shot(page, "failure_new_request")
            print(page.evaluate(ROLES))
            print(errors)
            raise
        assert errors == []
        with sqlite3.connect(app.backend_db) as db:
            status, description = db.execute(
                "SELECT status, description FROM activities WHERE id = ?", (activity_id,)
            ).fetchone()
        assert (status, description) == ("scheduled", "The boiler makes a loud noise.")

        # Desktop (same device, same session): a readable width, not 1,280 px of it.
        wide = open_app(browser, app.url + "/activities", DESKTOP)
        try:
            button = wide.get_by_role("button", name="New request")
            button.wait_for(timeout=30_000)
            box = button.bounding_box()
            assert box is not None
            # Content 840 px wide, centred right of the rail: it ends well before the edge.
            assert box["x"] + box["width"] < 1100, box
            shot(wide, "screens_desktop_01_activities")
            button.click()
            wide.get_by_role("button", name="Where").wait_for(timeout=20_000)
            shot(wide, "screens_desktop_02_new_request")
            wide.go_back()
            wide.get_by_text("Upcoming", exact=True).wait_for()
            wide.get_by_role("button").filter(has_text="Entretien chaudière").first.click()
            wide.get_by_text("Follow-up", exact=True).wait_for()
            shot(wide, "screens_desktop_03_detail")
        except Exception:
            shot(wide, "failure_desktop")
            print(wide.evaluate(ROLES))
            raise
        assert "Traceback" not in app.log_path.read_text()
    finally:
        app.stop()


def test_request_without_a_slot_is_listed_at_once_as_requested(browser, tmp_path: Path) -> None:
    """A type that cannot be booked online is sent as is and listed, marked as requested."""
    app = start_app(tmp_path, tmp_path / "data")
    try:
        page = open_app(browser, app.url + "/requests/new", DESKTOP)
        errors = page_errors(page)
        sign_in(page, app)
        try:
            page.get_by_role("button", name="Where").wait_for(timeout=30_000)
            choose(page, "Where", SITE_OPTION)
            choose(page, "Type of intervention", "Installation pompe à chaleur")
            page.get_by_text("The office will call you to set a date.").wait_for()
            type_into(page, "Describe the problem", "A quote for a heat pump, please.")
            page.get_by_role("button", name="Send the request").click()
            page.wait_for_url(re.compile(r"/activities/\d+$"), timeout=30_000)
            activity_id = page.url.rstrip("/").split("/")[-1]
            page.get_by_text("Request sent online").wait_for()
            shot(page, "screens_desktop_04_request_sent")
            page.get_by_role("button", name="Back to appointments").click()
            page.get_by_text("Upcoming", exact=True).wait_for()
            card = page.get_by_role("button").filter(has_text=f"Ref. {activity_id}")
            scroll_to(page, card)
            assert "Requested" in card.first.inner_text()
            shot(page, "screens_desktop_05_requested_in_list")
            # Two periodic syncs later the list is still whole: one card, no page error.
            page.wait_for_timeout(7_000)
            assert card.count() == 1
        except Exception:
            shot(page, "failure_request_without_slot")
            print(page.evaluate(ROLES))
            raise
        assert errors == []
        assert "Traceback" not in app.log_path.read_text()
    finally:
        app.stop()

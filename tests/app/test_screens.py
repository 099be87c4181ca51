"""The appointment screens made right (issue 8), on a cached state without a browser.

Each test describes one defect found by trying the app as a client would, and
failed on the code before its fix: the report as a raw dict, the history
label, cards that cannot be told apart, no maximum width on desktop, a refresh
control without a name, screens without their own address.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import flet as ft
import pytest

from app.activities import ACTIVITIES, report_view
from app.messages import Message
from app.new_request import Choice, NewRequestModel
from app.state import AppState
from app.views.activities import ActivitiesView
from app.views.activity_detail import ActivityDetailView
from app.views.new_request import NewRequestView
from app.views.routes import Route, parse_route
from app.views.shell import MAX_CONTENT_WIDTH, Shell
from tests.app.control_texts import shown_texts
from tests.app.test_views import NOW, cached_state, z

REPORT = {
    "summary": "Annual service done, boiler in good order.",
    "work_done": ["Cleaned the burner", "Checked the CO level"],
    "report_pdf": None,
}


def doc(i: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": i,
        "title": "Boiler service – Lyon",
        "status": "to_schedule",
        "type_name": "Boiler service",
        "scheduled_start": None,
        "scheduled_end": None,
        "window_start": None,
        "window_end": None,
        "technician": None,
        "site": {
            "label": "Home",
            "street": "10 rue Mercière",
            "postal_code": "69002",
            "city": "Lyon",
        },
        "steps": [{"at": "2025-03-01T09:30:00Z", "code": "created", "note": ""}],
        "actions": [],
    }
    values.update(overrides)
    return values


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[AppState]:
    s = await cached_state(tmp_path / "cache.sqlite3", 0)
    yield s
    await s.api.aclose()
    s.store.close()


async def put(state: AppState, *docs: dict[str, Any]) -> None:
    state.store.put_many(ACTIVITIES, [(str(d["id"]), d) for d in docs])
    await state.activities.reload(None)


async def no_open(_id: str) -> None:
    return None


async def nothing() -> None:
    return None


# --- item 3: the report ----------------------------------------------------------


async def test_the_report_is_a_titled_summary_and_a_list(state: AppState) -> None:
    await put(state, doc(1, status="done", scheduled_start=z(NOW), closure_report=REPORT))
    view = ActivityDetailView(state, nothing)
    view.show(await state.activities.activity_detail("1"))
    texts = shown_texts(view.control)
    start = texts.index("Intervention report")
    assert texts[start + 1 : start + 8] == [
        "Summary",
        "Annual service done, boiler in good order.",
        "Work done",
        "•",
        "Cleaned the burner",
        "•",
        "Checked the CO level",
    ]
    assert not [t for t in texts if "{" in t or "work_done" in t]


def test_report_view_keeps_only_text() -> None:
    assert report_view(None) is None
    assert report_view({}) is None
    assert report_view({"summary": "", "work_done": [], "report_pdf": None}) is None
    assert report_view("Done.") == report_view({"summary": "Done."})
    odd = report_view({"summary": 12, "work_done": ["a", 3, " "], "report_pdf": "http://x"})
    assert odd is not None
    assert (odd.summary, odd.work_done, odd.pdf_url) == ("12", ["a", "3"], None)


# --- item 2: the timeline, once --------------------------------------------------


async def test_showing_an_appointment_again_shows_each_step_once(state: AppState) -> None:
    steps = [
        {"at": f"2025-03-0{n}T09:00:00Z", "code": code, "note": ""}
        for n, code in enumerate(["created", "scheduled", "on_the_way", "started"], start=1)
    ]
    await put(state, doc(1, status="in_progress", scheduled_start=z(NOW), steps=steps))
    view = ActivityDetailView(state, nothing)
    for _ in range(3):
        view.show(await state.activities.activity_detail("1"))
    texts = shown_texts(view.control)
    assert texts.count("Request received") == 1
    assert texts.count("Work started") == 1
    # The subtree on screen is the last one built (its back button answers).
    assert isinstance(view.control.content, ft.Column)
    assert view.control.content.controls[0] is view.back


# --- item 7: history ---------------------------------------------------------------


async def test_cancelled_and_done_are_in_a_labelled_history_ordered_by_date(
    state: AppState,
) -> None:
    future = NOW.replace(year=NOW.year + 1)
    await put(
        state,
        doc(1, status="scheduled", scheduled_start=z(NOW.replace(day=20))),
        doc(2, status="cancelled", scheduled_start=z(future)),
        doc(3, status="done", scheduled_start=z(NOW.replace(day=1))),
    )
    view = ActivitiesView(state, no_open)
    view.refresh()
    order: list[str] = []
    for c in view.list.controls:
        if isinstance(c, ft.Card):
            order.append(str(c.key))
        elif c is view.past_title:
            order.append(c.value)
    assert order == ["1", "History: done and cancelled", "2", "3"]


# --- cards tell identical titles apart ----------------------------------------------------


async def test_cards_show_site_reference_and_requested_date(state: AppState) -> None:
    cottage = {"label": "Cottage", "street": "2 chemin des Vignes", "city": "Villefranche"}
    requested = [{"at": "2025-03-02T10:00:00Z", "code": "requested", "note": ""}]
    await put(
        state,
        doc(7),
        doc(8, site=cottage, steps=requested, reference="R-8", requested_at="2025-03-02T10:00:00Z"),
    )
    view = ActivitiesView(state, no_open)
    view.refresh()
    seven, eight = view.rows["7"], view.rows["8"]
    assert seven.title.value == eight.title.value  # the same title...
    assert seven.site.value == "Home, 10 rue Mercière, Lyon"  # ...told apart
    assert eight.site.value == "Cottage, 2 chemin des Vignes, Villefranche"
    assert seven.reference.value == "Ref. 7 · Requested on Sat, Mar 1, 2025"
    assert eight.reference.value == "Ref. R-8 · Requested on Sun, Mar 2, 2025"
    # Asked for in the portal: marked as requested.
    assert (seven.status.value, eight.status.value) == ("To schedule", "Requested")


# --- items 8, 9, 10: the frame ----------------------------------------------------------


def test_every_screen_has_its_own_address() -> None:
    cases = {
        "/": Route("home"),
        "/activities": Route("activities"),
        "/activities/42": Route("detail", "42"),
        "/activities/42/book": Route("book", "42"),
        "/requests/new": Route("new_request"),
        "/account": Route("account"),
    }
    for path, route in cases.items():
        assert parse_route(path) == route
        assert route.path == path
    assert parse_route("/activities/42/?x=1") == Route("detail", "42")
    assert parse_route("/activities/abc") == Route("home")
    assert parse_route("/login/link#token") == Route("home")
    assert parse_route(None) == Route("home")
    assert [Route(s).tab for s in ("detail", "book", "new_request")] == ["activities"] * 3


async def test_navigation_goes_through_the_web_address(state: AppState) -> None:
    shell = Shell(state, no_open, nothing)
    pushed: list[str] = []

    async def navigate(path: str) -> None:
        pushed.append(path)

    shell.navigate = navigate
    await shell._close_detail()
    await shell._open_new_request()
    assert pushed == ["/activities", "/requests/new"]


async def test_desktop_content_has_a_readable_maximum_width(state: AppState) -> None:
    shell = Shell(state, no_open, nothing)
    shell.set_width(1280)
    assert shell.content.width == MAX_CONTENT_WIDTH
    assert shell.frame.alignment == ft.MainAxisAlignment.CENTER
    shell.set_width(390)
    assert shell.content.width is None and shell.content.expand
    assert shell.set_width(390) is False  # nothing changed, nothing to send


async def test_the_refresh_control_is_a_named_button(state: AppState) -> None:
    shell = Shell(state, no_open, nothing)
    shell.refresh_all()
    assert isinstance(shell.refresh_button, ft.Semantics)
    assert shell.refresh_button.button is True
    assert shell.refresh_button.label == "Refresh"
    await state.language.set_language("fr")
    shell.refresh_all()
    assert shell.refresh_button.label == "Actualiser"


# --- the new request screen ---------------------------------------------------------------


def test_the_request_form_shows_each_fields_error(state: AppState) -> None:
    model = NewRequestModel(state)
    view = NewRequestView(model, nothing, lambda _created: nothing())
    model.form.loaded = True
    model.form.types = [Choice(1, "Repair")]
    model.form.errors = {
        "site_id": Message("request.error.site"),
        "type_id": Message("request.error.type"),
        "description": Message("request.error.description"),
    }
    view.show()
    assert view.site.error_text == "Please choose where the intervention takes place."
    assert view.kind.error_text == "Please choose the type of intervention."
    assert view.description.error == "Please describe the problem."
    assert view.site_semantics.label == "Where"  # named for screen readers
    assert view.submit.content == "Send the request"


def test_each_visit_of_the_request_form_gets_a_new_form(state: AppState) -> None:
    model = NewRequestModel(state)
    view = NewRequestView(model, nothing, lambda _created: nothing())
    view.prepare()
    first, first_site = view.control.content, view.site
    model.form.sites = [Choice(3, "Home")]
    view.show()
    view.prepare()
    assert view.control.content is not first and view.site is not first_site
    assert view.site.options == [] and model.form.sites == []
    assert view.control.content.controls[0] is view.back

"""Console view-models without a server: the form builder, the portal actions editor,
roles, and how the staff API's answers become errors with the server's sentence."""

from __future__ import annotations

import httpx
import pytest

from app.i18n import Translator
from app.staff.activity_types import ActivityTypesModel
from app.staff.admin import change_text
from app.staff.api import Forbidden, NeedsTotp, RateLimited, Rejected, StaffApi, error_for
from app.staff.clients import qr_png
from app.staff.form_builder import FIELD_TYPES, FormBuilderModel
from app.staff.state import ConsoleState, Membership, Staff, role_allows
from backend.domain import ActivityTypePortal, FormSpec


def state(role: str = "planner") -> ConsoleState:
    s = ConsoleState(StaffApi.remote("http://127.0.0.1:9"), Translator("en"))
    s.staff = Staff(1, "p@example.com", "Pat", "en", [Membership(7, "Lyon", role)])
    s.bu_id = 7
    return s


def test_roles_are_ordered() -> None:
    assert role_allows("admin", "planner") and role_allows("planner", "planner")
    assert not role_allows("viewer", "planner") and not role_allows(None, "viewer")
    assert not role_allows("owner", "viewer")  # unknown roles allow nothing
    viewer = state("viewer")
    assert viewer.can("viewer") and not viewer.can("planner")
    viewer.bu_id = 8  # not a member there: nothing
    assert not viewer.can("viewer")


def test_form_builder_makes_every_field_type_into_a_valid_form() -> None:
    builder = FormBuilderModel(state())
    builder.new()
    for kind in FIELD_TYPES:
        builder.add(kind)
    assert len(FIELD_TYPES) == 11
    assert builder.validate() == []
    spec = FormSpec.model_validate({"fields": builder.fields})
    assert [f.type for f in spec.fields] == list(FIELD_TYPES)
    # Keys are unique even for two fields with the same label.
    builder.add("text")
    assert len({f["key"] for f in builder.fields}) == len(builder.fields)
    # The preview reads the draft as the client app reads a synced form.
    assert [s.type for s in builder.preview_specs()][:11] == list(FIELD_TYPES)


def test_form_builder_edits_reorders_and_removes() -> None:
    builder = FormBuilderModel(state())
    builder.new()
    builder.add("text", "Door code")
    builder.add("choice", "Heating")
    builder.add("number", "Rooms")
    builder.update(0, required=True, help="On the intercom")
    builder.set_choices_text(1, "Gas\n\nOil\n Heat pump ")
    builder.update(2, min=1, max=12)
    builder.move(2, -1)
    assert [f["label"] for f in builder.fields] == ["Door code", "Rooms", "Heating"]
    builder.move(0, -1)  # already first: nothing
    builder.remove(0)
    assert [f["label"] for f in builder.fields] == ["Rooms", "Heating"]
    assert builder.fields[1]["choices"] == ["Gas", "Oil", "Heat pump"]
    assert builder.validate() == []
    builder.update(0, help="")
    assert "help" not in builder.fields[0]


def test_form_builder_names_the_field_in_error() -> None:
    builder = FormBuilderModel(state())
    builder.new()
    assert builder.validate() == ["Add at least one field."]
    builder.add("choice", "Heating")
    builder.set_choices_text(0, "Gas")
    builder.add("number", "Rooms")
    builder.update(1, min=5, max=2)
    problems = builder.validate()
    assert len(problems) == 2
    assert problems[0].startswith("Field 1 (Heating)") and "two choices" in problems[0]
    assert problems[1].startswith("Field 2 (Rooms)") and "min must not exceed max" in problems[1]


def test_portal_actions_editor_builds_what_the_server_accepts() -> None:
    model = ActivityTypesModel(state())
    model.types = [
        {"id": 3, "name": "Repair", "portal_shown": True, "title_template": "{type.name}"}
    ]
    model.forms = [{"id": 11, "name": "Access"}]
    assert model.open(3)
    model.add_action("book")
    model.add_action("fill_form")
    model.add_action("book")
    assert [a["key"] for a in model.actions] == ["book", "fill_form", "book_2"]
    assert model.actions[1]["form_id"] == 11
    model.update_action(2, label="Move my visit", kind="reschedule", notify_planning=True)
    model.toggle_status(2, "scheduled", True)
    model.toggle_status(2, "to_schedule", True)
    model.set_condition(2, timing="before_visit", min_hours_before=24)
    model.move_action(2, -2)
    body = model.body()
    assert body["portal_actions"][0]["conditions"] == {
        "statuses": ["to_schedule", "scheduled"],  # in the statuses' own order
        "timing": "before_visit",
        "min_hours_before": 24.0,
    }
    assert model.validate() == []
    ActivityTypePortal.model_validate(body)
    model.remove_action(0)
    assert len(model.actions) == 2


def test_portal_actions_editor_refuses_a_form_action_without_a_form() -> None:
    model = ActivityTypesModel(state())
    model.types = [{"id": 3, "name": "Repair", "title_template": "{type.name}"}]
    model.open(3)
    model.add_action("survey")  # no form exists yet
    assert model.validate() == ["Action 1: a survey action needs a form_id"]
    model.update_action(0, label="", form_id=4)
    assert model.validate() == ["Action 1, label: String should have at least 1 character"]


def test_title_template_is_checked_before_asking_the_server() -> None:
    model = ActivityTypesModel(state())
    assert model.local_template_errors("{type.name} – {site.city}") == []
    assert "unknown variable(s) site.town" in model.local_template_errors("{site.town}")[0]
    assert "unbalanced brace" in model.local_template_errors("{type.name")[0]
    assert model.local_template_errors("  ") == ["The title template cannot be empty."]


def answer(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_server_answers_become_errors_with_the_servers_sentence() -> None:
    totp = error_for(answer(401, {"detail": "Enter the code.", "code": "totp_required"}))
    assert isinstance(totp, NeedsTotp)
    forbidden = error_for(answer(403, {"detail": "Viewers cannot change settings."}))
    assert (
        isinstance(forbidden, Forbidden) and forbidden.detail == "Viewers cannot change settings."
    )
    locked = error_for(answer(429, {"detail": "Locked.", "retry_after": 600}))
    assert isinstance(locked, RateLimited) and locked.retry_after == 600
    credit = error_for(answer(409, {"detail": "No SMS credit left.", "code": "no_credit"}))
    assert isinstance(credit, Rejected) and credit.code == "no_credit"
    invalid = error_for(
        answer(422, {"detail": [{"loc": ["body", "password"], "msg": "Value error, too short"}]})
    )
    assert isinstance(invalid, Rejected) and invalid.field == "password"
    assert invalid.detail == "password: too short"
    s = state()
    assert s.describe(locked) == "Too many attempts. Try again in 10 min."
    assert s.describe(credit) == "No SMS credit left."


def test_qr_code_is_a_png_and_audit_changes_read_before_after() -> None:
    assert qr_png("http://portal.test/login/link#abc").startswith(b"\x89PNG")
    entry = {"before": {"portal_enabled": False}, "after": {"portal_enabled": True, "name": "X"}}
    assert change_text(entry) == "name: — → X\nportal_enabled: false → true"


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_field_type_and_action_kind_has_a_label(language: str) -> None:
    tr = Translator(language)
    for kind in FIELD_TYPES:
        assert tr.t(f"console.field.{kind}") != f"console.field.{kind}"
    for kind in ("book", "reschedule", "cancel", "fill_form", "validate_document", "survey"):
        assert tr.t(f"console.kind.{kind}") != f"console.kind.{kind}"

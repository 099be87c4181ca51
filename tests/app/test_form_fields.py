"""The app's side of forms without a screen: specs, typed text, display text,
error sentences, signatures as strokes, photos, drafts."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from app.forms import fields as f
from app.forms.drafts import Drafts
from app.forms.photo import MAX_SIDE, PhotoError, prepare_photo, thumbnail_src
from app.forms.signature import MIN_STEP, SignatureStrokes, simplify
from app.i18n import Translator, load_catalogs
from app.sync.engine import apply_page, open_store
from backend import forms
from backend.forms import PHOTO_MAX_BYTES, validate, validate_answer

# -- specs ---------------------------------------------------------------------


def test_parse_fields_reads_every_type_and_falls_back_to_text() -> None:
    doc = {
        "fields": [
            {"key": "when", "type": "date", "label": "When", "required": True},
            {
                "key": "pick",
                "type": "choice",
                "label": "Pick",
                "choices": ["a", "b"],
                "multiple": True,
            },
            {"key": "n", "type": "number", "label": "N", "min": 0, "max": 10},
            {"key": "future", "type": "hologram", "label": "New type"},
        ]
    }
    specs = f.parse_fields(doc)
    assert [s.key for s in specs] == ["when", "pick", "n", "future"]
    assert specs[0].required and specs[0].type == "date"
    assert specs[1].choices == ("a", "b") and specs[1].multiple
    assert (specs[2].min, specs[2].max) == (0.0, 10.0)
    assert specs[3].type == "text"  # unknown types never block the form
    assert f.parse_fields(None) == []
    # A definition the server could not validate either shows no fields.
    assert f.parse_fields({"fields": [{"type": "text", "label": "no key"}]}) == []


def test_rating_range_defaults_to_five_stars() -> None:
    assert f.FieldSpec("r", "rating", "R").rating_range == (1, 5)
    assert f.FieldSpec("r", "rating", "R", min=0, max=10).rating_range == (0, 10)


# -- typed text -> wire answers -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", (12, True)),
        ("3,5", (3.5, True)),
        ("-2.25", (-2.25, True)),
        ("", (None, True)),
        ("1 000", (1000, True)),
        ("abc", (None, False)),
        ("1,2,3", (None, False)),
    ],
)
def test_numbers_typed_with_comma_or_point(text: str, expected: tuple[object, bool]) -> None:
    assert f.number_from_text(text) == expected


def test_number_text_uses_the_language_decimal_mark() -> None:
    assert f.number_text(3.5, "fr") == "3,5"
    assert f.number_text(3.5, "en") == "3.5"
    assert f.number_text(7, "fr") == "7"
    assert f.number_text(True, "en") == ""


def test_dates_typed_in_each_language_give_iso_answers() -> None:
    assert f.date_from_text("04/12/2026", "fr") == ("2026-12-04", True)
    assert f.date_from_text("12/04/2026", "en") == ("2026-12-04", True)
    assert f.date_from_text("31/02/2026", "fr") == (None, False)
    assert f.date_from_text("tomorrow", "en") == (None, False)
    assert f.date_from_text("  ", "en") == (None, True)
    assert f.date_text("2026-12-04", "fr") == "04/12/2026"
    assert f.date_text("2026-12-04", "en") == "12/04/2026"
    assert f.date_text("garbage", "en") == ""


def test_times_typed_in_each_language_give_24h_answers() -> None:
    assert f.time_from_text("14:30", "fr") == ("14:30", True)
    assert f.time_from_text("2:30 pm", "en") == ("14:30", True)
    assert f.time_from_text("25:00", "fr") == (None, False)
    assert f.time_text("14:30", "en") == "2:30\u202fPM" or f.time_text("14:30", "en") == "2:30 PM"
    assert f.time_text("14:30", "fr") == "14:30"


@pytest.mark.parametrize(
    "picked",
    [
        datetime(2026, 12, 4),
        datetime(2026, 12, 3, 23, 0, tzinfo=UTC),  # midnight in Paris, sent as UTC
        datetime(2026, 12, 4, 5, 0, tzinfo=UTC),  # midnight in New York, sent as UTC
        datetime(2026, 12, 4, 0, 0, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_a_picked_date_is_the_day_chosen_whatever_the_offset(picked: datetime) -> None:
    assert f.picked_date(picked) == "2026-12-04"


def test_typed_answers_pass_the_server_check() -> None:
    """What the renderers produce from typing is exactly what backend.forms accepts."""
    date_spec = {"key": "d", "type": "date", "label": "D"}
    time_spec = {"key": "t", "type": "time", "label": "T"}
    number_spec = {"key": "n", "type": "number", "label": "N", "min": 0, "max": 10}
    assert validate_answer(date_spec, f.date_from_text("04/12/2026", "fr")[0]) == []
    assert validate_answer(time_spec, f.time_from_text("2:30 PM", "en")[0]) == []
    assert validate_answer(number_spec, f.number_from_text("3,5")[0]) == []
    # Junk stays as typed, and the shared check names it.
    assert [e.code for e in validate_answer(number_spec, "abc")] == ["not_number"]
    assert [e.code for e in validate_answer(date_spec, "31/02/2026")] == ["not_date"]


# -- display text and errors ---------------------------------------------------------


def test_display_text_fills_the_codes_in_the_clients_language() -> None:
    activity = {
        "id": 12,
        "reference": "12",
        "type_name": "Entretien chaudière",
        "scheduled_start": "2026-12-10T08:00:00Z",
        "status": "scheduled",
        "site": {"city": "Lyon"},
        "technician": {"first_name": "Karim"},
    }
    fr = f.template_values(activity, "Marie Dupont", "Rhône Chauffage", Translator("fr"))
    text = f.display_text(
        "Bonjour {client.name}, {technician.first_name} vient le {activity.date}.", fr
    )
    assert text.startswith("Bonjour Marie Dupont, Karim vient le ")
    assert "déc." in text and "10" in text
    en = f.template_values(activity, "Marie Dupont", "Rhône Chauffage", Translator("en"))
    assert "Dec" in f.display_text("{activity.date}", en)
    # A typo in a code never hides the company's words.
    assert f.display_text("Hello {client.nme", fr) == "Hello {client.nme"
    assert f.display_text("No codes here.", fr) == "No codes here."


def test_every_validation_code_has_a_sentence_in_each_language() -> None:
    catalogs = load_catalogs()
    for language in ("en", "fr"):
        missing = [c for c in forms.MESSAGES if f"form.error.{c}" not in catalogs[language]]
        assert not missing, (language, missing)


def test_errors_become_sentences_with_their_parameters() -> None:
    definition = {
        "fields": [
            {"key": "n", "type": "number", "label": "N", "max": 10, "required": True},
            {"key": "t", "type": "text", "label": "T", "required": True},
        ]
    }
    shown = f.error_messages(forms.errors_as_json(validate(definition, {"n": 11})))
    tr = Translator("fr")
    assert shown["n"].text(tr) == "La valeur doit être au plus 10."
    assert shown["t"].text(tr) == "Ce champ est obligatoire."
    assert shown["n"].text(Translator("en")) == "The value must be at most 10."


# -- signatures -----------------------------------------------------------------------


def test_strokes_drop_points_at_rest_and_clamp_to_the_box() -> None:
    pad = SignatureStrokes(width=300, height=150)
    assert pad.begin(10, 10)
    assert pad.extend(10.5, 10.5) is None  # closer than MIN_STEP
    assert pad.extend(10 + MIN_STEP, 10.2) == (12.0, 10.0)
    assert pad.extend(999, -5) == (300.0, 0.0)
    pad.end()
    assert pad.extend(50, 50) is None  # not drawing
    answer = pad.answer()
    assert answer == {
        "width": 300,
        "height": 150,
        # (12, 10) lies on the line from the first point to the last: simplified away.
        "strokes": [[[10, 10], [300, 0]]],
    }
    assert validate_answer({"key": "s", "type": "signature", "label": "S"}, answer) == []


def test_a_finished_stroke_keeps_only_the_points_that_shape_it() -> None:
    pad = SignatureStrokes(width=400, height=200)
    pad.begin(0, 0)
    for x in range(3, 300, 3):
        pad.extend(x, 0.3 * (x % 2))  # a straight line with jitter below a pixel
    pad.extend(300, 100)  # then a corner
    pad.end()
    assert pad.strokes == [[(0.0, 0.0), (297.0, 0.0), (300.0, 100.0)]]
    assert simplify([(0.0, 0.0), (5.0, 5.0)]) == [(0.0, 0.0), (5.0, 5.0)]


def test_undo_redo_and_clear() -> None:
    pad = SignatureStrokes(width=100, height=100)
    for x in (10, 20, 30):
        pad.begin(x, 10)
        pad.extend(x, 40)
        pad.end()
    assert pad.undo() and pad.undo()
    assert len(pad.strokes) == 1 and len(pad.undone) == 2
    assert pad.redo()
    assert [s[0][0] for s in pad.strokes] == [10, 20]
    pad.begin(50, 50)  # a new stroke ends what redo could bring back
    assert not pad.redo()
    pad.clear()
    assert pad.empty and pad.answer() is None and not pad.undo()


def test_a_saved_signature_reopens_scaled_to_the_pad() -> None:
    pad = SignatureStrokes.from_answer(
        {"width": 200, "height": 100, "strokes": [[[0, 0], [200, 100]]]}, 400, 200
    )
    assert pad.strokes == [[(0.0, 0.0), (400.0, 200.0)]]
    assert SignatureStrokes.from_answer("junk", 400, 200).empty
    assert SignatureStrokes.from_answer({"strokes": [[["x", 1]]]}, 400, 200).empty


def test_a_typical_signature_stays_under_ten_kilobytes() -> None:
    pad = SignatureStrokes(width=358, height=180)
    for stroke in range(20):
        pad.begin(10 + stroke * 15, 20)
        for step in range(1, 40):
            pad.extend(10 + stroke * 15 + step * 0.9, 20 + step * 3.7)
        pad.end()
    body = json.dumps(pad.answer(), separators=(",", ":"))
    assert len(body.encode()) <= 10_000, len(body)


@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=1, max_size=300))
def test_any_pointer_track_gives_an_answer_the_server_accepts(
    points: list[tuple[float, float]],
) -> None:
    pad = SignatureStrokes(width=358, height=180)
    pad.begin(*points[0])
    for x, y in points[1:]:
        pad.extend(x, y)
    pad.end()
    assert validate_answer({"key": "s", "type": "signature", "label": "S"}, pad.answer()) == []


# -- photos -----------------------------------------------------------------------------


def _image_bytes(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    image = Image.effect_noise(size, 80).convert(mode)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def test_a_big_photo_is_downscaled_to_fit_the_limit() -> None:
    raw = _image_bytes((4000, 3000), "PNG")
    assert len(raw) > PHOTO_MAX_BYTES
    answer = prepare_photo(raw)
    data = base64.b64decode(answer["data"])
    assert answer["media_type"] == "image/jpeg" and len(data) <= PHOTO_MAX_BYTES
    with Image.open(io.BytesIO(data)) as image:
        assert max(image.size) <= MAX_SIDE
    assert validate_answer({"key": "p", "type": "photo", "label": "P"}, answer) == []
    assert thumbnail_src(answer).startswith("data:image/jpeg;base64,")


def test_a_transparent_png_becomes_a_jpeg_on_white() -> None:
    answer = prepare_photo(_image_bytes((50, 50), "PNG", "RGBA"))
    assert answer["media_type"] == "image/jpeg"


def test_a_file_that_is_not_an_image_is_refused_with_a_sentence() -> None:
    with pytest.raises(PhotoError) as caught:
        prepare_photo(b"%PDF-1.4 not a photo")
    assert caught.value.key == "form.photo.unreadable"
    assert thumbnail_src(None) is None


# -- drafts ------------------------------------------------------------------------------


def test_drafts_survive_reopening_and_a_feed_reset(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    store = open_store(path)
    Drafts(store).save(
        "12", "access_info", {"door_code": "B12"}, "v1", datetime(2026, 12, 4, tzinfo=UTC)
    )
    store.close()
    store = open_store(path)
    try:
        # A reset page clears what the feed owns, never the drafts.
        apply_page(
            store,
            {"changes": [], "cursor": "c1", "reset": True, "has_more": False},
            datetime.now(UTC),
        )
        draft = Drafts(store).load("12", "access_info")
        assert draft is not None and draft.answers == {"door_code": "B12"}
        assert draft.form_version == "v1"
        assert Drafts(store).keys() == {"12/access_info"}
        Drafts(store).discard("12", "access_info")
        assert Drafts(store).load("12", "access_info") is None
    finally:
        store.close()

"""The shared form validation (backend/forms.py): every field type, and properties
checked against hypothesis-generated definitions and answers."""

from __future__ import annotations

import base64
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import forms
from backend.domain import FormSpec

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 16


def photo(raw: bytes = JPEG, media_type: str = "image/jpeg") -> dict[str, str]:
    return {"media_type": media_type, "data": base64.b64encode(raw).decode()}


def codes(definition: Any, answers: Any) -> dict[str, list[str]]:
    return {k: [e.code for e in v] for k, v in forms.validate(definition, answers).items()}


def one(field: dict[str, Any], value: Any) -> list[str]:
    """Error codes of one answer to one required field."""
    definition = {"fields": [{"key": "f", "label": "F", "required": True, **field}]}
    answers = {} if value is _ABSENT else {"f": value}
    return codes(definition, answers).get("f", [])


_ABSENT = object()

# (field, valid answers, invalid answers with their expected code)
CASES: list[tuple[dict[str, Any], list[Any], list[tuple[Any, str]]]] = [
    (
        {"type": "date"},
        ["2026-12-04", "2024-02-29"],
        [
            ("2026-13-01", "not_date"),
            ("2025-02-29", "not_date"),
            ("4/12/2026", "not_date"),
            (20261204, "not_date"),
        ],
    ),
    (
        {"type": "time"},
        ["00:00", "09:30", "23:59"],
        [("24:00", "not_time"), ("9:30", "not_time"), ("09:30:00", "not_time"), (930, "not_time")],
    ),
    (
        {"type": "text"},
        ["Code 1234B", "x" * forms.TEXT_MAX_LENGTH],
        [("x" * (forms.TEXT_MAX_LENGTH + 1), "too_long"), (12, "not_text"), (["a"], "not_text")],
    ),
    (
        {"type": "textarea"},
        ["line 1\nline 2", "y" * forms.TEXTAREA_MAX_LENGTH],
        [("y" * (forms.TEXTAREA_MAX_LENGTH + 1), "too_long"), ({"a": 1}, "not_text")],
    ),
    (
        {"type": "yes_no"},
        [True, False],
        [("yes", "not_yes_no"), (1, "not_yes_no"), (0, "not_yes_no")],
    ),
    (
        {"type": "choice", "choices": ["A", "B", "C"]},
        ["A", "C"],
        [("D", "not_a_choice"), (["A"], "not_a_choice"), (1, "not_a_choice")],
    ),
    (
        {"type": "choice", "choices": ["A", "B", "C"], "multiple": True},
        [["A"], ["A", "C"], ["C", "B", "A"]],
        [
            (["A", "D"], "not_choices"),
            ("A", "not_choices"),
            (["A", "A"], "duplicate_choice"),
            ([1], "not_choices"),
        ],
    ),
    (
        {"type": "number", "min": -2, "max": 40},
        [-2, 0, 3.5, 40],
        [(-3, "below_min"), (40.5, "above_max"), ("3", "not_number"), (True, "not_number")],
    ),
    (
        {"type": "rating"},
        [1, 3, 5, 4.0],
        [(0, "below_min"), (6, "above_max"), (3.5, "not_whole_number"), ("5", "not_number")],
    ),
    (
        {"type": "photo"},
        [photo(), photo(PNG, "image/png"), photo(WEBP, "image/webp")],
        [
            (photo(PNG, "image/gif"), "photo_type"),
            (photo(PNG, "image/jpeg"), "photo_unreadable"),
            ({"media_type": "image/jpeg", "data": "not base64!"}, "photo_unreadable"),
            (photo(JPEG + b"\x00" * forms.PHOTO_MAX_BYTES), "photo_too_large"),
            ({"media_type": "image/jpeg", "data": "A" * 10_000_000}, "photo_too_large"),
            ("data:image/jpeg;base64,AAAA", "not_photo"),
            ({**photo(), "extra": 1}, "not_photo"),
        ],
    ),
    (
        {"type": "signature"},
        [
            {"strokes": [[[0.1, 0.2], [0.5, 0.6]], [[0.7, 0.7]]]},
            {"width": 300, "height": 120, "strokes": [[[0, 0], [300, 120], [150.5, 60]]]},
        ],
        [
            ({"strokes": [[[0.1, 1.2]]]}, "signature_outside"),
            ({"width": 300, "height": 120, "strokes": [[[301, 5]]]}, "signature_outside"),
            ({"width": 300, "strokes": [[[1, 5]]]}, "not_signature"),
            ({"strokes": [[]]}, "not_signature"),
            ({"strokes": [[[0.1]]]}, "not_signature"),
            ({"strokes": [[["0.1", 0.2]]]}, "not_signature"),
            (
                {"strokes": [[[0.1, 0.1]]] * (forms.SIGNATURE_MAX_STROKES + 1)},
                "signature_too_large",
            ),
            ({"strokes": [[[0.1, 0.1]] * (forms.SIGNATURE_MAX_POINTS + 1)]}, "signature_too_large"),
            ("signed", "not_signature"),
        ],
    ),
]


@pytest.mark.parametrize(("field", "valid", "invalid"), CASES, ids=[c[0]["type"] for c in CASES])
def test_every_field_type_valid_invalid_and_missing(
    field: dict[str, Any], valid: list[Any], invalid: list[tuple[Any, str]]
) -> None:
    for value in valid:
        assert one(field, value) == [], value
    for value, code in invalid:
        assert one(field, value) == [code], (str(value)[:80], code)
    for missing in (_ABSENT, None, "", "   ", []):
        assert one(field, missing) == ["required"], missing
    optional = {"fields": [{"key": "f", "label": "F", **field}]}
    assert forms.validate(optional, {}) == {}
    assert forms.validate(optional, {"f": None}) == {}


def test_empty_signature_is_missing() -> None:
    assert one({"type": "signature"}, {"strokes": []}) == ["required"]


def test_display_text_is_never_answered() -> None:
    definition = {"fields": [{"key": "intro", "type": "display_text", "label": "Read me"}]}
    assert forms.validate(definition, {}) == {}
    assert codes(definition, {"intro": "I read it"}) == {"intro": ["not_answerable"]}
    assert forms.normalize(definition, {"intro": None}) == {}


def test_unknown_fields_and_non_objects_are_named() -> None:
    definition = {"fields": [{"key": "a", "type": "text", "label": "A"}]}
    assert codes(definition, {"b": "x"}) == {"b": ["unknown_field"]}
    assert codes(definition, ["a"]) == {forms.FORM_KEY: ["not_an_object"]}
    assert codes({"fields": "nope"}, {}) == {forms.FORM_KEY: ["invalid_definition"]}


def test_errors_carry_params_and_an_english_sentence() -> None:
    definition = {"fields": [{"key": "floor", "type": "number", "label": "Floor", "max": 40}]}
    wire = forms.errors_as_json(forms.validate(definition, {"floor": 41}))
    assert wire == {
        "floor": [
            {
                "code": "above_max",
                "params": {"max": "40"},
                "message": "The value must be at most 40.",
            }
        ]
    }
    for code in forms.MESSAGES:
        assert (
            "{"
            not in forms.FieldError(
                code, {"max": 1, "min": 1, "max_bytes": 1, "max_strokes": 1, "max_points": 1}
            ).message()
        )


def test_all_answers_too_large_is_a_form_error() -> None:
    fields = [{"key": f"p{i}", "type": "photo", "label": "P"} for i in range(3)]
    big = photo(JPEG + b"\x01" * (forms.PHOTO_MAX_BYTES - len(JPEG)))
    assert codes({"fields": fields}, {"p0": big, "p1": big, "p2": big}) == {
        forms.FORM_KEY: ["answers_too_large"]
    }


def test_normalize_trims_and_drops_unanswered() -> None:
    definition = {
        "fields": [
            {"key": "intro", "type": "display_text", "label": "Hello"},
            {"key": "name", "type": "text", "label": "Name"},
            {"key": "note", "type": "textarea", "label": "Note"},
            {"key": "stars", "type": "rating", "label": "Stars"},
        ]
    }
    answers = {"name": "  Alice ", "note": "", "stars": 4.0}
    assert forms.validate(definition, answers) == {}
    assert forms.normalize(definition, answers) == {"name": "Alice", "stars": 4}
    assert forms.canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'
    assert forms.sha256_of({"a": 1}) == forms.sha256_of({"a": 1})
    assert forms.definition_sha256(definition) != forms.definition_sha256(
        {"fields": definition["fields"][:2]}
    )


def test_the_validated_document_depends_on_what_was_shown() -> None:
    activity = {"id": 7, "reference": "7", "type_name": "Quote", "description": "Boiler"}
    form = {"id": 3, "name": "Quote", "fields": [{"key": "ok", "type": "yes_no", "label": "OK"}]}
    first = forms.sha256_of(forms.document_for(activity, form))
    assert first == forms.sha256_of(forms.document_for({**activity, "title": "x"}, form))
    changed = {**activity, "description": "Boiler and radiators"}
    assert first != forms.sha256_of(forms.document_for(changed, form))


# --- properties ----------------------------------------------------------------------

KEYS = st.text(string.ascii_lowercase, min_size=1, max_size=8)
LABELS = st.text(min_size=1, max_size=20)
# A choice is what the client picks and what is stored: never blank, no edge spaces.
CHOICES = st.text(min_size=1, max_size=20).filter(lambda c: c == c.strip() and c)
BOUNDS = st.one_of(st.none(), st.integers(-1000, 1000))


@st.composite
def field_specs(draw: st.DrawFn, key: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(forms.ANSWERABLE_TYPES | {"display_text"})))
    spec: dict[str, Any] = {"key": key, "type": kind, "label": draw(LABELS)}
    if kind != "display_text":
        spec["required"] = draw(st.booleans())
    if kind == "choice":
        spec["choices"] = draw(st.lists(CHOICES, min_size=2, max_size=5, unique=True))
        spec["multiple"] = draw(st.booleans())
    if kind in ("number", "rating"):
        low, high = draw(BOUNDS), draw(BOUNDS)
        if kind == "rating":
            low, high = draw(st.integers(0, 3)), draw(st.integers(3, 10))
        if low is not None and high is not None and low > high:
            low, high = high, low
        spec["min"], spec["max"] = low, high
    return spec


@st.composite
def definitions(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(KEYS, min_size=1, max_size=8, unique=True))
    definition = {"fields": [draw(field_specs(k)) for k in keys]}
    FormSpec.model_validate(definition)  # the generator makes only definitions staff could save
    return definition


def valid_value(draw: st.DrawFn, spec: dict[str, Any]) -> Any:
    kind = spec["type"]
    if kind == "date":
        return draw(st.dates()).isoformat()
    if kind == "time":
        return f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}"
    if kind == "text":
        return draw(st.text(max_size=40).filter(str.strip))
    if kind == "textarea":
        return draw(st.text(max_size=200).filter(str.strip))
    if kind == "yes_no":
        return draw(st.booleans())
    if kind == "choice":
        if spec["multiple"]:
            return draw(st.lists(st.sampled_from(spec["choices"]), min_size=1, unique=True))
        return draw(st.sampled_from(spec["choices"]))
    if kind in ("number", "rating"):
        low = spec.get("min")
        high = spec.get("max")
        if kind == "rating":
            return draw(st.integers(int(low), int(high)))
        return draw(
            st.one_of(
                st.integers(low, high),
                st.floats(low, high, allow_nan=False, allow_infinity=False),
            )
        )
    if kind == "photo":
        raw = draw(st.sampled_from([JPEG, PNG]))
        return photo(raw, "image/jpeg" if raw is JPEG else "image/png")
    if kind == "signature":
        point = st.lists(st.floats(0, 1), min_size=2, max_size=2)
        return {
            "strokes": draw(
                st.lists(st.lists(point, min_size=1, max_size=5), min_size=1, max_size=5)
            )
        }
    raise AssertionError(kind)


@st.composite
def definitions_with_valid_answers(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    definition = draw(definitions())
    answers: dict[str, Any] = {}
    for spec in definition["fields"]:
        if spec["type"] == "display_text":
            continue
        if spec["required"] or draw(st.booleans()):
            answers[spec["key"]] = valid_value(draw, spec)
    return definition, answers


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(definitions_with_valid_answers())
def test_valid_answers_built_from_a_definition_validate_clean(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    definition, answers = case
    assert forms.validate(definition, answers) == {}
    clean = forms.normalize(definition, answers)
    assert forms.validate(definition, clean) == {}
    assert set(clean) == set(answers)


@PROPERTY
@given(definitions(), st.dictionaries(KEYS, JSON, max_size=8))
def test_arbitrary_answers_never_raise_and_errors_name_fields(
    definition: dict[str, Any], answers: dict[str, Any]
) -> None:
    errors = forms.validate(definition, answers)
    keys = {spec["key"] for spec in definition["fields"]}
    assert set(errors) <= keys | set(answers) | {forms.FORM_KEY}
    for found in errors.values():
        assert found and all(e.code in forms.MESSAGES for e in found)
        assert all(e.message() for e in found)
    if not errors:
        assert forms.validate(definition, forms.normalize(definition, answers)) == {}


@PROPERTY
@given(JSON, JSON)
def test_arbitrary_json_never_raises(definition: Any, answers: Any) -> None:
    errors = forms.validate(definition, answers)
    assert isinstance(errors, dict)
    forms.normalize(definition, answers)


@PROPERTY
@given(definitions_with_valid_answers(), st.data())
def test_a_missing_required_answer_is_always_reported(
    case: tuple[dict[str, Any], dict[str, Any]], data: st.DataObject
) -> None:
    definition, answers = case
    required = [s["key"] for s in definition["fields"] if s.get("required")]
    if not required:
        return
    dropped = data.draw(st.sampled_from(required))
    answers = {k: v for k, v in answers.items() if k != dropped}
    assert [e.code for e in forms.validate(definition, answers)[dropped]] == ["required"]

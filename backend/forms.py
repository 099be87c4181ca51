"""Form answers: validation, normalization and hashing from one form definition.

Pure module shared with the app (DESIGN.md §2): it knows no web, database or
screen, so the app checks a form before queuing it and the server checks the
same submission again with exactly the same rules.

Answers are a JSON object keyed by field ``key``. Shapes by field type:

- ``date``: ``"YYYY-MM-DD"``; ``time``: ``"HH:MM"`` (24 h);
- ``text`` / ``textarea``: a string (at most :data:`TEXT_MAX_LENGTH` /
  :data:`TEXTAREA_MAX_LENGTH` characters);
- ``yes_no``: ``true`` / ``false``;
- ``choice``: one of the choices, or a list of distinct choices when
  ``multiple``;
- ``number``: a JSON number within ``min``/``max``; ``rating``: a whole number
  within ``min``..``max`` (1..5 by default);
- ``photo``: ``{"media_type": "image/jpeg", "data": "<base64>"}`` (JPEG, PNG
  or WebP, at most :data:`PHOTO_MAX_BYTES` decoded);
- ``signature``: ``{"strokes": [[[x, y], ...], ...]}`` with points in the 0..1
  box, or with ``"width"`` and ``"height"`` in pixels and points in that box;
- ``display_text``: never answered.

A missing answer is an absent key, ``null``, a blank string or an empty list.
:func:`validate` returns errors as stable codes with parameters, which the app
translates; :func:`FieldError.message` is the English sentence the server
sends along.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

# Errors that concern the whole form rather than one field sit under this key
# (field keys start with a letter, so it cannot collide with one).
FORM_KEY = "_form"

TEXT_MAX_LENGTH = 500
TEXTAREA_MAX_LENGTH = 5000
# A phone photo downscaled by the app (about 1600 px JPEG) fits well below this;
# base64 makes it a third larger on the wire.
PHOTO_MAX_BYTES = 512_000
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
SIGNATURE_MAX_STROKES = 200
SIGNATURE_MAX_POINTS = 5000
SIGNATURE_MAX_SIDE = 10_000
# All answers of one submission, as canonical JSON: one submission always fits
# in one request under the server's default 1 MiB body limit.
ANSWERS_MAX_BYTES = 900_000

ANSWERABLE_TYPES = frozenset(
    {
        "date",
        "time",
        "text",
        "textarea",
        "yes_no",
        "choice",
        "number",
        "rating",
        "photo",
        "signature",
    }
)

_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
}

# English sentences by code; ``{name}`` placeholders come from the params.
MESSAGES: dict[str, str] = {
    "required": "This field is required.",
    "not_text": "Please enter text.",
    "too_long": "At most {max} characters.",
    "not_date": "Please enter a date (YYYY-MM-DD).",
    "not_time": "Please enter a time (HH:MM).",
    "not_yes_no": "Please answer yes or no.",
    "not_a_choice": "Please pick one of the proposed choices.",
    "not_choices": "Please pick among the proposed choices.",
    "duplicate_choice": "Each choice may be picked only once.",
    "not_number": "Please enter a number.",
    "not_whole_number": "Please enter a whole number.",
    "below_min": "The value must be at least {min}.",
    "above_max": "The value must be at most {max}.",
    "not_photo": "Please attach a photo.",
    "photo_type": "The photo must be a JPEG, PNG or WebP image.",
    "photo_unreadable": "The photo could not be read; please take or pick it again.",
    "photo_too_large": "The photo is too large (at most {max_bytes} bytes).",
    "not_signature": "Please sign in the box.",
    "signature_too_large": "The signature is too detailed (at most {max_strokes} strokes "
    "and {max_points} points).",
    "signature_outside": "The signature goes outside its box.",
    "not_answerable": "This field only displays text and takes no answer.",
    "unknown_field": "This form has no such field.",
    "not_an_object": "The answers must be an object keyed by field.",
    "answers_too_large": "The answers are too large (at most {max_bytes} bytes in all).",
    "invalid_definition": "The form definition is not usable.",
}


@dataclass(frozen=True)
class FieldError:
    """One problem with one answer: a stable ``code`` and its ``params``."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        """The English sentence for this error (the app translates the code instead)."""
        template = MESSAGES.get(self.code, self.code)
        try:
            return template.format(**self.params)
        except (KeyError, IndexError, ValueError):
            return template

    def as_json(self) -> dict[str, Any]:
        """Wire shape: ``{"code", "params", "message"}``."""
        return {"code": self.code, "params": dict(self.params), "message": self.message()}


Errors = dict[str, list[FieldError]]


def errors_as_json(errors: Errors) -> dict[str, list[dict[str, Any]]]:
    """The wire shape of :func:`validate`'s result (what the server answers)."""
    return {key: [e.as_json() for e in found] for key, found in errors.items()}


# --- the definition ------------------------------------------------------------------


def fields_of(definition: Any) -> list[dict[str, Any]] | None:
    """The field list of a definition (``{"fields": [...]}`` or the list itself).

    None when it is not a usable definition: every field needs a string
    ``key`` and ``type`` and keys are unique. Staff definitions are checked
    thoroughly by ``backend.domain.FormSpec`` when saved; this only guards
    against data that would make validation itself fail.
    """
    raw = definition.get("fields") if isinstance(definition, Mapping) else definition
    if not isinstance(raw, list):
        return None
    seen: set[str] = set()
    fields: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, Mapping):
            return None
        key, kind = item.get("key"), item.get("type")
        if not isinstance(key, str) or not isinstance(kind, str) or key in seen:
            return None
        seen.add(key)
        fields.append(dict(item))
    return fields


def _bound(spec: Mapping[str, Any], name: str) -> float | None:
    value = spec.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _range(spec: Mapping[str, Any]) -> tuple[float | None, float | None]:
    low, high = _bound(spec, "min"), _bound(spec, "max")
    if spec.get("type") == "rating":
        low = 1.0 if low is None else low
        high = 5.0 if high is None else high
    return low, high


def _choices(spec: Mapping[str, Any]) -> list[str]:
    raw = spec.get("choices")
    return [c for c in raw if isinstance(c, str)] if isinstance(raw, list) else []


# --- one answer ----------------------------------------------------------------------


def is_missing(value: Any) -> bool:
    """True for an unanswered field: null, a blank string, an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list):
        return not value
    if isinstance(value, Mapping) and "strokes" in value:
        strokes = value.get("strokes")
        return isinstance(strokes, list) and not strokes
    return False


def _number_text(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _check_text(value: Any, limit: int) -> list[FieldError]:
    if not isinstance(value, str):
        return [FieldError("not_text")]
    if len(value.strip()) > limit:
        return [FieldError("too_long", {"max": limit})]
    return []


def _check_date(value: Any) -> list[FieldError]:
    if not isinstance(value, str) or not _DATE.match(value):
        return [FieldError("not_date")]
    try:
        date.fromisoformat(value)
    except ValueError:
        return [FieldError("not_date")]
    return []


def _check_number(value: Any, spec: Mapping[str, Any], whole: bool) -> list[FieldError]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [FieldError("not_number")]
    if isinstance(value, float) and not math.isfinite(value):
        return [FieldError("not_number")]
    if whole and value != int(value):
        return [FieldError("not_whole_number")]
    low, high = _range(spec)
    if low is not None and value < low:
        return [FieldError("below_min", {"min": _number_text(low)})]
    if high is not None and value > high:
        return [FieldError("above_max", {"max": _number_text(high)})]
    return []


def _check_choice(value: Any, spec: Mapping[str, Any]) -> list[FieldError]:
    choices = _choices(spec)
    if not spec.get("multiple"):
        if not isinstance(value, str) or value not in choices:
            return [FieldError("not_a_choice")]
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [FieldError("not_choices")]
    if any(v not in choices for v in value):
        return [FieldError("not_choices")]
    if len(set(value)) != len(value):
        return [FieldError("duplicate_choice")]
    return []


def decode_photo(value: Any) -> bytes | None:
    """The image bytes of a photo answer, or None when it is not one."""
    if not isinstance(value, Mapping) or not isinstance(value.get("data"), str):
        return None
    try:
        return base64.b64decode(value["data"], validate=True)
    except (binascii.Error, ValueError):
        return None


def _check_photo(value: Any) -> list[FieldError]:
    if not isinstance(value, Mapping) or set(value) != {"media_type", "data"}:
        return [FieldError("not_photo")]
    media_type, data = value.get("media_type"), value.get("data")
    if media_type not in PHOTO_TYPES:
        return [FieldError("photo_type")]
    if not isinstance(data, str):
        return [FieldError("not_photo")]
    # Checked on the text first: never decode a huge string to find it is too big.
    if len(data) > (PHOTO_MAX_BYTES + 2) // 3 * 4 + 4:
        return [FieldError("photo_too_large", {"max_bytes": PHOTO_MAX_BYTES})]
    raw = decode_photo(value)
    if not raw:
        return [FieldError("photo_unreadable")]
    if len(raw) > PHOTO_MAX_BYTES:
        return [FieldError("photo_too_large", {"max_bytes": PHOTO_MAX_BYTES})]
    if not raw.startswith(_MAGIC[media_type]) or (
        media_type == "image/webp" and raw[8:12] != b"WEBP"
    ):
        return [FieldError("photo_unreadable")]
    return []


def _side(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 < value <= SIGNATURE_MAX_SIDE:
        return None
    return float(value)


def signature_box(value: Any) -> tuple[float, float] | None:
    """(width, height) of a signature's coordinate box: (1, 1) when not given."""
    if not isinstance(value, Mapping):
        return None
    if "width" not in value and "height" not in value:
        return (1.0, 1.0)
    width, height = _side(value.get("width")), _side(value.get("height"))
    if width is None or height is None:
        return None
    return (width, height)


def _check_signature(value: Any) -> list[FieldError]:
    if not isinstance(value, Mapping) or not set(value) <= {"strokes", "width", "height"}:
        return [FieldError("not_signature")]
    strokes = value.get("strokes")
    box = signature_box(value)
    if box is None or not isinstance(strokes, list) or not strokes:
        return [FieldError("not_signature")]
    limits = {"max_strokes": SIGNATURE_MAX_STROKES, "max_points": SIGNATURE_MAX_POINTS}
    if len(strokes) > SIGNATURE_MAX_STROKES:
        return [FieldError("signature_too_large", limits)]
    width, height = box
    numbers = (int, float)  # exact JSON types: a bool is not a coordinate
    total = 0
    # A tight loop: a signature has thousands of points and is checked on every push.
    for stroke in strokes:
        if type(stroke) is not list or not stroke:
            return [FieldError("not_signature")]
        total += len(stroke)
        if total > SIGNATURE_MAX_POINTS:
            return [FieldError("signature_too_large", limits)]
        for point in stroke:
            if type(point) is not list or len(point) != 2:
                return [FieldError("not_signature")]
            x, y = point
            if type(x) not in numbers or type(y) not in numbers:
                return [FieldError("not_signature")]
            # NaN and infinities fail these comparisons too.
            if not (0 <= x <= width and 0 <= y <= height):
                return [FieldError("signature_outside")]
    return []


def validate_answer(spec: Mapping[str, Any], value: Any) -> list[FieldError]:
    """The problems with one answer to the field ``spec`` (empty when it is fine)."""
    kind = spec.get("type")
    if kind == "display_text" or kind not in ANSWERABLE_TYPES:
        return [] if value is None else [FieldError("not_answerable")]
    if is_missing(value):
        return [FieldError("required")] if spec.get("required") is True else []
    if kind == "text":
        return _check_text(value, TEXT_MAX_LENGTH)
    if kind == "textarea":
        return _check_text(value, TEXTAREA_MAX_LENGTH)
    if kind == "date":
        return _check_date(value)
    if kind == "time":
        ok = isinstance(value, str) and _TIME.match(value)
        return [] if ok else [FieldError("not_time")]
    if kind == "yes_no":
        return [] if isinstance(value, bool) else [FieldError("not_yes_no")]
    if kind == "choice":
        return _check_choice(value, spec)
    if kind == "number":
        return _check_number(value, spec, whole=False)
    if kind == "rating":
        return _check_number(value, spec, whole=True)
    if kind == "photo":
        return _check_photo(value)
    return _check_signature(value)


# --- a whole form --------------------------------------------------------------------


def check(definition: Any, answers: Any) -> tuple[Errors, dict[str, Any]]:
    """Every problem of ``answers`` against ``definition`` (see :func:`validate`)
    and, when there is none, the answers as stored (see :func:`normalize`)."""
    fields = fields_of(definition)
    if fields is None:
        return {FORM_KEY: [FieldError("invalid_definition")]}, {}
    if not isinstance(answers, Mapping):
        return {FORM_KEY: [FieldError("not_an_object")]}, {}
    errors: Errors = {}
    known = {spec["key"] for spec in fields}
    for key in answers:
        if key not in known:
            errors[str(key)] = [FieldError("unknown_field")]
    for spec in fields:
        found = validate_answer(spec, answers.get(spec["key"]))
        if found:
            errors[spec["key"]] = found
    if errors:
        return errors, {}
    clean = _cleaned(fields, answers)
    if len(canonical_json(clean).encode()) > ANSWERS_MAX_BYTES:
        return {FORM_KEY: [FieldError("answers_too_large", {"max_bytes": ANSWERS_MAX_BYTES})]}, {}
    return {}, clean


def validate(definition: Any, answers: Any) -> Errors:
    """Every problem of ``answers`` against ``definition``, by field key.

    Never raises, whatever JSON it is given. An empty dict means the answers
    may be sent (app) or stored (server). Form-wide problems are under
    :data:`FORM_KEY`.
    """
    return check(definition, answers)[0]


def _cleaned(fields: list[dict[str, Any]], answers: Mapping[str, Any]) -> dict[str, Any]:
    """Answered fields only, texts trimmed, ratings as integers (answers already valid)."""
    clean: dict[str, Any] = {}
    for spec in fields:
        key = spec["key"]
        value = answers.get(key)
        kind = spec.get("type")
        if kind not in ANSWERABLE_TYPES or is_missing(value):
            continue
        if kind in ("text", "textarea"):
            value = value.strip()
        elif kind == "rating":
            value = int(value)
        clean[key] = value
    return clean


def normalize(definition: Any, answers: Any) -> dict[str, Any]:
    """The answers as they are stored: answered fields only, texts trimmed.

    Meant for answers :func:`validate` accepted; an invalid answer is left out.
    """
    fields = fields_of(definition) or []
    if not isinstance(answers, Mapping):
        return {}
    valid = {
        spec["key"]: answers.get(spec["key"])
        for spec in fields
        if not validate_answer(spec, answers.get(spec["key"]))
    }
    return _cleaned(fields, valid)


def canonical_json(value: Any) -> str:
    """One text per JSON value (sorted keys, no spaces): what hashes are taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_of(value: Any) -> str:
    """SHA-256 (hex) of a JSON value's canonical text."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def definition_sha256(definition: Any) -> str:
    """The version of a form definition: the hash of its fields."""
    return sha256_of(fields_of(definition) or [])


def document_for(activity: Mapping[str, Any], form: Mapping[str, Any]) -> dict[str, Any]:
    """The document a client validates: the form as shown, on this activity, with the
    company's quote (lines, totals, the PDF's hash) when the activity has one.

    The app hashes exactly this (:func:`sha256_of`) from its synced
    documents; the server rebuilds it from the database and refuses a
    signature made on another version. Without a quote there is no
    ``quote`` key, so documents signed before quotes existed keep their hash.
    """
    document: dict[str, Any] = {
        "activity": {
            "id": activity.get("id"),
            "reference": activity.get("reference"),
            "type_name": activity.get("type_name"),
            "description": activity.get("description"),
        },
        "form": {"id": form.get("id"), "name": form.get("name"), "fields": form.get("fields")},
    }
    quote = activity.get("quote")
    if quote is not None:
        document["quote"] = quote
    return document

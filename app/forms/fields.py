"""Form fields as the app shows them: specs, text conversions, display text, errors.

No Flet and no I/O: the renderers (``app.forms.renderers``) and the form
view-model (``app.form_filling``) build on these, and validation itself is
``backend.forms`` — the one definition the server checks again.

- ``FieldSpec`` is one field of a synced form definition, read defensively
  (a newer server may send a type this app does not know: it is shown as
  text and never blocks sending).
- Numbers are typed as text: ``number_from_text`` reads ``3,5`` as well as
  ``3.5`` (French keyboards), and says when the text is not a number.
- ``display_text`` fills the replacement codes of a guiding text (``{client.name}``,
  ``{activity.date}``… the codes of titles, ``backend.templates``) from the
  synced documents, in the client's language.
- ``error_messages`` turns the validation codes (``backend.forms``) into
  sentences in the client's language, the same whether the app or the
  server found them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates as babel_dates

from app.i18n import Translator, parse_utc
from app.messages import Message
from backend.forms import ANSWERABLE_TYPES, FieldError, fields_of
from backend.templates import TemplateError, render_template

# The shared definition's answerable types, plus guiding text.
KNOWN_TYPES = ANSWERABLE_TYPES | {"display_text"}
DEFAULT_RATING_MAX = 5
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")


@dataclass(frozen=True)
class FieldSpec:
    """One field of a form definition, as the screen needs it."""

    key: str
    type: str
    label: str
    required: bool = False
    choices: tuple[str, ...] = ()
    multiple: bool = False
    min: float | None = None
    max: float | None = None
    help: str = ""

    @property
    def answerable(self) -> bool:
        """False for guiding text, which takes no answer."""
        return self.type != "display_text"

    @property
    def rating_range(self) -> tuple[int, int]:
        """The stars offered: ``min``..``max`` (1..5 by default)."""
        low = int(self.min) if self.min is not None else 1
        high = int(self.max) if self.max is not None else DEFAULT_RATING_MAX
        return low, max(low, high)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse_fields(form_doc: Mapping[str, Any] | None) -> list[FieldSpec]:
    """The fields of a synced form document (``{"fields": [...]}``), in order."""
    if not form_doc:
        return []
    raw = fields_of(form_doc) or []
    specs = []
    for field in raw:
        key = field.get("key")
        if not isinstance(key, str) or not key:
            continue
        kind = str(field.get("type") or "text")
        choices = field.get("choices")
        specs.append(
            FieldSpec(
                key=key,
                type=kind if kind in KNOWN_TYPES else "text",
                label=str(field.get("label") or ""),
                required=bool(field.get("required")),
                choices=tuple(str(c) for c in choices) if isinstance(choices, list) else (),
                multiple=bool(field.get("multiple")),
                min=_number(field.get("min")),
                max=_number(field.get("max")),
                help=str(field.get("help") or ""),
            )
        )
    return specs


def number_from_text(text: str) -> tuple[float | int | None, bool]:
    """(value, ok) for what the client typed: blank is (None, True); junk is (None, False)."""
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    if not cleaned:
        return None, True
    if not _NUMBER.match(cleaned):
        return None, False
    value = float(cleaned.replace(",", "."))
    if value.is_integer() and "." not in cleaned and "," not in cleaned:
        return int(value), True
    return value, True


def number_text(value: Any, language: str) -> str:
    """A number answer as the client types it (``3,5`` in French)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    text = str(int(value)) if float(value).is_integer() else repr(float(value))
    return text.replace(".", ",") if language == "fr" else text


def parse_date(value: Any) -> date | None:
    """A ``YYYY-MM-DD`` answer as a date (None when absent or unreadable)."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def template_values(
    activity: Mapping[str, Any], client_name: str, company_name: str, tr: Translator
) -> dict[str, str]:
    """Values of the replacement codes from the synced documents, in ``tr``'s language."""
    start = parse_utc(activity.get("scheduled_start"))
    asked = parse_utc(activity.get("requested_at"))
    site = activity.get("site") if isinstance(activity.get("site"), dict) else {}
    tech = activity.get("technician") if isinstance(activity.get("technician"), dict) else {}
    status = str(activity.get("status") or "")
    return {
        "type.name": str(activity.get("type_name") or ""),
        "activity.id": str(activity.get("id") or ""),
        "activity.reference": str(activity.get("reference") or ""),
        "activity.date": tr.date(start) if start else "",
        "activity.time": tr.time(start) if start else "",
        "activity.datetime": tr.date_time(start) if start else "",
        "activity.requested_date": tr.date(asked) if asked else "",
        "activity.status": tr.t(f"status.{status}") if status else "",
        "site.label": str(site.get("label") or ""),
        "site.city": str(site.get("city") or ""),
        "site.street": str(site.get("street") or ""),
        "site.postal_code": str(site.get("postal_code") or ""),
        "client.name": client_name,
        "technician.first_name": str(tech.get("first_name") or ""),
        "bu.name": company_name,
    }


def display_text(label: str, values: Mapping[str, str]) -> str:
    """A guiding text with its codes replaced; the text as written when it has none
    or cannot be read (a typo in a code never hides the company's words)."""
    if "{" not in label:
        return label
    try:
        return render_template(label, values)
    except TemplateError:
        return label


def error_message(error: FieldError | Mapping[str, Any]) -> Message:
    """The sentence for one validation error (from ``backend.forms`` or the server)."""
    if isinstance(error, FieldError):
        code, params = error.code, dict(error.params)
    else:
        code = str(error.get("code") or "invalid")
        params = dict(error.get("params") or {})
    return Message(f"form.error.{code}", params)


def error_messages(errors: Mapping[str, Any]) -> dict[str, Message]:
    """The first error of each field, as sentences keyed by field (``_form``: the whole form)."""
    shown: dict[str, Message] = {}
    for key, problems in errors.items():
        if isinstance(problems, list) and problems:
            shown[str(key)] = error_message(problems[0])
    return shown


def today_iso(now: datetime, tr: Translator) -> str:
    """Today's date in the business unit's zone, as a date answer."""
    return now.astimezone(ZoneInfo(tr.timezone)).date().isoformat()


# Dates and times are typed in the client's usual way (31/12/2026, 14:30 in
# French; 12/31/2026, 2:30 PM in English) or picked; answers stay ISO.
_DATE_PATTERNS = {"fr": "dd/MM/yyyy", "en": "MM/dd/yyyy"}
_DATE_HINTS = {"fr": "jj/mm/aaaa", "en": "mm/dd/yyyy"}


def date_hint(language: str) -> str:
    """How to type a date in ``language`` (shown as the field's hint)."""
    return _DATE_HINTS.get(language, _DATE_HINTS["en"])


def date_text(value: Any, language: str) -> str:
    """A date answer (``YYYY-MM-DD``) as the client reads and types it."""
    day = parse_date(value)
    if day is None:
        return ""
    return babel_dates.format_date(
        day, _DATE_PATTERNS.get(language, _DATE_PATTERNS["en"]), locale=language
    )


def date_from_text(text: str, language: str) -> tuple[str | None, bool]:
    """(``YYYY-MM-DD`` or None, ok) for a typed date: blank is (None, True)."""
    cleaned = text.strip()
    if not cleaned:
        return None, True
    try:
        day = babel_dates.parse_date(cleaned, locale=language)
    except (ValueError, IndexError):
        return None, False
    if not 1900 <= day.year <= 2200:
        return None, False
    return day.isoformat(), True


def time_text(value: Any, language: str) -> str:
    """A time answer (``HH:MM``) as the client reads it (``2:30 PM`` / ``14:30``)."""
    if not isinstance(value, str):
        return ""
    try:
        moment = time.fromisoformat(value)
    except ValueError:
        return ""
    return babel_dates.format_time(moment, "short", locale=language)


def time_from_text(text: str, language: str) -> tuple[str | None, bool]:
    """(``HH:MM`` or None, ok) for a typed time: blank is (None, True)."""
    cleaned = text.strip()
    if not cleaned:
        return None, True
    try:
        moment = babel_dates.parse_time(cleaned.upper(), locale=language)
    except (ValueError, IndexError):
        return None, False
    return moment.strftime("%H:%M"), True


def picked_date(value: Any) -> str | None:
    """The day a date picker returned, as ``YYYY-MM-DD``.

    The picker gives midnight of the chosen day, sometimes shifted to UTC by
    the browser's offset: the nearest noon is always on the chosen day.
    """
    if isinstance(value, datetime):
        naive = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
        return (naive + timedelta(hours=12)).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return None

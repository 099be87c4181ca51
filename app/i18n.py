"""The app's own strings in English and French, and locale-aware date/time text.

Flutter's ``LocaleConfiguration`` only translates its built-in widgets
(DESIGN.md §6), so every sentence the app shows goes through ``t(key, **params)``.

Each Flet session owns a ``Translator`` (two browser tabs may use different
languages); the module-level ``t`` uses a process-wide default translator for
code that has no session at hand (the CLI).

The strings live in gettext catalogs, ``app/locales/<language>/LC_MESSAGES/messages.po``
(msgid = a stable key such as ``signin.title``, msgstr = the text, ``{name}``
placeholders), read with Babel when the app starts: a third language is one
more file, not a code change (docs/TRANSLATING.md).

Dates and times are shown in the business unit's time zone (the client's
appointments happen there, whatever the device's zone), formatted by Babel
through ``backend.localization`` so the app and server-rendered titles agree.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.messages.pofile import read_po

from backend.localization import format_date, format_money, format_time, format_time_range

DEFAULT_LANGUAGE = "en"
DEFAULT_TIMEZONE = "Europe/Paris"

LOCALES_DIR = Path(__file__).resolve().parent / "locales"


def load_catalogs(directory: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """Every ``<language>/LC_MESSAGES/messages.po`` under ``directory``: {language: {key: text}}.

    The ``.po`` files are the only source of the app's strings (a translator
    edits them without touching Python; docs/TRANSLATING.md). Empty and fuzzy
    entries are left out so that they fall back to English instead of showing
    a blank or an unreviewed guess.
    """
    catalogs: dict[str, dict[str, str]] = {}
    for path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        language = path.parent.parent.name
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        catalogs[language] = {
            str(message.id): message.string
            for message in catalog
            if message.id
            and isinstance(message.string, str)
            and message.string
            and not message.fuzzy
        }
    return catalogs


# {language: {key: text}}, read once from the catalogs; never edit it in code.
MESSAGES: dict[str, dict[str, str]] = load_catalogs()
# Every language with a catalog, English (the fallback) first.
LANGUAGES: tuple[str, ...] = tuple(
    sorted(MESSAGES, key=lambda lang: (lang != DEFAULT_LANGUAGE, lang))
)


def normalize_language(value: str | None) -> str:
    """``fr_FR`` / ``fr-CA`` / ``FR`` -> ``fr``; anything unsupported -> ``en``."""
    lang = (value or DEFAULT_LANGUAGE).replace("-", "_").split("_")[0].lower()
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def parse_utc(value: str | None) -> datetime | None:
    """Parse the feed's UTC ISO text (``2026-11-23T09:00:00Z``); None stays None."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None  # a malformed date is shown as "no date", never a crash
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _zone(tz: str | None) -> str:
    try:
        ZoneInfo(tz or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_TIMEZONE
    return tz or DEFAULT_TIMEZONE


class _SafeDict(dict[str, object]):
    # A missing parameter shows as {name} rather than raising in the UI.
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Translator:
    """One session's language and time zone; ``t`` and the date/time formatters."""

    def __init__(self, language: str = DEFAULT_LANGUAGE, timezone: str = DEFAULT_TIMEZONE):
        """Start in ``language`` (normalised) showing times in ``timezone``."""
        self.language = normalize_language(language)
        self.timezone = _zone(timezone)

    def set_language(self, language: str) -> None:
        """Switch language at runtime (the caller redraws)."""
        self.language = normalize_language(language)

    def set_timezone(self, timezone: str | None) -> None:
        """Use the business unit's time zone (unknown zones fall back to Paris)."""
        self.timezone = _zone(timezone)

    def t(self, key: str, **params: object) -> str:
        """The sentence for ``key`` in the current language, with ``params`` filled in.

        Falls back to English, then to the key itself, so a missing string is
        visible but never an exception.
        """
        text = MESSAGES[self.language].get(key) or MESSAGES[DEFAULT_LANGUAGE].get(key) or key
        if not params:
            return text
        return string.Formatter().vformat(text, (), _SafeDict(params))

    # -- dates and times --------------------------------------------------

    def date(self, moment: datetime) -> str:
        """``Mon, Nov 23, 2026`` / ``lun. 23 nov. 2026`` in the business unit's zone (Babel)."""
        return format_date(moment, self.language, self.timezone)

    def time(self, moment: datetime) -> str:
        """``2:30 PM`` / ``14:30`` in the business unit's zone (Babel)."""
        return format_time(moment, self.language, self.timezone)

    def date_time(self, moment: datetime) -> str:
        """``Mon, Nov 23, 2026 at 2:30 PM`` / ``lun. 23 nov. 2026 à 14:30``."""
        return self.t("activities.at", date=self.date(moment), time=self.time(moment))

    def time_range(self, start: datetime, end: datetime) -> str:
        """A window in short: ``8:00 – 10:00 AM`` / ``08:00 – 10:00`` (CLDR interval)."""
        return format_time_range(start, end, self.language, self.timezone)

    def money(self, amount: Decimal | float | int, currency: str = "EUR") -> str:
        """``€1,234.50`` / ``1 234,50 €`` for quotes."""
        return format_money(amount, currency, self.language)

    def arrival_window(self, start: datetime | None, end: datetime | None) -> str | None:
        """``Arrival between 8:00 AM and 10:00 AM``, or None without a full window."""
        if start is None or end is None:
            return None
        return self.t("activities.window", start=self.time(start), end=self.time(end))

    def moment_short(self, moment: datetime, now: datetime) -> str:
        """Time only when ``moment`` is today (in the zone), else date and time."""
        tz = ZoneInfo(self.timezone)
        if moment.astimezone(tz).date() == now.astimezone(tz).date():
            return self.t("sync.today_at", time=self.time(moment))
        return self.t("sync.day_at", date=self.date(moment), time=self.time(moment))

    def status(self, status: str) -> str:
        """Human label of an activity status."""
        key = f"status.{status}"
        return self.t(key) if key in MESSAGES[DEFAULT_LANGUAGE] else self.t("status.unknown")

    def step(self, code: str) -> str:
        """Human label of a follow-up step code."""
        key = f"step.{code}"
        return self.t(key) if key in MESSAGES[DEFAULT_LANGUAGE] else self.t("step.unknown")


# Process-wide default, for code without a session (CLI messages, tests).
default_translator = Translator()


def t(key: str, **params: object) -> str:
    """Translate ``key`` with the process-wide default translator."""
    return default_translator.t(key, **params)


def set_language(language: str) -> None:
    """Switch the process-wide default translator's language."""
    default_translator.set_language(language)


def current_language() -> str:
    """The process-wide default translator's language."""
    return default_translator.language

"""Locale-aware dates, times, intervals and amounts, from Babel's CLDR data.

Pure (no web, database or screen; DESIGN.md §2 "the contract both sides
share"): the server's titles and messages and the app's screens format with
these same functions, so they always agree.

Every moment is shown in the business unit's time zone (``tz``): the visits
happen there, whatever zone the device or the server runs in. ``locale`` is
the client's language (``en``, ``fr``, ``fr_FR``, ``fr-CA``…); Babel knows
the conventions of any CLDR locale, so a third language needs no code here.
An unknown locale falls back to English, an unknown zone to Europe/Paris,
never an error in front of a client.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers

# Languages with server-side sentence tables (auth messages, booking reasons,
# calendar text). Dates and times work in every CLDR locale regardless.
SENTENCE_LANGUAGES: tuple[str, ...] = ("en", "fr")
FALLBACK_LOCALE = "en"
FALLBACK_TIMEZONE = "Europe/Paris"

# CLDR skeleton: weekday, day, abbreviated month, year, in the locale's order
# ("Mon, Nov 23, 2026", "lun. 23 nov. 2026", "Mo., 23. Nov. 2026").
DATE_SKELETON = "yMMMEd"

# CLDR puts a narrow no-break space before "AM" and thin spaces around the
# interval dash. Not every font has those glyphs, and the offline web client
# cannot fetch a fallback font, so they become a plain no-break space (still
# no line break inside "8:00 AM") and plain spaces.
_SPACES = str.maketrans({"\u202f": "\u00a0", "\u2009": " "})


def language(locale: str | None) -> str:
    """``fr_FR`` -> ``fr``: the language of the server's sentence tables (else ``en``)."""
    lang = (locale or FALLBACK_LOCALE).replace("-", "_").split("_")[0].lower()
    return lang if lang in SENTENCE_LANGUAGES else FALLBACK_LOCALE


@lru_cache(maxsize=64)
def babel_locale(locale: str | None) -> Locale:
    """The Babel locale for ``en`` / ``fr_FR`` / ``fr-CA``; English when unknown."""
    try:
        return Locale.parse((locale or FALLBACK_LOCALE).replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(FALLBACK_LOCALE)


@lru_cache(maxsize=64)
def zone(tz: str | None) -> ZoneInfo:
    """The IANA zone ``tz``; Europe/Paris when unknown (a bad setting never crashes a title)."""
    try:
        return ZoneInfo(tz or FALLBACK_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(FALLBACK_TIMEZONE)


def _local(moment: datetime, tz: str | None) -> datetime:
    return moment.astimezone(zone(tz))


def format_date(moment: datetime, locale: str | None, tz: str | None) -> str:
    """``Mon, Nov 23, 2026`` / ``lun. 23 nov. 2026``: the local day in zone ``tz``."""
    local = _local(moment, tz)
    text = babel_dates.format_skeleton(DATE_SKELETON, local, locale=babel_locale(locale))
    return text.translate(_SPACES)


def format_time(moment: datetime, locale: str | None, tz: str | None) -> str:
    """``2:30 PM`` (en, a no-break space before PM) / ``14:30`` (fr) in zone ``tz``."""
    local = _local(moment, tz)
    text = babel_dates.format_time(local, "short", tzinfo=local.tzinfo, locale=babel_locale(locale))
    return text.translate(_SPACES)


def format_datetime(moment: datetime, locale: str | None, tz: str | None) -> str:
    """Date and time joined as the locale joins them (``Mon, Nov 23, 2026, 2:30 PM``)."""
    pattern = babel_dates.get_datetime_format("medium", locale=babel_locale(locale))
    return (
        str(pattern)
        .replace("'", "")
        .replace("{1}", format_date(moment, locale, tz))
        .replace("{0}", format_time(moment, locale, tz))
    )


def format_time_range(start: datetime, end: datetime, locale: str | None, tz: str | None) -> str:
    """A window as one interval: ``8:00 – 10:00 AM`` / ``08:00 – 10:00`` (slot lists).

    CLDR interval formats avoid repeating what both ends share (AM/PM, the
    day); a window spanning two local days shows both dates.
    """
    first, last = _local(start, tz), _local(end, tz)
    if first.date() != last.date():
        return f"{format_datetime(start, locale, tz)} – {format_datetime(end, locale, tz)}"
    loc = babel_locale(locale)
    # 12- or 24-hour as the locale's own short time (quoted literals such as
    # fr_CA's 'h' in "HH 'h' mm" are not hour fields).
    fields = re.sub(r"'[^']*'", "", loc.time_formats["short"].pattern)
    skeleton = "hm" if "h" in fields else "Hm"
    text = babel_dates.format_interval(first, last, skeleton, tzinfo=first.tzinfo, locale=loc)
    return text.translate(_SPACES)


def format_money(amount: Decimal | float | int, currency: str, locale: str | None) -> str:
    """``€1,234.50`` / ``1 234,50 €``: an amount in ``currency`` (ISO 4217) for quotes."""
    text = babel_numbers.format_currency(amount, currency, locale=babel_locale(locale))
    return text.translate(_SPACES)

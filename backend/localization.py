"""Locale-aware date and time text for server-rendered strings (titles, messages).

Only English and French are supported; unknown locales fall back to English.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

_MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "fr": [
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ],
}
_DAYS = {
    "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    "fr": ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
}


def language(locale: str) -> str:
    """``fr_FR`` -> ``fr``; anything unsupported -> ``en``."""
    lang = (locale or "en").replace("-", "_").split("_")[0].lower()
    return lang if lang in _MONTHS else "en"


def format_date(moment: datetime, locale: str, tz: str) -> str:
    """``Mon 23 Nov 2026`` / ``lun. 23 nov. 2026`` in the given time zone."""
    local = moment.astimezone(ZoneInfo(tz))
    lang = language(locale)
    return (
        f"{_DAYS[lang][local.weekday()]} {local.day} {_MONTHS[lang][local.month - 1]} {local.year}"
    )


def format_time(moment: datetime, locale: str, tz: str) -> str:
    """``2:30 PM`` in English, ``14:30`` in French."""
    local = moment.astimezone(ZoneInfo(tz))
    if language(locale) == "fr":
        return f"{local.hour:02d}:{local.minute:02d}"
    hour = local.hour % 12 or 12
    return f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"

"""Translations: English and French are complete, every key the app uses exists."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from app.i18n import MESSAGES, Translator, normalize_language, parse_utc

APP_DIR = Path(__file__).resolve().parents[2] / "app"
# t("key") / tr.t("key") / state.tr.t("key") / Message("key"): literal keys in code.
KEY_RE = re.compile(r"""\b(?:t|Message)\(\s*["']([a-z_]+\.[a-z_.]+)["']""")


def test_english_and_french_have_the_same_keys() -> None:
    assert set(MESSAGES["en"]) == set(MESSAGES["fr"])
    for lang, table in MESSAGES.items():
        empty = [k for k, v in table.items() if not v.strip()]
        assert not empty, (lang, empty)


def test_placeholders_match_between_languages() -> None:
    for key, english in MESSAGES["en"].items():
        names = set(re.findall(r"\{(\w+)\}", english))
        assert names == set(re.findall(r"\{(\w+)\}", MESSAGES["fr"][key])), key


def test_every_key_used_in_the_app_exists() -> None:
    used: dict[str, str] = {}
    for path in APP_DIR.rglob("*.py"):
        for key in KEY_RE.findall(path.read_text(encoding="utf-8")):
            used[key] = str(path.relative_to(APP_DIR))
    assert len(used) > 20  # the scan really finds the app's keys
    missing = {k: where for k, where in used.items() if k not in MESSAGES["en"]}
    assert not missing


def test_every_api_error_key_is_translated() -> None:
    source = (APP_DIR / "sync" / "api.py").read_text(encoding="utf-8")
    keys = set(re.findall(r'"(error\.[a-z_]+)"', source))
    assert keys and keys <= set(MESSAGES["en"])


def test_switching_language_at_runtime() -> None:
    tr = Translator("en")
    assert tr.t("nav.home") == "Home"
    tr.set_language("fr-FR")
    assert tr.t("nav.home") == "Accueil"
    assert tr.t("signin.error.wrong_code", tries=2) == (
        "Ce code n’est pas le bon. Essais restants : 2."
    )
    # Unknown keys and missing parameters never raise.
    assert tr.t("no.such.key") == "no.such.key"
    assert "{tries}" in tr.t("signin.error.wrong_code")


def test_dates_and_arrival_window_in_the_business_unit_zone() -> None:
    start = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 08:00 in Paris
    end = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    tr = Translator("en", "Europe/Paris")
    assert tr.date_time(start) == "Mon 23 Nov 2026 at 8:00 AM"
    assert tr.arrival_window(start, end) == "Arrival between 8:00 AM and 10:00 AM"
    tr.set_language("fr")
    assert tr.date_time(start) == "lun. 23 nov. 2026 à 08:00"
    assert tr.arrival_window(start, end) == "Arrivée entre 08:00 et 10:00"
    assert tr.arrival_window(start, None) is None
    tr.set_timezone("America/New_York")
    assert tr.time(start) == "02:00"
    tr.set_timezone("Not/AZone")
    assert tr.timezone == "Europe/Paris"


def test_short_moment_is_time_only_today() -> None:
    tr = Translator("en", "Europe/Paris")
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    assert tr.moment_short(datetime(2026, 11, 23, 9, 42, tzinfo=UTC), now) == "10:42 AM"
    assert tr.moment_short(datetime(2026, 11, 20, 9, 42, tzinfo=UTC), now) == (
        "Fri 20 Nov 2026 10:42 AM"
    )


def test_labels_for_statuses_and_steps() -> None:
    tr = Translator("fr")
    assert tr.status("in_progress") == "En cours"
    assert tr.status("weird") == "Inconnu"
    for code in ("created", "scheduled", "technician_assigned", "on_the_way", "started",
                 "completed", "cancelled", "rescheduled"):
        assert tr.step(code) != tr.step("nope"), code


def test_parsing_and_normalising() -> None:
    assert parse_utc("2026-11-23T09:00:00Z") == datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert parse_utc(None) is None and parse_utc("garbage") is None
    assert normalize_language("FR_ca") == "fr" and normalize_language("de") == "en"

"""Translations: every catalog is complete, every key the app uses exists."""

from __future__ import annotations

import ast
import fnmatch
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.i18n import (
    LANGUAGES,
    LOCALES_DIR,
    MESSAGES,
    Translator,
    load_catalogs,
    normalize_language,
    parse_utc,
)

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "app"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# The follow-up steps the server sends, each with its own label.
STEP_CODES = (
    "created",
    "scheduled",
    "technician_assigned",
    "on_the_way",
    "started",
    "completed",
    "cancelled",
    "rescheduled",
)
# Keys built at run time (f"status.{code}") cannot be extracted: listed here.
DYNAMIC_KEYS = {
    *(f"status.{s}" for s in ("to_schedule", "scheduled", "in_progress", "done", "cancelled")),
    *(f"step.{c}" for c in STEP_CODES),
    *(f"language.{lang}" for lang in LANGUAGES),
}


def missing_keys(catalogs: dict[str, dict[str, str]]) -> dict[str, set[str]]:
    """Per language, the keys some other language has and this one lacks."""
    every = set().union(*catalogs.values())
    return {lang: every - set(table) for lang, table in catalogs.items() if every - set(table)}


def placeholder_mismatches(catalogs: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """(language, key) pairs whose {placeholders} differ from the English text."""
    english = catalogs["en"]
    return [
        (lang, key)
        for lang, table in catalogs.items()
        for key, text in table.items()
        if key in english
        and set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(english[key]))
    ]


def literal_keys(node: ast.expr) -> list[str]:
    """The string constants a key argument can evaluate to (``"a" if x else "b"`` gives both)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return literal_keys(node.body) + literal_keys(node.orelse)
    return []  # built at run time: see DYNAMIC_KEYS


def keys_used_in_app() -> dict[str, str]:
    """Literal keys of ``t("…")``, ``tr.t("…")``, ``Message("…")`` calls in app/ (AST scan)."""
    used: dict[str, str] = {}
    for path in APP_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in ("t", "Message"):
                for key in literal_keys(node.args[0]):
                    used[key] = f"{path.relative_to(APP_DIR)}:{node.lineno}"
    return used


def test_the_key_scan_sees_conditional_keys() -> None:
    tree = ast.parse('tr.t("a.b" if x else "c.d", n=1)')
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
    assert literal_keys(call.args[0]) == ["a.b", "c.d"]


def write_po(path: Path, entries: dict[str, str], *, fuzzy: set[str] = frozenset()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = ['msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=utf-8\\n"', ""]
    for key, text in entries.items():
        if key in fuzzy:
            body.append("#, fuzzy")
        body += [f'msgid "{key}"', f'msgstr "{text}"', ""]
    path.write_text("\n".join(body), encoding="utf-8")


def test_the_catalogs_are_the_source_of_the_strings() -> None:
    assert set(LANGUAGES) >= {"en", "fr"} and LANGUAGES[0] == "en"
    assert load_catalogs(LOCALES_DIR) == MESSAGES
    assert MESSAGES["fr"]["signin.title"] == "Connexion"
    # No second copy of the strings in Python: the table is read, not written.
    source = (APP_DIR / "i18n.py").read_text(encoding="utf-8")
    assert '"signin.title"' not in source


def test_every_language_has_every_key_and_no_empty_text() -> None:
    assert not missing_keys(MESSAGES)
    for lang, table in MESSAGES.items():
        assert all(text.strip() for text in table.values()), lang


def test_placeholders_match_between_languages() -> None:
    assert not placeholder_mismatches(MESSAGES)


def test_the_checks_catch_a_missing_key_and_a_renamed_placeholder(tmp_path: Path) -> None:
    write_po(tmp_path / "en/LC_MESSAGES/messages.po", {"a.b": "Hi {name}", "c.d": "Bye"})
    write_po(tmp_path / "fr/LC_MESSAGES/messages.po", {"a.b": "Salut {nom}"})
    broken = load_catalogs(tmp_path)
    assert missing_keys(broken) == {"fr": {"c.d"}}
    assert placeholder_mismatches(broken) == [("fr", "a.b")]


def test_every_key_used_in_the_app_exists_in_every_language() -> None:
    used = keys_used_in_app()
    assert len(used) > 20  # the extraction really finds the app's keys
    for lang, table in MESSAGES.items():
        missing = {key: where for key, where in used.items() if key not in table}
        assert not missing, (lang, missing)
        assert set(table) >= DYNAMIC_KEYS, (lang, DYNAMIC_KEYS - set(table))


def test_every_api_error_key_is_translated() -> None:
    source = (APP_DIR / "sync" / "api.py").read_text(encoding="utf-8")
    keys = set(re.findall(r'"(error\.[a-z_]+)"', source))
    assert keys and keys <= set(MESSAGES["en"])


def test_a_third_language_is_a_file(tmp_path: Path) -> None:
    english = {"nav.home": "Home", "nav.account": "Account"}
    write_po(tmp_path / "en/LC_MESSAGES/messages.po", english)
    write_po(
        tmp_path / "de/LC_MESSAGES/messages.po",
        {"nav.home": "Startseite", "nav.account": "Konto?"},
        fuzzy={"nav.account"},
    )
    catalogs = load_catalogs(tmp_path)
    assert catalogs["de"] == {"nav.home": "Startseite"}  # fuzzy = not reviewed: left out
    assert set(catalogs) == {"en", "de"}


def test_catalogs_ship_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["app"]
    for path in LOCALES_DIR.rglob("*.po"):
        relative = path.relative_to(APP_DIR).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
    assert any(dep.startswith("babel") for dep in config["project"]["dependencies"])


@pytest.mark.parametrize("language", ["en", "fr"])
def test_translator_reads_the_catalog(language: str) -> None:
    tr = Translator(language)
    assert tr.t("nav.home") == MESSAGES[language]["nav.home"]


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


NBSP = "\u00a0"  # Babel/CLDR: no line break inside "8:00 AM"


def test_dates_and_arrival_window_in_the_business_unit_zone() -> None:
    start = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 08:00 in Paris
    end = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    tr = Translator("en", "Europe/Paris")
    assert tr.date_time(start) == f"Mon, Nov 23, 2026 at 8:00{NBSP}AM"
    assert tr.arrival_window(start, end) == f"Arrival between 8:00{NBSP}AM and 10:00{NBSP}AM"
    assert tr.time_range(start, end) == f"8:00 – 10:00{NBSP}AM"
    tr.set_language("fr")
    assert tr.date_time(start) == "lun. 23 nov. 2026 à 08:00"
    assert tr.arrival_window(start, end) == "Arrivée entre 08:00 et 10:00"
    assert tr.time_range(start, end) == "08:00 – 10:00"
    assert tr.arrival_window(start, None) is None
    tr.set_timezone("America/New_York")
    assert tr.time(start) == "02:00"
    tr.set_timezone("Not/AZone")
    assert tr.timezone == "Europe/Paris"


def test_amounts_for_quotes() -> None:
    assert Translator("en").money(1234.5) == "€1,234.50"
    assert Translator("fr").money(1234.5) == f"1{NBSP}234,50{NBSP}€"


def test_short_moment_is_time_only_today() -> None:
    tr = Translator("en", "Europe/Paris")
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    assert tr.moment_short(datetime(2026, 11, 23, 9, 42, tzinfo=UTC), now) == f"10:42{NBSP}AM"
    assert tr.moment_short(datetime(2026, 11, 20, 9, 42, tzinfo=UTC), now) == (
        f"Fri, Nov 20, 2026 10:42{NBSP}AM"
    )


def test_labels_for_statuses_and_steps() -> None:
    tr = Translator("fr")
    assert tr.status("in_progress") == "En cours"
    assert tr.status("weird") == "Inconnu"
    for code in STEP_CODES:
        assert tr.step(code) != tr.step("nope"), code


def test_parsing_and_normalising() -> None:
    assert parse_utc("2026-11-23T09:00:00Z") == datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert parse_utc(None) is None and parse_utc("garbage") is None
    assert normalize_language("FR_ca") == "fr" and normalize_language("de") == "en"


# Europe/Paris changes clocks on the last Sunday of March (02:00 -> 03:00) and of
# October (03:00 -> 02:00). A window must be shown with the offset of its own
# moment, not the day's midnight offset or the device's.
@pytest.mark.parametrize(
    ("start", "end", "english", "french"),
    [
        # 29 March 2026, after the jump (UTC+2): 06:00Z is 08:00 local, not 07:00.
        (
            "2026-03-29T06:00:00Z",
            "2026-03-29T08:00:00Z",
            f"Arrival between 8:00{NBSP}AM and 10:00{NBSP}AM",
            "Arrivée entre 08:00 et 10:00",
        ),
        # A window across the jump: one real hour, two hours on the wall clock.
        (
            "2026-03-29T00:30:00Z",
            "2026-03-29T01:30:00Z",
            f"Arrival between 1:30{NBSP}AM and 3:30{NBSP}AM",
            "Arrivée entre 01:30 et 03:30",
        ),
        # 25 October 2026, after the fall back (UTC+1): 07:00Z is 08:00, not 09:00.
        (
            "2026-10-25T07:00:00Z",
            "2026-10-25T09:00:00Z",
            f"Arrival between 8:00{NBSP}AM and 10:00{NBSP}AM",
            "Arrivée entre 08:00 et 10:00",
        ),
        # Across the fall back: two real hours, one on the wall clock.
        (
            "2026-10-25T00:00:00Z",
            "2026-10-25T02:00:00Z",
            f"Arrival between 2:00{NBSP}AM and 3:00{NBSP}AM",
            "Arrivée entre 02:00 et 03:00",
        ),
    ],
)
def test_arrival_window_on_the_days_clocks_change(
    start: str, end: str, english: str, french: str
) -> None:
    first, last = parse_utc(start), parse_utc(end)
    tr = Translator("en", "Europe/Paris")
    assert tr.arrival_window(first, last) == english
    tr.set_language("fr")
    assert tr.arrival_window(first, last) == french
    assert tr.date(first) == ("dim. 29 mars 2026" if "-03-" in start else "dim. 25 oct. 2026")

"""Title templates: validation at configuration time, rendering never fails."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from app.i18n import Translator, parse_utc
from backend.demo import ACTIVITY_TYPES
from backend.localization import (
    format_date,
    format_datetime,
    format_money,
    format_time,
    format_time_range,
    language,
)
from backend.models import Activity, BusinessUnit, Client
from backend.services.projection import activity_doc, render_title
from backend.templates import TemplateError, render_template, validate_template, variables_in
from tests import factories


def test_render_substitutes_known_variables() -> None:
    values = {"type.name": "Entretien", "site.city": "Villeurbanne"}
    assert render_template("{type.name} – {site.city}", values) == "Entretien – Villeurbanne"


def test_missing_value_leaves_no_dangling_separator() -> None:
    assert render_template("{type.name} – {site.city}", {"type.name": "Repair"}) == "Repair"


def test_escaped_braces() -> None:
    assert render_template("{{promo}} {type.name}", {"type.name": "X"}) == "{promo} X"


@pytest.mark.parametrize("template", ["{type.nam}", "{foo}", "{ client.email }"])
def test_unknown_variables_are_configuration_errors(template: str) -> None:
    with pytest.raises(TemplateError, match="unknown variable"):
        validate_template(template)


@pytest.mark.parametrize("template", ["{type.name", "type.name}", "{a{b}}"])
def test_unbalanced_braces_are_errors(template: str) -> None:
    with pytest.raises(TemplateError):
        variables_in(template)


def test_dates_in_locale_and_time_zone() -> None:
    moment = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)  # 14:30 in Paris
    assert format_date(moment, "fr", "Europe/Paris") == "lun. 23 nov. 2026"
    assert format_date(moment, "en", "Europe/Paris") == "Mon, Nov 23, 2026"
    assert format_time(moment, "fr", "Europe/Paris") == "14:30"
    assert format_time(moment, "en", "Europe/Paris") == "2:30\u00a0PM"
    assert format_time(moment, "en", "America/New_York") == "8:30\u00a0AM"


def test_babel_formats_any_cldr_locale_and_falls_back_quietly() -> None:
    moment = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
    assert format_date(moment, "de_DE", "Europe/Berlin") == "Mo., 23. Nov. 2026"
    assert format_date(moment, "fr-CA", "America/Montreal") == "lun. 23 nov. 2026"
    assert format_time(moment, "fr-CA", "America/Montreal") == "08 h 30"
    # Unknown locale -> English; unknown zone -> Paris: never an error in a title.
    assert format_time(moment, "xx_YY", "Nowhere/City") == "2:30\u00a0PM"
    assert language("fr_BE") == "fr" and language("de") == "en"


def test_time_ranges_and_amounts() -> None:
    start = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    end = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert format_time_range(start, end, "en", "Europe/Paris") == "8:00 – 10:00\u00a0AM"
    assert format_time_range(start, end, "fr", "Europe/Paris") == "08:00 – 10:00"
    overnight = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert format_time_range(start, overnight, "fr", "Europe/Paris") == (
        "lun. 23 nov. 2026, 08:00 – mar. 24 nov. 2026, 08:00"
    )
    assert format_datetime(start, "fr", "Europe/Paris") == "lun. 23 nov. 2026, 08:00"
    assert format_money(Decimal("99.9"), "EUR", "en") == "€99.90"
    assert format_money(Decimal("99.9"), "EUR", "fr_FR") == "99,90\u00a0€"


# --- a missing value takes its words with it (screen defect 4) ---------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # The demo's old template for unscheduled visits ended in "– à".
        ("{type.name} – {activity.date} à {activity.time}", "Entretien"),
        ("{type.name} {activity.date} – {site.label}", "Entretien – Maison"),
        ("{type.name} – {activity.date} – {site.city}", "Entretien – Lyon"),
        ("{activity.date} – {site.city}", "Lyon"),
        ("{type.name} ({site.postal_code} {site.city})", "Entretien (Lyon)"),
        ("{type.name} ({site.street})", "Entretien"),
        ("{type.name} [{site.street}, {site.city}]", "Entretien [Lyon]"),
        ("[URGENT] {type.name}", "[URGENT] Entretien"),
        ("{type.name} (pièces fournies)", "Entretien (pièces fournies)"),
        ("({type.name}", "(Entretien"),
        ("Visite du {activity.date}", ""),  # nothing left: the caller shows the type name
    ],
)
def test_an_empty_variable_drops_its_words(template: str, expected: str) -> None:
    values = {"type.name": "Entretien", "site.city": "Lyon", "site.label": "Maison"}
    assert render_template(template, values) == expected


def test_every_value_present_renders_the_template_as_written() -> None:
    values = {
        "type.name": "Entretien",
        "activity.date": "lun. 23 nov. 2026",
        "activity.time": "14:30",
        "site.postal_code": "69002",
        "site.city": "Lyon",
    }
    assert render_template("{type.name} – {activity.date} à {activity.time}", values) == (
        "Entretien – lun. 23 nov. 2026 à 14:30"
    )
    assert render_template("{type.name} ({site.postal_code} {site.city})", values) == (
        "Entretien (69002 Lyon)"
    )


# --- the demo's default templates (screen defects 5 and 6) -------------------------


def _literal_words(template: str) -> str:
    return re.sub(r"\{[^{}]*\}", "", template)


def test_demo_templates_hold_no_date_and_no_words_of_one_language() -> None:
    for spec in ACTIVITY_TYPES:
        template = spec["title_template"]
        validate_template(template)
        used = set(variables_in(template))
        # The card prints the date on its own line: a title must not repeat it.
        assert not used & {"activity.date", "activity.time", "activity.datetime"}, template
        # Only punctuation around the variables: the title reads right in en and fr.
        assert re.fullmatch(r"[\s–\-(),]*", _literal_words(template)), template


# --- titles in the client's language, from the database ----------------------------


def _world(db: Session, template: str, language: str) -> tuple[Activity, Client, BusinessUnit]:
    bu = factories.business_unit(db)
    client = factories.client(db, bu, preferred_language=language)
    kind = factories.activity_type(db, bu, title_template=template)
    start = datetime(2026, 12, 4, 9, 15, tzinfo=UTC)  # Fri 4 Dec, 10:15 in Paris
    activity = factories.activity(db, client, kind, start)
    return activity, client, bu


def test_english_titles_have_english_dates_and_no_french_connector(db: Session) -> None:
    # Staff wrote a French connector: their words stay, dates follow the client.
    activity, client, bu = _world(db, "{type.name} – {activity.date} à {activity.time}", "en")
    assert render_title(activity, client, bu) == "Boiler service – Fri, Dec 4, 2026 à 10:15\u00a0AM"
    # The connector-free variable reads right in both languages.
    activity.type.title_template = "{type.name} – {activity.datetime}"
    assert render_title(activity, client, bu) == "Boiler service – Fri, Dec 4, 2026, 10:15\u00a0AM"
    client.preferred_language = "fr"
    assert render_title(activity, client, bu) == "Boiler service – ven. 4 déc. 2026, 10:15"


def test_unscheduled_title_and_what_tells_cards_apart(db: Session) -> None:
    activity, client, bu = _world(db, "{type.name} – {activity.date} à {activity.time}", "fr")
    activity.status, activity.scheduled_start, activity.scheduled_end = "to_schedule", None, None
    activity.window_start = activity.window_end = None
    activity.created_at = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # when the client asked
    db.flush()
    doc = activity_doc(activity, client, bu)
    assert doc["title"] == "Boiler service"
    assert doc["reference"] == str(activity.id)
    assert doc["requested_at"] == "2026-11-30T08:00:00Z"
    assert doc["site"]["label"] == "Home" and doc["site"]["city"] == "Lyon"
    activity.type.title_template = "{type.name} ({activity.reference}, {activity.requested_date})"
    assert (
        render_title(activity, client, bu) == f"Boiler service ({activity.id}, lun. 30 nov. 2026)"
    )


def test_a_template_saved_broken_still_gives_a_title(db: Session) -> None:
    activity, client, bu = _world(db, "{type.name", "en")
    assert render_title(activity, client, bu) == "Boiler service"


@pytest.mark.parametrize(
    ("window_start", "english", "french"),
    [
        # Last Sunday of March 2026: Paris is UTC+2 from 02:00 (06:00Z = 08:00).
        (datetime(2026, 3, 29, 6, 0, tzinfo=UTC), "8:00 – 10:00\u00a0AM", "08:00 – 10:00"),
        # Last Sunday of October 2026: Paris is UTC+1 from 03:00 (07:00Z = 08:00).
        (datetime(2026, 10, 25, 7, 0, tzinfo=UTC), "8:00 – 10:00\u00a0AM", "08:00 – 10:00"),
    ],
)
def test_a_window_booked_on_the_day_clocks_change(
    db: Session, window_start: datetime, english: str, french: str
) -> None:
    activity, client, bu = _world(db, "{type.name} – {activity.datetime}", "fr")
    activity.scheduled_start = activity.window_start = window_start
    activity.window_end = window_start + timedelta(hours=2)
    db.flush()
    doc = activity_doc(activity, client, bu)
    # The document carries UTC; the app shows it in the unit's zone, as the title does.
    start, end = parse_utc(doc["window_start"]), parse_utc(doc["window_end"])
    assert start is not None and end is not None
    assert doc["title"].endswith(", 08:00")
    assert format_time_range(start, end, "fr", bu.timezone) == french
    assert format_time_range(start, end, "en", bu.timezone) == english
    assert Translator("fr", bu.timezone).arrival_window(start, end) == (
        "Arrivée entre 08:00 et 10:00"
    )

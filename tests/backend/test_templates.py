"""Title templates: validation at configuration time, rendering never fails."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from backend.localization import (
    format_date,
    format_datetime,
    format_money,
    format_time,
    format_time_range,
    language,
)
from backend.templates import TemplateError, render_template, validate_template, variables_in


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

"""Title templates: validation at configuration time, rendering never fails."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.localization import format_date, format_time
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
    assert format_date(moment, "en", "Europe/Paris") == "Mon 23 Nov 2026"
    assert format_time(moment, "fr", "Europe/Paris") == "14:30"
    assert format_time(moment, "en", "Europe/Paris") == "2:30 PM"
    assert format_time(moment, "en", "America/New_York") == "8:30 AM"

"""Email and SMS texts kept in template files, one set per language.

Files: ``backend/message_templates/{en,fr}/<name>.<part>.j2`` where ``part``
is ``subject``, ``txt`` (the email's plain text), ``html`` (the email's HTML
part) or ``sms``. A message needs only the parts it uses. HTML templates
may ``{% extends "base.html.j2" %}`` (the branded frame, ``{% block content
%}``). Jinja2 with ``StrictUndefined`` (a variable missing from the context
is an error, never a silent blank), HTML parts autoescaped, ``trim_blocks``
and ``lstrip_blocks`` (a ``{% if %}`` line leaves no blank line).

API (what other modules call)::

    from backend.message_templates import render_message, render_part

    texts = render_message(
        "login_code",            # template name
        "fr",                    # the client's language (fr_FR, en… → fr / en)
        {"business_unit": "Chauffage Lyon", "code": "123456", "lifetime": "10 minutes"},
        tz="Europe/Paris",       # the business unit's time zone (for dates)
    )
    texts.subject, texts.text, texts.html, texts.sms   # "" for a missing part
    render_part("login_link", "sms", "en", {...})      # one part; KeyError if absent

Besides the caller's context every template sees ``language`` (``en`` /
``fr``), ``locale`` and ``tz``, plus ``subject`` in the HTML part (the
rendered subject). The frame shows ``business_unit`` and ``brand_color``
when given (``#1565C0`` otherwise). Filters, formatted with Babel in the client's
locale and the business unit's zone (``backend.localization``):

- ``{{ when|date }}`` → ``Mon, Nov 23, 2026`` / ``lun. 23 nov. 2026``
- ``{{ when|time }}`` → ``2:30 PM`` / ``14:30``
- ``{{ when|datetime }}`` → date and time joined as the locale joins them
- ``{{ (start, end)|time_range }}`` → ``8:00 – 10:00 AM`` / ``08:00 – 10:00``
- ``{{ amount|money("EUR") }}`` → ``€1,234.50`` / ``1 234,50 €``
- ``{{ n|number }}`` → ``1,234.5`` / ``1 234,5``

A language without its own file falls back to the English one. Rendering
the same name, language and context always gives the same texts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from babel import numbers as babel_numbers
from jinja2 import pass_context

from backend.localization import (
    babel_locale,
    format_date,
    format_datetime,
    format_money,
    format_time,
    format_time_range,
    language,
)

TEMPLATE_DIR = Path(__file__).resolve().parent
PARTS = ("subject", "txt", "html", "sms")


@dataclass(frozen=True)
class RenderedMessage:
    """The texts of one message; a part the template set lacks is ""."""

    subject: str
    text: str
    html: str
    sms: str


@pass_context
def _date(ctx: Any, moment: datetime) -> str:
    return format_date(moment, ctx["locale"], ctx["tz"])


@pass_context
def _time(ctx: Any, moment: datetime) -> str:
    return format_time(moment, ctx["locale"], ctx["tz"])


@pass_context
def _datetime(ctx: Any, moment: datetime) -> str:
    return format_datetime(moment, ctx["locale"], ctx["tz"])


@pass_context
def _time_range(ctx: Any, window: tuple[datetime, datetime]) -> str:
    start, end = window
    return format_time_range(start, end, ctx["locale"], ctx["tz"])


@pass_context
def _money(ctx: Any, amount: Decimal | float | int, currency: str = "EUR") -> str:
    return format_money(amount, currency, ctx["locale"])


@pass_context
def _number(ctx: Any, value: Decimal | float | int) -> str:
    text = babel_numbers.format_decimal(value, locale=babel_locale(ctx["locale"]))
    return text.replace("\u202f", "\u00a0")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared Jinja2 environment of the template files (HTML autoescaped, strict)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        date=_date,
        time=_time,
        datetime=_datetime,
        time_range=_time_range,
        money=_money,
        number=_number,
    )
    return env


def _path(name: str, part: str, lang: str) -> str | None:
    """The template file for this part in ``lang``, else in English, else None."""
    for candidate in (lang, "en"):
        relative = f"{candidate}/{name}.{part}.j2"
        if (TEMPLATE_DIR / relative).is_file():
            return relative
    return None


def has_part(name: str, part: str, lang: str = "en") -> bool:
    """Whether template ``name`` has ``part`` (in ``lang`` or English)."""
    return _path(name, part, language(lang)) is not None


def _context(
    lang: str, locale: str | None, tz: str | None, context: Mapping[str, Any]
) -> dict[str, Any]:
    values: dict[str, Any] = dict(context)
    values.update(language=lang, locale=locale or lang, tz=tz or "UTC")
    return values


def render_part(
    name: str,
    part: str,
    lang: str | None,
    context: Mapping[str, Any],
    *,
    locale: str | None = None,
    tz: str | None = None,
) -> str:
    """One part of template ``name`` (``subject``, ``txt``, ``html`` or ``sms``).

    ``lang`` picks the files (``fr_FR`` → ``fr``); ``locale`` (default: the
    language) formats dates and amounts, in zone ``tz``. Raises KeyError
    when the part does not exist, ``jinja2.UndefinedError`` when the context
    lacks a variable the template uses.
    """
    if part not in PARTS:
        raise ValueError(f"unknown template part {part!r}")
    chosen = language(lang)
    path = _path(name, part, chosen)
    if path is None:
        raise KeyError(f"no template {name}.{part}")
    text = environment().get_template(path).render(_context(chosen, locale, tz, context))
    if part in ("subject", "sms"):
        # One line for a subject (a header never holds a line break).
        text = " ".join(text.split()) if part == "subject" else text.strip()
    return text.strip("\n") if part == "txt" else text


def render_message(
    name: str,
    lang: str | None,
    context: Mapping[str, Any],
    *,
    locale: str | None = None,
    tz: str | None = None,
) -> RenderedMessage:
    """Every part template ``name`` has, in the client's language (see module doc)."""
    parts: dict[str, str] = {}
    for part in ("subject", "txt", "sms"):
        if has_part(name, part, language(lang)):
            parts[part] = render_part(name, part, lang, context, locale=locale, tz=tz)
    html = ""
    if has_part(name, "html", language(lang)):
        html = render_part(
            name,
            "html",
            lang,
            {"subject": parts.get("subject", ""), **context},
            locale=locale,
            tz=tz,
        )
    return RenderedMessage(
        subject=parts.get("subject", ""),
        text=parts.get("txt", ""),
        html=html,
        sms=parts.get("sms", ""),
    )

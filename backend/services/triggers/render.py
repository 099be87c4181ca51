"""An automatic message's texts: template files, staff overrides, replacement codes.

Each event has files ``backend/message_templates/{en,fr}/trigger_<event>.
{subject,txt,sms}.j2``, rendered by the shared renderer
(:mod:`backend.message_templates`: Jinja2, strict, ``trim_blocks``, so the
files use inline ``{{ a if b else "" }}`` where a line break must stay);
the e-mail's HTML is the language's ``trigger_layout.html.j2`` around the
plain text's paragraphs. Staff may override the subject and the body per
language with the replacement codes of ``backend.templates``
(``{client.name}``, ``{activity.date}``…) plus ``{portal_link}``,
``{activity.window}``, ``{notice.summary}`` and ``{notice.detail}``; the
body override then stands for the e-mail text and the SMS alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend.message_templates import render_part
from backend.templates import render_template, variables_in

from .config import TriggerSpec

# Values are swapped for these markers while a code template is rendered,
# then put back: the title renderer trims connector characters (" -/:,")
# from the ends of its result and collapses spaces, which must never cut
# the end of a link's token or a company's name.
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"


@dataclass(frozen=True)
class Texts:
    """What one message says: subject, plain text, HTML (e-mail) and SMS text."""

    subject: str
    text: str
    html: str
    sms: str


def render_codes(template: str, values: Mapping[str, str]) -> str:
    """A staff template with replacement codes, line by line (line breaks kept).

    A code without a value takes its connector words with it (as in titles);
    a line whose codes are all empty disappears.
    """
    names = {name: f"{_MARK_OPEN}{i}{_MARK_CLOSE}" for i, name in enumerate(sorted(values))}
    marked = {name: names[name] for name, value in values.items() if value}
    lines: list[str] = []
    for line in template.splitlines():
        if not variables_in(line):
            lines.append(line.rstrip())
            continue
        rendered = render_template(line, marked)
        if rendered:
            lines.append(rendered)
    text = "\n".join(lines).strip("\n")
    for name, mark in names.items():
        text = text.replace(mark, values.get(name, ""))
    return text


def _nested(values: Mapping[str, str]) -> dict[str, Any]:
    """``{"client.name": "A"}`` -> ``{"client": {"name": "A"}}`` for the Jinja files."""
    tree: dict[str, Any] = {}
    for name, value in values.items():
        head, _, tail = name.partition(".")
        if tail:
            tree.setdefault(head, {})[tail] = value
        else:
            tree[head] = value
    return tree


def _file(lang: str, event: str, part: str, context: Mapping[str, Any], tz: str) -> str:
    return render_part(f"trigger_{event}", part, lang, context, tz=tz).strip()


def paragraphs(text: str) -> list[list[str]]:
    """Blank-line separated paragraphs, each a list of lines (the HTML layout's input)."""
    blocks = [block.strip("\n") for block in text.split("\n\n")]
    return [block.splitlines() for block in blocks if block.strip()]


def render(
    spec: TriggerSpec,
    lang: str,
    values: Mapping[str, str],
    branding: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> Texts:
    """The texts of ``spec``'s message in ``lang`` from the code ``values``.

    ``extra`` adds flags the files test (``report_attached``…).
    """
    tz = str(branding.get("timezone") or "Europe/Paris")
    context: dict[str, Any] = {
        **_nested({**{"bu.name": str(branding.get("name") or "")}, **values}),
        "branding": dict(branding),
        **(extra or {}),
    }
    subject_override = spec.override(lang, "subject")
    body_override = spec.override(lang, "body")
    # An override whose codes all came out empty falls back to the file's words.
    subject = render_codes(subject_override, values) if subject_override else ""
    subject = " ".join((subject or _file(lang, spec.event, "subject", context, tz)).split())[:200]
    text = render_codes(body_override, values) if body_override else ""
    if text:
        sms = text
    else:
        text = _file(lang, spec.event, "txt", context, tz)
        sms = _file(lang, spec.event, "sms", context, tz)
    html = render_part(
        "trigger_layout",
        "html",
        lang,
        {
            **context,
            "subject": subject,
            "paragraphs": paragraphs(text),
            "portal_link": values.get("portal_link", ""),
        },
        tz=tz,
    )
    return Texts(subject=subject, text=text, html=html, sms=" ".join(sms.split()))

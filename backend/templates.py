"""Title templates with replacement variables, e.g. ``{type.name} – {site.city}``.

Templates are checked when staff save them (unknown variables are a
configuration error) so rendering never fails in front of a client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

VARIABLES: frozenset[str] = frozenset(
    {
        "type.name",
        "activity.id",
        "activity.date",
        "activity.time",
        "activity.status",
        "site.label",
        "site.city",
        "site.street",
        "site.postal_code",
        "client.name",
        "technician.first_name",
        "bu.name",
    }
)

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class TemplateError(ValueError):
    """A template that cannot be rendered; the message names the problem."""


def variables_in(template: str) -> list[str]:
    """The variable names used by ``template``, in order; raises on bad syntax."""
    found: list[str] = []
    for match in _TOKEN.finditer(template):
        text = match.group(0)
        if text in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise TemplateError(f"unbalanced brace at position {match.start()} (use {{{{ or }}}})")
        found.append(match.group(1).strip())
    return found


def validate_template(template: str) -> None:
    """Raise :class:`TemplateError` naming every unknown variable."""
    unknown = [name for name in variables_in(template) if name not in VARIABLES]
    if unknown:
        known = ", ".join(sorted(VARIABLES))
        raise TemplateError(f"unknown variable(s) {', '.join(unknown)}; known: {known}")


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Substitute variables; a missing value renders as empty text, never an error."""

    def substitute(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "{{":
            return "{"
        if text == "}}":
            return "}"
        name = (match.group(1) or "").strip()
        return values.get(name, "")

    rendered = _TOKEN.sub(substitute, template)
    # Collapse separators left dangling by empty values ("Repair – " -> "Repair").
    rendered = re.sub(r"\s+", " ", rendered).strip(" -–—,·|")
    return rendered.strip()

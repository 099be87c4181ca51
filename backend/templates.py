"""Title templates with replacement variables, e.g. ``{type.name} – {site.city}``.

Pure (no web, database or screen; DESIGN.md §2): the server renders titles
with it and staff get the same validation when they save a template.

Templates are checked when staff save them (unknown variables are a
configuration error) so rendering never fails in front of a client.

A variable with no value takes its words with it. The literal text just
before a variable belongs to it (the connector: "– ", " à ", " on "), as does
the text after the last variable, and a bracketed group (``( … )``,
``[ … ]``) vanishes when every variable inside it is empty. So
``{type.name} – {activity.date} à {activity.time}`` renders as
``Entretien`` for a visit without a date, never ``Entretien – à``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

VARIABLES: frozenset[str] = frozenset(
    {
        "type.name",
        "activity.id",
        "activity.reference",
        "activity.date",
        "activity.time",
        # Date and time joined as the client's language joins them: no
        # connector word ("à", "at") needed in the template.
        "activity.datetime",
        "activity.requested_date",
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
# Template syntax (escapes, variables, stray braces), brackets, or plain text.
_PIECE = re.compile(r"\{\{|\}\}|\{[^{}]*\}|[{}]|[()\[\]]|[^{}()\[\]]+")
_BRACKETS = {"(": ")", "[": "]"}
# Left at either end once empty values are gone: "Repair – " -> "Repair".
_DANGLING = " -–—,;:·|/"


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


@dataclass
class _Variable:
    name: str


@dataclass
class _Group:
    opening: str
    items: list[_Item] = field(default_factory=list)
    closing: str = ""


_Item = str | _Variable | _Group


def _parse(template: str) -> list[_Item]:
    """Literal text, variables and bracketed groups; unmatched brackets stay text."""
    root = _Group("")
    stack = [root]
    for piece in _PIECE.findall(template):
        top = stack[-1]
        if piece == "{{":
            top.items.append("{")
        elif piece == "}}":
            top.items.append("}")
        elif piece.startswith("{") and piece.endswith("}") and len(piece) > 1:
            top.items.append(_Variable(piece[1:-1].strip()))
        elif piece in _BRACKETS:
            group = _Group(piece)
            top.items.append(group)
            stack.append(group)
        elif piece in _BRACKETS.values() and len(stack) > 1 and _BRACKETS[top.opening] == piece:
            top.closing = piece
            stack.pop()
        else:
            top.items.append(piece)  # text, a stray brace or an unmatched closing bracket
    # An unclosed group is plain text: its bracket and its items join the parent.
    while len(stack) > 1:
        group = stack.pop()
        parent = stack[-1].items
        parent.remove(group)
        parent.extend([group.opening, *group.items])
    return root.items


def _has_variable(item: _Item) -> bool:
    if isinstance(item, _Variable):
        return True
    return isinstance(item, _Group) and any(_has_variable(i) for i in item.items)


def _render_items(items: list[_Item], values: Mapping[str, str]) -> str:
    slots = [i for i, item in enumerate(items) if _has_variable(item)]
    if not slots:
        return "".join(_render_item(item, values) for item in items)
    out: list[str] = []
    start = 0
    for n, index in enumerate(slots):
        # The text before a slot is its connector; after the last slot, its tail.
        end = len(items) if n == len(slots) - 1 else index + 1
        value = _render_item(items[index], values)
        if value.strip():
            out.extend(_render_item(item, values) for item in items[start:index])
            out.append(value)
            out.extend(_render_item(item, values) for item in items[index + 1 : end])
        start = index + 1
    return "".join(out)


def _render_item(item: _Item, values: Mapping[str, str]) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, _Variable):
        return values.get(item.name, "") or ""
    inner = _render_items(item.items, values)
    if not _has_variable(item):
        return f"{item.opening}{inner}{item.closing}"
    # A dropped first value leaves its neighbour's connector at the edge: "( Lyon)".
    inner = inner.strip(_DANGLING)
    return f"{item.opening}{inner}{item.closing}" if inner else ""


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Substitute variables; an empty or missing value drops its words, never an error."""
    rendered = _render_items(_parse(template), values)
    # Collapse runs of spaces, but keep no-break spaces ("10:15\u00a0AM").
    return re.sub(r"[^\S\u00a0]+", " ", rendered).strip(_DANGLING)

"""Activity types: shown in the portal, title template, portal actions (view-model).

The editor holds a draft of one type's portal configuration in the exact
shape of ``PUT /staff/activity-types/{id}/portal`` and checks it with the
shared pure rules (``backend.domain.ActivityTypePortal``: the same
validation the server runs), so a mistake is named before anything is
sent. The title template is checked as it is typed: locally at once, then
by the server's title preview (debounced), which renders it on a real
activity in French and English.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from app.i18n import Translator
from app.staff.state import Action, ConsoleState
from backend.domain import ACTIVITY_STATUSES, ActivityTypePortal
from backend.templates import TemplateError, validate_template

ACTION_KINDS: tuple[str, ...] = (
    "book",
    "reschedule",
    "cancel",
    "fill_form",
    "validate_document",
    "survey",
    "request",
)
# Kinds that open a form: the action needs one.
FORM_KINDS = frozenset({"fill_form", "validate_document", "survey"})
TIMINGS: tuple[str, ...] = ("any", "before_visit", "after_visit")
STATUSES: tuple[str, ...] = ACTIVITY_STATUSES
PREVIEW_DELAY = 0.3


@dataclass
class TitlePreview:
    """The template checked: errors, or the title in French and English."""

    errors: list[str] = field(default_factory=list)
    fr: str = ""
    en: str = ""
    activity_id: int | None = None


def _key_for(kind: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", kind)[:36] or "action"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


class ActivityTypesModel:
    """The list of activity types and the open type's editor."""

    def __init__(self, state: ConsoleState, delay: float = PREVIEW_DELAY) -> None:
        """Nothing loaded; ``delay`` is the title preview's debounce wait."""
        self.state = state
        self.action = Action(state)
        self.delay = delay
        self.types: list[dict[str, Any]] = []
        self.forms: list[dict[str, Any]] = []
        self.type_id: int | None = None
        self.draft: dict[str, Any] = {}
        self.preview = TitlePreview()
        self.errors: list[str] = []
        self._generation = 0

    @property
    def editable(self) -> bool:
        """Planners and admins configure activity types."""
        return self.state.can("planner")

    async def load(self) -> bool:
        """The types of the current business unit, and its forms (for form actions)."""
        bu_id = self.state.bu_id
        if bu_id is None:
            return False
        types = await self.action.run(lambda: self.state.api.activity_types(bu_id))
        if types is None:
            return False
        self.types = types
        forms = await self.action.run(lambda: self.state.api.forms(bu_id))
        self.forms = forms or []
        self.action.error = None  # no forms list: form actions just offer none
        return True

    def open(self, type_id: int) -> bool:
        """Start editing one type (a copy of what the server holds)."""
        for item in self.types:
            if int(item["id"]) == type_id:
                self.type_id = type_id
                self.draft = {
                    "portal_shown": bool(item.get("portal_shown", True)),
                    "title_template": str(item.get("title_template") or "{type.name}"),
                    "portal_actions": [_action_copy(a) for a in item.get("portal_actions") or []],
                }
                self.preview = TitlePreview()
                self.errors = []
                return True
        return False

    def close(self) -> None:
        """Back to the list."""
        self.type_id = None
        self.draft = {}

    @property
    def current(self) -> dict[str, Any] | None:
        """The open type as listed."""
        return next((t for t in self.types if int(t["id"]) == self.type_id), None)

    # -- title template -------------------------------------------------------------

    def local_template_errors(self, template: str) -> list[str]:
        """Problems the shared rules find in ``template`` (no server needed)."""
        if not template.strip():
            return [self.state.tr.t("console.types.template_empty")]
        try:
            validate_template(template)
        except TemplateError as exc:
            return [str(exc)]
        return []

    async def set_template(self, template: str) -> TitlePreview:
        """Type a template: checked at once, then previewed by the server."""
        self.draft["title_template"] = template
        errors = self.local_template_errors(template)
        if errors:
            self._generation += 1  # an older preview must not overwrite this
            self.preview = TitlePreview(errors=errors)
            return self.preview
        return await self.fetch_preview(template)

    async def set_template_soon(self, template: str) -> TitlePreview | None:
        """Debounced ``set_template``: None when a newer keystroke came."""
        self.draft["title_template"] = template
        self._generation += 1
        generation = self._generation
        await asyncio.sleep(self.delay)
        if generation != self._generation:
            return None
        return await self.set_template(template)

    async def fetch_preview(self, template: str) -> TitlePreview:
        """The server's check and rendering on a real activity (fr and en)."""
        type_id = self.type_id
        if type_id is None:
            return self.preview
        self._generation += 1
        generation = self._generation
        data = await self.action.run(lambda: self.state.api.title_preview(type_id, template))
        if generation != self._generation:
            return self.preview
        if data is None:
            self.preview = TitlePreview(errors=[self.action.error] if self.action.error else [])
            return self.preview
        errors = [str(e.get("message") or e) for e in data.get("errors") or []]
        self.preview = TitlePreview(
            errors=errors,
            fr=str(data.get("fr") or ""),
            en=str(data.get("en") or ""),
            activity_id=data.get("activity_id"),
        )
        return self.preview

    # -- portal actions --------------------------------------------------------------

    @property
    def actions(self) -> list[dict[str, Any]]:
        """The draft's portal actions, in order."""
        return self.draft.setdefault("portal_actions", [])

    def add_action(self, kind: str) -> dict[str, Any]:
        """A new action of ``kind`` with a unique key and a default label."""
        if kind not in ACTION_KINDS:
            raise ValueError(kind)
        taken = {a["key"] for a in self.actions}
        action: dict[str, Any] = {
            "key": _key_for(kind, taken),
            "kind": kind,
            "label": self.state.tr.t(f"console.kind.{kind}"),
            "form_id": None,
            "notify_planning": False,
            "conditions": {"statuses": [], "timing": "any", "min_hours_before": 0},
        }
        if kind in FORM_KINDS and self.forms:
            action["form_id"] = int(self.forms[0]["id"])
        self.actions.append(action)
        return action

    def update_action(self, index: int, **values: Any) -> None:
        """Change an action's ``label``, ``kind``, ``form_id`` or ``notify_planning``."""
        action = self.actions[index]
        for name, value in values.items():
            if name not in ("label", "kind", "form_id", "notify_planning", "key"):
                raise KeyError(name)
            action[name] = value

    def set_condition(self, index: int, **values: Any) -> None:
        """Change an action's availability: ``statuses``, ``timing``, ``min_hours_before``."""
        conditions = self.actions[index].setdefault("conditions", {})
        for name, value in values.items():
            if name not in ("statuses", "timing", "min_hours_before"):
                raise KeyError(name)
            conditions[name] = value

    def toggle_status(self, index: int, status: str, on: bool) -> None:
        """Add or remove one status from an action's conditions."""
        conditions = self.actions[index].setdefault("conditions", {})
        statuses = [s for s in conditions.get("statuses") or [] if s != status]
        if on:
            statuses.append(status)
        conditions["statuses"] = [s for s in STATUSES if s in statuses]

    def remove_action(self, index: int) -> None:
        """Remove an action."""
        del self.actions[index]

    def move_action(self, index: int, delta: int) -> None:
        """Move an action up (-1) or down (+1)."""
        target = index + delta
        if 0 <= target < len(self.actions):
            items = self.actions
            items[index], items[target] = items[target], items[index]

    # -- save ---------------------------------------------------------------------------

    def body(self) -> dict[str, Any]:
        """The PUT body of the draft."""
        actions = []
        for a in self.actions:
            item = dict(a)
            if item.get("kind") not in FORM_KINDS:
                item["form_id"] = None
            item["conditions"] = dict(item.get("conditions") or {})
            hours = item["conditions"].get("min_hours_before", 0)
            item["conditions"]["min_hours_before"] = float(hours or 0)
            actions.append(item)
        return {
            "portal_shown": bool(self.draft.get("portal_shown", True)),
            "title_template": str(self.draft.get("title_template") or ""),
            "portal_actions": actions,
        }

    def validate(self) -> list[str]:
        """Every problem the shared rules find in the draft, as sentences."""
        try:
            ActivityTypePortal.model_validate(self.body())
        except ValidationError as exc:
            return [_sentence(e, self.state.tr) for e in exc.errors(include_url=False)]
        return []

    async def save(self) -> bool:
        """Check then send the draft; the list shows what the server kept."""
        self.errors = self.validate()
        type_id = self.type_id
        if self.errors or type_id is None:
            return False
        body = self.body()
        data = await self.action.run(lambda: self.state.api.put_activity_type_portal(type_id, body))
        if data is None:
            self.errors = [self.action.error] if self.action.error else []
            return False
        for item in self.types:
            if int(item["id"]) == type_id:
                item.update({k: data.get(k, body[k]) for k in body})
        return True


def _action_copy(action: dict[str, Any]) -> dict[str, Any]:
    copy = dict(action)
    conditions = dict(copy.get("conditions") or {})
    conditions.setdefault("statuses", [])
    conditions.setdefault("timing", "any")
    conditions.setdefault("min_hours_before", 0)
    conditions["statuses"] = list(conditions["statuses"])
    copy["conditions"] = conditions
    copy.setdefault("form_id", None)
    copy.setdefault("notify_planning", False)
    return copy


def _sentence(error: Any, tr: Translator) -> str:
    """``Action 2, label: …`` for an action's problem, ``title_template: …`` otherwise."""
    loc = list(error.get("loc", ()))
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if len(loc) >= 2 and loc[0] == "portal_actions" and isinstance(loc[1], int):
        rest = ".".join(str(p) for p in loc[2:] if not isinstance(p, int))
        where = tr.t("console.types.action_n", n=loc[1] + 1) + (f", {rest}" if rest else "")
    else:
        where = ".".join(str(p) for p in loc)
    return f"{where}: {message}" if where else message

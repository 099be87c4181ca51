"""Forms: the form builder (view-model).

A form is an ordered list of fields in the shape ``backend.domain.FormSpec``
checks (the server runs the same check when it saves). The builder adds,
edits, moves and removes fields, gives each new field a unique key, and
validates the whole form before saving; the live preview renders the draft
with the client app's own field renderers (``app.forms.fields.parse_fields``
reads it exactly as the app reads a synced form).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from app.forms.fields import FieldSpec, parse_fields
from app.staff.state import Action, ConsoleState
from backend.domain import FormSpec

# The 11 field types, in the order the "add a field" menu offers them.
FIELD_TYPES: tuple[str, ...] = (
    "text",
    "textarea",
    "number",
    "date",
    "time",
    "yes_no",
    "choice",
    "rating",
    "photo",
    "signature",
    "display_text",
)
# Options each type takes (besides key, type, label, help, required).
RANGE_TYPES = frozenset({"number", "rating"})


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = "field_" + slug
    return slug[:36].rstrip("_") or "field"


class FormBuilderModel:
    """The list of forms and the open form's draft."""

    def __init__(self, state: ConsoleState) -> None:
        """Nothing loaded."""
        self.state = state
        self.action = Action(state)
        self.forms: list[dict[str, Any]] = []
        self.form_id: int | None = None
        self.name = ""
        self.fields: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.notice: str | None = None
        self.is_open = False

    @property
    def editable(self) -> bool:
        """Planners and admins build forms."""
        return self.state.can("planner")

    async def load(self) -> bool:
        """The current business unit's forms."""
        bu_id = self.state.bu_id
        if bu_id is None:
            return False
        forms = await self.action.run(lambda: self.state.api.forms(bu_id))
        if forms is None:
            return False
        self.forms = forms
        return True

    async def open(self, form_id: int) -> bool:
        """Edit an existing form."""
        data = await self.action.run(lambda: self.state.api.form(form_id))
        if data is None:
            return False
        self.form_id = int(data.get("id") or form_id)
        self.name = str(data.get("name") or "")
        self.fields = [dict(f) for f in data.get("fields") or []]
        self.errors, self.notice, self.is_open = [], None, True
        return True

    def new(self) -> None:
        """Start a new, empty form."""
        self.form_id = None
        self.name = self.state.tr.t("console.forms.new_name")
        self.fields = []
        self.errors, self.notice, self.is_open = [], None, True

    def close(self) -> None:
        """Back to the list."""
        self.is_open = False

    # -- fields -------------------------------------------------------------------------

    def add(self, kind: str, label: str | None = None) -> dict[str, Any]:
        """Append a field of ``kind`` with a unique key and sensible options."""
        if kind not in FIELD_TYPES:
            raise ValueError(kind)
        label = label or self.state.tr.t(f"console.field.{kind}")
        taken = {f.get("key") for f in self.fields}
        base = _slug(label)
        key, n = base, 2
        while key in taken:
            key, n = f"{base}_{n}", n + 1
        field: dict[str, Any] = {"key": key, "type": kind, "label": label, "required": False}
        if kind == "choice":
            field["choices"] = [
                self.state.tr.t("console.forms.choice", n=1),
                self.state.tr.t("console.forms.choice", n=2),
            ]
            field["multiple"] = False
        if kind == "rating":
            field["min"], field["max"] = 1, 5
        self.fields.append(field)
        return field

    def update(self, index: int, **values: Any) -> None:
        """Change a field's label, help, required, choices, multiple, min, max or key.

        ``None`` for ``min``/``max``/``help`` removes the option.
        """
        field = self.fields[index]
        allowed = {"label", "help", "required", "choices", "multiple", "min", "max", "key"}
        for name, value in values.items():
            if name not in allowed:
                raise KeyError(name)
            if value is None or (name == "help" and value == ""):
                field.pop(name, None)
            else:
                field[name] = value

    def set_choices_text(self, index: int, text: str) -> None:
        """Choices typed one per line."""
        choices = [line.strip() for line in text.splitlines() if line.strip()]
        self.update(index, choices=choices)

    def move(self, index: int, delta: int) -> None:
        """Move a field up (-1) or down (+1)."""
        target = index + delta
        if 0 <= target < len(self.fields):
            self.fields[index], self.fields[target] = self.fields[target], self.fields[index]

    def remove(self, index: int) -> None:
        """Remove a field."""
        del self.fields[index]

    # -- check, preview, save -------------------------------------------------------------

    def validate(self) -> list[str]:
        """Every problem the shared rules find, as sentences (numbered fields)."""
        problems: list[str] = []
        if not self.name.strip():
            problems.append(self.state.tr.t("console.forms.name_needed"))
        if not self.fields:
            problems.append(self.state.tr.t("console.forms.no_fields"))
            return problems
        try:
            FormSpec.model_validate({"fields": self.fields})
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                loc = list(e.get("loc", ()))
                message = str(e.get("msg", "")).removeprefix("Value error, ")
                if len(loc) >= 2 and loc[0] == "fields" and isinstance(loc[1], int):
                    label = self.fields[loc[1]].get("label") or loc[1] + 1
                    rest = ".".join(str(p) for p in loc[2:] if not str(p).startswith("function"))
                    where = self.state.tr.t("console.forms.field_n", n=loc[1] + 1, label=label)
                    problems.append(f"{where}{' ' + rest if rest else ''}: {message}")
                else:
                    problems.append(message)
        return problems

    def preview_specs(self) -> list[FieldSpec]:
        """The draft as the client app reads a form (for its renderers)."""
        return parse_fields({"fields": self.fields})

    async def save(self) -> bool:
        """Check then create or save the form."""
        self.errors = self.validate()
        self.notice = None
        bu_id = self.state.bu_id
        if self.errors or bu_id is None:
            return False
        name, fields = self.name.strip(), [dict(f) for f in self.fields]
        form_id = self.form_id
        if form_id is None:
            data = await self.action.run(lambda: self.state.api.create_form(bu_id, name, fields))
        else:
            data = await self.action.run(lambda: self.state.api.put_form(form_id, name, fields))
        if data is None:
            self.errors = [self.action.error] if self.action.error else []
            return False
        new_id = int(data.get("id") or form_id or 0)
        version = data.get("version")
        if form_id is not None and new_id != form_id:
            self.notice = self.state.tr.t("console.forms.new_version")
        else:
            self.notice = self.state.tr.t("console.forms.saved")
        if version:
            self.notice += " " + self.state.tr.t("console.forms.version", version=version)
        self.form_id = new_id
        await self.load()
        self.action.error = None
        return True

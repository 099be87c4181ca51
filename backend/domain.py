"""Validated configuration shapes stored in JSON columns.

Staff-provided configuration is checked here, at configuration time, so that a
bad form, action or template is refused with a 422 instead of breaking a
client's screen later.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.templates import validate_template

ActivityStatus = Literal["to_schedule", "scheduled", "in_progress", "done", "cancelled"]
ACTIVITY_STATUSES: tuple[str, ...] = (
    "to_schedule",
    "scheduled",
    "in_progress",
    "done",
    "cancelled",
)

FieldType = Literal[
    "date",
    "time",
    "text",
    "textarea",
    "yes_no",
    "choice",
    "number",
    "rating",
    "photo",
    "signature",
    "display_text",
]

# ``request`` sits on the activity type, not on an activity: it lets clients
# ask for a new intervention of this type from the portal ("New request").
ActionKind = Literal[
    "book", "reschedule", "cancel", "fill_form", "validate_document", "survey", "request"
]


class Strict(BaseModel):
    # Unknown fields refused; JSON types taken as they are (0 is not false,
    # "24" is not 24), so staff and clients get a 422 naming the field.
    model_config = ConfigDict(extra="forbid", strict=True)


class FormField(Strict):
    """One typed field of a form definition."""

    key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    type: FieldType
    label: Annotated[str, Field(min_length=1, max_length=200)]
    help: str = ""
    required: bool = False
    choices: list[str] = Field(default_factory=list)
    multiple: bool = False
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _per_type_options(self) -> FormField:
        if self.type == "choice" and len(self.choices) < 2:
            raise ValueError("a choice field needs at least two choices")
        if self.type != "choice" and self.choices:
            raise ValueError("only choice fields take choices")
        if self.type == "rating":
            self.min = 1 if self.min is None else self.min
            self.max = 5 if self.max is None else self.max
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        if self.type == "display_text" and self.required:
            raise ValueError("display_text cannot be required")
        return self


class FormSpec(Strict):
    """The ordered fields of a form; keys are unique."""

    fields: list[FormField] = Field(min_length=1, max_length=200)

    @field_validator("fields")
    @classmethod
    def _unique_keys(cls, fields: list[FormField]) -> list[FormField]:
        seen: set[str] = set()
        for f in fields:
            if f.key in seen:
                raise ValueError(f"duplicate field key {f.key!r}")
            seen.add(f.key)
        return fields


class ActionConditions(Strict):
    """When a portal action is available.

    ``statuses``: the activity status must be one of these (empty = any).
    ``timing``: ``before_visit`` needs a scheduled start in the future (at least
    ``min_hours_before`` hours away); ``after_visit`` needs it in the past.
    """

    statuses: list[ActivityStatus] = Field(default_factory=list)
    timing: Literal["any", "before_visit", "after_visit"] = "any"
    min_hours_before: float = Field(default=0, ge=0, le=24 * 60)


class PortalAction(Strict):
    key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    kind: ActionKind
    label: Annotated[str, Field(min_length=1, max_length=100)]
    form_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    notify_planning: bool = False
    conditions: ActionConditions = Field(default_factory=ActionConditions)

    @model_validator(mode="after")
    def _form_needed(self) -> PortalAction:
        if self.kind in ("fill_form", "survey", "validate_document") and self.form_id is None:
            raise ValueError(f"a {self.kind} action needs a form_id")
        return self


class ActivityTypePortal(Strict):
    """The portal part of an activity type's configuration."""

    portal_shown: bool = True
    title_template: Annotated[str, Field(min_length=1, max_length=300)] = "{type.name}"
    portal_actions: list[PortalAction] = Field(default_factory=list)

    @field_validator("title_template")
    @classmethod
    def _template_ok(cls, value: str) -> str:
        validate_template(value)
        return value

    @field_validator("portal_actions")
    @classmethod
    def _unique_action_keys(cls, actions: list[PortalAction]) -> list[PortalAction]:
        keys = [a.key for a in actions]
        if len(keys) != len(set(keys)):
            raise ValueError("portal action keys must be unique")
        return actions


class BookingSettings(Strict):
    """A business unit's booking policy and travel model (see docs/SCHEDULING.md)."""

    horizon_days: int = Field(default=14, ge=1, le=90)
    min_notice_hours: float = Field(default=24, ge=0, le=24 * 30)
    window_minutes: int = Field(default=120, ge=15, le=12 * 60)
    window_starts: list[int] = Field(default_factory=lambda: [480, 600, 780, 900])
    proposals: int = Field(default=6, ge=1, le=50)
    change_cutoff_hours: float = Field(default=24, ge=0, le=24 * 30)
    max_reschedules: int = Field(default=2, ge=0, le=100)
    circuity: float = Field(default=1.3, ge=1.0, le=3.0)
    speed_kmh: float = Field(default=30.0, gt=1, le=150)

    @field_validator("window_starts")
    @classmethod
    def _minutes_of_day(cls, values: list[int]) -> list[int]:
        if not values or any(not 0 <= v < 24 * 60 for v in values):
            raise ValueError("window starts are minutes of the day (0-1439), at least one")
        return sorted(set(values))


WorkingHours = dict[str, list[tuple[int, int]]]

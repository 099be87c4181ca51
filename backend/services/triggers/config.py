"""Which automatic messages a business unit sends: events, defaults, validation.

A business unit configures triggers in ``notification_triggers`` (staff API:
``backend/api/routes/staff_triggers.py``). For an event, the rows of the
activity's own type win over the rows for all types (``activity_type_id``
null); with no row at all the built-in default of :data:`DEFAULTS` applies,
so a new business unit sends sensible messages without any setup, and
writing one disabled row is how staff turn an event off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.models import Activity, ActivityType, NotificationTrigger
from backend.templates import VARIABLES, TemplateError, variables_in

Event = Literal[
    "portal_access",
    "report",
    "survey",
    "visit_booked",
    "visit_rescheduled",
    "visit_cancelled",
    "reminder",
    "planning_notice",
]
EVENTS: tuple[Event, ...] = (
    "portal_access",
    "report",
    "survey",
    "visit_booked",
    "visit_rescheduled",
    "visit_cancelled",
    "reminder",
    "planning_notice",
)
TriggerChannel = Literal["email", "sms", "both"]
LANGUAGES: tuple[str, ...] = ("en", "fr")
TEMPLATE_PARTS: tuple[str, ...] = ("subject", "body")

# Events that happen to a client, not to one activity: a type filter means nothing.
CLIENT_EVENTS: frozenset[str] = frozenset({"portal_access"})
# Sent to the business unit's planning contact, by email only.
STAFF_EVENTS: frozenset[str] = frozenset({"planning_notice"})

# Codes a message template may use: the title codes, the portal link, the
# arrival window, and what the client did (planning notice).
MESSAGE_VARIABLES: frozenset[str] = VARIABLES | {
    "portal_link",
    "activity.window",
    "notice.summary",
    "notice.detail",
}

DEFAULT_REMINDER_HOURS = 24


@dataclass(frozen=True)
class TriggerSpec:
    """One trigger as it fires: a configured row or a built-in default (``id`` None)."""

    event: str
    channel: str = "email"
    enabled: bool = True
    hours_before: int | None = None
    recipient: str = ""
    templates: dict[str, dict[str, str]] = field(default_factory=dict)
    activity_type_id: int | None = None
    id: int | None = None

    def override(self, lang: str, part: str) -> str:
        """Staff's text for ``part`` (subject/body) in ``lang``; empty means the file's."""
        return str((self.templates.get(lang) or {}).get(part) or "")


# With no row for an event, this is what a business unit sends. Everything
# by email (an SMS costs credits, staff opt in); planning notices go to the
# unit's email as before triggers existed.
DEFAULTS: dict[str, TriggerSpec] = {
    event: TriggerSpec(
        event=event, hours_before=DEFAULT_REMINDER_HOURS if event == "reminder" else None
    )
    for event in EVENTS
}


def spec_of(row: NotificationTrigger) -> TriggerSpec:
    return TriggerSpec(
        event=row.event,
        channel=row.channel,
        enabled=row.enabled,
        hours_before=row.hours_before,
        recipient=row.recipient,
        templates=row.templates or {},
        activity_type_id=row.activity_type_id,
        id=row.id,
    )


def resolve(
    rows: list[NotificationTrigger], event: str, activity_type_id: int | None
) -> list[TriggerSpec]:
    """The triggers that apply, enabled or not: the type's rows, else all-types rows,
    else the default. (Several only for reminders at different hours.)"""
    mine = [r for r in rows if r.event == event]
    typed = [
        r for r in mine if activity_type_id is not None and r.activity_type_id == activity_type_id
    ]
    general = [r for r in mine if r.activity_type_id is None]
    chosen = typed or general
    if chosen:
        return [spec_of(r) for r in sorted(chosen, key=lambda r: r.id)]
    return [DEFAULTS[event]]


def triggers_for(
    db: Session, business_unit_id: int, event: str, activity_type_id: int | None = None
) -> list[TriggerSpec]:
    """The enabled triggers of a unit for ``event`` (and the activity's type)."""
    query = select(NotificationTrigger).where(
        NotificationTrigger.business_unit_id == business_unit_id,
        NotificationTrigger.event == event,
    )
    if activity_type_id is None:
        query = query.where(NotificationTrigger.activity_type_id.is_(None))
    else:
        query = query.where(
            or_(
                NotificationTrigger.activity_type_id.is_(None),
                NotificationTrigger.activity_type_id == activity_type_id,
            )
        )
    rows = list(db.scalars(query))
    return [s for s in resolve(rows, event, activity_type_id) if s.enabled]


def survey_action(activity_type: ActivityType) -> dict[str, Any] | None:
    """The type's survey portal action (what the survey message points to), if any."""
    return next((a for a in activity_type.portal_actions or [] if a.get("kind") == "survey"), None)


def has_survey(activity: Activity) -> bool:
    return survey_action(activity.type) is not None


def check_template(text: str) -> None:
    """Raise :class:`TemplateError` for bad syntax or an unknown code (names them all)."""
    unknown = [name for name in variables_in(text) if name not in MESSAGE_VARIABLES]
    if unknown:
        known = ", ".join(sorted(MESSAGE_VARIABLES))
        raise TemplateError(f"unknown code(s) {', '.join(unknown)}; known: {known}")


# What the demo business unit starts with (backend/demo.py): every event
# written out so staff see and edit them; the portal link and the reminder
# go by email and SMS, the rest by email.
DEMO_TRIGGERS: tuple[TriggerSpec, ...] = (
    TriggerSpec(event="portal_access", channel="both"),
    TriggerSpec(event="report"),
    TriggerSpec(event="survey"),
    TriggerSpec(event="visit_booked"),
    TriggerSpec(event="visit_rescheduled"),
    TriggerSpec(event="visit_cancelled"),
    TriggerSpec(event="reminder", channel="both", hours_before=DEFAULT_REMINDER_HOURS),
    TriggerSpec(event="planning_notice"),
)


def seed_rows(business_unit_id: int, now: datetime) -> list[dict[str, Any]]:
    """``notification_triggers`` rows for a new unit from :data:`DEMO_TRIGGERS` (bulk insert)."""
    return [
        {
            "business_unit_id": business_unit_id,
            "activity_type_id": None,
            "event": spec.event,
            "enabled": spec.enabled,
            "channel": spec.channel,
            "hours_before": spec.hours_before,
            "recipient": spec.recipient,
            "templates": {},
            "created_at": now,
            "updated_at": now,
        }
        for spec in DEMO_TRIGGERS
    ]

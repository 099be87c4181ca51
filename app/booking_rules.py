"""Which portal actions the app shows, and the booking guardrails, from a synced document.

No I/O and no Flet: ``app.state`` (the detail screen's buttons) and
``app.booking`` (the slots and cancel flows) both read these rules, so a button
is shown exactly when its flow can run.

A button is shown when the action is configured on the activity type, its
conditions hold now (``backend.actions``, the server's own rule), the app has
a screen for it (``IMPLEMENTED_KINDS``), and the business unit's guardrails
still allow it (cut-off before the visit, reschedules left) — the server
would refuse it otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.i18n import parse_utc
from backend.actions import available_actions
from backend.forms import document_for, sha256_of

# Action kinds the app has a screen for (no dead button).
FORM_KINDS = frozenset({"fill_form", "validate_document", "survey"})
IMPLEMENTED_KINDS = frozenset({"book", "reschedule", "cancel"}) | FORM_KINDS
# Kinds that open the slots screen.
SLOT_KINDS = frozenset({"book", "reschedule"})
BOOKED_STATUSES = ("scheduled", "in_progress")

DEFAULT_CUTOFF_HOURS = 24.0


@dataclass(frozen=True)
class Guardrails:
    """What limits changing this appointment online.

    ``cutoff_at``: the last moment a change is accepted (None: no date yet).
    ``reschedules_left``: moves still allowed online (None: not told).
    """

    cutoff_hours: float
    cutoff_at: datetime | None
    reschedules_left: int | None

    def too_late(self, now: datetime) -> bool:
        """True once the cut-off before the visit has passed."""
        return self.cutoff_at is not None and now > self.cutoff_at

    def may_reschedule(self, now: datetime) -> bool:
        """True when a reschedule would pass the server's guardrails."""
        return not self.too_late(now) and (
            self.reschedules_left is None or self.reschedules_left > 0
        )


def guardrails(doc: dict[str, Any]) -> Guardrails:
    """The guardrails of an activity document (``booking_rules``, see the projection)."""
    rules = doc.get("booking_rules") if isinstance(doc.get("booking_rules"), dict) else {}
    hours = rules.get("change_cutoff_hours")
    cutoff_hours = float(hours) if isinstance(hours, int | float) else DEFAULT_CUTOFF_HOURS
    left = rules.get("reschedules_left")
    start = parse_utc(doc.get("scheduled_start"))
    return Guardrails(
        cutoff_hours=cutoff_hours,
        cutoff_at=start - timedelta(hours=cutoff_hours) if start else None,
        reschedules_left=left if isinstance(left, int) else None,
    )


def configured_actions(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The activity type's portal actions as configured (well-formed ones only)."""
    return [
        a
        for a in doc.get("actions") or []
        if isinstance(a, dict) and a.get("key") and a.get("label")
    ]


def usable_actions(
    doc: dict[str, Any], now: datetime, revised: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The actions to show as buttons now, in configuration order.

    ``revised``: documents refused once and changed since (``revised_documents``),
    which the client may answer again.
    """
    actions = configured_actions(doc)
    status = str(doc.get("status") or "")
    usable = set(available_actions(actions, status, parse_utc(doc.get("scheduled_start")), now))
    rails = guardrails(doc)
    shown = []
    for action in actions:
        kind = action.get("kind")
        if action["key"] not in usable or kind not in IMPLEMENTED_KINDS:
            continue
        if kind == "reschedule" and not rails.may_reschedule(now):
            continue
        if kind == "cancel" and (
            status not in ("to_schedule", *BOOKED_STATUSES) or rails.too_late(now)
        ):
            continue
        if (
            kind in ("validate_document", "survey")
            and answered(doc, action["key"])
            and action["key"] not in revised
        ):
            continue  # signed, refused or answered once: the server takes no second answer
        shown.append(action)
    return shown


def answered(doc: dict[str, Any], action_key: str) -> dict[str, Any] | None:
    """What the server recorded for this action (``submissions`` of the document):
    ``{"state": "signed" | "refused" | "submitted", "at", ...}``, or None."""
    states = doc.get("submissions")
    state = states.get(action_key) if isinstance(states, dict) else None
    return state if isinstance(state, dict) and state.get("state") else None


def blocked_change(doc: dict[str, Any], now: datetime) -> str | None:
    """Why a configured reschedule or cancel is not offered, when a guardrail hides it.

    ``"too_late"`` (within the cut-off), ``"no_reschedules_left"``, or None.
    """
    if doc.get("status") not in BOOKED_STATUSES:
        return None
    kinds = {a.get("kind") for a in configured_actions(doc)}
    if not kinds & {"reschedule", "cancel"}:
        return None
    rails = guardrails(doc)
    if rails.too_late(now):
        return "too_late"
    if "reschedule" in kinds and rails.reschedules_left == 0:
        return "no_reschedules_left"
    return None


def can_add_to_calendar(doc: dict[str, Any], now: datetime) -> bool:
    """A booked visit still to come, with a date, offers an .ics file."""
    if doc.get("status") not in BOOKED_STATUSES:
        return False
    end = parse_utc(doc.get("window_end") or doc.get("scheduled_end"))
    start = parse_utc(doc.get("window_start") or doc.get("scheduled_start"))
    return start is not None and end is not None and end >= now


def cancel_reason(doc: dict[str, Any]) -> str | None:
    """The reason given when the appointment was cancelled (the last cancel step's note)."""
    if doc.get("status") != "cancelled":
        return None
    for step in reversed(doc.get("steps") or []):
        if isinstance(step, dict) and step.get("code") == "cancelled":
            return str(step.get("note") or "") or None
    return None


def revised_documents(doc: dict[str, Any], forms: dict[str, dict[str, Any]]) -> frozenset[str]:
    """Refused documents the company changed since (a new quote): keys of their actions.

    ``forms``: the synced form documents by id. The server records which
    version was refused; the one to show now is hashed like the signature's.
    """
    revised = set()
    for action in configured_actions(doc):
        state = answered(doc, str(action["key"]))
        if action.get("kind") != "validate_document" or not state:
            continue
        form = forms.get(str(action.get("form_id")))
        decided = state.get("document_sha256")
        if (
            state.get("state") == "refused"
            and form is not None
            and isinstance(decided, str)
            and sha256_of(document_for(doc, form)) != decided
        ):
            revised.add(str(action["key"]))
    return frozenset(revised)

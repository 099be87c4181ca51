"""The booking flows' view-model: choose a slot (book or reschedule), cancel, add to calendar.

Views (``app.views.booking``) read plain, translated data from here and call
its async methods; the I/O goes through ``AppState``'s API client and store.

Rules kept here:

- Booking needs the server: offline, the screen says so and offers to try
  again; nothing is stored as booked until the server answered.
- Each attempt carries an idempotency key (a UUID) made once for that choice:
  a retry after a lost connection sends the same key, so the server replays
  its first answer instead of booking twice. A new choice gets a new key.
- The chosen slot taken meanwhile (409 with fresh proposals): one sentence
  and the fresh proposals, on the same screen.
- The server's answer (the updated activity) is applied to the local store at
  once (``ActivitiesModel.apply_activity``): list, detail and home show the new date.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from app import booking_rules
from app.activities import ACTIVITIES
from app.i18n import parse_utc
from app.messages import Message, message_for
from app.state import AppState
from app.sync.api import (
    ApiError,
    Offline,
    RateLimited,
    Rejected,
    ServerError,
    SlotTaken,
    Unauthorized,
)
from app.sync.engine import SyncStatus
from backend import calendar_file

log = logging.getLogger(__name__)

# Proposals that arrive faster than this are shown without a spinner first.
LOADING_DELAY_S = 0.15

# Why a client cancels; "other" needs a few words.
CANCEL_REASONS = ("no_longer_needed", "not_available", "fixed", "other")


class Phase(StrEnum):
    """Where the slots screen is."""

    LOADING = "loading"  # asking the server for slots
    READY = "ready"  # proposals shown (maybe with a conflict notice)
    SENDING = "sending"  # booking the chosen slot
    OFFLINE = "offline"  # needs a connection: try again
    FAILED = "failed"  # refused for good (guardrail, no longer available)
    DONE = "done"  # booked


@dataclass(frozen=True)
class SlotItem:
    """One proposal, ready to show."""

    key: str
    technician_id: int
    window_start: str
    window_text: str
    reason: str
    technician_text: str | None
    day_text: str


@dataclass(frozen=True)
class SlotDay:
    """The proposals of one day (in the business unit's time zone), best first."""

    label: str
    slots: list[SlotItem]


@dataclass
class SlotScreen:
    """Everything the slots screen shows."""

    activity_id: str
    kind: str  # "book" or "reschedule"
    title: str
    current_text: str | None = None
    rules: list[str] = field(default_factory=list)
    phase: Phase = Phase.LOADING
    days: list[SlotDay] = field(default_factory=list)
    notice: Message | None = None
    # The slot the client picked, waiting for "Confirm" (or for a retry).
    chosen: SlotItem | None = None
    booked_text: str | None = None
    # Opened from a web address before the first sync brought the activity:
    # the screen waits for it (``BookingModel`` re-opens on the next data).
    waiting_for_data: bool = False
    # Rescheduling: the window booked now (not offered again).
    current_window: datetime | None = None

    @property
    def slot_count(self) -> int:
        """How many proposals are shown."""
        return sum(len(d.slots) for d in self.days)


@dataclass(frozen=True)
class _Attempt:
    """An idempotency key and what it was made for (a slot, or a cancel reason)."""

    key: str
    target: tuple[str, ...]


def _slot_key(proposal: dict[str, Any]) -> str:
    return f"{proposal.get('technician_id')}@{proposal.get('window_start')}"


class BookingModel:
    """One session's booking flows; ``on_change`` is called when the screen must redraw."""

    def __init__(
        self, state: AppState, *, new_key: Callable[[], str] = lambda: str(uuid.uuid4())
    ) -> None:
        """Work through ``state`` (its API, store, translator and clock)."""
        self.state = state
        self._new_key = new_key
        self.screen: SlotScreen | None = None
        self.on_change: Callable[[], Awaitable[None]] | None = None
        self._attempt: _Attempt | None = None
        self._cancel_attempt: _Attempt | None = None
        state.subscribe(self._on_state_event)

    # -- helpers -------------------------------------------------------------

    @property
    def tr(self) -> Any:
        """The session's translator."""
        return self.state.tr

    async def _changed(self) -> None:
        if self.on_change is not None:
            await self.on_change()

    async def _doc(self, activity_id: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self.state.store.get, ACTIVITIES, activity_id)

    def _attempt_for(self, current: _Attempt | None, target: tuple[str, ...]) -> _Attempt:
        """The same key for the same choice (a retry), a new one for a new choice."""
        if current is not None and current.target == target:
            return current
        return _Attempt(self._new_key(), target)

    def _blocked_message(self, blocked: str | None) -> Message | None:
        phone = str((self.state.company.branding_doc or {}).get("phone") or "")
        if blocked == "too_late":
            return Message("booking.blocked.too_late", {"phone": phone})
        if blocked == "no_reschedules_left":
            return Message("booking.blocked.no_reschedules_left", {"phone": phone})
        return None

    def _refusal(self, exc: ApiError) -> Message:
        """A refusal as a sentence in the client's language (the server's is English)."""
        code = exc.code if isinstance(exc, Rejected) else None
        blocked = {"too_late": "too_late", "too_many_reschedules": "no_reschedules_left"}
        message = self._blocked_message(blocked.get(code or ""))
        if message is not None:
            return message
        if code in ("action_unavailable", "wrong_action", "not_cancellable"):
            return Message("booking.unavailable")
        if isinstance(exc, RateLimited):
            return message_for(exc)
        return Message(exc.message_key)

    # -- the slots screen ------------------------------------------------------

    async def open(self, activity_id: str) -> SlotScreen:
        """Start booking or rescheduling ``activity_id`` and ask for slots."""
        self._attempt = None
        screen = SlotScreen(activity_id=activity_id, kind="book", title="")
        self.screen = screen
        doc = await self._doc(activity_id)
        if doc is None:
            screen.waiting_for_data = True
            if self.state.sync_status.state != "syncing" and not self.state.never_synced:
                screen.phase = Phase.FAILED
                screen.notice = Message("detail.not_found")
            await self._changed()
            return screen
        now = self.state.clock()
        kinds = {a.get("kind") for a in booking_rules.usable_actions(doc, now)}
        kind = "reschedule" if doc.get("status") in booking_rules.BOOKED_STATUSES else "book"
        screen.kind = kind
        screen.title = str(doc.get("title") or doc.get("type_name") or "")
        screen.rules = self._rules(doc, kind)
        if kind == "reschedule":
            screen.current_text = self._current(doc)
            screen.current_window = parse_utc(doc.get("window_start"))
        if kind not in kinds:
            screen.phase = Phase.FAILED
            blocked = booking_rules.blocked_change(doc, now)
            screen.notice = self._blocked_message(blocked) or Message("booking.unavailable")
            return screen
        await self.load_slots()
        return screen

    def _current(self, doc: dict[str, Any]) -> str:
        """ "Current appointment: Mon 7 Dec 2026 — Arrival between 8:00 AM and 10:00 AM"."""
        start = parse_utc(doc.get("window_start"))
        window = self.tr.arrival_window(start, parse_utc(doc.get("window_end")))
        if start is not None and window:
            when = f"{self.tr.date(start)} — {window}"
        else:
            when = self.state.activities.item_for(doc, True).date_text
        return self.tr.t("booking.current", when=when)

    def _rules(self, doc: dict[str, Any], kind: str) -> list[str]:
        """The guardrails, said before the client starts."""
        rails = booking_rules.guardrails(doc)
        hours = f"{rails.cutoff_hours:g}"
        configured = {a.get("kind") for a in booking_rules.configured_actions(doc)}
        lines: list[str] = []
        if kind == "reschedule":
            if rails.cutoff_at is not None:
                lines.append(
                    self.tr.t(
                        "booking.rules.cutoff",
                        moment=self.tr.date_time(rails.cutoff_at),
                        hours=hours,
                    )
                )
            if rails.reschedules_left is not None:
                lines.append(self.tr.t("booking.rules.left", count=rails.reschedules_left))
        elif configured & {"reschedule", "cancel"}:
            lines.append(self.tr.t("booking.rules.after_booking", hours=hours))
        return lines

    def _days(self, proposals: list[dict[str, Any]]) -> list[SlotDay]:
        """Proposals grouped by local day; days in the order of their best slot.

        When rescheduling, the appointment's own window is left out: moving to
        the same time is not a change.
        """
        groups: dict[str, list[SlotItem]] = {}
        labels: dict[str, str] = {}
        current = self.screen.current_window if self.screen else None
        for p in proposals:
            start = parse_utc(str(p.get("window_start") or ""))
            end = parse_utc(str(p.get("window_end") or ""))
            if start is None or end is None or not isinstance(p.get("technician_id"), int):
                continue  # a malformed proposal is skipped, never a crash
            if current is not None and start == current:
                continue
            day = str(p.get("day") or start.date().isoformat())
            labels.setdefault(day, self.tr.date(start))
            name = p.get("technician_first_name")
            groups.setdefault(day, []).append(
                SlotItem(
                    key=_slot_key(p),
                    technician_id=int(p["technician_id"]),
                    window_start=str(p["window_start"]),
                    window_text=self.tr.arrival_window(start, end) or "",
                    reason=str(p.get("reason") or ""),
                    technician_text=self.tr.t("activities.technician", name=name) if name else None,
                    day_text=labels[day],
                )
            )
        return [SlotDay(label=labels[d], slots=slots) for d, slots in groups.items()]

    async def load_slots(self) -> None:
        """Ask the server for the assistant's proposals."""
        screen = self.screen
        if screen is None:
            return
        screen.phase = Phase.LOADING
        screen.chosen = None
        fetch = asyncio.ensure_future(self.state.api.slots(screen.activity_id))
        # A quick answer is drawn once, READY; the spinner only when it takes a
        # while (each redraw is a round trip to the browser).
        done, _ = await asyncio.wait({fetch}, timeout=LOADING_DELAY_S)
        if not done:
            await self._changed()
        try:
            data = await fetch
        except (Offline, ServerError):
            screen.phase = Phase.OFFLINE
            screen.notice = Message("booking.offline")
        except Unauthorized:
            await self._session_ended()
            return
        except ApiError as exc:
            screen.phase = Phase.FAILED
            screen.notice = self._refusal(exc)
        else:
            screen.days = self._days(data["proposals"])
            screen.phase = Phase.READY
            screen.notice = None if screen.days else Message("booking.no_slots")
        await self._changed()

    def choose(self, slot_key: str) -> Message | None:
        """Pick a slot; returns the confirmation question (None: unknown slot)."""
        screen = self.screen
        if screen is None:
            return None
        for day in screen.days:
            for slot in day.slots:
                if slot.key == slot_key:
                    screen.chosen = slot
                    return Message(
                        "booking.confirm_book" if screen.kind == "book" else "booking.confirm_move",
                        {"day": slot.day_text, "window": slot.window_text},
                    )
        return None

    def unchoose(self) -> None:
        """The client said no to the confirmation."""
        if self.screen is not None:
            self.screen.chosen = None

    async def confirm(self) -> bool:
        """Book the chosen slot; True when it is booked.

        The same choice retried (after a lost connection) sends the same
        idempotency key.
        """
        screen = self.screen
        if screen is None or screen.chosen is None:
            return False
        slot = screen.chosen
        attempt = self._attempt_for(self._attempt, (screen.activity_id, screen.kind, slot.key))
        self._attempt = attempt
        screen.phase = Phase.SENDING
        screen.notice = None
        await self._changed()
        try:
            doc = await self.state.api.take_slot(
                screen.activity_id,
                screen.kind,
                mutation_id=attempt.key,
                technician_id=slot.technician_id,
                window_start=slot.window_start,
            )
        except SlotTaken as exc:
            # The key is spent (the server remembers its 409): a new choice, a new key.
            self._attempt = None
            screen.chosen = None
            screen.days = self._days(exc.proposals)
            screen.phase = Phase.READY
            screen.notice = Message("booking.conflict" if screen.days else "booking.conflict_none")
        except (Offline, ServerError):
            # Keep the key and the choice: "Try again" replays the same attempt.
            screen.phase = Phase.OFFLINE
            screen.notice = Message("booking.offline_send")
        except Unauthorized:
            await self._session_ended()
            return False
        except ApiError as exc:
            self._attempt = None
            screen.chosen = None
            screen.phase = Phase.FAILED
            screen.notice = self._refusal(exc)
        else:
            self._attempt = None
            await self.state.activities.apply_activity(doc)
            screen.phase = Phase.DONE
            screen.booked_text = self.tr.t(
                "booking.booked", day=slot.day_text, window=slot.window_text
            )
            await self._changed()
            return True
        await self._changed()
        return False

    async def retry(self) -> bool:
        """ "Try again": resend the pending booking (same key), or reload the slots."""
        screen = self.screen
        if screen is None:
            return False
        if screen.chosen is not None and self._attempt is not None:
            return await self.confirm()
        await self.load_slots()
        return False

    def close(self) -> None:
        """Leave the slots screen."""
        self.screen = None
        self._attempt = None

    async def _on_state_event(self, event: str, data: Any) -> None:
        screen = self.screen
        if screen is None:
            return
        if event == "data" and screen.waiting_for_data:
            changed = getattr(data, "changed_ids", {}).get(ACTIVITIES, set())
            if getattr(data, "reset", False) or screen.activity_id in changed:
                await self.open(screen.activity_id)
            return
        if event == "status" and screen.waiting_for_data and isinstance(data, SyncStatus):
            if data.state != "syncing" and screen.phase == Phase.LOADING:
                # The sync ended without this activity: it is not (or no longer) ours.
                screen.phase = Phase.FAILED
                screen.notice = Message("detail.not_found")
                await self._changed()
            return
        # Back online while the screen waits for a connection: say so, and
        # reload the slots (reading is harmless; a booking waits for the client).
        if event != "status" or screen.phase != Phase.OFFLINE:
            return
        if not isinstance(data, SyncStatus) or data.state != "idle":
            return
        if screen.chosen is not None:
            screen.notice = Message("booking.back_online")
            await self._changed()
        else:
            await self.load_slots()

    async def _session_ended(self) -> None:
        self.screen = None
        await self.state.end_session()

    # -- cancel -----------------------------------------------------------------

    def cancel_reasons(self) -> list[tuple[str, str]]:
        """The reasons to choose from: (code, label), in ``CANCEL_REASONS`` order."""
        labels = {
            "no_longer_needed": self.tr.t("cancel.reason.no_longer_needed"),
            "not_available": self.tr.t("cancel.reason.not_available"),
            "fixed": self.tr.t("cancel.reason.fixed"),
            "other": self.tr.t("cancel.reason.other"),
        }
        return [(code, labels[code]) for code in CANCEL_REASONS]

    async def cancel(self, activity_id: str, reason: str | None, details: str) -> Message | None:
        """Cancel with a reason; None when cancelled, else the sentence to show.

        A reason must be chosen, and "other" needs a few words. Retried after a
        lost connection, the same reason sends the same idempotency key.
        """
        details = details.strip()
        if reason not in CANCEL_REASONS:
            return Message("cancel.error.choose")
        if reason == "other" and not details:
            return Message("cancel.error.details")
        label = dict(self.cancel_reasons())[reason]
        text = f"{label} — {details}" if details and reason != "other" else (details or label)
        attempt = self._attempt_for(self._cancel_attempt, (activity_id, text))
        self._cancel_attempt = attempt
        try:
            doc = await self.state.api.cancel(activity_id, mutation_id=attempt.key, reason=text)
        except (Offline, ServerError):
            return Message("cancel.offline")
        except Unauthorized:
            await self._session_ended()
            return Message("error.session_ended")
        except ApiError as exc:
            self._cancel_attempt = None
            return self._refusal(exc)
        self._cancel_attempt = None
        await self.state.activities.apply_activity(doc)
        return None

    # -- calendar ---------------------------------------------------------------

    async def calendar_file(self, activity_id: str) -> tuple[str, bytes] | None:
        """The booked visit as an .ics file (name, bytes), built on the device.

        Built from the synced documents with the server's own pure builder
        (``backend.calendar_file``), so it works offline and in a browser,
        where a download link could not carry the session's bearer token.
        """
        doc = await self._doc(activity_id)
        if doc is None or not booking_rules.can_add_to_calendar(doc, self.state.clock()):
            return None
        try:
            data = calendar_file.visit_ics(
                doc, self.state.company.branding_doc or {}, self.tr.language, self.state.clock()
            )
        except (calendar_file.NotBooked, ValueError):
            log.info("no calendar file for activity %s", activity_id)
            return None
        return calendar_file.file_name(doc), data

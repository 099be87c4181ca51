"""The client's choice of automatic messages (reports, confirmations, reminders) by
email and by SMS, changed from the Account screen.

The choice lives on the server (it decides what to send), so changing it
needs the connection: offline the switch goes back and a sentence says so.
The synced profile carries the current choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.messages import Message
from app.sync.api import ApiError, Offline

if TYPE_CHECKING:
    from app.state import AppState


@dataclass(frozen=True)
class Consent:
    """What the client receives, and whether an SMS switch makes sense (a phone on file)."""

    email: bool
    sms: bool
    has_phone: bool


class NotificationsModel:
    """Reads the choice from the profile; ``change`` sends a new one."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def current(self) -> Consent:
        """The choice in the synced profile (both on when it says nothing)."""
        profile = self.state.profile or {}
        chosen = profile.get("notifications")
        chosen = chosen if isinstance(chosen, dict) else {}
        contacts = profile.get("contacts") or []
        has_phone = any(isinstance(c, dict) and c.get("kind") == "phone" for c in contacts)
        return Consent(
            email=bool(chosen.get("email", True)),
            sms=bool(chosen.get("sms", False)),
            has_phone=has_phone,
        )

    async def change(self, *, email: bool, sms: bool) -> Message | None:
        """Send the new choice; None when the server took it, else the sentence to show."""
        try:
            await self.state.api.set_notifications(email=email, sms=sms)
        except Offline:
            return Message("notifications.offline")
        except ApiError as exc:
            if exc.status == 401:
                await self.state.end_session()
            return Message(exc.message_key)
        # The profile document changed on the server: bring it (and the screens) up to date.
        await self.state.refresh(max_attempts=1)
        return None

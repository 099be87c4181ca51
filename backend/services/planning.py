"""The notice a business unit's planning team gets when a client acts in the portal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from backend.models import Activity, BusinessUnit, Client
from backend.services.messaging import Message, MessageSender


def notify_planning(
    db: Session,
    sender: MessageSender | None,
    bu: BusinessUnit,
    client: Client,
    activity: Activity,
    summary: str,
    now: datetime,
    detail: str | None = None,
) -> None:
    """Queue an email to the unit's planning contact (none when it has no address).

    ``summary`` goes in the subject; the body names the activity and gives
    ``detail`` (the summary again when there is none).
    """
    if sender is None or not bu.email:
        return
    sender.send(
        db,
        Message(
            channel="email",
            recipient=bu.email,
            subject=f"[Portal] {client.name}: {summary}",
            body=f"{client.name} — {activity.type.name} #{activity.id}: {detail or summary}",
            business_unit_id=bu.id,
        ),
        now,
    )

"""The notice a business unit's planning team gets when a client acts in the portal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from backend.models import Activity, BusinessUnit, Client
from backend.services import triggers
from backend.services.messaging import MessageSender


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
    """Queue the planning notice (``backend.services.triggers.planning_notice``).

    ``summary`` goes in the subject; the body names the activity and gives
    ``detail`` (the summary again when there is none).
    """
    if sender is None:
        return
    triggers.planning_notice(db, bu, client, activity, summary, now, detail)

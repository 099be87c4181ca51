"""Outgoing messages (email, SMS) behind one small interface.

Callers build a :class:`Message` and call ``app.state.sender.send(db,
message, now)`` inside their transaction. The default sender
(:class:`backend.services.delivery.QueueingSender`) queues it in
``outgoing_messages`` for the delivery worker, or, for a channel with no
provider configured, records it sent at once and prints it to the log (the
development outbox tests read). :class:`DevOutboxSender` is that development
behaviour alone, without credit accounting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy.orm import Session

from backend.models import OutgoingMessage

log = logging.getLogger("portal.messages")

Channel = Literal["email", "sms"]


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email (a report PDF, an ``.ics``)."""

    filename: str
    media_type: str
    content: bytes


@dataclass(frozen=True)
class Message:
    """One email or SMS. ``body`` is the plain text (the SMS text); ``html`` the
    email's HTML part when there is one.

    ``dedupe_key`` names the event the message is for (e.g.
    ``"closed:42:report:email"``): a second message with the same key is not
    queued again, which is how a trigger fires once across retries and restarts.

    ``prepaid``: the caller already took an SMS's price from the business
    unit's credit (``backend.services.delivery.reserve_sms_credit``), so
    queueing must not charge it again.
    """

    channel: Channel
    recipient: str
    subject: str
    body: str
    business_unit_id: int | None = None
    html: str = ""
    attachments: tuple[Attachment, ...] = ()
    dedupe_key: str | None = None
    client_id: int | None = None
    language: str = ""
    prepaid: bool = False


class MessageSender(Protocol):
    def send(self, db: Session, message: Message, now: datetime) -> None:
        """Deliver ``message`` (or queue it for delivery) and record it in ``db``."""


def record(
    db: Session, message: Message, now: datetime, status: str, reason: str = ""
) -> OutgoingMessage:
    """Write the staff-visible log line for a message, sent or not.

    The text of a message that was not sent is not kept (it may hold a code).
    """
    row = OutgoingMessage(
        business_unit_id=message.business_unit_id,
        client_id=message.client_id,
        channel=message.channel,
        recipient=message.recipient,
        language=message.language,
        subject=message.subject,
        body=message.body if status == "sent" else "",
        html=message.html if status == "sent" else "",
        status=status,
        reason=reason,
        created_at=now,
        sent_at=now if status == "sent" else None,
    )
    db.add(row)
    return row


class DevOutboxSender:
    """Keeps messages in the database and the server log instead of sending them."""

    def __init__(self, log_messages: bool = True) -> None:
        self.log_messages = log_messages

    def send(self, db: Session, message: Message, now: datetime) -> None:
        record(db, message, now, "sent")
        if self.log_messages:
            log.warning(
                "[dev outbox] %s to %s: %s", message.channel, message.recipient, message.body
            )

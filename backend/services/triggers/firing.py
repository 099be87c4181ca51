"""Turning an event into queued messages: recipients, consent, values, dedupe keys.

Every message carries a ``dedupe_key`` naming its event and channel
(``closed:42:report:email``); ``outgoing_messages.dedupe_key`` is unique, so
an event replayed by a retry or a restart never queues a second message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.core.config import Settings, get_settings
from backend.localization import format_time_range, language
from backend.models import (
    Activity,
    BusinessUnit,
    Client,
    ClientContact,
    OutgoingMessage,
)
from backend.services import delivery, projection, transports
from backend.services.messaging import Attachment, Message
from backend.templates import VARIABLES

from .config import MESSAGE_VARIABLES, TriggerSpec
from .render import Texts, render

log = logging.getLogger("portal.triggers")

# Shown instead of a real link when staff preview a message: issuing a
# permanent link for a preview would leave a live credential behind.
PREVIEW_LINK_TOKEN = "…"


def settings_of(db: Session) -> Settings:
    """The settings of the app that opened ``db`` (``create_app`` puts them in the
    session's ``info``), else the process settings (a worker, the CLI)."""
    found = db.info.get("settings")
    return found if isinstance(found, Settings) else get_settings()


def bind_settings(maker: sessionmaker[Session], settings: Settings) -> None:
    """Give the sessions of ``maker`` these settings (read back by :func:`settings_of`)."""
    info = dict(maker.kw.get("info") or {})
    info["settings"] = settings
    maker.configure(info=info)


def app_url(settings: Settings) -> str:
    """The web app's address: where a client signs in (or is signed in already)."""
    return f"{settings.public_base_url.rstrip('/')}/app/"


@dataclass(frozen=True)
class Address:
    channel: str  # "email" | "sms"
    value: str


def sms_consent(client: Client, bu: BusinessUnit) -> bool:
    """SMS consent: the client's choice, else on when the unit allows SMS links."""
    return projection.sms_consent(client, bu)


def addresses(
    spec: TriggerSpec,
    client: Client,
    bu: BusinessUnit,
    contacts: Iterable[ClientContact] | None = None,
) -> list[Address]:
    """Where ``spec`` sends to this client: the first email and/or phone on file,
    for the channels the trigger uses and the client consents to."""
    found = list(client.contacts if contacts is None else contacts)
    out: list[Address] = []
    if spec.channel in ("email", "both") and client.email_notifications:
        email = next((c.value for c in found if c.kind == "email"), None)
        if email:
            out.append(Address("email", email))
    if spec.channel in ("sms", "both") and sms_consent(client, bu):
        phone = next((c.value for c in found if c.kind == "phone"), None)
        if phone:
            out.append(Address("sms", phone))
    return out


def empty_values() -> dict[str, str]:
    return dict.fromkeys(MESSAGE_VARIABLES, "")


def activity_values(
    activity: Activity, client: Client, bu: BusinessUnit, lang: str, portal_link: str
) -> dict[str, str]:
    """Every message code's value for ``activity`` in ``lang`` (dates in the unit's zone)."""
    values = empty_values()
    values.update(projection.title_values(activity, client, bu, VARIABLES, lang=lang))
    if activity.window_start is not None and activity.window_end is not None:
        values["activity.window"] = format_time_range(
            activity.window_start, activity.window_end, lang, bu.timezone
        )
    values["portal_link"] = portal_link
    return values


def client_values(client: Client, bu: BusinessUnit, portal_link: str) -> dict[str, str]:
    values = empty_values()
    values.update({"client.name": client.name, "bu.name": bu.name, "portal_link": portal_link})
    return values


def build(
    spec: TriggerSpec,
    texts: Texts,
    address: Address,
    bu: BusinessUnit,
    client: Client | None,
    lang: str,
    dedupe_key: str,
    attachments: tuple[Attachment, ...] = (),
) -> Message:
    """The message of one trigger to one address (the SMS gets the short text)."""
    email = address.channel == "email"
    return Message(
        channel="email" if email else "sms",
        recipient=address.value,
        subject=texts.subject if email else "",
        body=texts.text if email else texts.sms,
        html=texts.html if email else "",
        attachments=attachments if email else (),
        business_unit_id=bu.id,
        dedupe_key=dedupe_key,
        client_id=client.id if client is not None else None,
        language=lang,
    )


def already_queued(db: Session, keys: Iterable[str]) -> set[str]:
    """Which of these dedupe keys already have a message (one indexed read)."""
    wanted = list(keys)
    if not wanted:
        return set()
    found = db.scalars(
        select(OutgoingMessage.dedupe_key).where(OutgoingMessage.dedupe_key.in_(wanted))
    )
    return {k for k in found if k is not None}


def queue(db: Session, message: Message, now: datetime) -> bool:
    """Queue ``message`` for the delivery worker; False when its dedupe key was queued
    before (or an SMS found no credit: the log then shows it ``not_sent``)."""
    settings = settings_of(db)
    queued = delivery.queue_message(
        db,
        settings,
        message,
        now,
        live=transports.live_channels(settings),
        log_messages=settings.log_messages,
    )
    return queued is not None


def queue_all(db: Session, messages: Iterable[Message], now: datetime) -> int:
    """Queue several messages; how many were new."""
    return sum(1 for m in messages if queue(db, m, now))


def client_language(client: Client) -> str:
    return language(client.preferred_language)


def key_time(moment: datetime | None) -> str:
    """A moment as a dedupe key part (UTC seconds), ``none`` when unset."""
    return str(int(moment.timestamp())) if moment is not None else "none"


def render_for(
    spec: TriggerSpec,
    lang: str,
    values: Mapping[str, str],
    bu: BusinessUnit,
    extra: Mapping[str, Any] | None = None,
) -> Texts:
    return render(spec, lang, values, projection.branding_doc(bu), extra)

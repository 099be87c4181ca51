"""Passwordless sign-in: one-time codes, SMS temporary links, staff-issued permanent links.

Secrets (codes, link tokens, session tokens) are only ever stored as keyed
HMAC-SHA256 digests (:func:`backend.core.security.keyed_hash`) and compared in
constant time. Answers never reveal whether an email address or phone number
is on file: see docs/AUTH.md for the full policy.

The request/verify/confirm operations are units of work and commit themselves,
because failure counters must persist even when the answer is an error. The
staff functions (:func:`issue_permanent_link`, :func:`revoke_permanent_link`)
leave the commit to the caller, like :mod:`backend.services.sessions`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from backend.contacts import normalize_phone, parse_identifier
from backend.core.config import Settings
from backend.core.security import keyed_hash, matches, new_code, new_token
from backend.localization import language
from backend.message_templates import render_message, render_part
from backend.models import BusinessUnit, Client, ClientContact, LoginCode, LoginLink, RateEvent
from backend.services import ratelimit
from backend.services.delivery import NO_CREDIT, reserve_sms_credit
from backend.services.messaging import Channel, Message, MessageSender, record
from backend.services.sessions import create_session

log = logging.getLogger("portal.auth")

HOUR = 3600

# What the client reads comes from backend/message_templates/{en,fr}/
# login_code.* and login_link.sms.j2, in their preferred language:
# ``code``/``link`` is the secret, ``lifetime`` how long it lives ("1 minute",
# "10 minutes"; see ``lifetime_text``), ``business_unit`` the sender.

# The same words whatever happened, so that answers cannot tell a known
# identifier from an unknown one.
GENERIC_SENT = "If this address or number is on file, a message is on its way."
CODE_INVALID = "This code is not valid. Please request a new code."
CODE_WRONG = "That code is not right. You have {n} {tries} left."
CODE_EXPIRED = "This code has expired. Please request a new one."
CODE_DEAD = "Too many attempts. Please request a new code."
LINK_INVALID = "This link has expired or was already used. Ask for a new one."
SEND_TOO_SOON = "Please wait a moment before asking for another message."
SEND_TOO_MANY = "Too many messages were requested. Please try again later."
VERIFY_TOO_MANY = "Too many failed attempts. Please try again later."


class RateLimited(Exception):
    """A limit was hit; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int, detail: str) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.detail = detail


class CodeRejected(Exception):
    """Verification failed; ``tries_left`` is what the user may still try on this code."""

    def __init__(self, detail: str, tries_left: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.tries_left = tries_left


class LinkInvalid(Exception):
    """Unknown, expired, used or revoked link (one reason for all, on purpose)."""

    def __init__(self) -> None:
        super().__init__(LINK_INVALID)
        self.detail = LINK_INVALID


class PermanentLinksDisabled(Exception):
    """The client's business unit does not allow permanent login links."""


@dataclass(frozen=True)
class IssuedSession:
    """A new session: the token is shown once and never stored."""

    token: str
    client_id: int
    expires_at: datetime


@dataclass(frozen=True)
class LinkPreview:
    """What opening a link (without consuming it) may tell the app."""

    kind: str
    business_unit: str


class LinkInfo(BaseModel):
    """A login link as staff see it; the token itself is never available again."""

    id: int
    client_id: int
    kind: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    consumed_at: datetime | None
    revoked_at: datetime | None


# --- helpers ----------------------------------------------------------------


def identifier_key(kind: str, value: str) -> str:
    """The stored form of a normalized identifier: ``email:a@b.c`` or ``phone:+336…``."""
    return f"{kind}:{value}"


def link_url(settings: Settings, token: str) -> str:
    """The URL a client opens; the token sits in the fragment, which browsers never send."""
    return f"{settings.public_base_url.rstrip('/')}/login/link#{token}"


def lifetime_text(seconds: int) -> str:
    """How long a code or link lives, in whole minutes rounded up ("1 minute", "10 minutes").

    Rounded up so that a lifetime under a minute never reads "0 minutes"; the
    words are the same in English and French.
    """
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


def _find_client(db: Session, kind: str, value: str) -> tuple[Client, BusinessUnit] | None:
    """The client owning this contact, if it may use the portal right now."""
    row = db.execute(
        select(Client, BusinessUnit)
        .join(ClientContact, ClientContact.client_id == Client.id)
        .join(BusinessUnit, BusinessUnit.id == Client.business_unit_id)
        .where(ClientContact.kind == kind, ClientContact.value == value)
    ).first()
    if row is None:
        return None
    client, bu = row
    if not client.portal_access or not bu.portal_enabled:
        return None
    return client, bu


def _check_send_limits(db: Session, settings: Settings, ident: str, ip: str, now: datetime) -> None:
    """Raise :class:`RateLimited` when another message may not be sent yet.

    Counted per normalized identifier whether or not it is on file (so a limit
    never tells the two apart) and per IP address.
    """
    wait = ratelimit.retry_after(
        db, f"send:ip:{ip}", now, settings.send_requests_per_ip_per_hour, HOUR
    )
    if wait is not None:
        raise RateLimited(wait, SEND_TOO_MANY)
    wait = ratelimit.retry_after(
        db, f"send:id:{ident}", now, 1, settings.otp_send_min_interval_seconds
    )
    if wait is not None:
        raise RateLimited(wait, SEND_TOO_SOON)
    wait = ratelimit.retry_after(db, f"send:id:{ident}", now, settings.otp_send_max_per_hour, HOUR)
    if wait is not None:
        raise RateLimited(wait, SEND_TOO_MANY)
    ratelimit.hit(db, f"send:ip:{ip}", now)
    ratelimit.hit(db, f"send:id:{ident}", now)


def _deliver(db: Session, sender: MessageSender, message: Message, now: datetime) -> None:
    # A failing provider must not turn into a 500 (nor reveal that the
    # identifier exists): log it for staff and carry on.
    try:
        sender.send(db, message, now)
    except Exception:
        log.exception("could not send %s to %s", message.channel, message.recipient)
        record(db, message, now, "not_sent", "delivery failed")


# --- one-time codes -----------------------------------------------------------


def request_code(
    db: Session, settings: Settings, sender: MessageSender, identifier: str, ip: str, now: datetime
) -> None:
    """Send a fresh one-time code to ``identifier`` if it belongs to an active client.

    Raises :class:`RateLimited`; otherwise the caller answers the same generic
    sentence whatever happened. Issuing a code deletes the older ones, so only
    the newest is ever valid. Commits.
    """
    kind, value = parse_identifier(identifier)
    ident = identifier_key(kind, value)
    _check_send_limits(db, settings, ident, ip, now)
    found = _find_client(db, kind, value)
    if found is not None:
        client, bu = found
        code = new_code()
        channel: Channel = "email" if kind == "email" else "sms"
        lang = language(client.preferred_language)
        texts = render_message(
            "login_code",
            lang,
            {
                "business_unit": bu.name,
                "brand_color": bu.primary_color,
                "code": code,
                "lifetime": lifetime_text(settings.otp_ttl_seconds),
            },
            tz=bu.timezone,
        )
        message = Message(
            channel=channel,
            recipient=value,
            subject=texts.subject if channel == "email" else "",
            body=texts.text if channel == "email" else texts.sms,
            html=texts.html if channel == "email" else "",
            business_unit_id=bu.id,
            client_id=client.id,
            language=lang,
            # An SMS is paid for below, before the code exists.
            prepaid=channel == "sms",
        )
        if channel == "sms" and not reserve_sms_credit(db, settings, bu.id, message.body):
            # No code is kept for a message that never left: the client gets
            # the generic answer and staff see why in the message log.
            record(db, message, now, "not_sent", NO_CREDIT)
        else:
            db.execute(delete(LoginCode).where(LoginCode.identifier == ident))
            db.add(
                LoginCode(
                    identifier=ident,
                    client_id=client.id,
                    code_hmac=keyed_hash(settings.resolved_secret_key(), "otp", ident, code),
                    created_at=now,
                    expires_at=now + timedelta(seconds=settings.otp_ttl_seconds),
                )
            )
            _deliver(db, sender, message, now)
    db.commit()


def _check_failure_limits(
    db: Session, settings: Settings, ident: str, ip: str, now: datetime
) -> None:
    wait = ratelimit.retry_after(
        db, f"fail:ip:{ip}", now, settings.verify_failures_per_ip_per_hour, HOUR
    )
    if wait is None:
        wait = ratelimit.retry_after(
            db, f"fail:id:{ident}", now, settings.verify_failures_per_identifier_per_hour, HOUR
        )
    if wait is not None:
        raise RateLimited(wait, VERIFY_TOO_MANY)


def _reject(
    db: Session, ident: str, ip: str, now: datetime, detail: str, tries_left: int
) -> CodeRejected:
    """Count the failure (committed) and build the error to raise."""
    ratelimit.hit(db, f"fail:ip:{ip}", now)
    ratelimit.hit(db, f"fail:id:{ident}", now)
    db.commit()
    return CodeRejected(detail, tries_left)


def _wrong(settings: Settings, failed: int) -> tuple[str, int]:
    left = max(0, settings.otp_max_attempts - failed)
    if left == 0:
        return CODE_DEAD, 0
    return CODE_WRONG.format(n=left, tries="try" if left == 1 else "tries"), left


def verify_code(
    db: Session, settings: Settings, identifier: str, code: str, ip: str, now: datetime
) -> IssuedSession:
    """Exchange the newest code sent to ``identifier`` for a session.

    Raises :class:`RateLimited` or :class:`CodeRejected`. Commits.
    """
    kind, value = parse_identifier(identifier)
    ident = identifier_key(kind, value)
    _check_failure_limits(db, settings, ident, ip, now)
    row = db.scalars(
        select(LoginCode)
        .where(LoginCode.identifier == ident)
        .order_by(LoginCode.created_at.desc(), LoginCode.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise _phantom_rejection(db, settings, ident, ip, now)
    if row.consumed_at is not None:
        raise _reject(db, ident, ip, now, CODE_INVALID, 0)
    if now >= row.expires_at:
        raise _reject(db, ident, ip, now, CODE_EXPIRED, 0)
    if row.failed_attempts >= settings.otp_max_attempts:
        raise _reject(db, ident, ip, now, CODE_DEAD, 0)
    if not matches(row.code_hmac, settings.resolved_secret_key(), "otp", ident, code):
        row.failed_attempts += 1
        raise _reject(db, ident, ip, now, *_wrong(settings, row.failed_attempts))
    client = db.get(Client, row.client_id)
    bu = db.get(BusinessUnit, client.business_unit_id) if client else None
    if client is None or bu is None or not client.portal_access or not bu.portal_enabled:
        # Access was withdrawn after the code went out.
        row.consumed_at = now
        raise _reject(db, ident, ip, now, CODE_INVALID, 0)
    row.consumed_at = now
    return _open_session(db, settings, client.id, "code", now, contact=value)


def _phantom_rejection(
    db: Session, settings: Settings, ident: str, ip: str, now: datetime
) -> CodeRejected:
    """Answer for an identifier that has no code, exactly as if it had one.

    Unknown or disabled identifiers never get a code row, but the send events
    we count for them tell when a code *would* have been issued; replaying the
    same expiry and attempt rules from them makes the answers (detail and
    ``tries_left``) identical to those of a known identifier.
    """
    last_send = db.scalar(
        select(RateEvent.at)
        .where(RateEvent.key == f"send:id:{ident}")
        .order_by(RateEvent.at.desc())
        .limit(1)
    )
    if last_send is None:
        return _reject(db, ident, ip, now, CODE_INVALID, 0)
    if now >= last_send + timedelta(seconds=settings.otp_ttl_seconds):
        return _reject(db, ident, ip, now, CODE_EXPIRED, 0)
    failed = len(
        list(
            db.scalars(
                select(RateEvent.id).where(
                    RateEvent.key == f"fail:id:{ident}", RateEvent.at >= last_send
                )
            )
        )
    )
    if failed >= settings.otp_max_attempts:
        return _reject(db, ident, ip, now, CODE_DEAD, 0)
    return _reject(db, ident, ip, now, *_wrong(settings, failed + 1))


def _open_session(
    db: Session,
    settings: Settings,
    client_id: int,
    method: str,
    now: datetime,
    contact: str | None = None,
) -> IssuedSession:
    token = create_session(db, settings, client_id, method, now, contact)
    db.commit()
    return IssuedSession(
        token=token,
        client_id=client_id,
        expires_at=now + timedelta(seconds=settings.session_absolute_seconds),
    )


# --- links ------------------------------------------------------------------------


def _link_digest(settings: Settings, token: str) -> str:
    return keyed_hash(settings.resolved_secret_key(), "link", token)


def request_sms_link(
    db: Session, settings: Settings, sender: MessageSender, phone: str, ip: str, now: datetime
) -> None:
    """Text a single-use sign-in link to ``phone`` if it belongs to an active client.

    Needs the business unit to allow SMS links and to hold the SMS's price
    (its segments × ``sms_cost_centicredits``), which the SMS then costs.
    Without credit nothing is sent and staff see a ``not_sent`` line
    (reason ``no_credit``) in the message log. Shares the
    send limits of :func:`request_code` (same identifier key). Raises
    :class:`RateLimited`. Commits.
    """
    value = normalize_phone(phone)
    ident = identifier_key("phone", value)
    _check_send_limits(db, settings, ident, ip, now)
    found = _find_client(db, "phone", value)
    if found is not None and found[1].sms_links_allowed:
        client, bu = found
        token = new_token()
        lang = language(client.preferred_language)
        body = render_part(
            "login_link",
            "sms",
            lang,
            {
                "business_unit": bu.name,
                "lifetime": lifetime_text(settings.sms_link_ttl_seconds),
                "link": link_url(settings, token),
            },
            tz=bu.timezone,
        )
        message = Message(
            channel="sms",
            recipient=value,
            subject="",
            body=body,
            business_unit_id=bu.id,
            client_id=client.id,
            language=lang,
            prepaid=True,
        )
        if reserve_sms_credit(db, settings, bu.id, body):
            # Only the newest SMS link of a client stays usable.
            db.execute(
                update(LoginLink)
                .where(
                    LoginLink.client_id == client.id,
                    LoginLink.kind == "sms",
                    LoginLink.consumed_at.is_(None),
                    LoginLink.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            db.add(
                LoginLink(
                    client_id=client.id,
                    kind="sms",
                    token_hash=_link_digest(settings, token),
                    created_at=now,
                    expires_at=now + timedelta(seconds=settings.sms_link_ttl_seconds),
                    contact=value,
                )
            )
            _deliver(db, sender, message, now)
        else:
            record(db, message, now, "not_sent", NO_CREDIT)
    db.commit()


def _live_link(
    db: Session, settings: Settings, token: str, now: datetime
) -> tuple[LoginLink, Client, BusinessUnit]:
    """The usable link behind ``token``, or :class:`LinkInvalid` for every failure reason."""
    row = db.execute(
        select(LoginLink, Client, BusinessUnit)
        .join(Client, Client.id == LoginLink.client_id)
        .join(BusinessUnit, BusinessUnit.id == Client.business_unit_id)
        .where(LoginLink.token_hash == _link_digest(settings, token))
    ).first()
    if row is None:
        raise LinkInvalid()
    link, client, bu = row
    if (
        link.revoked_at is not None
        or link.consumed_at is not None
        or (link.expires_at is not None and now >= link.expires_at)
        or not client.portal_access
        or not bu.portal_enabled
        # Turning permanent links off for a business unit disables those
        # already issued too: they are long-lived, unlike 15-minute SMS links.
        or (link.kind == "permanent" and not bu.permanent_links_allowed)
    ):
        raise LinkInvalid()
    return link, client, bu


def inspect_link(db: Session, settings: Settings, token: str, now: datetime) -> LinkPreview:
    """Tell whether ``token`` is usable, without consuming it (mail scanners open links)."""
    link, _client, bu = _live_link(db, settings, token, now)
    return LinkPreview(kind=link.kind, business_unit=bu.name)


def confirm_link(db: Session, settings: Settings, token: str, now: datetime) -> IssuedSession:
    """Exchange a link for a fresh session.

    An SMS or email link is consumed (single use); a permanent link stays valid
    and each exchange yields a new session. The session records the contact
    the link was sent to (``LoginLink.contact``). Raises :class:`LinkInvalid`. Commits.
    """
    link, client, _bu = _live_link(db, settings, token, now)
    if link.kind != "permanent":  # "sms" or "email": single use
        # Conditional update: of two concurrent confirms only one wins.
        won = db.execute(
            update(LoginLink)
            .where(LoginLink.id == link.id, LoginLink.consumed_at.is_(None))
            .values(consumed_at=now)
        ).rowcount
        if not won:
            db.rollback()
            raise LinkInvalid()
    method = f"{link.kind}_link"  # sms_link, email_link, permanent_link
    return _open_session(db, settings, client.id, method, now, contact=link.contact)


def issue_permanent_link(
    db: Session,
    settings: Settings,
    client_id: int,
    now: datetime,
    label: str = "",
    contact: str | None = None,
) -> str:
    """Create a permanent login link for a client and return its token (shown once).

    Raises :class:`LookupError` for an unknown client,
    :class:`PermanentLinksDisabled` when the business unit does not allow
    permanent links and :class:`ValueError` for a label over 100 characters.
    ``contact``: the email or phone the link is sent to (its sign-ins record it).
    Build the URL with :func:`link_url`. The caller commits.
    """
    client = db.get(Client, client_id)
    if client is None:
        raise LookupError(f"No client with id {client_id}.")
    bu = db.get(BusinessUnit, client.business_unit_id)
    if bu is None or not bu.permanent_links_allowed:
        raise PermanentLinksDisabled("Permanent login links are turned off for this business unit.")
    if len(label) > 100:
        raise ValueError("The label is longer than 100 characters.")
    token = new_token()
    db.add(
        LoginLink(
            client_id=client_id,
            kind="permanent",
            token_hash=_link_digest(settings, token),
            created_at=now,
            expires_at=None,
            label=label,
            contact=contact,
        )
    )
    db.flush()
    return token


def issue_permanent_links(
    db: Session, settings: Settings, client_ids: list[int], now: datetime, label: str = ""
) -> dict[int, str]:
    """Bulk :func:`issue_permanent_link` in one statement: ``{client_id: token}``.

    For the portal-access messages (``backend.services.triggers``): the
    caller has checked that the units allow permanent links. The caller commits.
    """
    if not client_ids:
        return {}
    tokens = {client_id: new_token() for client_id in client_ids}
    db.execute(
        insert(LoginLink),
        [
            {
                "client_id": client_id,
                "kind": "permanent",
                "token_hash": _link_digest(settings, token),
                "created_at": now,
                "expires_at": None,
                "label": label[:100],
            }
            for client_id, token in tokens.items()
        ],
    )
    return tokens


def revoke_permanent_link(db: Session, link_id: int, now: datetime) -> bool:
    """Revoke a permanent link; False when there is no such live link. The caller commits.

    Sessions already opened with the link stay alive; revoke them with
    :func:`backend.services.sessions.revoke_client_sessions` if needed.
    """
    result = db.execute(
        update(LoginLink)
        .where(
            LoginLink.id == link_id,
            LoginLink.kind == "permanent",
            LoginLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return bool(result.rowcount)


def list_links(db: Session, client_id: int) -> list[LinkInfo]:
    """Every login link of a client, newest first, without any secret."""
    rows = db.scalars(
        select(LoginLink)
        .where(LoginLink.client_id == client_id)
        .order_by(LoginLink.created_at.desc(), LoginLink.id.desc())
    )
    return [
        LinkInfo(
            id=r.id,
            client_id=r.client_id,
            kind=r.kind,
            label=r.label,
            created_at=r.created_at,
            expires_at=r.expires_at,
            consumed_at=r.consumed_at,
            revoked_at=r.revoked_at,
        )
        for r in rows
    ]

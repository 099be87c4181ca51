"""Provider adapters: how a queued message actually leaves (SMTP, an HTTP SMS API).

Each adapter implements :class:`Transport`: ``send(outgoing)`` returns the
provider's id for the message, or raises :class:`PermanentFailure` (the
provider will never take it: the message goes dead) or
:class:`TemporaryFailure` (try again later, after ``retry_after`` seconds
when the provider said so). Any other exception counts as temporary.

Idempotency: every message carries a key that stays the same across retries.
The SMS adapter sends it to the provider (JSON field and ``Idempotency-Key``
header), so a provider that honours keys never sends twice after a crash
mid-send. SMTP has no such thing: the key becomes the email's ``Message-ID``,
which lets a receiving system (or a person) recognise a duplicate, but an
SMTP server accepts the same message twice.

Adapters are used by one delivery worker thread at a time; they keep a
connection open between messages of a batch and ``close()`` it after.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Protocol

import httpx

from backend.core.config import Settings


@dataclass(frozen=True)
class OutgoingAttachmentData:
    """A file attached to an outgoing email."""

    filename: str
    media_type: str
    content: bytes


@dataclass(frozen=True)
class Outgoing:
    """What a transport needs of a queued message (read from ``outgoing_messages``)."""

    id: int
    channel: str
    recipient: str
    subject: str
    body: str
    html: str
    idempotency_key: str
    attempt: int = 1  # 1 for the first try; a retry after a crash keeps the key
    attachments: tuple[OutgoingAttachmentData, ...] = ()


class TemporaryFailure(Exception):
    """The provider could not take the message now; ``retry_after`` seconds if it said."""

    def __init__(self, error: str, retry_after: float | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """The provider refused the message for good (bad address, rejected content…)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class Transport(Protocol):
    def send(self, message: Outgoing) -> str:
        """Hand ``message`` to the provider; returns its id for it (may be empty)."""

    def close(self) -> None:
        """Release any open connection."""


# --- email ---------------------------------------------------------------------------


DEFAULT_SMTP_PORTS = {"none": 25, "starttls": 587, "tls": 465}


def message_id(idempotency_key: str, sender: str) -> str:
    """The ``Message-ID`` of a queued email: the same for every attempt of one message."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "portal.invalid"
    return f"<{idempotency_key}@{domain}>"


def build_email(message: Outgoing, sender: str) -> EmailMessage:
    """The MIME email: plain text, an HTML alternative when there is one, attachments."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = message_id(message.idempotency_key, sender)
    email.set_content(message.body)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    for item in message.attachments:
        maintype, _, subtype = item.media_type.partition("/")
        email.add_attachment(
            item.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=item.filename,
        )
    return email


class SmtpTransport:
    """Sends email through an SMTP server: plain, STARTTLS or implicit TLS, with or without auth."""

    def __init__(
        self,
        host: str,
        port: int = 0,
        *,
        security: str = "starttls",
        username: str = "",
        password: str = "",
        sender: str = "",
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in DEFAULT_SMTP_PORTS:
            raise ValueError(f"smtp security must be none, starttls or tls, not {security!r}")
        self.host = host
        self.port = port or DEFAULT_SMTP_PORTS[security]
        self.security = security
        self.username = username
        self.password = password
        self.sender = sender or f"portal@{host}"
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self._smtp: smtplib.SMTP | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport:
        """The adapter ``PORTAL_SMTP_*`` describes."""
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_from,
            timeout=settings.smtp_timeout_seconds,
        )

    def _connect(self) -> smtplib.SMTP:
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=self.ssl_context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: Outgoing) -> str:
        """Send one email; SMTP 5xx answers are permanent, the rest temporary."""
        email = build_email(message, self.sender)
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                self._smtp.send_message(email)
            except smtplib.SMTPServerDisconnected:
                # A kept connection the server closed meanwhile: one fresh try.
                self.close()
                self._smtp = self._connect()
                self._smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            error = "; ".join(f"{code} {text!r}" for code, text in exc.recipients.values())
            if all(code >= 500 for code in codes):
                raise PermanentFailure(f"recipient refused: {error}") from exc
            raise TemporaryFailure(f"recipient deferred: {error}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            # Wrong credentials are a configuration problem: retry once fixed.
            self.close()
            raise TemporaryFailure(f"SMTP authentication failed: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            text = exc.smtp_error.decode(errors="replace") if exc.smtp_error else ""
            error = f"SMTP {exc.smtp_code} {text}".strip()
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(error) from exc
            raise TemporaryFailure(error) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise TemporaryFailure(f"SMTP {type(exc).__name__}: {exc}") from exc
        return str(email["Message-ID"])

    def close(self) -> None:
        """Quit the kept connection, if any."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


# --- SMS -----------------------------------------------------------------------------


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class HttpSmsTransport:
    """Sends SMS through an HTTP API: JSON POST ``{to, from, text, idempotency_key}``.

    2xx: accepted (the provider's id from ``id`` / ``message_id`` when it
    gives one); 429 and 5xx: try again (after ``Retry-After`` when given);
    timeouts and network errors: try again; any other 4xx: refused for good.
    """

    def __init__(
        self,
        url: str,
        *,
        sender: str = "",
        username: str = "",
        password: str = "",
        token: str = "",
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.sender = sender
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        auth = httpx.BasicAuth(username, password) if username and not token else None
        self._client = httpx.Client(timeout=timeout, headers=headers, auth=auth)

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpSmsTransport:
        """The adapter ``PORTAL_SMS_*`` describes."""
        return cls(
            settings.sms_url,
            sender=settings.sms_sender,
            username=settings.sms_username,
            password=settings.sms_password,
            token=settings.sms_token,
            timeout=settings.sms_timeout_seconds,
        )

    def send(self, message: Outgoing) -> str:
        """Post one SMS; the idempotency key goes in the body and the header."""
        payload = {
            "to": message.recipient,
            "from": self.sender,
            "text": message.body,
            "idempotency_key": message.idempotency_key,
        }
        try:
            response = self._client.post(
                self.url, json=payload, headers={"Idempotency-Key": message.idempotency_key}
            )
        except httpx.TimeoutException as exc:
            raise TemporaryFailure(f"SMS provider timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise TemporaryFailure(f"SMS provider unreachable: {type(exc).__name__}") from exc
        status = response.status_code
        detail = response.text[:200]
        if 200 <= status < 300:
            try:
                data = response.json()
            except ValueError:
                data = {}
            if isinstance(data, dict):
                return str(data.get("id") or data.get("message_id") or "")
            return ""
        if status == 429 or status >= 500:
            raise TemporaryFailure(f"SMS provider {status}: {detail}", _retry_after(response))
        raise PermanentFailure(f"SMS provider {status}: {detail}")

    def close(self) -> None:
        """Nothing to release between batches (httpx keeps its pool)."""

    def shutdown(self) -> None:
        """Close the HTTP client for good."""
        self._client.close()


def transports_from_settings(settings: Settings) -> dict[str, Transport]:
    """The configured adapters by channel; a channel left out uses the development outbox."""
    found: dict[str, Transport] = {}
    if settings.smtp_host:
        found["email"] = SmtpTransport.from_settings(settings)
    if settings.sms_url:
        found["sms"] = HttpSmsTransport.from_settings(settings)
    return found


def live_channels(settings: Settings) -> frozenset[str]:
    """The channels with a real provider configured."""
    channels = set()
    if settings.smtp_host:
        channels.add("email")
    if settings.sms_url:
        channels.add("sms")
    return frozenset(channels)


__all__ = [
    "HttpSmsTransport",
    "Outgoing",
    "OutgoingAttachmentData",
    "PermanentFailure",
    "SmtpTransport",
    "TemporaryFailure",
    "Transport",
    "build_email",
    "live_channels",
    "message_id",
    "transports_from_settings",
]

"""Persistent entities (SQLAlchemy 2 declarative mapping).

Times are stored in UTC and returned timezone-aware; local rendering uses the
business unit's time zone. JSON columns hold data validated by the pydantic
schemas in :mod:`backend.domain` before it is written.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from backend.document_models import ActivityDocument


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; refuses naive datetimes so local times never sneak in."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class BusinessUnit(Base):
    __tablename__ = "business_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    logo: Mapped[str] = mapped_column(String(200), default="")  # file name under assets/
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    primary_color: Mapped[str] = mapped_column(String(9), default="#1565C0")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    locale: Mapped[str] = mapped_column(String(10), default="fr")

    portal_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    portal_default_for_new_clients: Mapped[bool] = mapped_column(Boolean, default=True)
    permanent_links_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    sms_links_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    show_cancelled_activities: Mapped[bool] = mapped_column(Boolean, default=True)
    # Hundredths of a credit so that the 0.2-credit SMS price is exact.
    sms_centicredits: Mapped[int] = mapped_column(Integer, default=0)
    # Scheduling policy and travel model (validated by backend.domain.BookingSettings).
    booking: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Bumped by every write that changes a technician's day, so a cached
    # scheduling index knows when it is stale (see backend.services.booking).
    schedule_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Formats of the documents clients get (reports, quotes, forms): "pdf",
    # "docx" or "both" (see backend/services/documents.py).
    report_formats: Mapped[str] = mapped_column(String(10), default="pdf", server_default="pdf")


class Client(Base):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_unit_id: Mapped[int] = mapped_column(ForeignKey("business_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    portal_access: Mapped[bool] = mapped_column(Boolean, default=True)
    preferred_language: Mapped[str] = mapped_column(String(10), default="fr")
    # Consent to automatic messages (backend/services/triggers). SMS: None
    # follows the business unit (on when it allows SMS links), so a unit that
    # never sends SMS does not opt its clients in.
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    sms_notifications: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    business_unit: Mapped[BusinessUnit] = relationship()
    contacts: Mapped[list[ClientContact]] = relationship(
        back_populates="client", cascade="all, delete-orphan", order_by="ClientContact.id"
    )
    sites: Mapped[list[Site]] = relationship(
        back_populates="client", cascade="all, delete-orphan", order_by="Site.id"
    )


class ClientContact(Base):
    """An email address or phone number on file; ``value`` is normalized."""

    __tablename__ = "client_contacts"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_contact_kind_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # "email" | "phone"
    value: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(100), default="")

    client: Mapped[Client] = relationship(back_populates="contacts")


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    street: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)

    client: Mapped[Client] = relationship(back_populates="sites")


class Technician(Base):
    __tablename__ = "technicians"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_unit_id: Mapped[int] = mapped_column(ForeignKey("business_units.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100), default="")
    skills: Mapped[list[Any]] = mapped_column(JSON, default=list)
    home_latitude: Mapped[float] = mapped_column(Float)
    home_longitude: Mapped[float] = mapped_column(Float)
    # {"0": [[480, 1020]], ...}: weekday (0 = Monday) -> local [start, end) minutes.
    working_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    absences: Mapped[list[Absence]] = relationship(
        back_populates="technician", cascade="all, delete-orphan"
    )


class Absence(Base):
    __tablename__ = "absences"

    id: Mapped[int] = mapped_column(primary_key=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id"), index=True)
    start: Mapped[datetime]
    end: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200), default="")

    technician: Mapped[Technician] = relationship(back_populates="absences")


class FormDefinition(Base):
    __tablename__ = "form_definitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_unit_id: Mapped[int] = mapped_column(ForeignKey("business_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    fields: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Editing a form that has answers makes a new version (a new row); the old
    # one points to it and stays for the answers given on it.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    replaced_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ActivityType(Base):
    __tablename__ = "activity_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_unit_id: Mapped[int] = mapped_column(ForeignKey("business_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    default_duration_min: Mapped[int] = mapped_column(Integer, default=60)
    required_skills: Mapped[list[Any]] = mapped_column(JSON, default=list)
    portal_shown: Mapped[bool] = mapped_column(Boolean, default=True)
    title_template: Mapped[str] = mapped_column(String(300), default="{type.name}")
    portal_actions: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Activity(Base):
    __tablename__ = "activities"
    __table_args__ = (
        Index("ix_activities_tech_start", "technician_id", "scheduled_start"),
        Index("ix_activities_client", "client_id"),
        # Due reminders are found by a range scan on the arrival window.
        Index("ix_activities_window_start", "window_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    business_unit_id: Mapped[int] = mapped_column(ForeignKey("business_units.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    type_id: Mapped[int] = mapped_column(ForeignKey("activity_types.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="to_schedule")
    scheduled_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scheduled_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("technicians.id"), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    closure_report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reschedule_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    client: Mapped[Client] = relationship()
    site: Mapped[Site] = relationship()
    type: Mapped[ActivityType] = relationship()
    technician: Mapped[Technician | None] = relationship()
    steps: Mapped[list[ActivityStep]] = relationship(
        back_populates="activity", cascade="all, delete-orphan", order_by="ActivityStep.at"
    )
    # Read-only: submissions and signatures are evidence that outlives the
    # activity (no foreign key, never cascaded).
    submissions: Mapped[list[FormSubmission]] = relationship(
        primaryjoin="Activity.id == foreign(FormSubmission.activity_id)",
        viewonly=True,
        order_by="FormSubmission.id",
    )
    validations: Mapped[list[ValidationEvent]] = relationship(
        primaryjoin="Activity.id == foreign(ValidationEvent.activity_id)",
        viewonly=True,
        order_by="ValidationEvent.id",
    )
    quote: Mapped[ActivityQuote | None] = relationship(
        back_populates="activity", cascade="all, delete-orphan", uselist=False
    )
    # The generated files offered to the client (backend/document_models.py);
    # written by backend/services/documents.py only.
    documents: Mapped[list[ActivityDocument]] = relationship(
        primaryjoin="Activity.id == foreign(ActivityDocument.activity_id)",
        viewonly=True,
        order_by="ActivityDocument.id",
    )


class ActivityQuote(Base):
    """The company's quote on an activity (at most one), and its PDF when staff attached one.

    ``document`` is ``backend.quotes.quote_document``: lines and totals as
    issued, frozen when saved. The PDF bytes are deferred: the feed only
    needs their size and hash.
    """

    __tablename__ = "quotes"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), unique=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    pdf_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    activity: Mapped[Activity] = relationship(back_populates="quote")


class ActivityStep(Base):
    """A follow-up step the client sees.

    ``code`` is translated by the app; ``note`` is free text from staff.
    """

    __tablename__ = "activity_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), index=True)
    at: Mapped[datetime]
    code: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")

    activity: Mapped[Activity] = relationship(back_populates="steps")


# --- authentication -------------------------------------------------------


class LoginCode(Base):
    __tablename__ = "login_codes"
    __table_args__ = (Index("ix_login_codes_identifier", "identifier", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(210))  # "email:..." or "phone:+33..."
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    code_hmac: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LoginLink(Base):
    """SMS temporary link (single use, short-lived) or staff-issued permanent link."""

    __tablename__ = "login_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # "sms" | "email" | "permanent"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    # The email or phone (normalised) the link was sent to; sessions opened
    # with it record it. None for links handed over another way.
    contact: Mapped[str | None] = mapped_column(String(200), nullable=True)


class AuthSession(Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    method: Mapped[str] = mapped_column(String(20), default="code")
    # The email or phone (normalised) signed in with: the code's identifier or
    # the contact the link was sent to; None when unknown (a permanent link
    # handed over by hand). Shown to staff as the client's recent sign-ins.
    contact: Mapped[str | None] = mapped_column(String(200), nullable=True)


class RateEvent(Base):
    """One counted event (code sent, failed verification) for sliding-window limits."""

    __tablename__ = "rate_events"
    __table_args__ = (Index("ix_rate_events_key", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(260))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class OutgoingMessage(Base):
    """Every email/SMS the server sends or tried to: the delivery queue and the staff log.

    ``status``: ``queued`` (waiting for the delivery worker), ``sending`` (claimed
    by a worker until ``next_attempt_at``, its lease), ``sent``, ``failed`` (a
    retry is due at ``next_attempt_at``), ``dead`` (gave up; ``last_error``
    says why) or ``not_sent`` (refused before queueing; ``reason`` says why).
    Without a configured provider for its channel a message is recorded
    ``sent`` at once (the development outbox). See backend/services/delivery.py.
    """

    __tablename__ = "outgoing_messages"
    __table_args__ = (Index("ix_outgoing_messages_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    business_unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("business_units.id"), nullable=True, index=True
    )
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id"), nullable=True, index=True
    )
    channel: Mapped[str] = mapped_column(String(10))  # "email" | "sms"
    recipient: Mapped[str] = mapped_column(String(200), index=True)
    language: Mapped[str] = mapped_column(String(10), default="", server_default="")
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Sent to providers that accept one (SMS API) and the email's Message-ID,
    # so a retry after a crash is recognised as the same message.
    idempotency_key: Mapped[str] = mapped_column(
        String(64), unique=True, default=lambda: uuid.uuid4().hex
    )
    # The event the message is for; a second message for it is never queued.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="", server_default="")
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    provider_id: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # SMS only: GSM-7/UCS-2 segments and what they cost the business unit.
    segments: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cost_centicredits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    attachments: Mapped[list[OutgoingAttachment]] = relationship(
        cascade="all, delete-orphan", order_by="OutgoingAttachment.position"
    )


class OutgoingAttachment(Base):
    """A file sent with a queued email (a report PDF, an ``.ics``), kept until delivered."""

    __tablename__ = "outgoing_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("outgoing_messages.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)


# --- sync feed ------------------------------------------------------------


class RevisionCounter(Base):
    """Single row holding the last issued revision.

    Writers increment it inside their transaction, which also serializes them,
    so a reader can never see revision N+1 committed before N.
    """

    __tablename__ = "revision_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class FeedEntry(Base):
    """What one client currently sees of one document, with the revision it last changed.

    The feed is a per-client materialized projection: pulling is a single range
    scan on (client_id, rev), and visibility changes become tombstones.
    """

    __tablename__ = "feed_entries"
    __table_args__ = (
        UniqueConstraint("client_id", "kind", "key", name="uq_feed_doc"),
        Index("ix_feed_client_rev", "client_id", "rev"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(40))
    rev: Mapped[int] = mapped_column(Integer)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    digest: Mapped[str] = mapped_column(String(64), default="")
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Mutation(Base):
    """Idempotency record: a mutation id and the first result it produced."""

    __tablename__ = "mutations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(40))
    # The activity the id was first used on (no foreign key: the record must
    # outlive a deleted activity, so that the id stays bound to it).
    activity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status_code: Mapped[int] = mapped_column(Integer)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- forms, signatures, document validation (append-only evidence) -----------


class FormSubmission(Base):
    """One form a client sent for a portal action (fill_form, survey, validate_document).

    Append-only: inserted, never updated or deleted. A later ``fill_form``
    submission is a new ``version``. ``activity_id`` and ``form_id`` carry no
    foreign key so the evidence outlives a deleted activity or an edited form;
    the definition answered is copied in ``form_fields``. The large columns are
    deferred: the activity documents only need the state.
    """

    __tablename__ = "form_submissions"
    __table_args__ = (
        UniqueConstraint("activity_id", "action_key", "version", name="uq_submission_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    activity_id: Mapped[int] = mapped_column(Integer)
    action_key: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    form_id: Mapped[int] = mapped_column(Integer)
    form_name: Mapped[str] = mapped_column(String(200))
    form_fields: Mapped[list[Any]] = mapped_column(JSON, deferred=True)
    form_sha256: Mapped[str] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    answers_sha256: Mapped[str] = mapped_column(String(64))
    mutation_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(10))  # "app" | "web"
    device_id: Mapped[str] = mapped_column(String(100), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    session_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ValidationEvent(Base):
    """A client accepted (signed) or refused a document: the evidence trail.

    Append-only. ``document_sha256`` is the SHA-256 of exactly the document
    shown (``backend.forms.document_for``); one decision per document version,
    which the unique constraint enforces across processes.
    """

    __tablename__ = "validation_events"
    __table_args__ = (
        UniqueConstraint("activity_id", "action_key", "document_sha256", name="uq_validation_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    activity_id: Mapped[int] = mapped_column(Integer)
    action_key: Mapped[str] = mapped_column(String(40))
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("form_submissions.id"), nullable=True
    )
    decision: Mapped[str] = mapped_column(String(10))  # "accepted" | "refused"
    reason: Mapped[str] = mapped_column(Text, default="")
    document_sha256: Mapped[str] = mapped_column(String(64))
    # The identifier the session signed in with ("email:…", "phone:…") when known.
    signer_contact: Mapped[str] = mapped_column(String(210), default="")
    sign_in_method: Mapped[str] = mapped_column(String(20), default="")
    session_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channel: Mapped[str] = mapped_column(String(10))
    device_id: Mapped[str] = mapped_column(String(100), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- automatic messages -------------------------------------------------------


class NotificationTrigger(Base):
    """A business unit's automatic message for one event (backend/services/triggers).

    ``activity_type_id`` None applies to every type; a row for the activity's
    own type wins over it. ``templates`` holds staff overrides per language
    (``{"fr": {"subject": "...", "body": "..."}}``, replacement codes of
    ``backend.templates`` plus ``{portal_link}``); an empty text uses the
    built-in template file. ``hours_before`` is for reminders only;
    ``recipient`` for the planning notice only (empty: the unit's email).
    """

    __tablename__ = "notification_triggers"
    __table_args__ = (Index("ix_notification_triggers_bu_event", "business_unit_id", "event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    business_unit_id: Mapped[int] = mapped_column(ForeignKey("business_units.id"))
    activity_type_id: Mapped[int | None] = mapped_column(
        ForeignKey("activity_types.id"), nullable=True
    )
    event: Mapped[str] = mapped_column(String(30))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    channel: Mapped[str] = mapped_column(String(10), default="email")  # email | sms | both
    hours_before: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recipient: Mapped[str] = mapped_column(String(200), default="")
    templates: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PendingTrigger(Base):
    """An event recorded in bulk (one INSERT … SELECT) and turned into messages later.

    Granting portal access to 100,000 clients writes one row each here in one
    statement; the delivery worker's cycle (``triggers.due_reminders``)
    expands them in batches and deletes them in the same transaction.
    """

    __tablename__ = "pending_triggers"
    # Ids are never reused (they name the event in the messages' dedupe keys).
    __table_args__ = {"sqlite_autoincrement": True}

    # No foreign keys: checking two per row doubled the cost of a bulk grant
    # on PostgreSQL, and the worker skips a client that no longer exists.
    id: Mapped[int] = mapped_column(primary_key=True)
    business_unit_id: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(30))
    client_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


__all__ = [
    "Absence",
    "Activity",
    "ActivityQuote",
    "ActivityStep",
    "ActivityType",
    "AuthSession",
    "Base",
    "BusinessUnit",
    "Client",
    "ClientContact",
    "FeedEntry",
    "FormDefinition",
    "FormSubmission",
    "LoginCode",
    "LoginLink",
    "Mutation",
    "NotificationTrigger",
    "OutgoingAttachment",
    "OutgoingMessage",
    "PendingTrigger",
    "RateEvent",
    "RevisionCounter",
    "Site",
    "Technician",
    "ValidationEvent",
    "utcnow",
]

# The staff tables, closures and generated documents share this metadata
# (migrations compare the models against it).
from backend import document_models, staff_models  # noqa: E402, F401

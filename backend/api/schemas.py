"""Wire schemas of the portal API (what the app receives)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Branding(BaseModel):
    id: int
    name: str
    logo_url: str | None
    phone: str
    email: str
    address: str
    description: str
    primary_color: str
    timezone: str
    locale: str


class Contact(BaseModel):
    kind: Literal["email", "phone"]
    value: str


class SiteOut(BaseModel):
    id: int
    label: str
    street: str
    postal_code: str
    city: str
    latitude: float
    longitude: float


class Notifications(BaseModel):
    email: bool
    sms: bool


class Profile(BaseModel):
    id: int
    name: str
    preferred_language: str
    contacts: list[Contact]
    sites: list[SiteOut]
    notifications: Notifications


class Me(BaseModel):
    profile: Profile
    branding: Branding


class Step(BaseModel):
    at: str | None
    code: str
    note: str


class TechnicianOut(BaseModel):
    first_name: str


class BookingRules(BaseModel):
    """Guardrails on changing an appointment online (the business unit's settings)."""

    change_cutoff_hours: float
    max_reschedules: int
    reschedules_left: int


class QuoteLineOut(BaseModel):
    label: str
    quantity: str
    unit: str | None
    unit_price: str = Field(description="Excluding tax, decimal text in the quote's currency.")
    tax_rate: str = Field(description="Percent, decimal text.")
    total: str = Field(description="quantity x unit_price, rounded half-up to the minor unit.")


class QuoteTaxOut(BaseModel):
    rate: str
    base: str
    amount: str


class QuotePdfOut(BaseModel):
    url: str = Field(description="GET it with the session token (application/pdf).")
    media_type: str
    size: int
    sha256: str


class QuoteOut(BaseModel):
    """The company's quote on the activity (``backend.quotes.quote_document``): amounts
    are decimal text, never floats. Part of the document a client signs."""

    number: str
    issued_on: str
    valid_until: str
    currency: str = Field(description="ISO 4217")
    note: str | None
    lines: list[QuoteLineOut]
    subtotal: str
    taxes: list[QuoteTaxOut]
    total: str
    pdf: QuotePdfOut | None


class DocumentOut(BaseModel):
    """A generated document of an activity (report, quote, signed quote, form)."""

    key: str = Field(description="Unique within the activity, e.g. report.pdf.")
    kind: Literal["report", "quote", "signed_quote", "form"]
    title: str = Field(description="In the client's language.")
    url: str = Field(description="GET it with the session (ETag / If-None-Match).")
    media_type: str
    filename: str
    size: int = Field(description="Bytes the URL serves.")
    sha256: str = Field(description="SHA-256 of the bytes the URL serves (also the ETag).")
    updated_at: str


class ActivityOut(BaseModel):
    """An activity as the client sees it; ``available_actions`` is evaluated now."""

    id: int
    title: str
    status: str
    type_id: int
    type_name: str
    site: SiteOut
    scheduled_start: str | None
    scheduled_end: str | None
    window_start: str | None
    window_end: str | None
    technician: TechnicianOut | None
    description: str
    steps: list[Step]
    closure_report: dict[str, Any] | None
    actions: list[dict[str, Any]]
    reschedule_count: int
    booking_rules: BookingRules
    available_actions: list[str]
    submissions: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per action key, what the client already sent: state sent (with the "
        "latest version), signed or refused (with the document's SHA-256), and when (at, UTC).",
    )
    quote: QuoteOut | None = Field(
        default=None, description="The company's quote, when the activity has one."
    )
    documents: list[DocumentOut] = Field(
        default_factory=list,
        description="Generated files to download: the intervention report, the quote, "
        "the signed quote, filled forms (absent from the synced document when none).",
    )


class ActivityList(BaseModel):
    items: list[ActivityOut]
    total: int


class FormOut(BaseModel):
    id: int
    name: str
    fields: list[dict[str, Any]]


class Change(BaseModel):
    kind: Literal["profile", "branding", "activity_type", "form", "activity"]
    key: str
    rev: int
    deleted: bool
    body: dict[str, Any] | None


class SyncPage(BaseModel):
    """One page of the delta feed.

    ``reset`` true means: drop every cached document, then apply this page and
    the following ones (the cursor was missing, invalid, foreign or stale).
    """

    reset: bool
    reset_reason: str | None = None
    changes: list[Change]
    cursor: str = Field(description="Opaque; send it back as ?cursor= on the next pull.")
    has_more: bool

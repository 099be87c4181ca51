"""The app's view-model: everything the screens show, and every user action.

Views read plain data from here (strings already translated and formatted)
and call its async methods; they never touch the network, the store or SQL.
This module does the I/O through the sync layer: ``PortalApi`` for the
network, ``SyncEngine`` for pulls, and the ``Store`` through
``asyncio.to_thread`` so a slow disk never blocks the shared event loop
(DESIGN.md §6).

Errors never escape as exceptions to the UI: each becomes a ``Message`` (a
translation key and its parameters) that the screen shows as a sentence.

Listeners (``subscribe``) hear about what changed so the UI patches only
that: ``"session"`` (signed in or out), ``"signin"`` (the sign-in form),
``"status"`` (sync status), ``"data"`` (a ``SyncResult``: which documents
changed), ``"language"``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from app import booking_rules
from app.i18n import Translator, normalize_language, parse_utc
from app.sync.api import ApiError, Offline, PortalApi, RateLimited, Rejected, SignedIn
from app.sync.engine import SyncEngine, SyncResult, SyncStatus
from app.sync.store import Field, Store

log = logging.getLogger(__name__)

ACTIVITIES = "activities"
PROFILE = "profile"
BRANDING = "branding"
# Downloaded images (the logo) as base64 documents, so the app shows them offline.
ASSET_CACHE = "asset_cache"

UPCOMING_STATUSES = ("to_schedule", "scheduled", "in_progress")
PAST_STATUSES = ("done", "cancelled")

# Meta keys this module owns (the sync engine owns cursor and last_sync_at).
META_CLIENT_ID = "client_id"
META_LANGUAGE = "ui_language"
# Set when the language was chosen on this device and the server does not know
# it yet (offline, or chosen before sign-in); cleared once it is sent.
META_LANGUAGE_UNSENT = "ui_language_unsent"

CODE_RE = re.compile(r"^\d{6}$")
# A refusal to send a code with a wait this short means one was sent a moment
# ago (the per-identifier gap, 60 s by default): show the code form and its
# countdown. A longer wait is the hourly limit: say so on the first form.
JUST_SENT_MAX_WAIT = 120

Listener = Callable[[str, Any], Awaitable[None]]


# --- small value types ------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A sentence to show: a translation key and its parameters."""

    key: str
    params: dict[str, object] = field(default_factory=dict)

    def text(self, tr: Translator) -> str:
        """The sentence in ``tr``'s language."""
        return tr.t(self.key, **self.params)


def minutes_for(seconds: int | float) -> int:
    """Whole minutes to tell the user to wait (at least 1)."""
    return max(1, math.ceil(seconds / 60))


def message_for(exc: ApiError) -> Message:
    """Turn an API failure into a sentence for the sign-in and sync screens."""
    if isinstance(exc, RateLimited):
        return Message("signin.error.rate_limited", {"minutes": minutes_for(exc.retry_after)})
    if isinstance(exc, Rejected) and exc.message_key == "error.code_rejected":
        if exc.tries_left:
            return Message("signin.error.wrong_code", {"tries": exc.tries_left})
        if "expired" in (exc.detail or "").lower():
            return Message("signin.error.code_expired")
        return Message("signin.error.code_dead")
    return Message(exc.message_key)


def link_token_from(text: str) -> str:
    """The token of a pasted login link: a full URL ending in ``#token``, or the token."""
    value = text.strip()
    if "#" in value:
        value = value.rsplit("#", 1)[1]
    elif "/" in value:
        value = value.rstrip("/").rsplit("/", 1)[1]
    return value.strip()


class MemoryTokenStore:
    """A session token kept in this process only (web sessions served to many users).

    Same interface as ``app.sync.tokens.TokenStore``; ``persistent`` is False
    so the UI says that the user will have to sign in again next time.
    """

    persistent = False

    def __init__(self) -> None:
        """Start signed out."""
        self._token: str | None = None

    def get(self) -> str | None:
        """The current token, or None."""
        return self._token

    def set(self, token: str) -> None:
        """Remember ``token`` for this process."""
        self._token = token

    def clear(self) -> None:
        """Forget the token."""
        self._token = None


class SignInStep(StrEnum):
    """Which sign-in form is shown."""

    IDENTIFIER = "identifier"
    CODE = "code"
    LINK = "link"
    CONFIRM_LINK = "confirm_link"


@dataclass
class SignInState:
    """The sign-in flow: the form shown, what was typed, the last error."""

    step: SignInStep = SignInStep.IDENTIFIER
    identifier: str = ""
    busy: bool = False
    error: Message | None = None
    # time.monotonic() value after which "send a new code" is allowed.
    resend_at: float = 0.0
    # A link opened in the browser, waiting for the person to confirm it.
    opened_link: str | None = field(default=None, repr=False)
    link_business_unit: str = ""

    def resend_seconds_left(self, now: float) -> int:
        """Seconds until a new code may be requested (0: now)."""
        return max(0, math.ceil(self.resend_at - now))


@dataclass(frozen=True)
class ActivityItem:
    """One row of the appointment list, ready to show."""

    id: str
    title: str
    status: str
    status_label: str
    date_text: str
    window_text: str | None
    technician_text: str | None
    upcoming: bool
    # What tells identical titles apart on a card: the site, the reference and,
    # while no date is set, when it was requested.
    site_text: str | None = None
    reference_text: str = ""
    requested_text: str | None = None
    # Asked for by the client in the portal and not scheduled yet.
    requested: bool = False


@dataclass(frozen=True)
class TimelineEntry:
    """One follow-up step."""

    label: str
    when_text: str
    note: str | None


@dataclass(frozen=True)
class ReportView:
    """The intervention report: a summary and the list of work done."""

    summary: str | None
    work_done: list[str]
    pdf_url: str | None


def report_view(raw: Any) -> ReportView | None:
    """The closure report document as a summary and a list (None when empty).

    Only text reaches the screen, whatever shape the document has.
    """
    if isinstance(raw, str):
        return ReportView(summary=raw.strip(), work_done=[], pdf_url=None) if raw.strip() else None
    if not isinstance(raw, dict):
        return None
    summary = raw.get("summary")
    work = raw.get("work_done")
    items = [str(w).strip() for w in work if str(w).strip()] if isinstance(work, list) else []
    pdf = raw.get("report_pdf")
    view = ReportView(
        summary=(str(summary).strip() or None) if summary is not None else None,
        work_done=items,
        pdf_url=pdf if isinstance(pdf, str) and pdf.startswith("/") else None,
    )
    return view if view.summary or view.work_done or view.pdf_url else None


@dataclass(frozen=True)
class ActionItem:
    """A portal action usable now."""

    key: str
    kind: str
    label: str


@dataclass(frozen=True)
class ActivityDetail:
    """Everything the activity screen shows."""

    item: ActivityItem
    description: str | None
    address_lines: list[str]
    maps_url: str | None
    technician_name: str | None
    timeline: list[TimelineEntry]
    actions: list[ActionItem]
    closure_report: ReportView | None
    # Booking (app.booking_rules): a booked visit offers an .ics file; a
    # guardrail that hides reschedule/cancel is explained; a cancelled one
    # shows why.
    can_add_to_calendar: bool = False
    change_note: str | None = None
    cancel_reason: str | None = None


@dataclass(frozen=True)
class BrandingView:
    """The business unit's identity and contact links for the home screen."""

    name: str
    description: str | None
    phone: str | None
    email: str | None
    address: str | None
    primary_color: str | None
    tel_url: str | None
    mailto_url: str | None
    maps_url: str | None


def maps_url(address: str) -> str:
    """A maps search for ``address`` that opens on phones, desktops and browsers."""
    return "https://www.google.com/maps/search/?api=1&query=" + quote(address)


def _site_line(site: Any) -> str | None:
    """Which site a card is about: "Home, 10 rue Mercière, Lyon"."""
    if not isinstance(site, dict):
        return None
    parts = [str(site.get(k) or "").strip() for k in ("label", "street", "city")]
    return ", ".join(p for p in parts if p) or None


def _start_of(doc: dict[str, Any]) -> datetime | None:
    return parse_utc(doc.get("scheduled_start"))


# --- the view-model -------------------------------------------------------------


class AppState:
    """One user session's state; see the module docstring."""

    def __init__(
        self,
        api: PortalApi,
        store: Store,
        tokens: Any,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        """Wrap the sync layer; ``tokens`` is a ``TokenStore`` or ``MemoryTokenStore``."""
        self.api = api
        self.store = store
        self.tokens = tokens
        self.clock = clock
        self.monotonic = monotonic
        self.tr = Translator()
        self.signin = SignInState()
        self.signed_in = False
        self.profile: dict[str, Any] | None = None
        self.branding_doc: dict[str, Any] | None = None
        self.logo: bytes | None = None
        # Before sign-in: the company of this portal (GET /public/branding).
        self.public_branding: dict[str, Any] | None = None
        self.items: dict[str, ActivityItem] = {}
        self.upcoming_ids: list[str] = []
        self.past_ids: list[str] = []
        self._language_chosen = False
        self._listeners: list[Listener] = []
        self.engine = SyncEngine(
            store,
            api,
            on_unauthorized=self._on_unauthorized,
            on_change=self._on_sync_change,
            on_status=self._on_status,
            sleep=sleep,
            clock=clock,
        )
        self.sync_status: SyncStatus = self.engine.status

    # -- listeners ---------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(event, data)`` after each change (see module docstring)."""
        self._listeners.append(listener)

    async def _emit(self, event: str, data: Any = None) -> None:
        for listener in list(self._listeners):
            try:
                await listener(event, data)
            except Exception:
                # A broken screen must not stop the others from updating.
                log.exception("listener failed on %s", event)

    # -- start -------------------------------------------------------------

    @property
    def token_persistent(self) -> bool:
        """False when the session lives in memory only (tell the user)."""
        return bool(getattr(self.tokens, "persistent", False))

    async def start(self) -> None:
        """Restore the session and the cached data; works without any network."""
        saved_language = await asyncio.to_thread(self.store.get_meta, META_LANGUAGE)
        if saved_language:
            self.tr.set_language(saved_language)
            self._language_chosen = True
        token = self.tokens.get()
        if token:
            self.api.token = token
            self.signed_in = True
            await self._load_cache()
        self.sync_status = SyncStatus(
            state=self.sync_status.state, last_sync_at=self.engine.last_sync_at()
        )

    async def _load_cache(self) -> None:
        """Read profile, branding, logo and the activity lists from the store."""
        profile, branding = await asyncio.gather(
            asyncio.to_thread(self.store.get, PROFILE, "me"),
            asyncio.to_thread(self.store.get, BRANDING, "bu"),
        )
        self.profile = profile
        self.branding_doc = branding
        if branding:
            self.tr.set_timezone(branding.get("timezone"))
        if not self._language_chosen:
            preferred = (profile or {}).get("preferred_language") or (branding or {}).get("locale")
            if preferred:
                self.tr.set_language(normalize_language(preferred))
        self.logo = await self._cached_logo()
        await self._reload_activities(None)

    # -- sign-in -----------------------------------------------------------

    async def request_code(self, identifier: str) -> bool:
        """Ask for a one-time code; True when the code form should be shown."""
        identifier = identifier.strip()
        if not identifier:
            self.signin.error = Message("signin.error.empty_identifier")
            await self._emit("signin")
            return False
        self.signin.identifier = identifier
        self.signin.busy = True
        self.signin.error = None
        await self._emit("signin")
        try:
            retry_after = await self.api.request_code(identifier)
        except RateLimited as exc:
            # One state at a time: either "we sent you a code" with its
            # countdown, or "too many attempts", never both.
            self.signin.resend_at = self.monotonic() + exc.retry_after
            if exc.retry_after <= JUST_SENT_MAX_WAIT:
                self.signin.step = SignInStep.CODE
            elif self.signin.step != SignInStep.CODE:
                self.signin.error = message_for(exc)
            # On the code form (a resend), the countdown tells the wait in minutes.
        except ApiError as exc:
            self.signin.error = message_for(exc)
        else:
            self.signin.step = SignInStep.CODE
            self.signin.resend_at = self.monotonic() + retry_after
        finally:
            self.signin.busy = False
        await self._emit("signin")
        return self.signin.step == SignInStep.CODE

    async def resend_code(self) -> bool:
        """Send a new code to the same identifier once the countdown is over."""
        if self.signin.resend_seconds_left(self.monotonic()) > 0:
            return False
        return await self.request_code(self.signin.identifier)

    async def verify_code(self, code: str) -> bool:
        """Exchange the typed code for a session; True when signed in."""
        code = re.sub(r"\s", "", code)
        if not CODE_RE.match(code):
            self.signin.error = Message("signin.error.bad_code_format")
            await self._emit("signin")
            return False
        return await self._sign_in_with(lambda: self.api.verify_code(self.signin.identifier, code))

    async def use_link(self, text: str) -> bool:
        """Sign in with a pasted permanent login link or its token; True when signed in."""
        token = link_token_from(text)
        if not token:
            self.signin.error = Message("signin.error.empty_link")
            await self._emit("signin")
            return False
        return await self._sign_in_with(lambda: self.api.confirm_link(token))

    async def open_link(self, token: str) -> bool:
        """A link opened in the browser: check it (never consumes) and ask to confirm.

        Mail and SMS scanners that run pages must not use a single-use link, so
        only the person's tap on "Sign in" (``confirm_opened_link``) does.
        """
        self.signin = SignInState(step=SignInStep.LINK, busy=True)
        await self._emit("signin")
        try:
            preview = await self.api.inspect_link(token)
        except ApiError as exc:
            self.signin.error = message_for(exc)
            self.signin.busy = False
            await self._emit("signin")
            return False
        self.signin = SignInState(
            step=SignInStep.CONFIRM_LINK,
            opened_link=token,
            link_business_unit=str(preview.get("business_unit") or ""),
        )
        await self._emit("signin")
        return True

    async def confirm_opened_link(self) -> bool:
        """Use the link ``open_link`` checked; a refusal lands on the link form."""
        token = self.signin.opened_link
        if not token:
            return await self.use_link("")
        if await self._sign_in_with(lambda: self.api.confirm_link(token)):
            return True
        self.signin.step = SignInStep.LINK
        self.signin.opened_link = None
        await self._emit("signin")
        return False

    async def show_step(self, step: SignInStep) -> None:
        """Switch sign-in form (link entry, back to the identifier)."""
        self.signin.step = step
        self.signin.error = None
        self.signin.opened_link = None
        await self._emit("signin")

    async def _sign_in_with(self, call: Callable[[], Awaitable[SignedIn]]) -> bool:
        self.signin.busy = True
        self.signin.error = None
        await self._emit("signin")
        try:
            signed = await call()
        except ApiError as exc:
            self.signin.error = message_for(exc)
            self.signin.busy = False
            if isinstance(exc, RateLimited) and self.signin.step == SignInStep.CODE:
                # No code can be checked for a while: the code form would only
                # contradict the error ("we sent you a code").
                self.signin.step = SignInStep.IDENTIFIER
            await self._emit("signin")
            return False
        await self._after_sign_in(signed)
        return True

    async def _after_sign_in(self, signed: SignedIn) -> None:
        await asyncio.to_thread(self.tokens.set, signed.token)
        self.api.token = signed.token
        previous = await asyncio.to_thread(self.store.get_meta, META_CLIENT_ID)
        if previous is not None and previous != str(signed.client_id):
            # Another person used this device before: never show their data.
            await self._clear_local()
        await asyncio.to_thread(self.store.set_meta, META_CLIENT_ID, str(signed.client_id))
        if self._language_chosen:
            # The language chosen on this device (on the sign-in screen, or
            # before) wins over the profile's: save it for this client too.
            await asyncio.to_thread(self._remember_language, self.tr.language)
        self.signin = SignInState()
        self.signed_in = True
        await self._load_cache()
        await self._emit("session", True)

    # -- sync --------------------------------------------------------------

    async def refresh(self, max_attempts: int = 1) -> SyncResult | None:
        """Pull changes now; None when it failed (the status says why)."""
        if not self.signed_in:
            return None
        result = await self.engine.sync(max_attempts=max_attempts)
        if result is not None and await self._send_language():
            # Titles and dates were re-rendered in the new language: pull them.
            result = await self.engine.sync(max_attempts=max_attempts) or result
        if result is not None and self.branding_doc and self.logo is None:
            await self._fetch_logo()
        return result

    async def _send_language(self) -> bool:
        """Send a language chosen on this device; True when the server took it."""
        unsent = await asyncio.to_thread(self.store.get_meta, META_LANGUAGE_UNSENT)
        if not unsent or not self.signed_in:
            return False
        try:
            await self.api.set_language(self.tr.language)
        except ApiError as exc:
            log.info("language not sent yet: %s", type(exc).__name__)
            return False  # kept: sent after a later successful sync
        await asyncio.to_thread(self.store.delete_meta, META_LANGUAGE_UNSENT)
        return True

    async def run_periodic(self, interval: float, stop: asyncio.Event, attempts: int = 3) -> None:
        """Sync now and every ``interval`` seconds until ``stop`` or sign-out."""
        while not stop.is_set() and self.signed_in:
            await self.refresh(max_attempts=attempts)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def _on_status(self, status: SyncStatus) -> None:
        self.sync_status = status
        await self._emit("status", status)

    async def _on_sync_change(self, result: SyncResult) -> None:
        changed = result.changed_ids
        if result.reset or PROFILE in changed or BRANDING in changed:
            old_logo_url = (self.branding_doc or {}).get("logo_url")
            await self._load_cache()
            if (self.branding_doc or {}).get("logo_url") != old_logo_url:
                self.logo = None
        else:
            await self._reload_activities(changed.get(ACTIVITIES, set()))
        await self._emit("data", result)

    async def end_session(self) -> None:
        """The server refused our session on a direct call (booking): sign out here too."""
        await self._on_unauthorized()

    async def _on_unauthorized(self) -> None:
        # The server ended the session (expired, access removed): forget the
        # token and the cached data, and say why on the sign-in screen.
        await asyncio.to_thread(self.tokens.clear)
        await self._clear_local()
        self.api.token = None
        self.signed_in = False
        self.signin = SignInState(error=Message("error.session_ended"))
        await self._emit("session", False)

    # -- logo ----------------------------------------------------------------

    @property
    def _company(self) -> dict[str, Any]:
        # Signed in, the session's branding; before, the portal's public one.
        return (self.branding_doc if self.signed_in else self.public_branding) or {}

    @property
    def company_name(self) -> str | None:
        """The company's name, signed in or not (None when not known)."""
        return self._company.get("name")

    @property
    def company_color(self) -> str | None:
        """The company's primary colour (theme seed), signed in or not."""
        return self._company.get("primary_color") or None

    async def load_public_branding(self) -> None:
        """Fetch the company's name and logo for the sign-in screen.

        Best effort: offline, or on a server hosting several companies, the
        screen simply stays neutral.
        """
        if self.signed_in:
            return
        try:
            brand = await self.api.public_branding()
            url = brand.get("logo_url")
            logo = await self.api.fetch_asset(url) if isinstance(url, str) else None
        except ApiError as exc:
            log.info("no public branding: %s", type(exc).__name__)
            return
        if self.signed_in:  # signed in meanwhile: the session's branding rules
            return
        self.public_branding = brand
        self.logo = logo
        if not self._language_chosen and brand.get("locale"):
            # Sign in in the company's language, which its clients' profiles
            # default to, so the screens before and after sign-in agree.
            self.tr.set_language(normalize_language(str(brand["locale"])))
        await self._emit("signin")

    async def _cached_logo(self) -> bytes | None:
        url = (self.branding_doc or {}).get("logo_url")
        if not url:
            return None
        doc = await asyncio.to_thread(self.store.get, ASSET_CACHE, url)
        if not doc:
            return None
        return base64.b64decode(doc["data"])

    async def _fetch_logo(self) -> None:
        url = (self.branding_doc or {}).get("logo_url")
        if not url:
            return
        try:
            data = await self.api.fetch_asset(url)
        except ApiError:
            return  # no logo is fine: the name is shown anyway
        self.logo = data
        doc = {"data": base64.b64encode(data).decode("ascii")}
        await asyncio.to_thread(self.store.put, ASSET_CACHE, url, doc)
        await self._emit("data", SyncResult(changed_ids={BRANDING: {"bu"}}))

    # -- activities ------------------------------------------------------------

    def _query_lists(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        upcoming = self.store.query(
            ACTIVITIES, Field("status").in_(UPCOMING_STATUSES), order_by="scheduled_start"
        )
        # Not yet dated ("to schedule") last: the dated ones are what is coming.
        upcoming.sort(key=lambda d: d.get("scheduled_start") is None)
        past = self.store.query(
            ACTIVITIES, Field("status").in_(PAST_STATUSES), order_by="-scheduled_start"
        )
        return upcoming, past

    async def _reload_activities(self, changed: set[str] | None) -> None:
        """Refresh the ordered lists; rebuild items for ``changed`` ids (None: all)."""
        upcoming, past = await asyncio.to_thread(self._query_lists)
        items: dict[str, ActivityItem] = {}
        for doc, is_upcoming in [(d, True) for d in upcoming] + [(d, False) for d in past]:
            doc_id = str(doc["id"])
            old = self.items.get(doc_id)
            if changed is not None and doc_id not in changed and old is not None:
                items[doc_id] = old
            else:
                items[doc_id] = self.item_for(doc, is_upcoming)
        self.items = items
        self.upcoming_ids = [str(d["id"]) for d in upcoming]
        self.past_ids = [str(d["id"]) for d in past]

    def item_for(self, doc: dict[str, Any], upcoming: bool) -> ActivityItem:
        """Format one activity document as a list row."""
        start = _start_of(doc)
        window = self.tr.arrival_window(
            parse_utc(doc.get("window_start")), parse_utc(doc.get("window_end"))
        )
        tech = doc.get("technician") or {}
        first_name = tech.get("first_name") if isinstance(tech, dict) else None
        status = str(doc.get("status") or "")
        steps = [s for s in doc.get("steps") or [] if isinstance(s, dict)]
        requested = status == "to_schedule" and any(s.get("code") == "requested" for s in steps)
        # When it was asked for (the document's requested_at; older documents:
        # the first step), shown while no date is set.
        asked_at = (
            parse_utc(doc.get("requested_at") or (steps[0].get("at") if steps else None))
            if start is None
            else None
        )
        return ActivityItem(
            id=str(doc["id"]),
            title=str(doc.get("title") or doc.get("type_name") or ""),
            status=str(doc.get("status") or ""),
            status_label=self.tr.t("status.requested") if requested else self.tr.status(status),
            date_text=self.tr.date_time(start) if start else self.tr.t("activities.to_schedule"),
            window_text=window,
            technician_text=self.tr.t("activities.technician", name=first_name)
            if first_name
            else None,
            upcoming=upcoming,
            site_text=_site_line(doc.get("site")),
            reference_text=self.tr.t("activities.reference", id=doc.get("reference") or doc["id"]),
            requested_text=self.tr.t("activities.requested_on", date=self.tr.date(asked_at))
            if asked_at
            else None,
            requested=requested,
        )

    @property
    def upcoming(self) -> list[ActivityItem]:
        """Upcoming appointments, soonest first (undated last)."""
        return [self.items[i] for i in self.upcoming_ids]

    @property
    def past(self) -> list[ActivityItem]:
        """Past appointments, latest first."""
        return [self.items[i] for i in self.past_ids]

    @property
    def next_appointment(self) -> ActivityItem | None:
        """The first dated upcoming appointment."""
        for item_id in self.upcoming_ids:
            item = self.items[item_id]
            if item.status in ("scheduled", "in_progress"):
                return item
        return None

    @property
    def never_synced(self) -> bool:
        """True when nothing was ever downloaded (explain, don't show an empty list)."""
        return self.sync_status.last_sync_at is None and self.engine.last_sync_at() is None

    async def ensure_activity(self, activity_id: str) -> None:
        """Download first when a link names an appointment not on this device yet.

        A link opened right after sign-in arrives before the first download;
        offline, the screen then says the appointment is not available.
        """
        if await asyncio.to_thread(self.store.get, ACTIVITIES, activity_id) is None:
            await self.refresh(max_attempts=1)

    async def activity_detail(self, activity_id: str) -> ActivityDetail | None:
        """The detail screen's data, with the portal actions usable now."""
        doc = await asyncio.to_thread(self.store.get, ACTIVITIES, activity_id)
        if doc is None:
            return None
        status = str(doc.get("status") or "")
        item = self.item_for(doc, status in UPCOMING_STATUSES)
        site = doc.get("site") or {}
        street = site.get("street") or ""
        city_line = " ".join(p for p in (site.get("postal_code"), site.get("city")) if p)
        address_lines = [line for line in (site.get("label"), street, city_line) if line]
        full_address = ", ".join(p for p in (street, city_line) if p)
        now = self.clock()
        # Only actions configured, available now and with a screen in this app.
        actions = [
            ActionItem(key=str(a["key"]), kind=str(a.get("kind", "")), label=str(a["label"]))
            for a in booking_rules.usable_actions(doc, now)
        ]
        blocked = booking_rules.blocked_change(doc, now)
        timeline = []
        for step in doc.get("steps") or []:
            at = parse_utc(step.get("at"))
            timeline.append(
                TimelineEntry(
                    label=self.tr.step(str(step.get("code"))),
                    when_text=self.tr.date_time(at) if at else "",
                    note=step.get("note") or None,
                )
            )
        tech = doc.get("technician") or {}
        return ActivityDetail(
            item=item,
            description=doc.get("description") or None,
            address_lines=address_lines,
            maps_url=maps_url(full_address) if full_address else None,
            technician_name=tech.get("first_name") if isinstance(tech, dict) else None,
            timeline=timeline,
            actions=actions,
            closure_report=report_view(doc.get("closure_report")),
            can_add_to_calendar=booking_rules.can_add_to_calendar(doc, now),
            change_note=self._change_note(blocked),
            cancel_reason=booking_rules.cancel_reason(doc),
        )

    def _change_note(self, blocked: str | None) -> str | None:
        phone = str((self.branding_doc or {}).get("phone") or "")
        if blocked == "too_late":
            return self.tr.t("booking.blocked.too_late", phone=phone)
        if blocked == "no_reschedules_left":
            return self.tr.t("booking.blocked.no_reschedules_left", phone=phone)
        return None

    async def apply_activity(self, doc: dict[str, Any]) -> None:
        """Apply an activity document the server just returned (booked, moved,
        cancelled): store it, and let every screen show it at once.

        The next sync brings the same document from the feed and overwrites it.
        """
        stored = {k: v for k, v in doc.items() if k != "available_actions"}
        activity_id = str(stored["id"])
        await asyncio.to_thread(self.store.put, ACTIVITIES, activity_id, stored)
        await self._reload_activities({activity_id})
        await self._emit("data", SyncResult(changed_ids={ACTIVITIES: {activity_id}}))

    # -- branding, profile ---------------------------------------------------

    @property
    def branding(self) -> BrandingView | None:
        """The business unit's name, text and contact links."""
        doc = self.branding_doc
        if not doc:
            return None
        phone = doc.get("phone") or None
        email = doc.get("email") or None
        address = doc.get("address") or None
        return BrandingView(
            name=str(doc.get("name") or ""),
            description=doc.get("description") or None,
            phone=phone,
            email=email,
            address=address,
            primary_color=doc.get("primary_color") or None,
            tel_url="tel:" + re.sub(r"[^\d+]", "", phone) if phone else None,
            mailto_url=f"mailto:{email}" if email else None,
            maps_url=maps_url(address) if address else None,
        )

    @property
    def client_name(self) -> str:
        """The signed-in client's name ("" before the first sync)."""
        return str((self.profile or {}).get("name") or "")

    @property
    def client_contacts(self) -> list[str]:
        """The client's emails and phone numbers on file."""
        contacts = (self.profile or {}).get("contacts") or []
        return [str(c.get("value")) for c in contacts if isinstance(c, dict) and c.get("value")]

    # -- status text -----------------------------------------------------------

    def sync_status_text(self) -> str:
        """ "Offline — last updated 10:42", "Updated 10:42", "Updating…"."""
        status = self.sync_status
        last = status.last_sync_at or self.engine.last_sync_at()
        when = self.tr.moment_short(last, self.clock()) if last else None
        if status.state == "syncing":
            return self.tr.t("sync.syncing")
        if status.state == "offline":
            if when:
                return self.tr.t("sync.offline", time=when)
            return self.tr.t("sync.offline_never")
        if status.state == "error" and status.message_key:
            return self.tr.t("sync.error", reason=self.tr.t(status.message_key, minutes=1))
        if when:
            return self.tr.t("sync.updated", time=when)
        return self.tr.t("sync.never")

    @property
    def offline(self) -> bool:
        """True when the last sync attempt could not reach the server."""
        return self.sync_status.state == "offline"

    # -- language --------------------------------------------------------------

    async def set_language(self, language: str) -> None:
        """Switch language now and remember the choice on this device."""
        self.tr.set_language(language)
        self._language_chosen = True
        await asyncio.to_thread(self._remember_language, self.tr.language)
        # Every row's dates and labels change: re-format them all.
        await self._reload_activities(None)
        await self._emit("language", self.tr.language)
        # Titles are rendered by the server in the client's language: tell it,
        # then pull the new titles (offline: at the next successful sync).
        await self.refresh()

    def _remember_language(self, language: str) -> None:
        with self.store.transaction():
            self.store.set_meta(META_LANGUAGE, language)
            self.store.set_meta(META_LANGUAGE_UNSENT, "1")

    # -- sign out ----------------------------------------------------------------

    def _clear_store_keeping_language(self) -> None:
        # Read the stored choice rather than this session's: another window
        # on the same device may have changed it since.
        language = self.store.get_meta(META_LANGUAGE)
        self.store.clear()
        if language:
            self.store.set_meta(META_LANGUAGE, language)

    async def sign_out(self) -> None:
        """End the session: server logout when reachable, then forget token and cache."""
        if self.api.token:
            with contextlib.suppress(ApiError, Offline):
                # Offline sign-out still removes everything from this device;
                # the server session then dies of idleness.
                await self.api.logout()
        await asyncio.to_thread(self.tokens.clear)
        self.api.token = None
        await self._clear_local()
        self.signed_in = False
        self.signin = SignInState()
        await self._emit("session", False)

    async def _clear_local(self) -> None:
        """Wipe the cache (documents, outbox, meta) but keep the language choice."""
        await asyncio.to_thread(self._clear_store_keeping_language)
        self.profile = None
        self.branding_doc = None
        self.logo = None
        self.items = {}
        self.upcoming_ids = []
        self.past_ids = []
        self.sync_status = SyncStatus()

"""The app's view-model shell: one user session, wiring the feature view-models.

Views read plain data (strings already translated and formatted) from the
feature objects and call their async methods; they never touch the network,
the store or SQL. The features:

- ``sign_in`` (``app.sign_in``): the sign-in forms;
- ``activities`` (``app.activities``): the appointment lists and details;
- ``company`` (``app.company``): branding, logo, contact links;
- ``language`` (``app.language``): the language chosen on this device;
- booking and new requests have their own models (``app.booking``,
  ``app.new_request``) built on this state.

This shell holds what they share (API client, store, translator, clock,
sync engine, outbox), the session's life (start, sign-in, sign-out, a refused
session), the sync and its status (the sync pushes the outbox first; the
form screens queue into ``outbox`` and call ``push_now``), and the signed-in
client's profile. Store
calls run through ``asyncio.to_thread`` so a slow disk never blocks the
shared event loop (DESIGN.md §6).

Errors never escape as exceptions to the UI: each becomes a ``Message`` (a
translation key and its parameters) that the screen shows as a sentence.

Listeners (``subscribe``) hear about what changed so the UI patches only
that: ``"session"`` (signed in or out), ``"signin"`` (the sign-in form),
``"status"`` (sync status), ``"data"`` (a ``SyncResult``: which documents
changed), ``"language"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from app.activities import ACTIVITIES, ActivitiesModel
from app.company import BRANDING, CompanyModel
from app.documents import DocumentsModel
from app.forms.drafts import DRAFTS
from app.i18n import Translator, normalize_language
from app.language import LanguageModel
from app.messages import Message
from app.notifications import NotificationsModel
from app.sign_in import SignInModel, SignInState
from app.sync.api import ApiError, Offline, PortalApi, SignedIn
from app.sync.device import META_DEVICE_ID
from app.sync.engine import (
    META_CURSOR,
    META_LAST_SYNC,
    SyncEngine,
    SyncResult,
    SyncStatus,
    clear_synced,
)
from app.sync.outbox import Outbox
from app.sync.store import Store

log = logging.getLogger(__name__)

PROFILE = "profile"

# Meta key this module owns (the sync engine owns cursor and last_sync_at).
META_CLIENT_ID = "client_id"

Listener = Callable[[str, Any], Awaitable[None]]


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
        channel: str = "app",
    ) -> None:
        """Wrap the sync layer; ``tokens`` is a ``TokenStore`` or ``MemoryTokenStore``.

        ``channel`` is ``"web"`` when Flet runs as a web page (``page.web``),
        else ``"app"``; it goes with every pushed form and signature.
        """
        self.api = api
        self.store = store
        self.tokens = tokens
        self.clock = clock
        self.monotonic = monotonic
        self.tr = Translator()
        self.signed_in = False
        self.profile: dict[str, Any] | None = None
        self._listeners: list[Listener] = []
        # Forms, validations and surveys wait here; the sync pushes them.
        self.outbox = Outbox(store, clock=clock)
        self._push_task: asyncio.Task[None] | None = None
        self._push_again = False
        self.sign_in = SignInModel(self)
        self.activities = ActivitiesModel(self)
        self.company = CompanyModel(self)
        self.language = LanguageModel(self)
        self.documents = DocumentsModel(self)
        self.notifications = NotificationsModel(self)
        self.engine = SyncEngine(
            store,
            api,
            on_unauthorized=self._on_unauthorized,
            on_change=self._on_sync_change,
            on_status=self._on_status,
            sleep=sleep,
            clock=clock,
            channel=channel,
        )
        self.sync_status: SyncStatus = self.engine.status

    # -- listeners ---------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(event, data)`` after each change (see module docstring)."""
        self._listeners.append(listener)

    async def emit(self, event: str, data: Any = None) -> None:
        """Tell every listener about ``event`` (the feature models call this)."""
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
        await self.language.restore()
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
        self.company.branding_doc = branding
        if branding:
            self.tr.set_timezone(branding.get("timezone"))
        if not self.language.chosen:
            preferred = (profile or {}).get("preferred_language") or (branding or {}).get("locale")
            if preferred:
                self.tr.set_language(normalize_language(preferred))
        self.company.logo = await self.company.cached_logo()
        await self.activities.reload(None)

    async def begin_session(self, signed: SignedIn) -> None:
        """The server gave a session (``app.sign_in``): keep it and show the cache."""
        await asyncio.to_thread(self.tokens.set, signed.token)
        self.api.token = signed.token
        previous = await asyncio.to_thread(self._cached_client_id)
        if previous is not None and previous != str(signed.client_id):
            # Another person used this device before: never show their data.
            await self._clear_local()
        await asyncio.to_thread(self.store.set_meta, META_CLIENT_ID, str(signed.client_id))
        if self.language.chosen:
            # The language chosen on this device (on the sign-in screen, or
            # before) wins over the profile's: save it for this client too.
            await asyncio.to_thread(self.language.remember, self.tr.language)
        self.sign_in.form = SignInState()
        self.signed_in = True
        await self._load_cache()
        await self.emit("session", True)

    def _cached_client_id(self) -> str | None:
        """Whose data this device holds: recorded at sign-in, else the cached profile's
        (a session that started from a stored token never went through sign-in)."""
        recorded = self.store.get_meta(META_CLIENT_ID)
        if recorded is not None:
            return recorded
        profile = self.store.get(PROFILE, "me")
        found = profile.get("id") if isinstance(profile, dict) else None
        if found is not None:
            return str(found)
        # Nothing cached, but something waits to be sent or was typed: someone's.
        leftovers = self.store.fetchall(
            "SELECT 1 FROM outbox UNION ALL SELECT 1 FROM documents WHERE collection = ? LIMIT 1",
            (DRAFTS,),
        )
        return "unknown" if leftovers else None

    # -- sync --------------------------------------------------------------

    async def refresh(self, max_attempts: int = 1) -> SyncResult | None:
        """Push the outbox and pull changes now; None when it failed (the status says why)."""
        if not self.signed_in:
            return None
        result = await self.engine.sync(max_attempts=max_attempts)
        if result is not None and await self.language.send_unsent():
            # Titles and dates were re-rendered in the new language: pull them.
            result = await self.engine.sync(max_attempts=max_attempts) or result
        if result is not None and self.company.branding_doc and self.company.logo is None:
            await self.company.fetch_logo()
        return result

    async def push_now(self) -> asyncio.Task[None] | None:
        """Send the outbox soon, without waiting: the form screens call this after queuing.

        Returns at once, having started one sync (push, then pull) in the
        background; the screens hear how it went through the ``status`` and
        ``data`` events. Returns that sync's task (await it only to know when
        it is done), or None when signed out.

        Calls while it runs are folded into one more sync after it, so an
        item queued meanwhile is not left for the periodic loop. Offline, the
        item simply waits: the periodic sync sends it when the network returns.
        """
        if not self.signed_in:
            return None
        self._push_again = True
        if self._push_task is None or self._push_task.done():
            self._push_task = asyncio.get_running_loop().create_task(self._push_soon())
        return self._push_task

    async def _push_soon(self) -> None:
        while self._push_again and self.signed_in:
            self._push_again = False
            try:
                await self.refresh(max_attempts=1)
            except Exception:
                # Nobody may await this task: log it rather than lose it.
                # The items stay queued; the periodic sync tries again.
                log.exception("background push failed")
                return

    async def run_periodic(self, interval: float, stop: asyncio.Event, attempts: int = 3) -> None:
        """Sync now and every ``interval`` seconds until ``stop`` or sign-out."""
        while not stop.is_set() and self.signed_in:
            await self.refresh(max_attempts=attempts)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def _on_status(self, status: SyncStatus) -> None:
        self.sync_status = status
        await self.emit("status", status)

    async def _on_sync_change(self, result: SyncResult) -> None:
        changed = result.changed_ids
        if result.reset or PROFILE in changed or BRANDING in changed:
            old_logo_url = (self.company.branding_doc or {}).get("logo_url")
            await self._load_cache()
            if (self.company.branding_doc or {}).get("logo_url") != old_logo_url:
                self.company.logo = None
        else:
            await self.activities.reload(changed.get(ACTIVITIES, set()))
        if result.reset or changed.get(ACTIVITIES):
            # Kept files follow their documents: newer versions are fetched
            # again, removed ones forgotten (in the background).
            self.documents.refresh_kept()
        await self.emit("data", result)

    @property
    def never_synced(self) -> bool:
        """True when nothing was ever downloaded (explain, don't show an empty list)."""
        return self.sync_status.last_sync_at is None and self.engine.last_sync_at() is None

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

    # -- profile -----------------------------------------------------------

    @property
    def client_name(self) -> str:
        """The signed-in client's name ("" before the first sync)."""
        return str((self.profile or {}).get("name") or "")

    @property
    def client_contacts(self) -> list[str]:
        """The client's emails and phone numbers on file."""
        contacts = (self.profile or {}).get("contacts") or []
        return [str(c.get("value")) for c in contacts if isinstance(c, dict) and c.get("value")]

    # -- end of the session --------------------------------------------------

    async def end_session(self) -> None:
        """The server refused our session on a direct call (booking): sign out here too."""
        await self._on_unauthorized()

    async def _on_unauthorized(self) -> None:
        # The server ended the session (expired, access removed): forget the
        # token and the cached data, and say why on the sign-in screen. What
        # the client filled in and could not send yet (outbox, drafts) stays
        # on the device: signing in again as the same client sends it; another
        # client signing in here wipes it (``begin_session``).
        await asyncio.to_thread(self.tokens.clear)
        await self._clear_keeping_unsent()
        self.api.token = None
        self.signed_in = False
        self.sign_in.form = SignInState(error=Message("error.session_ended"))
        await self.emit("session", False)

    async def sign_out(self) -> None:
        """End the session: server logout when reachable, then forget token and cache.

        What waits in the outbox is pushed first when the server is reachable;
        what cannot be sent is lost with the cache (the account screen shows
        the pending count so the person can wait).
        """
        if self.api.token and await asyncio.to_thread(self.outbox.pending_count):
            with contextlib.suppress(ApiError):
                await self.engine.push_once()
        if self.api.token:
            with contextlib.suppress(ApiError, Offline):
                # Offline sign-out still removes everything from this device;
                # the server session then dies of idleness.
                await self.api.logout()
        await asyncio.to_thread(self.tokens.clear)
        self.api.token = None
        await self._clear_local()
        self.signed_in = False
        self.sign_in.form = SignInState()
        await self.emit("session", False)

    async def _clear_keeping_unsent(self) -> None:
        """Wipe what the server sent (documents, cursor) but keep the outbox, the
        drafts and whose they are."""

        def wipe() -> None:
            with self.store.transaction():
                # Remember whose they are before the profile goes.
                owner = self._cached_client_id()
                if owner is not None and owner != "unknown":
                    self.store.set_meta(META_CLIENT_ID, owner)
                clear_synced(self.store)
                self.store.clear_files()
                self.store.delete_meta(META_CURSOR)
                self.store.delete_meta(META_LAST_SYNC)

        await asyncio.to_thread(wipe)
        self.profile = None
        self.company.clear()
        self.activities.clear()
        self.sync_status = SyncStatus()

    async def _clear_local(self) -> None:
        """Wipe the cache (documents, outbox, meta) but keep the language choice
        and the device id (it names the device, not the person)."""

        def wipe() -> None:
            device = self.store.get_meta(META_DEVICE_ID)
            self.language.clear_store_keeping_choice()
            if device:
                self.store.set_meta(META_DEVICE_ID, device)

        await asyncio.to_thread(wipe)
        self.profile = None
        self.company.clear()
        self.activities.clear()
        self.sync_status = SyncStatus()

"""Sync with the server: push the outbox, then bring the store up to date with the feed.

``GET /sync?cursor=`` returns pages of changes (documents and tombstones)
after an opaque cursor (DESIGN.md §4). Rules the pull keeps:

- each page and the cursor that came with it are written in **one** store
  transaction (``apply_page``): after a crash the store holds either the
  whole page and its cursor, or neither;
- a page with ``reset`` true (missing, garbage, stale or foreign cursor)
  first clears the synced collections — never the outbox — inside the same
  transaction, then is applied like any other page, cursor included, so a
  bad cursor costs one full resync and never a loop;
- a tombstone deletes the document.

``SyncEngine.sync_once`` **pushes before it pulls**: the outbox's due items
go to ``POST /mutations`` first (``app.sync.push``: batches of at most 100,
answers recorded with the returned activity documents in one store
transaction, refusals kept with their code, nothing sent twice), then the
pull brings everything else. Pushing first means the pull already reflects
what was just sent, and a push that got no answer (offline, timeout, 5xx)
stops the run before its pull, so the items are sent again, with the same
ids, before any newer document can arrive.

``SyncEngine`` adds retries (exponential backoff with full jitter on
``Offline`` and ``ServerError``), the sign-out path on 401, status reports
for the UI and a periodic loop. ``fault`` is a test seam: called with a
point name (``push.before_send``, ``push.received``, ``push.committed``,
``pull.received``) so the crash tests can kill the process exactly there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as random_module
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from app.sync.api import (
    ApiError,
    Offline,
    PortalApi,
    RateLimited,
    Rejected,
    ServerError,
    Unauthorized,
)
from app.sync.outbox import Outbox
from app.sync.push import (
    ACTIVITIES,
    MAX_BATCH,
    MAX_BATCH_BYTES,
    OUTBOX,
    FaultHook,
    Pusher,
    PushResult,
)
from app.sync.store import Store

log = logging.getLogger(__name__)

# Fields the views filter and sort activities on; open the Store with these.
APP_INDEXES: Mapping[str, tuple[str, ...]] = {"activities": ("scheduled_start", "status")}

# Feed kind -> local collection. Profile and branding hold one document each
# (ids "me" and "bu").
COLLECTIONS: Mapping[str, str] = {
    "profile": "profile",
    "branding": "branding",
    "activity_type": "activity_types",
    "form": "forms",
    "activity": ACTIVITIES,
}

META_CURSOR = "cursor"
META_LAST_SYNC = "last_sync_at"

# First retry waits up to this many seconds; each further one doubles it.
BACKOFF_BASE = 1.0

# A server that answers reset on the cursor it just gave us would make us
# resync forever; more resets than this in one run means something is wrong.
MAX_RESETS_PER_RUN = 2

SyncState = Literal["idle", "syncing", "offline", "signed_out", "error"]


def open_store(path: str | Path) -> Store:
    """Open the app's store at ``path`` with the indexes the views need."""
    return Store.open(path, indexes=APP_INDEXES)


@dataclass
class SyncStatus:
    """What the UI shows about sync: a state, when it last worked, what waits."""

    state: SyncState = "idle"
    last_sync_at: datetime | None = None
    pending: int = 0  # outbox items not sent yet
    rejected: int = 0  # outbox items the server refused, waiting for the user
    message_key: str | None = None  # translation key of the last problem
    progress: float | None = None  # not estimated yet: the feed gives no total


@dataclass
class SyncResult:
    """What one sync (or one page) changed in the store."""

    pages: int = 0
    changed: int = 0
    reset: bool = False  # the cache was cleared: reload every list
    # Per collection, the ids of changed documents; under "outbox", the ids of
    # activities whose outbox items changed state (sent, rejected, backing off).
    changed_ids: dict[str, set[str]] = field(default_factory=dict)
    sent: int = 0  # outbox items the server applied (or had applied)
    refused: int = 0  # outbox items refused for good

    def merge(self, other: SyncResult) -> None:
        """Add ``other`` (a later page) into this result."""
        self.pages += other.pages
        self.changed += other.changed
        self.reset = self.reset or other.reset
        self.sent += other.sent
        self.refused += other.refused
        for collection, ids in other.changed_ids.items():
            self.changed_ids.setdefault(collection, set()).update(ids)

    @classmethod
    def of_push(cls, pushed: PushResult) -> SyncResult:
        """The push's changes in the pull's terms (what ``on_change`` reports)."""
        result = cls(changed=len(pushed.activity_ids), sent=pushed.sent, refused=pushed.refused)
        if pushed.activity_ids:
            result.changed_ids[ACTIVITIES] = set(pushed.activity_ids)
        if pushed.outbox_activity_ids:
            result.changed_ids[OUTBOX] = set(pushed.outbox_activity_ids)
        return result


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("sync times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def apply_page(store: Store, page: Mapping[str, Any], now: datetime) -> SyncResult:
    """Write one sync page and its cursor into ``store`` in one transaction.

    Returns what changed. Kinds this app does not know (a newer server) are
    skipped, but their cursor is still saved: they will come again after a
    reset once the app knows them.
    """
    # Coalesce per document (last change wins) so each row is written once,
    # and batch the upserts per collection.
    latest: dict[tuple[str, str], Mapping[str, Any] | None] = {}
    for change in page["changes"]:
        collection = COLLECTIONS.get(change["kind"])
        if collection is None:
            log.warning("skipping unknown sync kind %r", change["kind"])
            continue
        body = None if change["deleted"] else change["body"]
        latest[(collection, str(change["key"]))] = body
    upserts: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    deletes: list[tuple[str, str]] = []
    for (collection, doc_id), body in latest.items():
        if body is None:
            deletes.append((collection, doc_id))
        else:
            upserts.setdefault(collection, []).append((doc_id, body))

    result = SyncResult(pages=1, changed=len(latest), reset=bool(page["reset"]))
    for collection, doc_id in latest:
        result.changed_ids.setdefault(collection, set()).add(doc_id)

    with store.transaction():
        if page["reset"]:
            clear_synced(store)
        for collection, docs in upserts.items():
            store.put_many(collection, docs)
        for collection, doc_id in deletes:
            store.delete(collection, doc_id)
        store.set_meta(META_CURSOR, page["cursor"])
        store.set_meta(META_LAST_SYNC, _iso(now))
    return result


def clear_synced(store: Store) -> None:
    """Delete every document the feed owns (never the outbox or the drafts)."""
    # Only what the feed owns: the outbox (and its local effects' queue) stays.
    names = list(COLLECTIONS.values())
    store.execute(
        f"DELETE FROM documents WHERE collection IN ({', '.join('?' * len(names))})", names
    )


def backoff_delay(attempt: int, *, random: float, base: float, cap: float) -> float:
    """Full-jitter backoff: a uniform share (``random`` in [0, 1)) of min(cap, base·2^attempt)."""
    # Bound the exponent so a long outage cannot overflow the float.
    return random * min(cap, base * 2 ** min(attempt, 62))


class SyncEngine:
    """Pulls the feed into the store; see the module docstring for the rules."""

    def __init__(
        self,
        store: Store,
        api: PortalApi,
        *,
        on_unauthorized: Callable[[], Awaitable[None]] | None = None,
        on_change: Callable[[SyncResult], Awaitable[None]] | None = None,
        on_status: Callable[[SyncStatus], Awaitable[None]] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        random: Callable[[], float] = random_module.random,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        page_limit: int | None = None,
        max_backoff: float = 60.0,
        channel: str = "app",
        batch_size: int = MAX_BATCH,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        fault: FaultHook | None = None,
    ) -> None:
        """Sync ``store`` with ``api``; callbacks are awaited on the caller's loop.

        ``sleep``, ``random`` and ``clock`` exist so tests need not wait;
        ``page_limit`` asks the server for smaller pages (None: its default).
        ``channel`` (``"app"`` or ``"web"``) goes with every pushed item;
        ``batch_size`` and ``max_batch_bytes`` bound a push request; ``fault``
        is the crash tests' seam (see the module docstring).
        """
        self.store = store
        self.api = api
        self._on_unauthorized = on_unauthorized
        self._on_change = on_change
        self._on_status = on_status
        self._sleep = sleep
        self._random = random
        self._clock = clock
        self._page_limit = page_limit
        self._max_backoff = max_backoff
        self._fault = fault
        self._outbox = Outbox(store, clock=clock)
        self._pusher = Pusher(
            store,
            api,
            self._outbox,
            channel=channel,
            clock=clock,
            fault=fault,
            batch_size=batch_size,
            max_batch_bytes=max_batch_bytes,
        )
        # One sync at a time: the periodic loop and a "refresh" tap would
        # otherwise race on the cursor.
        self._lock = asyncio.Lock()
        self.status = SyncStatus(last_sync_at=self.last_sync_at())

    def last_sync_at(self) -> datetime | None:
        """When a page was last applied (from the store, so it survives restarts)."""
        value = self.store.get_meta(META_LAST_SYNC)
        return datetime.fromisoformat(value) if value else None

    def _outbox_counts(self) -> tuple[int, int]:
        return self._outbox.pending_count(), self._outbox.rejected_count()

    async def _set_status(self, state: SyncState, message_key: str | None) -> None:
        pending, rejected = await asyncio.to_thread(self._outbox_counts)
        self.status = SyncStatus(
            state=state,
            last_sync_at=self.last_sync_at(),
            pending=pending,
            rejected=rejected,
            message_key=message_key,
            progress=None,
        )
        if self._on_status is not None:
            await self._on_status(self.status)

    async def sync_once(self) -> SyncResult:
        """Push the outbox, then pull pages until ``has_more`` is false.

        Raises ``ApiError`` on failure. Batches answered and pages applied
        before a failure stay recorded (each is committed on its own), and
        ``on_change`` still hears about them.
        """
        async with self._lock:
            total = SyncResult()
            try:
                refused: Rejected | None = None
                try:
                    await self._push(total)
                except Rejected as exc:
                    # A refusal of the whole request (an older server without
                    # /mutations…) applied nothing: pulling is safe, and the
                    # cache must not go stale because of it. Report it after.
                    refused = exc
                await self._pull(total)
                if refused is not None:
                    raise refused
                return total
            finally:
                if self._on_change is not None and (
                    total.changed or total.reset or total.changed_ids.get(OUTBOX)
                ):
                    await self._on_change(total)

    async def push_once(self) -> SyncResult:
        """Push the outbox only (no pull); raise ``ApiError`` on failure.

        For the last push before signing out; ``sync_once`` does both.
        """
        async with self._lock:
            total = SyncResult()
            try:
                await self._push(total)
                return total
            finally:
                if self._on_change is not None and (total.changed or total.changed_ids.get(OUTBOX)):
                    await self._on_change(total)

    async def _push(self, total: SyncResult) -> None:
        pushed = PushResult()
        try:
            await self._pusher.push(pushed)
        finally:
            total.merge(SyncResult.of_push(pushed))

    async def _pull(self, total: SyncResult) -> None:
        resets = 0
        cursor = self.store.get_meta(META_CURSOR)
        while True:
            page = await self.api.sync_page(cursor, self._page_limit)
            if page["reset"]:
                resets += 1
                if resets > MAX_RESETS_PER_RUN:
                    raise ServerError("the server keeps restarting the sync")
            if self._fault is not None:
                self._fault("pull.received")
            result = await asyncio.to_thread(apply_page, self.store, page, self._clock())
            total.merge(result)
            if not page["has_more"] or page["cursor"] == cursor:
                # The second test guards against a server that says
                # "more" without moving the cursor.
                return
            cursor = page["cursor"]

    async def sync(self, *, max_attempts: int = 5) -> SyncResult | None:
        """Sync with retries; return the result, or None when it gave up.

        ``Offline`` and ``ServerError`` are retried after a full-jitter
        exponential backoff (capped at ``max_backoff``); ``RateLimited`` waits
        what the server asked (also capped). ``Unauthorized`` calls
        ``on_unauthorized`` once and stops (state ``signed_out``). Any other
        refusal stops at once (state ``error``).
        """
        await self._set_status("syncing", None)
        failure: ApiError | None = None
        for attempt in range(max_attempts):
            try:
                result = await self.sync_once()
            except Unauthorized as exc:
                await self._set_status("signed_out", exc.message_key)
                if self._on_unauthorized is not None:
                    await self._on_unauthorized()
                return None
            except (Offline, ServerError, RateLimited) as exc:
                failure = exc
                if attempt + 1 >= max_attempts:
                    break
                await self._set_status(_state_for(exc), exc.message_key)
                if isinstance(exc, RateLimited):
                    delay = min(float(exc.retry_after), self._max_backoff)
                else:
                    delay = backoff_delay(
                        attempt, random=self._random(), base=BACKOFF_BASE, cap=self._max_backoff
                    )
                await self._sleep(delay)
                await self._set_status("syncing", None)
            except ApiError as exc:
                await self._set_status("error", exc.message_key)
                return None
            else:
                await self._set_status("idle", None)
                return result
        assert failure is not None
        await self._set_status(_state_for(failure), failure.message_key)
        return None

    async def run_periodic(self, interval: float, stop: asyncio.Event) -> None:
        """Sync now and then every ``interval`` seconds until ``stop`` is set.

        Returns early when the session ended (state ``signed_out``): there is
        nothing to pull until the user signs in again.
        """
        while not stop.is_set():
            await self.sync()
            if self.status.state == "signed_out":
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


def _state_for(exc: ApiError) -> SyncState:
    return "offline" if isinstance(exc, Offline) else "error"

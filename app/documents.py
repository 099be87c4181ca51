"""The client's documents (intervention reports, quotes, signed copies, filled forms).

The server lists each activity's documents in the synced activity
(``"documents"``: key, kind, title in the client's language, url, media
type, file name, size, SHA-256). This module turns that into what the
screens show, and keeps the files the client opened so they open again
offline:

- A file is downloaded the first time it is opened (with the session token),
  checked against the size and hash the feed announced, and kept in the
  local store (``files`` table) for its (activity, key).
- After each sync, a kept file whose document changed on the server is
  downloaded again in the background (the newest version replaces the old
  one), and a file whose document is gone is forgotten.
- Kept files stay under a size budget; the least recently opened go first.
  A file larger than the whole budget is shown but not kept.

Sign-out wipes the files with the rest of the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from app.activities import ACTIVITIES
from app.i18n import Translator, parse_utc
from app.messages import Message
from app.sync.api import ApiError, Offline
from app.sync.store import Store
from backend.quotes import format_quantity

if TYPE_CHECKING:
    from app.state import AppState

log = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * 1024
# Room for about twenty reports with photos on a phone.
DEFAULT_BUDGET_BYTES = 50 * MIB

_FORMATS = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
}
# Newest first within an activity; reports before quotes before forms.
_KIND_ORDER = {"report": 0, "signed_quote": 1, "quote": 2, "form": 3}


@dataclass(frozen=True)
class DocumentRef:
    """One document of one activity, as the feed announced it."""

    activity_id: str
    key: str
    kind: str
    title: str
    url: str
    media_type: str
    filename: str
    size: int
    sha256: str
    updated_at: datetime | None


@dataclass(frozen=True)
class DocumentRow:
    """A document as a list shows it: title, "PDF · 245 kB · 3 Dec 2026", kept or not."""

    ref: DocumentRef
    activity_title: str
    title: str
    detail: str
    offline: bool


def size_text(tr: Translator, size: int) -> str:
    """A file size the client reads: "245 kB", "1,2 MB" (in their language)."""
    if size >= MIB:
        value = (Decimal(size) / MIB).quantize(Decimal("0.1"))
        return tr.t("quote.pdf.size_mb", size=format_quantity(value, tr.language))
    value = max(Decimal(1), (Decimal(size) / KIB).quantize(Decimal(1)))
    return tr.t("quote.pdf.size_kb", size=format_quantity(value, tr.language))


def document_refs(activity: Mapping[str, Any]) -> list[DocumentRef]:
    """The documents of a synced activity, leaving out any entry that is malformed
    (a file the app could not download safely is better not offered)."""
    activity_id = str(activity.get("id", ""))
    raw = activity.get("documents")
    if not activity_id or not isinstance(raw, list):
        return []
    refs: list[DocumentRef] = []
    for entry in raw:
        ref = _ref(activity_id, entry)
        if ref is not None:
            refs.append(ref)
    refs.sort(key=lambda r: (_KIND_ORDER.get(r.kind, 9), r.key))
    return refs


def _ref(activity_id: str, entry: Any) -> DocumentRef | None:
    if not isinstance(entry, Mapping):
        return None
    texts = {
        name: entry.get(name)
        for name in ("key", "kind", "title", "url", "media_type", "filename", "sha256")
    }
    if not all(isinstance(value, str) and value for value in texts.values()):
        return None
    url = str(texts["url"])
    # Only our own server's paths: the token must never go elsewhere.
    if not url.startswith("/") or url.startswith("//"):
        return None
    size = entry.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return None
    return DocumentRef(
        activity_id=activity_id,
        key=str(texts["key"]),
        kind=str(texts["kind"]),
        title=str(texts["title"]),
        url=url,
        media_type=str(texts["media_type"]),
        filename=str(texts["filename"]),
        size=size,
        sha256=str(texts["sha256"]),
        updated_at=parse_utc(entry.get("updated_at")),
    )


def describe(tr: Translator, ref: DocumentRef, offline: bool, activity_title: str) -> DocumentRow:
    """The row a list shows for ``ref``."""
    parts = [_FORMATS.get(ref.media_type, tr.t("documents.format_other")), size_text(tr, ref.size)]
    if ref.updated_at is not None:
        parts.append(tr.date(ref.updated_at))
    return DocumentRow(
        ref=ref,
        activity_title=activity_title,
        title=ref.title,
        detail=" · ".join(parts),
        offline=offline,
    )


class DocumentFiles:
    """Downloaded files kept in the store, under a size budget (blocking: call from a thread)."""

    def __init__(self, store: Store, budget_bytes: int, clock: Callable[[], datetime]) -> None:
        """Keep at most ``budget_bytes`` of files in ``store``."""
        self.store = store
        self.budget_bytes = budget_bytes
        self.clock = clock

    def _now(self) -> str:
        return self.clock().astimezone(UTC).isoformat()

    def read(self, ref: DocumentRef) -> bytes | None:
        """The kept bytes of ``ref``'s version, marking them just used; None if not kept."""
        data = self.store.get_file(ref.activity_id, ref.key, ref.sha256)
        if data is not None:
            self.store.touch_file(ref.activity_id, ref.key, self._now())
        return data

    def kept(self) -> dict[tuple[str, str], str]:
        """(activity id, key) → SHA-256 of every kept file."""
        return {(r["activity_id"], r["doc_key"]): r["sha256"] for r in self.store.kept_files()}

    def keep(self, ref: DocumentRef, data: bytes, sha256: str) -> bool:
        """Keep ``data`` (version ``sha256``) for ``ref``; False when it is larger than
        the whole budget. Older files are let go to make room."""
        if len(data) > self.budget_bytes:
            return False
        with self.store.transaction():
            self.store.put_file(ref.activity_id, ref.key, sha256, data, self._now())
            self._evict(keep=(ref.activity_id, ref.key))
        return True

    def _evict(self, keep: tuple[str, str]) -> None:
        rows = self.store.kept_files()
        total = sum(int(r["size"]) for r in rows)
        for row in rows:  # least recently used first
            if total <= self.budget_bytes:
                break
            if (row["activity_id"], row["doc_key"]) == keep:
                continue
            self.store.delete_file(row["activity_id"], row["doc_key"])
            total -= int(row["size"])

    def reconcile(self, current: Mapping[tuple[str, str], DocumentRef]) -> list[DocumentRef]:
        """Forget kept files whose document is gone; return the documents whose kept
        file is an older version (to download again)."""
        stale: list[DocumentRef] = []
        with self.store.transaction():
            for (activity_id, key), sha256 in self.kept().items():
                ref = current.get((activity_id, key))
                if ref is None:
                    self.store.delete_file(activity_id, key)
                elif ref.sha256 != sha256:
                    stale.append(ref)
        return stale


class DocumentsModel:
    """The documents screens' model; lives on ``AppState.documents``."""

    def __init__(self, state: AppState, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.state = state
        self.files = DocumentFiles(state.store, budget_bytes, state.clock)
        self._refresh_task: asyncio.Task[int] | None = None

    # -- lists ---------------------------------------------------------------

    def _current(self) -> dict[tuple[str, str], tuple[DocumentRef, str]]:
        found: dict[tuple[str, str], tuple[DocumentRef, str]] = {}
        for activity in self.state.store.query(ACTIVITIES):
            title = str(activity.get("title") or "")
            for ref in document_refs(activity):
                found[(ref.activity_id, ref.key)] = (ref, title)
        return found

    async def rows_for(self, activity: Mapping[str, Any]) -> list[DocumentRow]:
        """The documents of one activity (its detail screen's "Documents" section)."""
        refs = document_refs(activity)
        if not refs:
            return []
        kept = await asyncio.to_thread(self.files.kept)
        title = str(activity.get("title") or "")
        tr = self.state.tr
        return [describe(tr, r, kept.get((r.activity_id, r.key)) == r.sha256, title) for r in refs]

    async def all_rows(self) -> list[DocumentRow]:
        """Every document of the client, newest first (the "Documents" screen)."""

        def read() -> tuple[dict[tuple[str, str], tuple[DocumentRef, str]], dict[Any, str]]:
            return self._current(), self.files.kept()

        current, kept = await asyncio.to_thread(read)
        tr = self.state.tr
        rows = [
            describe(tr, ref, kept.get(key) == ref.sha256, title)
            for key, (ref, title) in current.items()
        ]
        epoch = datetime.min.replace(tzinfo=UTC)
        rows.sort(key=lambda r: (r.ref.updated_at or epoch, r.ref.key), reverse=True)
        return rows

    # -- opening ---------------------------------------------------------------

    async def open(self, ref: DocumentRef) -> tuple[str, bytes] | Message:
        """The file to save or share (name, bytes): kept on the device, else downloaded
        and kept. A sentence when it cannot be had (offline and never downloaded)."""
        data = await asyncio.to_thread(self.files.read, ref)
        if data is not None:
            return ref.filename, data
        got = await self._download(ref)
        if isinstance(got, Message):
            return got
        return ref.filename, got

    async def _download(self, ref: DocumentRef) -> bytes | Message:
        try:
            data = await self.state.api.fetch_document(ref.url)
        except Offline:
            return Message("documents.offline")
        except ApiError as exc:
            if exc.status == 404:
                return Message("documents.gone")
            return Message(exc.message_key)
        sha256 = hashlib.sha256(data).hexdigest()
        # A hash that differs from the feed's means the server already has a
        # newer version than our copy of the feed: show it, keep it as what
        # it is (the next sync brings the matching entry).
        await asyncio.to_thread(self.files.keep, ref, data, sha256)
        return data

    # -- after a sync ------------------------------------------------------------

    def refresh_kept(self) -> asyncio.Task[int]:
        """Start bringing kept files up to date with the feed (in the background);
        the task's result is how many were downloaded again."""
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.get_running_loop().create_task(self._refresh())
        return self._refresh_task

    async def _refresh(self) -> int:
        def stale() -> list[DocumentRef]:
            current = {key: ref for key, (ref, _title) in self._current().items()}
            return self.files.reconcile(current)

        refreshed = 0
        for ref in await asyncio.to_thread(stale):
            got = await self._download(ref)
            if isinstance(got, Message):
                # Offline or refused: the old copy stays until the next sync.
                log.info("could not refresh document %s/%s: %s", ref.activity_id, ref.key, got.key)
                break
            refreshed += 1
        return refreshed

    async def forget_all(self) -> None:
        """Drop every kept file (the session's documents went away)."""
        await asyncio.to_thread(self.files.store.clear_files)
